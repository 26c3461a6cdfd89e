//! Adyen: Standard webhooks sign each `NotificationRequestItem` (eight fields joined by `:`,
//! HMAC-SHA256, base64, hex key) inside the body; newer webhooks sign the raw body in the
//! `HmacSignature` header.

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::Adyen;
use webhook_receiver::testing::Signer;
use webhook_receiver::{ConfigError, DedupKey, Secret, Verifier, VerifyError};

use super::{headers, verifier};

/// Wraps items in a Standard webhook body.
fn notification(items: &[&str]) -> Vec<u8> {
    let wrapped: Vec<String> = items
        .iter()
        .map(|item| format!(r#"{{"NotificationRequestItem":{item}}}"#))
        .collect();
    format!(
        r#"{{"live":"false","notificationItems":[{}]}}"#,
        wrapped.join(",")
    )
    .into_bytes()
}

fn verify(v: &Verifier, body: &[u8]) -> Result<DedupKey<'static>, VerifyError> {
    v.verify(&HeaderMap::new(), body)
        .map(|ok| ok.dedup_key().into_owned())
}

// Adyen/adyen-node-api-library src/__tests__/hmacValidator.spec.ts @3b84a18:
// "should have valid notification request item HMAC" and "should have valid hmac".
const NODE_KEY: &str = "DFB1EB5485895CFA84146406857104ABB4CBCABDC8AAF103A624C8F6A3EAAB00";
const NODE_EVENT: &str = r#"{"pspReference":"pspReference","originalReference":"originalReference","merchantAccountCode":"merchantAccount","merchantReference":"reference","amount":{"currency":"EUR","value":1000},"eventCode":"EVENT","success":"true","additionalData":{"hmacSignature":"ipnxGCaUZ4l8TUW75a71/ghd2Fe5ffvX0pV4TLTntIc="}}"#;
const NODE_REPORT: &str = r#"{"pspReference":"pspReference","originalReference":"originalReference","merchantAccountCode":"merchantAccount","merchantReference":"reference","amount":{"currency":"EUR","value":1000},"eventCode":"REPORT_AVAILABLE","eventDate":"2019-09-21T11:45:24.637Z","paymentMethod":"VISA","reason":"reason","success":"true","additionalData":{"hmacSignature":"ZNBPtI+oDyyRrLyD1XirkKnQgIAlFc07Vj27TeHsDRE="}}"#;

// Adyen/adyen-python-api-library test/UtilTest.py @b6f4979, `test_notification_request_item_hmac`.
const PY_KEY: &str = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056";
const PY_ITEM: &str = r#"{"pspReference":"7914073381342284","merchantReference":"TestPayment-1407325143704","merchantAccountCode":"TestMerchant","amount":{"currency":"EUR","value":1130},"eventCode":"AUTHORISATION","success":"true","eventDate":"2019-05-06T17:15:34.121+02:00","operations":["CANCEL","CAPTURE","REFUND"],"paymentMethod":"visa","additionalData":{"hmacSignature":"coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0="}}"#;

// Adyen/adyen-python-api-library `test_webhooks_with_slashes` @b6f4979: real test-environment
// items (test/mocks/util/{backslash,colon,forwardslash,mixed}_notification.json), reduced to the
// signed fields, the signature and two unsigned ones; `merchantReference` holds `\`, `:` and `/`,
// signed without escaping.
const SLASH_KEY: &str = "74F490DD33F7327BAECC88B2947C011FC02D014A473AAA33A8EC93E4DC069174";
const BACKSLASH: &str = r#"{"pspReference":"T7FD4VM4D3RZNN82","merchantAccountCode":"AntoniStroinski","merchantReference":"\\\\slashes are fun","amount":{"currency":"EUR","value":1000},"eventCode":"AUTHORISATION","eventDate":"2023-01-09T16:27:29+01:00","success":"true","additionalData":{"authCode":"076181","hmacSignature":"nIgT81gaB5oJpn2jPXupDq68iRo2wUlBsuYjtYfwKqo="}}"#;
const COLON: &str = r#"{"pspReference":"M8NB66SBZSGLNK82","merchantAccountCode":"AntoniStroinski","merchantReference":":slashes are fun","amount":{"currency":"EUR","value":1000},"eventCode":"AUTHORISATION","eventDate":"2023-01-10T13:40:54+01:00","success":"true","additionalData":{"authCode":"039404","hmacSignature":"2EQYm7YJpKO4EtHSPu55SQTyWf8dkW5u2nD1tJFpViA="}}"#;
const FORWARDSLASH: &str = r#"{"pspReference":"X3GWNS6KJ8NKGK82","merchantAccountCode":"AntoniStroinski","merchantReference":"//slashes are fun","amount":{"value":1000,"currency":"EUR"},"eventCode":"AUTHORISATION","eventDate":"2023-01-10T13:37:30+01:00","success":"true","additionalData":{"authCode":"087330","hmacSignature":"9Z0xdpG9Xi3zcmXv14t/BvMBut77O/Xq9D4CQXSDUi4="}}"#;
const MIXED: &str = r#"{"pspReference":"ZVWN7D3WSMK2WN82","merchantAccountCode":"AntoniStroinski","merchantReference":"\\:/\\/slashes are fun","amount":{"currency":"EUR","value":1000},"eventCode":"AUTHORISATION","eventDate":"2023-01-10T13:42:29+01:00","success":"true","additionalData":{"authCode":"052095","hmacSignature":"CZErGCNQaSsxbaQfZaJlakqo7KPP+mIa8a+wx3yNs9A="}}"#;

#[test]
fn official_item_vectors() {
    for (key, item, id) in [
        (NODE_KEY, NODE_EVENT, "pspReference:EVENT:true"),
        (NODE_KEY, NODE_REPORT, "pspReference:REPORT_AVAILABLE:true"),
        (PY_KEY, PY_ITEM, "7914073381342284:AUTHORISATION:true"),
        (SLASH_KEY, BACKSLASH, "T7FD4VM4D3RZNN82:AUTHORISATION:true"),
        (SLASH_KEY, COLON, "M8NB66SBZSGLNK82:AUTHORISATION:true"),
        (
            SLASH_KEY,
            FORWARDSLASH,
            "X3GWNS6KJ8NKGK82:AUTHORISATION:true",
        ),
        (SLASH_KEY, MIXED, "ZVWN7D3WSMK2WN82:AUTHORISATION:true"),
    ] {
        let v = verifier(Adyen::new(), key);
        let (none, body) = (HeaderMap::new(), notification(&[item]));
        let ok = v.verify(&none, &body).unwrap();
        assert_eq!(ok.scheme(), "adyen");
        assert_eq!(ok.unix_timestamp(), None);
        assert_eq!(ok.event_id().as_deref(), Some(id));
        assert_eq!(ok.dedup_key(), DedupKey::EventId(id.into()));
    }
}

#[test]
fn the_signer_writes_each_items_signature() {
    // The Node vector's item without its signature: the signer puts the official one back.
    let unsigned = NODE_EVENT.replace(
        r#","additionalData":{"hmacSignature":"ipnxGCaUZ4l8TUW75a71/ghd2Fe5ffvX0pV4TLTntIc="}"#,
        "",
    );
    let out = Signer::new(Adyen::new(), NODE_KEY)
        .unwrap()
        .sign_request(&notification(&[&unsigned, PY_ITEM]))
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&out.body).unwrap();
    let items = body["notificationItems"].as_array().unwrap();
    assert_eq!(
        items[0]["NotificationRequestItem"]["additionalData"]["hmacSignature"],
        "ipnxGCaUZ4l8TUW75a71/ghd2Fe5ffvX0pV4TLTntIc="
    );
    assert_eq!(items.len(), 2);
    assert_eq!(out.headers["content-type"], "application/json");
    assert!(
        verifier(Adyen::new(), NODE_KEY)
            .verify(&out.headers, &out.body)
            .is_ok()
    );
    // Not a notification: a configuration error, not a panic.
    for body in [
        &b"{}"[..],
        b"[]",
        b"not json",
        br#"{"notificationItems":[1]}"#,
    ] {
        assert!(
            Signer::new(Adyen::new(), NODE_KEY)
                .unwrap()
                .sign_request(body)
                .is_err()
        );
    }
}

#[test]
fn the_key_is_hex_decoded() {
    let body = notification(&[PY_ITEM]);
    // Lowercase hex is the same key.
    assert!(verify(&verifier(Adyen::new(), &PY_KEY.to_lowercase()), &body).is_ok());
    // The hex text used as key bytes (the trap): no match.
    let text = Verifier::builder(Adyen::new())
        .raw_secret(None, Secret::from_bytes(PY_KEY.as_bytes()).unwrap())
        .build()
        .unwrap();
    assert_eq!(
        verify(&text, &body).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    for bad in ["not hex", "ABC", ""] {
        assert!(
            matches!(
                Verifier::builder(Adyen::new()).secret(bad).build(),
                Err(ConfigError::InvalidSecret { .. } | ConfigError::EmptySecret { .. })
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn every_item_of_a_batch_must_verify() {
    let v = verifier(Adyen::new(), SLASH_KEY);
    let batch = notification(&[BACKSLASH, COLON, FORWARDSLASH, MIXED]);
    let key = verify(&v, &batch).unwrap();
    // A batch is one delivery: a digest, not an item's id.
    assert!(matches!(key, DedupKey::Digest(_)));
    assert_eq!(verify(&v, &batch).unwrap(), key);
    // Another order is another delivery, still authentic.
    let reordered = verify(&v, &notification(&[MIXED, FORWARDSLASH, COLON, BACKSLASH])).unwrap();
    assert_ne!(reordered, key);
    // One forged item anywhere fails the whole batch (Adyen's Python library checks only the
    // first item).
    for at in 0..4 {
        let mut items = [BACKSLASH, COLON, FORWARDSLASH, MIXED].map(str::to_owned);
        items[at] = items[at]
            .replace(":1000", ":1")
            .replace("\"value\":1000", "\"value\":1");
        let refs: Vec<&str> = items.iter().map(String::as_str).collect();
        assert_eq!(
            verify(&v, &notification(&refs)).unwrap_err(),
            VerifyError::SignatureMismatch,
            "item {at}"
        );
    }
    // Items signed under two different keys never pass together, even with both keys.
    let both = Verifier::builder(Adyen::new())
        .secret(SLASH_KEY)
        .secret(PY_KEY)
        .build()
        .unwrap();
    assert!(verify(&both, &notification(&[BACKSLASH])).is_ok());
    assert!(verify(&both, &notification(&[PY_ITEM])).is_ok());
    assert_eq!(
        verify(&both, &notification(&[BACKSLASH, PY_ITEM])).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn missing_fields_are_empty_and_unsigned_fields_do_not_count() {
    // `originalReference` absent, `null` or empty: the same signed text.
    let v = verifier(Adyen::new(), PY_KEY);
    for item in [
        PY_ITEM.to_owned(),
        PY_ITEM.replace(r#""success""#, r#""originalReference":null,"success""#),
        PY_ITEM.replace(r#""success""#, r#""originalReference":"","success""#),
    ] {
        assert!(verify(&v, &notification(&[&item])).is_ok(), "{item}");
    }
    // No amount at all: `…:::AUTHORISATION:true` (MAC computed with Python's `hmac`).
    let no_amount = r#"{"pspReference":"7914073381342284","merchantReference":"TestPayment-1407325143704","merchantAccountCode":"TestMerchant","eventCode":"AUTHORISATION","success":"true","additionalData":{"hmacSignature":"x5+0riPMvjoei97ylEL5E4sDDEismP9aMm/gy0W0GD8="}}"#;
    assert!(verify(&v, &notification(&[no_amount])).is_ok());
    assert!(
        verify(
            &v,
            &notification(&[&no_amount.replace(r#""eventCode""#, r#""amount":null,"eventCode""#)])
        )
        .is_ok()
    );
    // A value sent as a string is the same text as the integer.
    assert!(
        verify(
            &v,
            &notification(&[&PY_ITEM.replace(":1130}", ":\"1130\"}")])
        )
        .is_ok()
    );
    // Unsigned fields change neither the verdict nor the dedup key.
    let first = verify(&v, &notification(&[PY_ITEM])).unwrap();
    let edited = PY_ITEM
        .replace("2019-05-06T17:15:34.121+02:00", "2030-01-01T00:00:00+00:00")
        .replace(r#""visa""#, r#""mc""#);
    assert_eq!(verify(&v, &notification(&[&edited])).unwrap(), first);
    // Signed ones do.
    for (from, to) in [
        ("7914073381342284", "7914073381342285"),
        ("TestMerchant", "OtherMerchant"),
        ("\"EUR\"", "\"USD\""),
        ("AUTHORISATION", "CAPTURE"),
        (r#""success":"true""#, r#""success":"false""#),
    ] {
        assert_eq!(
            verify(&v, &notification(&[&PY_ITEM.replace(from, to)])).unwrap_err(),
            VerifyError::SignatureMismatch,
            "{to}"
        );
    }
}

#[test]
fn dedup_keys_are_signed_fields() {
    let v = verifier(Adyen::new(), PY_KEY);
    // The same payment refused then accepted: two events (MAC with `success` "false" computed
    // with Python's `hmac`).
    let refused = PY_ITEM
        .replace(r#""success":"true""#, r#""success":"false""#)
        .replace(
            "coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0=",
            "YrZbRrl8QM84UhV+yoHFXqoA2lrfLDJ6Grw0ypYASWE=",
        );
    assert_eq!(
        verify(&v, &notification(&[&refused])).unwrap(),
        DedupKey::EventId("7914073381342284:AUTHORISATION:false".into())
    );
    // A `success` sent as a JSON boolean is the same text.
    let boolean = refused.replace(r#""success":"false""#, r#""success":false"#);
    assert_eq!(
        verify(&v, &notification(&[&boolean])).unwrap(),
        DedupKey::EventId("7914073381342284:AUTHORISATION:false".into())
    );
    // Fields are joined by `:` without escaping, so a `:` in the merchant's reference can be
    // moved into a neighbour under the same MAC. Moved into `pspReference` (Adyen's real
    // test-environment item `COLON`), it would change the dedup key and let a replay run again:
    // a `pspReference`, `eventCode` or `success` holding `:` is refused (Adyen's never do).
    let colon = notification(&[COLON]);
    assert_eq!(
        verify(&verifier(Adyen::new(), SLASH_KEY), &colon).unwrap(),
        DedupKey::EventId("M8NB66SBZSGLNK82:AUTHORISATION:true".into())
    );
    let shifted = COLON
        .replace(
            r#""pspReference":"M8NB66SBZSGLNK82""#,
            r#""pspReference":"M8NB66SBZSGLNK82:","originalReference":"AntoniStroinski""#,
        )
        .replace(
            r#""merchantAccountCode":"AntoniStroinski""#,
            r#""merchantAccountCode":"""#,
        )
        .replace(":slashes are fun", "slashes are fun");
    assert!(
        matches!(
            verify(
                &verifier(Adyen::new(), SLASH_KEY),
                &notification(&[&shifted])
            ),
            Err(VerifyError::MalformedBody { .. })
        ),
        "{shifted}"
    );
    // No `pspReference`: a digest.
    let signed = Signer::new(Adyen::new(), PY_KEY)
        .unwrap()
        .sign_request(&notification(&[
            r#"{"eventCode":"REPORT_AVAILABLE","success":"true"}"#,
        ]))
        .unwrap();
    assert!(matches!(
        v.verify(&signed.headers, &signed.body).unwrap().dedup_key(),
        DedupKey::Digest(_)
    ));
}

#[test]
fn malformed_notifications() {
    let v = verifier(Adyen::new(), PY_KEY);
    let no_signature = PY_ITEM.replace(
        r#""additionalData":{"hmacSignature":"coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0="}"#,
        r#""additionalData":{}"#,
    );
    let cases: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"not json".to_vec(),
        format!("[{PY_ITEM}]").into_bytes(),
        br#"{"live":"false"}"#.to_vec(),
        br#"{"notificationItems":[]}"#.to_vec(),
        br#"{"notificationItems":{}}"#.to_vec(),
        br#"{"notificationItems":[{}]}"#.to_vec(),
        br#"{"notificationItems":[{"NotificationRequestItem":[]}]}"#.to_vec(),
        notification(&[&no_signature]),
        notification(&[&PY_ITEM.replace(r#","additionalData":{"hmacSignature":"coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0="}"#, "")]),
        notification(&[&PY_ITEM.replace("coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0=", "")]),
        notification(&[&PY_ITEM.replace("coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0=", "notValidSign")]),
        notification(&[&PY_ITEM.replace("coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0=", &"A".repeat(44))]),
        notification(&[&PY_ITEM.replace(":1130}", ":1130.0}")]),
        notification(&[&PY_ITEM.replace(r#""TestMerchant""#, r#"["TestMerchant"]"#)]),
        notification(&[&PY_ITEM.replace(r#""amount":{"currency":"EUR","value":1130}"#, r#""amount":[1130,"EUR"]"#)]),
        notification(&[&PY_ITEM.replace(r#""eventCode""#, r#""pspReference":"other","eventCode""#)]),
        notification(&[&PY_ITEM.replace(r#""value":1130"#, r#""value":1130,"value":1"#)]),
        format!("{}x", String::from_utf8(notification(&[PY_ITEM])).unwrap()).into_bytes(),
        format!(
            r#"{{"notificationItems":[{{"NotificationRequestItem":{PY_ITEM}}}],"notificationItems":[]}}"#
        )
        .into_bytes(),
    ];
    for body in cases {
        assert!(
            matches!(verify(&v, &body), Err(VerifyError::MalformedBody { .. })),
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
}

#[test]
fn rotation_reports_the_matching_key() {
    let v = Verifier::builder(Adyen::new())
        .labeled_secret("previous", PY_KEY)
        .labeled_secret(
            "current",
            "00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF",
        )
        .build()
        .unwrap();
    // The Python item re-signed under the new key (computed with Python's `hmac`).
    let item = PY_ITEM.replace(
        "coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0=",
        "gN8B8KnHJuR8WoCRATQ2ctt0ymJ2UZQ5gzjavuY8akc=",
    );
    let (none, body) = (HeaderMap::new(), notification(&[&item]));
    let ok = v.verify(&none, &body).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("current")));
    let body = notification(&[PY_ITEM]);
    let ok = v.verify(&none, &body).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (0, Some("previous")));
}

// Adyen/adyen-python-api-library test/UtilTest.py @b6f4979, `test_is_valid_hmac_payload`: the
// payload exactly as the test's triple-quoted string holds it, indentation included.
const PAYLOAD: &str = "\n        {\n            \"type\": \"merchant.created\",\n            \"environment\": \"test\",\n            \"createdAt\": \"01-01-2024\",\n            \"data\": {\n                \"capabilities\": {\n                    \"sendToTransferInstrument\": {\n                        \"requested\": true,\n                        \"requestedLevel\": \"notApplicable\"\n                    }\n                },\n                \"companyId\": \"YOUR_COMPANY_ID\",\n                \"merchantId\": \"YOUR_MERCHANT_ACCOUNT\",\n                \"status\": \"PreActive\"\n            }\n        }\n        ";
const PAYLOAD_SIG: &str = "fX74xUdztFmaXAn3IusMFFUBUSkLmDQUK0tm8xL6ZTU=";

#[test]
fn header_signed_webhooks() {
    let v = verifier(Adyen::signature_header(), PY_KEY);
    let h = headers(&[("HmacSignature", PAYLOAD_SIG), ("Protocol", "HmacSHA256")]);
    let ok = v.verify(&h, PAYLOAD.as_bytes()).unwrap();
    assert_eq!(ok.scheme(), "adyen");
    assert_eq!(ok.event_id(), None);
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
    let signed = Signer::new(Adyen::signature_header(), PY_KEY)
        .unwrap()
        .sign(PAYLOAD.as_bytes())
        .unwrap();
    assert_eq!(signed["hmacsignature"], PAYLOAD_SIG);
    // The raw body is signed: trimming it breaks the MAC.
    assert_eq!(
        v.verify(&h, PAYLOAD.trim().as_bytes()).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // The hex text as key (the MAC under those bytes, computed with Python): no match.
    let text = headers(&[(
        "hmacsignature",
        "pkhguqyDIxhssAtbNt99T/6k7fXFevvT43+RnB0wJAE=",
    )]);
    assert_eq!(
        v.verify(&text, PAYLOAD.as_bytes()).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        verifier(Adyen::signature_header(), NODE_KEY)
            .verify(&h, PAYLOAD.as_bytes())
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        v.verify(&HeaderMap::new(), PAYLOAD.as_bytes()).unwrap_err(),
        VerifyError::MissingHeader {
            name: "hmacsignature".into()
        }
    );
    for bad in ["MismatchingHmacKey=", "!!", &"A".repeat(44)] {
        assert!(
            matches!(
                v.verify(&headers(&[("hmacsignature", bad)]), PAYLOAD.as_bytes()),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{bad}"
        );
    }
    let mut twice = h.clone();
    twice.append("hmacsignature", HeaderValue::from_static(PAYLOAD_SIG));
    assert!(matches!(
        v.verify(&twice, PAYLOAD.as_bytes()),
        Err(VerifyError::MalformedHeader { .. })
    ));
    // A Standard verifier does not read the header, and vice versa.
    assert!(matches!(
        verifier(Adyen::new(), PY_KEY).verify(&h, PAYLOAD.as_bytes()),
        Err(VerifyError::MalformedBody { .. })
    ));
}
