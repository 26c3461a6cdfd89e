//! DocuSign Connect (HMAC): one `X-DocuSign-Signature-<n>` per active key, base64 HMAC-SHA256
//! of the whole raw body.
//!
//! DocuSign's sample (`docusign/code-examples-node`
//! `lib/connect/examples/validateWebhookMessage.js` `computeHash` / `isHashValid`
//! @8b0ee71cc6ebd73462eae40b88c7115ea419b94a) gives the algorithm but no fixed signature; the
//! vectors below were computed with it (Python `hmac` + `base64`) over a Connect JSON payload
//! ending in CRLF, since the line endings are signed.

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::DocuSign;
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, Verifier, VerifyError};

use super::{headers, verifier};

const KEY1: &str = "connect-hmac-key-1";
const KEY2: &str = "connect-hmac-key-2";
const BODY: &[u8] = b"{\"event\":\"envelope-completed\",\"apiVersion\":\"v2.1\",\"uri\":\"/restapi/v2.1/accounts/b5c5b0b6-0000-0000-0000-000000000000/envelopes/93be49ab-0000-0000-0000-000000000000\",\"retryCount\":0,\"configurationId\":10001,\"generatedDateTime\":\"2024-01-01T12:00:00.0000000Z\",\"data\":{\"accountId\":\"b5c5b0b6-0000-0000-0000-000000000000\",\"envelopeId\":\"93be49ab-0000-0000-0000-000000000000\"}}\r\n";
const SIG1: &str = "lxK/scKyNZ0dcOoS1SLJe3FPGk9VhhnmY6XQ2hw/0Ro=";
const SIG2: &str = "Bwh/v+ZcXmVv5rwkdqlNMTz1Fn4eyPXVwG4voznDeQo=";

#[test]
fn computed_vectors_and_signer() {
    let v = verifier(DocuSign::new(), KEY1);
    let h = headers(&[("x-docusign-signature-1", SIG1)]);
    let ok = v.verify(&h, BODY).unwrap();
    assert_eq!(ok.scheme(), "docusign");
    assert_eq!(ok.event_id(), None);
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
    let signed = Signer::new(DocuSign::new(), KEY1)
        .unwrap()
        .sign(BODY)
        .unwrap();
    assert_eq!(signed["x-docusign-signature-1"], SIG1);
    // The line ending is signed: the body without its CRLF does not verify.
    assert_eq!(
        v.verify(&h, &BODY[..BODY.len() - 2]).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn one_header_per_key_in_any_order() {
    let both = headers(&[
        ("x-docusign-signature-1", SIG1),
        ("x-docusign-signature-2", SIG2),
    ]);
    let swapped = headers(&[
        ("x-docusign-signature-1", SIG2),
        ("x-docusign-signature-2", SIG1),
    ]);
    // Key 2 alone, key 1 alone, both with labels: the matching label is reported, and the
    // header numbering does not have to follow the order of the configured keys.
    let second = verifier(DocuSign::new(), KEY2);
    assert_eq!(second.verify(&both, BODY).unwrap().key_index(), 0);
    let v = Verifier::builder(DocuSign::new())
        .labeled_secret("2026", KEY2)
        .labeled_secret("2024", KEY1)
        .build()
        .unwrap();
    for h in [&both, &swapped] {
        assert_eq!(v.verify(h, BODY).unwrap().key_label(), Some("2026"));
    }
    let only_old = headers(&[("x-docusign-signature-7", SIG1)]);
    assert_eq!(v.verify(&only_old, BODY).unwrap().key_label(), Some("2024"));
    // Neither header matches a configured key.
    let other = verifier(DocuSign::new(), "retired-key");
    assert_eq!(
        other.verify(&both, BODY).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn header_shapes() {
    let v = verifier(DocuSign::new(), KEY1);
    assert_eq!(
        v.verify(&HeaderMap::new(), BODY).unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-docusign-signature-1".into()
        }
    );
    // Names that are not `-<number>` are not signatures.
    let h = headers(&[
        ("x-docusign-signature-", SIG1),
        ("x-docusign-signature-x", SIG1),
        ("x-docusign-signature", SIG1),
    ]);
    assert!(matches!(
        v.verify(&h, BODY),
        Err(VerifyError::MissingHeader { .. })
    ));
    let mut h = headers(&[("x-docusign-signature-12", SIG1)]);
    h.insert("x-docusign-signature-x", HeaderValue::from_static("junk"));
    assert!(v.verify(&h, BODY).is_ok());
    // A numbered header that is not base64 is skipped beside a valid one (DocuSign's samples
    // compare each header's text), and malformed alone. One that is empty or not ASCII cannot
    // be read at all: the request is malformed.
    let mut h = headers(&[("x-docusign-signature-1", SIG1)]);
    h.insert("x-docusign-signature-2", HeaderValue::from_static("!!"));
    assert!(v.verify(&h, BODY).is_ok());
    let alone = headers(&[("x-docusign-signature-1", "!!")]);
    assert!(matches!(
        v.verify(&alone, BODY),
        Err(VerifyError::MalformedHeader { .. })
    ));
    for bad in [
        HeaderValue::from_static("   "),
        HeaderValue::from_bytes(b"\xff").unwrap(),
    ] {
        let mut h = headers(&[("x-docusign-signature-1", SIG1)]);
        h.insert("x-docusign-signature-2", bad);
        assert!(matches!(
            v.verify(&h, BODY),
            Err(VerifyError::MalformedHeader { .. })
        ));
    }
    // Eight headers are read; a ninth is refused rather than silently dropped.
    let mut eight = HeaderMap::new();
    for n in 1..=8 {
        eight.insert(
            http::HeaderName::try_from(format!("x-docusign-signature-{n}")).unwrap(),
            HeaderValue::from_static(if n == 8 { SIG1 } else { SIG2 }),
        );
    }
    assert!(v.verify(&eight, BODY).is_ok());
    let mut nine = eight.clone();
    nine.insert("x-docusign-signature-9", HeaderValue::from_static(SIG2));
    assert!(matches!(
        v.verify(&nine, BODY),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

#[test]
fn tampered_and_dedup() {
    let v = verifier(DocuSign::new(), KEY1);
    let h = headers(&[("x-docusign-signature-1", SIG1)]);
    let mut tampered = BODY.to_vec();
    tampered[12] ^= 1;
    assert_eq!(
        v.verify(&h, &tampered).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // A second key's header does not change the key: the delivery is deduplicated by what the
    // configured key signed.
    let key = v.verify(&h, BODY).unwrap().dedup_key().into_owned();
    let both = headers(&[
        ("x-docusign-signature-1", SIG1),
        ("x-docusign-signature-2", SIG2),
    ]);
    assert_eq!(v.verify(&both, BODY).unwrap().dedup_key(), key);
}
