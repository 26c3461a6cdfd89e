//! Gitea, Forgejo and Gogs: hex HMAC-SHA256 of the JSON payload in `X-Gitea-Signature`,
//! `X-Forgejo-Signature`, `X-Gogs-Signature` or `X-Hub-Signature-256: sha256=…`; form webhooks
//! sign the decoded `payload` field.
//!
//! Gitea publishes no signed example (its delivery tests, `go-gitea/gitea`
//! `services/webhook/deliver_test.go`, check no signature). The payload is the push example of
//! Gitea's webhook documentation, abridged; the MACs follow `addDefaultHeaders` in
//! `services/webhook/deliver.go` @50e7826 (`hmac.New(sha256.New, secret)` over
//! `t.PayloadContent`, hex) and were computed with Python's `hmac`; the form body is what
//! `url.Values{"payload": …}.Encode()` sends, produced with Python's `urllib.parse.urlencode`
//! (the same escaping).

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::Gitea;
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, Request, Verifier, VerifyError};

use super::{headers, verifier};

const SECRET: &str = "gitea-secret";
const BODY: &[u8] = br#"{"ref":"refs/heads/main","before":"28e1879d029cb852e4844d9c718537df08844e03","after":"bffeb74224043ba2feb48d137756c8a9331c449a","compare_url":"http://localhost:3000/gitea/webhooks/compare/28e1879d029cb852e4844d9c718537df08844e03...bffeb74224043ba2feb48d137756c8a9331c449a","commits":[{"id":"bffeb74224043ba2feb48d137756c8a9331c449a","message":"Webhooks Yay!","url":"http://localhost:3000/gitea/webhooks/commit/bffeb74224043ba2feb48d137756c8a9331c449a","author":{"name":"Gitea","email":"someone@gitea.io","username":"gitea"},"timestamp":"2017-03-13T13:52:11-04:00"}],"repository":{"id":140,"name":"webhooks","full_name":"gitea/webhooks","private":false},"pusher":{"login":"gitea","id":1},"sender":{"login":"gitea","id":1}}"#;
const SIG: &str = "a895be50fc45a5ba7151c704a8e5ac3d830ea8363f2d044e2dadac8c9911ecf3";
const SIG_SHA1: &str = "fb4ab7fd4936003700fd7548e89ab6ca8253f586";
/// The MAC of the form body's bytes, which Gitea does not sign.
const SIG_OF_FORM_BYTES: &str = "a59b8f81e39fea480f2a12d89e29b33b694a2632616d2c0d7e09652cfd9e2b0e";
const FORM_BODY: &str = concat!(
    "payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%2C%22before%22%3A%2228e1879d029cb852e4844",
    "d9c718537df08844e03%22%2C%22after%22%3A%22bffeb74224043ba2feb48d137756c8a9331c449a%22%2C%2",
    "2compare_url%22%3A%22http%3A%2F%2Flocalhost%3A3000%2Fgitea%2Fwebhooks%2Fcompare%2F28e1879d",
    "029cb852e4844d9c718537df08844e03...bffeb74224043ba2feb48d137756c8a9331c449a%22%2C%22commit",
    "s%22%3A%5B%7B%22id%22%3A%22bffeb74224043ba2feb48d137756c8a9331c449a%22%2C%22message%22%3A%",
    "22Webhooks+Yay%21%22%2C%22url%22%3A%22http%3A%2F%2Flocalhost%3A3000%2Fgitea%2Fwebhooks%2Fc",
    "ommit%2Fbffeb74224043ba2feb48d137756c8a9331c449a%22%2C%22author%22%3A%7B%22name%22%3A%22Gi",
    "tea%22%2C%22email%22%3A%22someone%40gitea.io%22%2C%22username%22%3A%22gitea%22%7D%2C%22tim",
    "estamp%22%3A%222017-03-13T13%3A52%3A11-04%3A00%22%7D%5D%2C%22repository%22%3A%7B%22id%22%3",
    "A140%2C%22name%22%3A%22webhooks%22%2C%22full_name%22%3A%22gitea%2Fwebhooks%22%2C%22private",
    "%22%3Afalse%7D%2C%22pusher%22%3A%7B%22login%22%3A%22gitea%22%2C%22id%22%3A1%7D%2C%22sender",
    "%22%3A%7B%22login%22%3A%22gitea%22%2C%22id%22%3A1%7D%7D",
);

/// Every header Gitea sends with a JSON webhook that has a secret.
fn gitea_headers(sig: &str, content_type: &str) -> HeaderMap {
    headers(&[
        ("content-type", content_type),
        ("x-gitea-delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"),
        ("x-gitea-event", "push"),
        ("x-gitea-signature", sig),
        ("x-gogs-signature", sig),
        ("x-hub-signature", &format!("sha1={SIG_SHA1}")),
        ("x-hub-signature-256", &format!("sha256={sig}")),
        ("x-github-delivery", "f6266f16-1bf3-46a5-9ea4-602e06ead473"),
    ])
}

#[test]
fn computed_vector_json_webhook() {
    let v = verifier(Gitea::new(), SECRET);
    let h = gitea_headers(SIG, "application/json");
    let ok = v.verify(&h, BODY).unwrap();
    assert_eq!(ok.scheme(), "gitea");
    assert_eq!(ok.unix_timestamp(), None);
    assert_eq!(ok.event_id(), None);
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
    let out = Signer::new(Gitea::new(), SECRET)
        .unwrap()
        .sign_request(BODY)
        .unwrap();
    assert_eq!(out.headers["x-gitea-signature"], SIG);
    assert_eq!(out.headers["x-gogs-signature"], SIG);
    assert_eq!(out.headers["x-hub-signature-256"], format!("sha256={SIG}"));
    assert_eq!(out.headers["content-type"], "application/json");
    assert_eq!(out.body, BODY);
}

#[test]
fn each_header_alone_and_their_order() {
    let v = verifier(Gitea::new(), SECRET);
    let hub = format!("sha256={SIG}");
    for (name, value) in [
        ("x-gitea-signature", SIG),
        ("x-forgejo-signature", SIG),
        ("x-gogs-signature", SIG),
        ("x-hub-signature-256", hub.as_str()),
    ] {
        assert!(v.verify(&headers(&[(name, value)]), BODY).is_ok(), "{name}");
    }
    // The first present is the one checked: a bad later header does not matter, a bad first
    // one is not rescued.
    let bad = "0".repeat(64);
    let good_first = headers(&[
        ("x-gitea-signature", SIG),
        ("x-hub-signature-256", "sha256=zz"),
    ]);
    assert!(v.verify(&good_first, BODY).is_ok());
    let bad_first = headers(&[("x-forgejo-signature", &bad), ("x-gogs-signature", SIG)]);
    assert_eq!(
        v.verify(&bad_first, BODY).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // The SHA-1 `X-Hub-Signature` is not used.
    let sha1 = headers(&[("x-hub-signature", &format!("sha1={SIG_SHA1}"))]);
    assert_eq!(
        v.verify(&sha1, BODY).unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-gitea-signature".into()
        }
    );
    // `X-Hub-Signature-256` needs its prefix.
    assert!(matches!(
        v.verify(&headers(&[("x-hub-signature-256", SIG)]), BODY),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

#[test]
fn form_webhooks_sign_the_decoded_payload() {
    let v = verifier(Gitea::new(), SECRET);
    let form = gitea_headers(SIG, "application/x-www-form-urlencoded");
    let ok = v.verify(&form, FORM_BODY.as_bytes()).unwrap();
    // One payload, one dedup key, whichever content type carried it.
    let json_headers = gitea_headers(SIG, "application/json");
    let json = v.verify(&json_headers, BODY).unwrap();
    assert_eq!(ok.dedup_key(), json.dedup_key());
    // The MAC of the form bytes is not what Gitea sends.
    assert_eq!(
        v.verify(
            &gitea_headers(SIG_OF_FORM_BYTES, "application/x-www-form-urlencoded"),
            FORM_BODY.as_bytes()
        )
        .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // The signer sends the same form.
    let out = Signer::new(Gitea::form(), SECRET)
        .unwrap()
        .sign_request(BODY)
        .unwrap();
    assert_eq!(out.body, FORM_BODY.as_bytes());
    assert_eq!(
        out.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert!(v.verify(&out.headers, &out.body).is_ok());
}

#[test]
fn form_webhooks_hold_one_payload_field() {
    let v = verifier(Gitea::new(), SECRET);
    let form = gitea_headers(SIG, "application/x-www-form-urlencoded; charset=utf-8");
    assert!(v.verify(&form, FORM_BODY.as_bytes()).is_ok());
    let mut added = FORM_BODY.as_bytes().to_vec();
    added.extend_from_slice(b"&extra=1");
    let mut repeated = FORM_BODY.as_bytes().to_vec();
    repeated.extend_from_slice(b"&payload=%7B%7D");
    for body in [
        added,
        repeated,
        b"data=%7B%7D".to_vec(),
        b"payload=%FF".to_vec(),
        Vec::new(),
    ] {
        assert!(
            matches!(
                v.verify(&form, &body),
                Err(VerifyError::MalformedBody { .. })
            ),
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
}

#[test]
fn a_webhook_without_secret_sends_empty_headers() {
    let v = verifier(Gitea::new(), SECRET);
    // What Gitea sends when the webhook has no secret.
    let empty = headers(&[
        ("x-gitea-signature", ""),
        ("x-gogs-signature", ""),
        ("x-hub-signature", "sha1="),
        ("x-hub-signature-256", "sha256="),
    ]);
    let err = v.verify(&empty, BODY).unwrap_err();
    assert!(
        matches!(err, VerifyError::MalformedHeader { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("without a secret"), "{err}");
    let hub_only = headers(&[("x-hub-signature-256", "sha256=")]);
    assert!(
        v.verify(&hub_only, BODY)
            .unwrap_err()
            .to_string()
            .contains("without a secret")
    );
}

#[test]
fn get_webhooks_are_refused() {
    let v = verifier(Gitea::new(), SECRET);
    let h = headers(&[("x-gitea-signature", SIG)]);
    assert!(matches!(
        v.verify_request(&Request::new(&h, b"").method("GET")),
        Err(VerifyError::MalformedBody { .. })
    ));
}

#[test]
fn tampered_body_wrong_key_malformed_and_missing() {
    let v = verifier(Gitea::new(), SECRET);
    let h = headers(&[("x-gitea-signature", SIG)]);
    let tampered = String::from_utf8(BODY.to_vec())
        .unwrap()
        .replace("Webhooks Yay!", "Webhooks Nay!");
    assert_eq!(
        v.verify(&h, tampered.as_bytes()).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        verifier(Gitea::new(), "other-secret")
            .verify(&h, BODY)
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    for value in [&SIG[..63], "z", &format!("sha256={SIG}")] {
        assert!(
            matches!(
                v.verify(&headers(&[("x-gitea-signature", value)]), BODY),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{value}"
        );
    }
    assert!(
        v.verify(
            &headers(&[("x-gitea-signature", &SIG.to_uppercase())]),
            BODY
        )
        .is_ok()
    );
    assert_eq!(
        v.verify(&HeaderMap::new(), BODY).unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-gitea-signature".into()
        }
    );
    let mut twice = h.clone();
    twice.append("x-gitea-signature", HeaderValue::from_static(SIG));
    assert!(matches!(
        v.verify(&twice, BODY),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

#[test]
fn rotation_and_the_unsigned_delivery_id() {
    let v = Verifier::builder(Gitea::new())
        .labeled_secret("old", SECRET)
        .labeled_secret("new", "new-secret")
        .build()
        .unwrap();
    let rotated = "44cf001f35ca54f113df5092a523034d5bd2887932b2f94e909b313df6660022";
    let h = gitea_headers(rotated, "application/json");
    let ok = v.verify(&h, BODY).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("new")));
    // A redelivery has a new delivery id and the same payload: the same key.
    let first = v
        .verify(&gitea_headers(SIG, "application/json"), BODY)
        .unwrap()
        .dedup_key()
        .into_owned();
    let mut again = gitea_headers(SIG, "application/json");
    again.insert(
        "x-gitea-delivery",
        HeaderValue::from_static("0d8ad4c1-0000-4000-8000-000000000000"),
    );
    assert_eq!(v.verify(&again, BODY).unwrap().dedup_key(), first);
}
