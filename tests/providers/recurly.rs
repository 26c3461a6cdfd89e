//! Recurly: `<ms>,<hex>[,<hex>…]` over `{ms}.{body}`, with a key that looks hex but is raw.

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::Recurly;
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, Verifier, VerifyError};

use super::{headers, verifier};

// recurly/recurly-client-go webhook_test.go `generateTestWebhookSignatureData` (secret, body)
// and `TestVerifyWebhookMultipleSignature` (the second secret)
// @e35e39075944ba9131ad0427bbeb1f2964103d60. The test signs at `time.Now()`; the signatures
// below were computed the way it does (`hmac.New(sha256.New, []byte(secret))` over
// `timestamp + "." + body`, hex) at the fixed timestamp 1663103920000 ms.
const SECRET: &str = "354fab5bd35f5a0d50845ee7e30165244468b13c2c343f104e4e730a59326d9d";
const SECRET2: &str = "ade46dda4474b0ae57dec22d35b9cd526b260d235f7e200c1d93f156000fe396";
const BODY: &[u8] = br#"{"id":"rjxwmwedwqug","object_type":"account","site_id":"qc326l1hl8k9","event_type":"created","event_time":"2022-09-13T21:18:40Z","account_code":"adfas23zzz14123"}"#;
const TS: i64 = 1_663_103_920_000;
const SIG: &str = "c847d37e18f2c23fcc97cb0b6704455169b732f7d81d145574d92786730f019b";
const SIG2: &str = "b93ecd2079300feeb1f7a755e016f40c8823f30c776771499d5019a3c439909a";
// HMAC under the hex-*decoded* key: what a receiver that decodes the key would compute.
const SIG_HEX_KEY: &str = "13d308eeb138a164f7eff436ecc199e96b15815c9a3ce4ab577c26e9f85ad57b";

fn at_ms(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap()
}

fn rc(value: &str) -> HeaderMap {
    headers(&[("recurly-signature", value)])
}

#[test]
fn go_client_vectors() {
    let v = verifier(Recurly::new(), SECRET);
    // TestVerifyWebhookSignature.
    let sent = rc(&format!("{TS},{SIG}"));
    let ok = v.verify_at(&sent, BODY, at_ms(TS)).unwrap();
    assert_eq!(ok.scheme(), "recurly");
    assert_eq!(ok.unix_timestamp_millis(), Some(TS));
    assert_eq!(ok.dedup_key(), DedupKey::EventId("rjxwmwedwqug".into()));
    // TestVerifyWebhookMultipleSignature: either secret verifies the two-signature header.
    let both = rc(&format!("{TS},{SIG},{SIG2}"));
    assert!(v.verify_at(&both, BODY, at_ms(TS)).is_ok());
    assert!(
        verifier(Recurly::new(), SECRET2)
            .verify_at(&both, BODY, at_ms(TS))
            .is_ok()
    );
    // TestVerifyWebhookSignatureMismatchBody / MismatchTimestamp.
    let mut longer = BODY.to_vec();
    longer.push(b'a');
    assert_eq!(
        v.verify_at(&rc(&format!("{TS},{SIG}")), &longer, at_ms(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        v.verify_at(&rc(&format!("{},{SIG}", TS + 1)), BODY, at_ms(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // TestVerifyWebhookSignatureToleranceReached: ten minutes old.
    assert!(matches!(
        v.verify_at(&rc(&format!("{TS},{SIG}")), BODY, at_ms(TS + 600_000)),
        Err(VerifyError::TimestampTooOld { .. })
    ));
    // TestVerifyWebhookSignatureIncorrectHeader0..3: empty, no comma, no signature, bad ts.
    assert!(matches!(
        v.verify_at(&rc(" "), BODY, at_ms(TS)),
        Err(VerifyError::MalformedHeader { .. })
    ));
    for header in [
        format!("{TS}{SIG}"),
        format!("{TS}"),
        format!("{TS}a,{SIG}"),
    ] {
        assert!(
            matches!(
                v.verify_at(&rc(&header), BODY, at_ms(TS)),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{header}"
        );
    }
    // The signer reproduces the header.
    let signed = Signer::new(Recurly::new(), SECRET)
        .unwrap()
        .timestamp_millis(TS)
        .sign(BODY)
        .unwrap();
    assert_eq!(signed["recurly-signature"], format!("{TS},{SIG}").as_str());
}

#[test]
fn key_that_looks_hex_is_used_raw() {
    let v = verifier(Recurly::new(), SECRET);
    assert_eq!(
        v.verify_at(&rc(&format!("{TS},{SIG_HEX_KEY}")), BODY, at_ms(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn tolerance_and_future_policy() {
    let v = verifier(Recurly::new(), SECRET);
    let h = rc(&format!("{TS},{SIG}"));
    assert!(v.verify_at(&h, BODY, at_ms(TS + 300_000)).is_ok());
    assert!(matches!(
        v.verify_at(&h, BODY, at_ms(TS + 300_001)),
        Err(VerifyError::TimestampTooOld { .. })
    ));
    // The Go client accepts any future timestamp; this crate refuses more than 5 minutes.
    assert!(v.verify_at(&h, BODY, at_ms(TS - 300_000)).is_ok());
    assert!(matches!(
        v.verify_at(&h, BODY, at_ms(TS - 300_001)),
        Err(VerifyError::TimestampInFuture { .. })
    ));
}

#[test]
fn header_shapes() {
    let v = verifier(Recurly::new(), SECRET);
    // Spaces around items, empty items and uppercase hex are harmless.
    for ok in [
        format!("{TS}, {SIG}"),
        format!("{TS},,{SIG},"),
        format!("{TS},{}", SIG.to_uppercase()),
        format!("{TS},{SIG2},{SIG}"),
        // A candidate that is not hex beside the valid one is skipped, as the SDK's text
        // comparison never matches it.
        format!("{TS},{SIG},nothex"),
    ] {
        assert!(v.verify_at(&rc(&ok), BODY, at_ms(TS)).is_ok(), "{ok}");
    }
    for bad in [
        format!("{TS},zz"),
        format!("0{TS},{SIG}"),
        format!("-{TS},{SIG}"),
        format!("{},{SIG}", TS / 1000), // seconds, a different signed text
        format!("{TS},{}", format!("{SIG},").repeat(9)),
        format!(",{SIG}"),
    ] {
        let sent2 = rc(&bad);
        let err = v.verify_at(&sent2, BODY, at_ms(TS)).unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::MalformedHeader { .. } | VerifyError::TimestampTooOld { .. }
            ),
            "{bad}: {err:?}"
        );
    }
    assert_eq!(
        v.verify_at(&HeaderMap::new(), BODY, at_ms(TS)).unwrap_err(),
        VerifyError::MissingHeader {
            name: "recurly-signature".into()
        }
    );
}

#[test]
fn rotation_and_dedup() {
    let v = Verifier::builder(Recurly::new())
        .labeled_secret("new", SECRET2)
        .labeled_secret("old", SECRET)
        .build()
        .unwrap();
    let sent3 = rc(&format!("{TS},{SIG}"));
    let ok = v.verify_at(&sent3, BODY, at_ms(TS)).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("old")));
    let sent4 = rc(&format!("{TS},{SIG},{SIG2}"));
    let ok = v.verify_at(&sent4, BODY, at_ms(TS)).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (0, Some("new")));
    // A retry is signed at a new time and keeps the notification id.
    let retry = Signer::new(Recurly::new(), SECRET2)
        .unwrap()
        .timestamp_millis(TS + 70_000)
        .sign(BODY)
        .unwrap();
    let again = v.verify_at(&retry, BODY, at_ms(TS + 70_000)).unwrap();
    assert_eq!(again.dedup_key(), ok.dedup_key());
    let mut h = rc(&format!("{TS},{SIG}"));
    h.insert("x-recurly-id", HeaderValue::from_static("other"));
    assert_eq!(
        v.verify_at(&h, BODY, at_ms(TS)).unwrap().dedup_key(),
        ok.dedup_key()
    );
}
