//! Property tests: sign → verify passes; changing any single byte of the body, the signature,
//! the timestamp or the id is refused; arbitrary header values never panic.

use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use time::OffsetDateTime;
use webhook_receiver::Verifier;
use webhook_receiver::providers::{GitHub, Scheme, Shopify, Slack, StandardWebhooks, Stripe};
use webhook_receiver::testing::Signer;

const SECRET_SW: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SECRET_RAW: &str = "a raw secret";

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap()
}

/// The header carrying the signature, the id and the timestamp for each scheme.
fn setup(
    which: u8,
) -> (
    Verifier,
    Signer,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
) {
    fn pair(s: impl Scheme + Clone, secret: &str) -> (Verifier, Signer) {
        (
            Verifier::builder(s.clone()).secret(secret).build().unwrap(),
            Signer::new(s, secret).unwrap(),
        )
    }
    match which % 5 {
        0 => {
            let (v, s) = pair(StandardWebhooks::new(), SECRET_SW);
            (
                v,
                s,
                "webhook-signature",
                Some("webhook-id"),
                Some("webhook-timestamp"),
            )
        }
        1 => {
            let (v, s) = pair(Stripe::new(), SECRET_RAW);
            (v, s, "stripe-signature", None, None)
        }
        2 => {
            let (v, s) = pair(GitHub::new(), SECRET_RAW);
            (v, s, "x-hub-signature-256", None, None)
        }
        3 => {
            let (v, s) = pair(Slack::new(), SECRET_RAW);
            (
                v,
                s,
                "x-slack-signature",
                None,
                Some("x-slack-request-timestamp"),
            )
        }
        _ => {
            let (v, s) = pair(Shopify::new(), SECRET_RAW);
            (v, s, "x-shopify-hmac-sha256", None, None)
        }
    }
}

/// Replaces byte `index` of header `name`'s value by a different printable byte.
fn mutate_header(headers: &HeaderMap, name: &str, index: usize, delta: u8) -> Option<HeaderMap> {
    let mut bytes = headers.get(name)?.as_bytes().to_vec();
    let i = index % bytes.len();
    let replacement = b'!' + ((bytes[i] - b'!' + 1 + delta % 93) % 94);
    if replacement == bytes[i] {
        return None;
    }
    bytes[i] = replacement;
    let mut out = headers.clone();
    out.insert(
        http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
        HeaderValue::from_bytes(&bytes).ok()?,
    );
    Some(out)
}

fn id_strategy() -> impl Strategy<Value = String> {
    "msg_[A-Za-z0-9]{1,32}"
}

/// 256 cases per property, or `PROPTEST_CASES` (CI runs more); failures are saved to
/// `proptest-regressions/proptests.txt` (committed) and replayed first on every run.
fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct(
                "proptest-regressions/proptests.txt",
            ),
        )),
        // 256 cases unless `PROPTEST_CASES` says otherwise.
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sign_then_verify_passes(which in 0u8..5, body in proptest::collection::vec(any::<u8>(), 0..2048),
                               id in id_strategy(), ts in 0i64..4_000_000_000) {
        let (verifier, signer, ..) = setup(which);
        let headers = signer.id(id.clone()).timestamp(ts).sign(&body).unwrap();
        let verified = verifier.verify_at(&headers, &body, at(ts)).unwrap();
        if which % 5 == 0 {
            let got = verified.event_id().map(|c| c.into_owned());
            prop_assert_eq!(got.as_deref(), Some(id.as_str()));
        }
    }

    #[test]
    fn any_single_body_byte_change_is_refused(which in 0u8..5, body in proptest::collection::vec(any::<u8>(), 1..512),
                                              index in any::<usize>(), flip in 1u8..=255, ts in 0i64..4_000_000_000) {
        let (verifier, signer, ..) = setup(which);
        let headers = signer.timestamp(ts).sign(&body).unwrap();
        let mut tampered = body.clone();
        let i = index % tampered.len();
        tampered[i] ^= flip;
        prop_assert!(verifier.verify_at(&headers, &tampered, at(ts)).is_err());
    }

    #[test]
    fn any_single_signature_byte_change_is_refused(which in 0u8..5, body in proptest::collection::vec(any::<u8>(), 0..256),
                                                   index in any::<usize>(), delta in any::<u8>(), ts in 1_000_000i64..4_000_000_000) {
        let (verifier, signer, sig_header, ..) = setup(which);
        let headers = signer.timestamp(ts).sign(&body).unwrap();
        if let Some(changed) = mutate_header(&headers, sig_header, index, delta) {
            let result = verifier.verify_at(&changed, &body, at(ts));
            // Changing a byte can also hit the `t=` part of Stripe's header, or turn the encoding
            // invalid: any refusal is fine, acceptance is not — except uppercase/lowercase hex and
            // base64 padding variants, which decode to the same MAC.
            if let Ok(v) = result {
                let same = headers.get(sig_header).unwrap().to_str().unwrap()
                    .eq_ignore_ascii_case(changed.get(sig_header).unwrap().to_str().unwrap());
                prop_assert!(same && matches!(which % 5, 1..=3), "accepted a changed signature: {:?}", v);
            }
        }
    }

    #[test]
    fn any_single_timestamp_or_id_byte_change_is_refused(which in prop_oneof![Just(0u8), Just(3u8)], body in proptest::collection::vec(any::<u8>(), 0..256),
                                                         id in id_strategy(), index in any::<usize>(), delta in any::<u8>(), ts in 1_000_000i64..4_000_000_000) {
        let (verifier, signer, _, id_header, ts_header) = setup(which);
        let headers = signer.id(id).timestamp(ts).sign(&body).unwrap();
        for name in [id_header, ts_header].into_iter().flatten() {
            if let Some(changed) = mutate_header(&headers, name, index, delta) {
                // The tolerance is not what refuses it: verify at the changed time if it parses.
                let now = changed.get(name).unwrap().to_str().ok().and_then(|t| t.parse::<i64>().ok())
                    .filter(|_| Some(name) == ts_header).unwrap_or(ts);
                let now = OffsetDateTime::from_unix_timestamp(now).unwrap_or(at(ts));
                prop_assert!(verifier.verify_at(&changed, &body, now).is_err(), "{} changed", name);
            }
        }
    }

    #[test]
    fn arbitrary_header_values_never_panic(which in 0u8..5, value in proptest::collection::vec(any::<u8>(), 0..300),
                                           second in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64))) {
        let (verifier, _, sig_header, id_header, ts_header) = setup(which);
        for name in [Some(sig_header), id_header, ts_header].into_iter().flatten() {
            let Ok(v) = HeaderValue::from_bytes(&value) else { continue };
            let mut h = HeaderMap::new();
            let name = http::HeaderName::from_bytes(name.as_bytes()).unwrap();
            h.insert(&name, v);
            if let Some(Ok(second)) = second.as_deref().map(HeaderValue::from_bytes) {
                h.append(&name, second);
            }
            let _ = verifier.verify_at(&h, b"body", at(1_700_000_000));
        }
    }
}
