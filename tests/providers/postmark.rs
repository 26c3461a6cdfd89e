//! Postmark: no signature; HTTP Basic credentials (or a custom header) compared in constant
//! time.
//!
//! Postmark signs nothing, so there is no vector: the requests follow its documentation
//! (postmarkapp.com/developer/webhooks/webhooks-overview, "Basic HTTP authentication"); the
//! `Authorization` values are RFC 7617 Basic credentials, base64 computed with Python's
//! `base64.b64encode`.

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::Postmark;
use webhook_receiver::testing::Signer;
use webhook_receiver::{ConfigError, DedupKey, Verifier, VerifyError};

use super::{headers, verifier};

const CREDENTIALS: &str = "postmark:s3cr3t:with-colon";
/// `Basic ` + base64("postmark:s3cr3t:with-colon").
const BASIC: &str = "Basic cG9zdG1hcms6czNjcjN0OndpdGgtY29sb24=";
const BODY: &[u8] = br#"{"RecordType":"Delivery","ServerID":23,"MessageStream":"outbound","MessageID":"00000000-0000-0000-0000-000000000000","Recipient":"john@example.com","Tag":"welcome-email","DeliveredAt":"2026-01-01T16:33:54.9070259Z","Details":"Test delivery webhook details","Metadata":{"a_key":"a_value"}}"#;

fn auth(value: &str) -> HeaderMap {
    headers(&[("authorization", value)])
}

#[test]
fn basic_credentials_authenticate() {
    let v = verifier(Postmark::new(), CREDENTIALS);
    let h = auth(BASIC);
    let ok = v.verify(&h, BODY).unwrap();
    assert_eq!(ok.scheme(), "postmark");
    assert_eq!(ok.unix_timestamp(), None);
    assert_eq!(ok.event_id(), None);
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
    // The scheme name is case-insensitive; padding is optional.
    assert!(
        v.verify(&auth(&BASIC.replace("Basic", "basic")), BODY)
            .is_ok()
    );
    assert!(v.verify(&auth(BASIC.trim_end_matches('=')), BODY).is_ok());
    let h = Signer::new(Postmark::new(), CREDENTIALS)
        .unwrap()
        .sign(BODY)
        .unwrap();
    assert_eq!(h["authorization"], BASIC);
}

#[test]
fn wrong_credentials_are_refused() {
    let v = verifier(Postmark::new(), CREDENTIALS);
    for credentials in ["postmark:s3cr3t", "Postmark:s3cr3t:with-colon", ":"] {
        let h = Signer::new(Postmark::new(), credentials)
            .unwrap()
            .sign(BODY)
            .unwrap();
        assert_eq!(
            v.verify(&h, BODY).unwrap_err(),
            VerifyError::SignatureMismatch,
            "{credentials}"
        );
    }
}

#[test]
fn malformed_authorization() {
    let v = verifier(Postmark::new(), CREDENTIALS);
    for value in [
        "cG9zdG1hcms6czNjcjN0OndpdGgtY29sb24=",
        "Bearer cG9zdG1hcms6czNjcjN0OndpdGgtY29sb24=",
        "Basic",
        "Basic !!!",
        // base64("no-colon")
        "Basic bm8tY29sb24=",
        // base64 of the bytes FF FE: not UTF-8
        "Basic //4=",
        // The credentials themselves, not base64-encoded.
        "Basic postmark:s3cr3t:with-colon",
    ] {
        assert!(
            matches!(
                v.verify(&auth(value), BODY),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{value}"
        );
    }
    assert_eq!(
        v.verify(&HeaderMap::new(), BODY).unwrap_err(),
        VerifyError::MissingHeader {
            name: "authorization".into()
        }
    );
    let mut twice = auth(BASIC);
    twice.append("authorization", HeaderValue::from_static(BASIC));
    assert!(matches!(
        v.verify(&twice, BODY),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

#[test]
fn keys_are_user_colon_password() {
    for bad in ["no-colon", "user:pa\nss", "user:\u{0}"] {
        assert!(
            matches!(
                Verifier::builder(Postmark::new()).secret(bad).build(),
                Err(ConfigError::InvalidSecret { .. })
            ),
            "{bad:?}"
        );
    }
    // Non-ASCII credentials travel as base64 of their UTF-8.
    let v = verifier(Postmark::new(), "usér:pässword");
    let h = Signer::new(Postmark::new(), "usér:pässword")
        .unwrap()
        .sign(BODY)
        .unwrap();
    assert!(v.verify(&h, BODY).is_ok());
}

#[test]
fn nothing_binds_the_body() {
    // Documented limitation: the credentials pass with any body; each body is its own delivery.
    let v = verifier(Postmark::new(), CREDENTIALS);
    let a = v
        .verify(&auth(BASIC), BODY)
        .unwrap()
        .dedup_key()
        .into_owned();
    let other = br#"{"RecordType":"Bounce"}"#;
    let b = v
        .verify(&auth(BASIC), other)
        .unwrap()
        .dedup_key()
        .into_owned();
    assert_ne!(a, b);
    // A retry carries the same body: the same key.
    assert_eq!(v.verify(&auth(BASIC), BODY).unwrap().dedup_key(), a);
}

#[test]
fn a_custom_header() {
    let scheme = Postmark::with_header("X-Webhook-Token").unwrap();
    let v = verifier(scheme.clone(), "tok-3f9a");
    assert!(
        v.verify(&headers(&[("x-webhook-token", "tok-3f9a")]), BODY)
            .is_ok()
    );
    assert_eq!(
        v.verify(&headers(&[("x-webhook-token", "tok-3f9b")]), BODY)
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        v.verify(&auth(BASIC), BODY).unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-webhook-token".into()
        }
    );
    // Its key is a header token: no `:` needed, visible ASCII only.
    assert!(matches!(
        Verifier::builder(scheme.clone()).secret("tök").build(),
        Err(ConfigError::InvalidSecret { .. })
    ));
    let h = Signer::new(scheme, "tok-3f9a").unwrap().sign(BODY).unwrap();
    assert_eq!(h["x-webhook-token"], "tok-3f9a");
    assert!(Postmark::with_header("bad header").is_err());
}

#[test]
fn rotation_reports_the_matching_credentials() {
    let v = Verifier::builder(Postmark::new())
        .labeled_secret("old", CREDENTIALS)
        .labeled_secret("new", "postmark:n3w")
        .build()
        .unwrap();
    let h = Signer::new(Postmark::new(), "postmark:n3w")
        .unwrap()
        .sign(BODY)
        .unwrap();
    let ok = v.verify(&h, BODY).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("new")));
}
