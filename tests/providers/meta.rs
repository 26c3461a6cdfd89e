//! Meta (WhatsApp Cloud API, Messenger, Instagram): HMAC-SHA256 of the body in
//! `X-Hub-Signature-256: sha256=…`, legacy SHA-1 only when enabled, and the unsigned
//! `hub.challenge` GET.
//!
//! Meta publishes no fixed signature. The body is the WhatsApp text-message notification of
//! developers.facebook.com "Webhooks: messages" (ids as shown there); the app secret is one
//! chosen here; the signatures were computed with Python's `hmac` exactly as
//! `WhatsApp/WhatsApp-Nodejs-SDK` `src/utils.ts` `generateXHub256Sig` @58ca3d5 does
//! (`createHmac('sha256', appSecret).update(body, 'utf-8').digest('hex')`), and with SHA-1 for
//! the legacy header.

use webhook_receiver::providers::{Meta, Scheme};
use webhook_receiver::testing::Signer;
use webhook_receiver::{Algorithm, DedupKey, VerifyError};

use super::body_hmac::{assert_malformed, common_checks};
use super::{headers, verifier};

const SECRET: &str = "meta-app-secret";
const BODY: &[u8] = br#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color?"}}]},"field":"messages"}]}]}"#;
const HEX: &str = "e19230883cbb638ec294ec3a647f7a1b791a38246ef717a1c1c454c2d587cd1d";
const SHA1_HEX: &str = "6a50559830c2775e8eae2cee239d168e51888bd7";
const HEADER: &str = "x-hub-signature-256";

fn both() -> http::HeaderMap {
    headers(&[
        (HEADER, &format!("sha256={HEX}")),
        ("x-hub-signature", &format!("sha1={SHA1_HEX}")),
    ])
}

#[test]
fn computed_vector_and_common_checks() {
    let h = both();
    let checker = verifier(Meta::new(), SECRET);
    let ok = checker.verify(&h, BODY).unwrap();
    assert_eq!(ok.scheme(), "meta");
    // A batch of entries: the delivery is keyed by the MAC.
    assert_eq!(ok.event_id(), None);
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
    common_checks(Meta::new(), SECRET, BODY, &h, HEADER);
}

#[test]
fn legacy_sha1_only_when_enabled() {
    let legacy = headers(&[("x-hub-signature", &format!("sha1={SHA1_HEX}"))]);
    assert_eq!(
        verifier(Meta::new(), SECRET)
            .verify(&legacy, BODY)
            .unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-hub-signature-256".into()
        }
    );
    let v = verifier(Meta::new().with_legacy_sha1(), SECRET);
    let by_sha1 = v.verify(&legacy, BODY).unwrap().dedup_key().into_owned();
    // One delivery, one key: the same whichever header was checked.
    let by_sha256 = v.verify(&both(), BODY).unwrap().dedup_key().into_owned();
    assert_eq!(by_sha1, by_sha256);
    // With both present, the SHA-256 header is the one checked.
    let mut wrong_256 = both();
    wrong_256.insert(
        HEADER,
        format!("sha256={}", "0".repeat(64)).parse().unwrap(),
    );
    assert_eq!(
        v.verify(&wrong_256, BODY).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let signed = Signer::new(Meta::new().with_legacy_sha1(), SECRET)
        .unwrap()
        .algorithm(Algorithm::HmacSha1)
        .sign(BODY)
        .unwrap();
    assert_eq!(
        signed["x-hub-signature"],
        format!("sha1={SHA1_HEX}").as_str()
    );
    assert_eq!(
        Meta::new().with_legacy_sha1().algorithms(),
        [Algorithm::HmacSha256, Algorithm::HmacSha1]
    );
}

#[test]
fn sdk_leniencies_are_refused() {
    // The archived WhatsApp SDK strips `sha256=` if present and compares the rest with `==`.
    for value in [
        HEX.to_owned(),
        format!("sha1={HEX}"),
        format!("sha256={SHA1_HEX}"),
        format!("sha256:{HEX}"),
        "sha256=".to_owned(),
    ] {
        assert_malformed(Meta::new(), SECRET, BODY, HEADER, &value);
    }
    let v = verifier(Meta::new(), SECRET);
    let upper = headers(&[(HEADER, &format!("sha256={}", HEX.to_uppercase()))]);
    assert!(v.verify(&upper, BODY).is_ok());
    // The verify token is not the key.
    assert_eq!(
        verifier(Meta::new(), "meatyhamhock")
            .verify(&both(), BODY)
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn verification_request() {
    // developers.facebook.com "Getting started": GET with hub.mode, hub.challenge (an int) and
    // hub.verify_token; answer the challenge when the token matches.
    let token = "meatyhamhock";
    let q = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock";
    assert_eq!(
        Meta::verification_response("GET", q, token).as_deref(),
        Some("1158201444")
    );
    let reordered = "hub.verify_token=meatyhamhock&hub.challenge=42&hub.mode=subscribe";
    assert_eq!(
        Meta::verification_response("GET", reordered, token).as_deref(),
        Some("42")
    );
    for (method, query, configured) in [
        ("POST", q, token),
        ("GET", q, "meatyhamhocks"),
        ("GET", q, ""),
        (
            "GET",
            "hub.mode=subscribe&hub.challenge=1&hub.verify_token=",
            "",
        ),
        (
            "GET",
            "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=meatyhamhock",
            token,
        ),
        (
            "GET",
            "hub.challenge=1&hub.verify_token=meatyhamhock",
            token,
        ),
        (
            "GET",
            "hub.mode=subscribe&hub.verify_token=meatyhamhock",
            token,
        ),
        (
            "GET",
            "hub.mode=subscribe&hub.challenge=&hub.verify_token=meatyhamhock",
            token,
        ),
        (
            "GET",
            "hub.mode=subscribe&hub.challenge=%3Cb%3E&hub.verify_token=meatyhamhock",
            token,
        ),
        (
            "GET",
            "hub.mode=subscribe&hub.challenge=12a&hub.verify_token=meatyhamhock",
            token,
        ),
        ("GET", "hub.mode=subscribe&hub.challenge=1", token),
        ("GET", "", token),
    ] {
        assert_eq!(
            Meta::verification_response(method, query, configured),
            None,
            "{method} {query} {configured:?}"
        );
    }
    let long = format!(
        "hub.mode=subscribe&hub.challenge={}&hub.verify_token=meatyhamhock",
        "1".repeat(65)
    );
    assert_eq!(Meta::verification_response("GET", &long, token), None);
    // Percent-encoded tokens are decoded before comparison.
    let encoded = "hub.mode=subscribe&hub.challenge=7&hub.verify_token=a%20b%2Bc";
    assert_eq!(
        Meta::verification_response("GET", encoded, "a b+c").as_deref(),
        Some("7")
    );
}
