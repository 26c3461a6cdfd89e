//! Intercom: HMAC-SHA1 of the body in `X-Hub-Signature: sha1=…`, dedup by the body `id`.
//!
//! Intercom publishes no vector with its secret: its reference page "Signed notifications"
//! (developers.intercom.com intercom-api-reference/v1.0/reference/signed-notifications) shows
//! the header `X-Hub-Signature: sha1=21ff2e149e0fdcac6f947740f6177f6434bda921` and an example
//! body, but not the key. The vectors below sign that example body (byte for byte as the page
//! shows it) with a chosen key; the MACs were computed with Python's `hmac` module
//! (`hmac.new(key, body, hashlib.sha1).hexdigest()`).

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::{GitHub, Intercom};
use webhook_receiver::testing::Signer;
use webhook_receiver::{Algorithm, DedupKey, Verifier, VerifyError};

use super::{headers, verifier};

const SECRET: &str = "intercom-client-secret";
const DOCS_BODY: &str = r#"{
  "type" : "notification_event",
  "id" : "notif_78c122d0-23ba-11e4-9464-79b01267cc2e",
  "topic" : "user.created",
  "app_id" : "a86dr8yl",
  "data" : {
    "type" : "notification_event_data",
    "item" : {
      "type" : "user",
      "id" : "530370b477ad7120001d",
      "user_id" : "25",
      "name" : "Hoban Washburne",
      "unsubscribed_from_emails" : false,
      "custom_attributes" : {}
    }
  }
}"#;
const SIG: &str = "sha1=c875a5d30f2baa0b84c76356e90221d9f20edf3c";
/// HMAC-SHA256 of the same body and key: the wrong algorithm.
const SHA256_HEX: &str = "93d434887b25f4c839471fcd79865cf37b462d2ba839aaee9c1356eb60786872";

fn hub(value: &str) -> HeaderMap {
    headers(&[("x-hub-signature", value)])
}

#[test]
fn docs_example_body() {
    let v = verifier(Intercom::new(), SECRET);
    let h = hub(SIG);
    let ok = v.verify(&h, DOCS_BODY.as_bytes()).unwrap();
    assert_eq!(ok.scheme(), "intercom");
    assert_eq!(ok.unix_timestamp(), None);
    assert_eq!(
        ok.event_id().as_deref(),
        Some("notif_78c122d0-23ba-11e4-9464-79b01267cc2e")
    );
    // The nested `data.item.id` is not the event id.
    assert_eq!(
        ok.dedup_key().to_string(),
        "id:notif_78c122d0-23ba-11e4-9464-79b01267cc2e"
    );
    let signed = Signer::new(Intercom::new(), SECRET)
        .unwrap()
        .sign(DOCS_BODY.as_bytes())
        .unwrap();
    assert_eq!(signed["x-hub-signature"], SIG);
    // The docs' own signature was made with a key Intercom does not publish.
    assert_eq!(
        v.verify(
            &hub("sha1=21ff2e149e0fdcac6f947740f6177f6434bda921"),
            DOCS_BODY.as_bytes()
        )
        .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn tampered_body_and_wrong_key() {
    let v = verifier(Intercom::new(), SECRET);
    let tampered = DOCS_BODY.replace("Hoban", "Hobart");
    assert_eq!(
        v.verify(&hub(SIG), tampered.as_bytes()).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // Pretty-printed JSON is signed as sent: re-serialising it breaks the MAC.
    let compact: String = DOCS_BODY.split_whitespace().collect();
    assert_eq!(
        v.verify(&hub(SIG), compact.as_bytes()).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        verifier(Intercom::new(), "another-client-secret")
            .verify(&hub(SIG), DOCS_BODY.as_bytes())
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn rotation_second_key() {
    let v = Verifier::builder(Intercom::new())
        .labeled_secret("old", SECRET)
        .labeled_secret("rotated", "rotated-client-secret")
        .build()
        .unwrap();
    let h = hub("sha1=3ba53df8792c939f84417fc43e0770f0dc7c80f7");
    let ok = v.verify(&h, DOCS_BODY.as_bytes()).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("rotated")));
}

#[test]
fn sha1_not_sha256() {
    let v = verifier(Intercom::new(), SECRET);
    // A SHA-256 MAC (GitHub's modern header format) never verifies, in either header shape.
    for value in [format!("sha1={SHA256_HEX}"), format!("sha256={SHA256_HEX}")] {
        assert!(
            matches!(
                v.verify(&hub(&value), DOCS_BODY.as_bytes()),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{value}"
        );
    }
    let mut h = hub(SIG);
    h.insert("x-hub-signature-256", HeaderValue::from_static(SHA256_HEX));
    h.remove("x-hub-signature");
    assert_eq!(
        v.verify(&h, DOCS_BODY.as_bytes()).unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-hub-signature".into()
        }
    );
    // The same bytes as GitHub's legacy SHA-1 header: GitHub's legacy mode agrees.
    let github = verifier(GitHub::new().with_legacy_sha1(), SECRET);
    assert!(github.verify(&hub(SIG), DOCS_BODY.as_bytes()).is_ok());
    let signed = Signer::new(Intercom::new(), SECRET)
        .unwrap()
        .algorithm(Algorithm::HmacSha1)
        .sign(DOCS_BODY.as_bytes())
        .unwrap();
    assert_eq!(signed["x-hub-signature"], SIG);
}

#[test]
fn malformed_and_missing_headers() {
    let v = verifier(Intercom::new(), SECRET);
    let hex = &SIG[5..];
    for value in [
        hex.to_owned(),
        format!("SHA1={hex}"),
        format!("sha1 = {hex}"),
        "sha1=".to_owned(),
        "sha1=c875a5d3".to_owned(),
        format!("sha1={hex}00"),
        format!("sha1={}", "z".repeat(40)),
        format!("{SIG},{SIG}"),
    ] {
        assert!(
            matches!(
                v.verify(&hub(&value), DOCS_BODY.as_bytes()),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{value}"
        );
    }
    // Uppercase hex is fine.
    assert!(
        v.verify(
            &hub(&format!("sha1={}", hex.to_uppercase())),
            DOCS_BODY.as_bytes()
        )
        .is_ok()
    );
    assert_eq!(
        v.verify(&HeaderMap::new(), DOCS_BODY.as_bytes())
            .unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-hub-signature".into()
        }
    );
    let mut h = hub(SIG);
    h.append("x-hub-signature", HeaderValue::from_static(SIG));
    assert!(matches!(
        v.verify(&h, DOCS_BODY.as_bytes()),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

#[test]
fn retries_deduplicate_by_the_signed_id() {
    // A retry carries a higher `delivery_attempts`, so its body and MAC differ; the id does not.
    let signer = Signer::new(Intercom::new(), SECRET).unwrap();
    let v = verifier(Intercom::new(), SECRET);
    let first =
        br#"{"type":"notification_event","id":"notif_1","topic":"ping","delivery_attempts":1}"#;
    let retry =
        br#"{"type":"notification_event","id":"notif_1","topic":"ping","delivery_attempts":2}"#;
    let a = signer.sign(first).unwrap();
    let b = signer.sign(retry).unwrap();
    // Computed with Python's hmac module, as above.
    assert_eq!(
        b["x-hub-signature"],
        "sha1=34e3336697f88d2215927e5eef8df5b0ef0256fb"
    );
    let ka = v.verify(&a, first).unwrap().dedup_key().into_owned();
    let kb = v.verify(&b, retry).unwrap().dedup_key().into_owned();
    assert_eq!(ka, kb);
    assert_eq!(ka, DedupKey::EventId("notif_1".into()));
    // An unsigned id header changes nothing; a body without `id` falls back to the MAC.
    let mut h = a.clone();
    h.insert(
        "x-intercom-notification-id",
        HeaderValue::from_static("notif_2"),
    );
    assert_eq!(v.verify(&h, first).unwrap().dedup_key(), ka);
    let anon = br#"{"type":"notification_event","topic":"ping"}"#;
    let h = signer.sign(anon).unwrap();
    assert!(matches!(
        v.verify(&h, anon).unwrap().dedup_key(),
        DedupKey::Digest(_)
    ));
}
