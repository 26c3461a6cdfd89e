//! EasyPost: `X-Hmac-Signature: hmac-sha256-hex=…` over the raw body, keyed with the NFKD form of
//! the secret; dedup by the signed body `id`.

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::EasyPost;
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, Secret, Verifier, VerifyError};

use super::{headers, verifier};

// The official vector: EasyPost/easypost-python tests/test_webhook.py @8fcf5e4
// (`test_validate_webhook`), whose fixtures come from EasyPost/examples @112a6d1:
// `official/fixtures/client-library-fixtures.json` (`webhooks.secret` = "sécret",
// `webhooks.hmac_signature`) and `official/fixtures/event-body.json`, which the test re-encodes
// with `json.dumps(..., separators=(",", ":"))` — byte for byte the file without its final
// newline, reproduced here.
const OFFICIAL_SECRET: &str = "sécret";
const OFFICIAL_SIGNATURE: &str =
    "hmac-sha256-hex=38f3f53c103713df81616a0a186d77141957323ec21d5fe9363db93840f527db";
const OFFICIAL_BODY: &str = concat!(
    r#"{"description":"tracker.updated","mode":"production","previous_attributes":{"status":"in"#,
    r#"_transit"},"created_at":"2024-08-02T19:26:52.000Z","pending_urls":["https://example.com/"#,
    r#"easypost"],"completed_urls":[],"updated_at":"2024-08-02T19:26:52.000Z","id":"evt_1","use"#,
    r#"r_id":"user_1","status":"pending","object":"Event","result":{"id":"trk_1","object":"Trac"#,
    r#"ker","mode":"production","tracking_code":"1","status":"in_transit","status_detail":"arri"#,
    r#"ved_at_facility","created_at":"2024-07-31T14:45:27Z","updated_at":"2024-08-02T19:26:51Z""#,
    r#","signed_by":null,"weight":614.4,"est_delivery_date":"2024-08-05T00:00:00Z","shipment_id"#,
    r#"":null,"carrier":"FedEx","tracking_details":[{"object":"TrackingDetail","message":"Shipm"#,
    r#"ent information sent to FedEx","description":"Shipment information sent to FedEx","statu"#,
    r#"s":"pre_transit","status_detail":"label_created","datetime":"2024-07-31T15:00:00Z","sour"#,
    r#"ce":"FedEx","carrier_code":"OC","tracking_location":{"object":"TrackingLocation","city":"#,
    r#"null,"state":null,"country":"US","zip":"32837"}},{"object":"TrackingDetail","message":"P"#,
    r#"icked up","description":"Picked up","status":"in_transit","status_detail":"arrived_at_fa"#,
    r#"cility","datetime":"2024-07-31T19:27:00Z","source":"FedEx","carrier_code":"PU","tracking"#,
    r#"_location":{"object":"TrackingLocation","city":"ORLANDO","state":"FL","country":"US","zi"#,
    r#"p":"32809"}},{"object":"TrackingDetail","message":"Arrived at FedEx location","descripti"#,
    r#"on":"Arrived at FedEx location","status":"in_transit","status_detail":"arrived_at_facili"#,
    r#"ty","datetime":"2024-07-31T22:35:00Z","source":"FedEx","carrier_code":"AR","tracking_loc"#,
    r#"ation":{"object":"TrackingLocation","city":"ORLANDO","state":"FL","country":"US","zip":""#,
    r#"32809"}},{"object":"TrackingDetail","message":"Departed FedEx location","description":"D"#,
    r#"eparted FedEx location","status":"in_transit","status_detail":"departed_facility","datet"#,
    r#"ime":"2024-08-01T14:42:13Z","source":"FedEx","carrier_code":"DP","tracking_location":{"o"#,
    r#"bject":"TrackingLocation","city":"ORLANDO","state":"FL","country":"US","zip":"32809"}},{"#,
    r#""object":"TrackingDetail","message":"On the way","description":"On the way","status":"in"#,
    r#"_transit","status_detail":"unknown","datetime":"2024-08-02T02:46:19Z","source":"FedEx",""#,
    r#"carrier_code":"IT","tracking_location":{"object":"TrackingLocation","city":"KENLY","stat"#,
    r#"e":"NC","country":"US","zip":"27542"}},{"object":"TrackingDetail","message":"On the way""#,
    r#","description":"On the way","status":"in_transit","status_detail":"unknown","datetime":""#,
    r#"2024-08-02T18:35:20Z","source":"FedEx","carrier_code":"IT","tracking_location":{"object""#,
    r#":"TrackingLocation","city":"EDISON TWP","state":"NJ","country":"US","zip":"08817"}},{"ob"#,
    r#"ject":"TrackingDetail","message":"Arrived at FedEx location","description":"Arrived at F"#,
    r#"edEx location","status":"in_transit","status_detail":"arrived_at_facility","datetime":"2"#,
    r#"024-08-02T18:50:00Z","source":"FedEx","carrier_code":"AR","tracking_location":{"object":"#,
    r#""TrackingLocation","city":"EDISON","state":"NJ","country":"US","zip":"08817"}}],"carrier"#,
    r#"_detail":{"object":"CarrierDetail","service":"FEDEX_GROUND","container_type":null,"est_d"#,
    r#"elivery_date_local":"2024-08-05","est_delivery_time_local":null,"origin_location":"ORLAN"#,
    r#"DO FL US","origin_tracking_location":{"object":"TrackingLocation","city":"ORLANDO","stat"#,
    r#"e":"FL","country":"US","zip":"32809"},"destination_location":"BROOKLYN HGTS NY US","dest"#,
    r#"ination_tracking_location":null,"guaranteed_delivery_date":null,"alternate_identifier":n"#,
    r#"ull,"initial_delivery_attempt":null},"finalized":false,"is_return":false,"public_url":"h"#,
    r#"ttps://track.easypost.com/1"}}"#,
);

fn signed(value: &str) -> HeaderMap {
    headers(&[("x-hmac-signature", value)])
}

#[test]
fn official_vector_with_a_non_ascii_secret() {
    let v = verifier(EasyPost::new(), OFFICIAL_SECRET);
    let official = signed(OFFICIAL_SIGNATURE);
    let ok = v.verify(&official, OFFICIAL_BODY.as_bytes()).unwrap();
    assert_eq!(ok.scheme(), "easypost");
    assert_eq!(ok.unix_timestamp(), None);
    assert_eq!(ok.event_id().as_deref(), Some("evt_1"));
    assert_eq!(ok.dedup_key(), DedupKey::EventId("evt_1".into()));
    // The signer reproduces the official header.
    let h = Signer::new(EasyPost::new(), OFFICIAL_SECRET)
        .unwrap()
        .sign(OFFICIAL_BODY.as_bytes())
        .unwrap();
    assert_eq!(h["x-hmac-signature"], OFFICIAL_SIGNATURE);
}

#[test]
fn the_secret_is_nfkd_normalised() {
    // Already decomposed (`e` + U+0301): the same key.
    let decomposed = verifier(EasyPost::new(), "se\u{301}cret");
    assert!(
        decomposed
            .verify(&signed(OFFICIAL_SIGNATURE), OFFICIAL_BODY.as_bytes())
            .is_ok()
    );
    // The trap: the composed UTF-8 bytes of "sécret" used as is do not verify.
    let raw = Verifier::builder(EasyPost::new())
        .raw_secret(None, Secret::from_bytes("sécret".as_bytes()).unwrap())
        .build()
        .unwrap();
    assert_eq!(
        raw.verify(&signed(OFFICIAL_SIGNATURE), OFFICIAL_BODY.as_bytes())
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // Compatibility characters are folded too (NFKD, not NFD): "ﬁ" is "fi".
    let ligature = Signer::new(EasyPost::new(), "\u{fb01}le")
        .unwrap()
        .sign(b"{}")
        .unwrap();
    assert!(
        verifier(EasyPost::new(), "file")
            .verify(&ligature, b"{}")
            .is_ok()
    );
}

#[test]
fn tampered_body_and_wrong_key() {
    let v = verifier(EasyPost::new(), OFFICIAL_SECRET);
    let tampered = OFFICIAL_BODY.replace("614.4", "614.5");
    assert_eq!(
        v.verify(&signed(OFFICIAL_SIGNATURE), tampered.as_bytes())
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        verifier(EasyPost::new(), "secret")
            .verify(&signed(OFFICIAL_SIGNATURE), OFFICIAL_BODY.as_bytes())
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn the_prefix_is_part_of_the_value() {
    let v = verifier(EasyPost::new(), OFFICIAL_SECRET);
    let hex = &OFFICIAL_SIGNATURE["hmac-sha256-hex=".len()..];
    for value in [
        hex.to_owned(),
        format!("HMAC-SHA256-HEX={hex}"),
        format!("hmac-sha256-hex= {hex}"),
        format!("sha256={hex}"),
        format!("hmac-sha1-hex={hex}"),
        "hmac-sha256-hex=".to_owned(),
        format!("hmac-sha256-hex={}", &hex[..62]),
        format!("hmac-sha256-hex={hex}{hex}"),
    ] {
        assert!(
            matches!(
                v.verify(&signed(&value), OFFICIAL_BODY.as_bytes()),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{value}"
        );
    }
    // The hex itself may be uppercase: the MAC is compared as bytes.
    let upper = format!("hmac-sha256-hex={}", hex.to_uppercase());
    assert!(v.verify(&signed(&upper), OFFICIAL_BODY.as_bytes()).is_ok());
    assert_eq!(
        v.verify(&HeaderMap::new(), OFFICIAL_BODY.as_bytes())
            .unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-hmac-signature".into()
        }
    );
    let mut twice = signed(OFFICIAL_SIGNATURE);
    twice.append(
        "x-hmac-signature",
        HeaderValue::from_static(OFFICIAL_SIGNATURE),
    );
    assert!(matches!(
        v.verify(&twice, OFFICIAL_BODY.as_bytes()),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

#[test]
fn rotation_reports_the_matching_key() {
    let v = Verifier::builder(EasyPost::new())
        .labeled_secret("old", OFFICIAL_SECRET)
        .labeled_secret("new", "rotated-secret")
        .build()
        .unwrap();
    // HMAC-SHA256 of the official body under "rotated-secret", computed with Python's `hmac`.
    let h =
        signed("hmac-sha256-hex=21705771071cd2527d3f26aa17b47e0827d89bdb150f2a7b84735641ae71abe0");
    let ok = v.verify(&h, OFFICIAL_BODY.as_bytes()).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("new")));
    let official = signed(OFFICIAL_SIGNATURE);
    let ok = v.verify(&official, OFFICIAL_BODY.as_bytes()).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (0, Some("old")));
}

#[test]
fn dedup_by_the_signed_event_id() {
    let signer = Signer::new(EasyPost::new(), OFFICIAL_SECRET).unwrap();
    let v = verifier(EasyPost::new(), OFFICIAL_SECRET);
    // A retry lists the URLs already served: another body, another MAC, the same event.
    let first = br#"{"id":"evt_2","pending_urls":["https://a.example"],"completed_urls":[]}"#;
    let retry = br#"{"id":"evt_2","pending_urls":[],"completed_urls":["https://a.example"]}"#;
    let a = v
        .verify(&signer.sign(first).unwrap(), first)
        .unwrap()
        .dedup_key()
        .into_owned();
    let b = v
        .verify(&signer.sign(retry).unwrap(), retry)
        .unwrap()
        .dedup_key()
        .into_owned();
    assert_eq!(a, DedupKey::EventId("evt_2".into()));
    assert_eq!(a, b);
    // Headers are not signed and change nothing.
    let mut h = signer.sign(first).unwrap();
    h.insert("x-easypost-event-id", HeaderValue::from_static("evt_9"));
    assert_eq!(v.verify(&h, first).unwrap().dedup_key(), a);
    // No `id`: the MAC.
    let anon = br#"{"description":"tracker.updated"}"#;
    assert!(matches!(
        v.verify(&signer.sign(anon).unwrap(), anon)
            .unwrap()
            .dedup_key(),
        DedupKey::Digest(_)
    ));
}

#[test]
fn integer_weights_are_hashed_as_received() {
    // EasyPost's Node library rewrites `"weight":614` to `614.0` before hashing; the raw body is
    // what EasyPost signed. MAC computed with Python's `hmac` over these exact bytes.
    let body = br#"{"id":"evt_2","description":"tracker.updated","result":{"weight":614}}"#;
    let h =
        signed("hmac-sha256-hex=2b7fe31c599c271f0cead33a802ca0c49b46a9fbe5a9b80793ff237425b9c6a8");
    assert!(
        verifier(EasyPost::new(), OFFICIAL_SECRET)
            .verify(&h, body)
            .is_ok()
    );
}
