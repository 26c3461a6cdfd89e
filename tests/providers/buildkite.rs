//! Buildkite: `timestamp=…,signature=…` over `{timestamp}.{body}`, or the plain token.
//!
//! `buildkite/docs` gives the algorithm (the Ruby example in
//! `pages/apis/webhooks/_verifying_hmac_signatures.md`) and an example header but not the token
//! and body behind it; the vector below was computed with that Ruby algorithm
//! (`OpenSSL::HMAC.hexdigest("sha256", secret, "#{timestamp}.#{body}")`, in Python) at the
//! timestamp of the example header (`_http_headers_token_or_signature.md`), with the example
//! token of the same page @35cf0294c6ea68f41d90da114120d73278f6fc0b.

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::{Buildkite, Scheme};
use webhook_receiver::testing::Signer;
use webhook_receiver::{ConfigError, DedupKey, Verifier, VerifyError};

use super::{at, headers, verifier};

const TOKEN: &str = "309c9c842g8565adecpd7469x6005989";
const TS: i64 = 1_619_071_700;
const BODY: &[u8] = br#"{"event":"build.finished","build":{"id":"f62a1b4d-10f9-4790-bc1c-e2c3a0c80983","state":"passed"},"pipeline":{"slug":"my-pipeline"},"sender":{"name":"Some Person"}}"#;
const SIG: &str = "d0c706006c1c82a76aa9cd214556115ce5f6633d176d9a4230df7fecdbc57557";

fn bk(value: &str) -> HeaderMap {
    headers(&[("x-buildkite-signature", value)])
}

#[test]
fn computed_vector_and_signer() {
    let v = verifier(Buildkite::new(), TOKEN);
    let h = bk(&format!("timestamp={TS},signature={SIG}"));
    let ok = v.verify_at(&h, BODY, at(TS)).unwrap();
    assert_eq!(ok.scheme(), "buildkite");
    assert_eq!(ok.unix_timestamp(), Some(TS));
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
    let signed = Signer::new(Buildkite::new(), TOKEN)
        .unwrap()
        .timestamp(TS)
        .sign(BODY)
        .unwrap();
    assert_eq!(
        signed["x-buildkite-signature"],
        format!("timestamp={TS},signature={SIG}").as_str()
    );
}

#[test]
fn the_timestamp_is_signed_not_only_the_body() {
    // The docs' prose says "the raw request body is the signed message"; the Ruby example signs
    // `{timestamp}.{body}`. An HMAC of the body alone does not verify.
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(TOKEN.as_bytes()).unwrap();
    mac.update(BODY);
    let body_only = hex::encode(mac.finalize().into_bytes());
    let v = verifier(Buildkite::new(), TOKEN);
    assert_eq!(
        v.verify_at(
            &bk(&format!("timestamp={TS},signature={body_only}")),
            BODY,
            at(TS)
        )
        .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        v.verify_at(
            &bk(&format!("timestamp={},signature={SIG}", TS + 1)),
            BODY,
            at(TS)
        )
        .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn expired_future_tampered_wrong_key() {
    let v = verifier(Buildkite::new(), TOKEN);
    let h = bk(&format!("timestamp={TS},signature={SIG}"));
    assert!(v.verify_at(&h, BODY, at(TS + 300)).is_ok());
    assert!(matches!(
        v.verify_at(&h, BODY, at(TS + 301)),
        Err(VerifyError::TimestampTooOld { .. })
    ));
    assert!(matches!(
        v.verify_at(&h, BODY, at(TS - 301)),
        Err(VerifyError::TimestampInFuture { .. })
    ));
    let mut tampered = BODY.to_vec();
    tampered[2] ^= 1;
    assert_eq!(
        v.verify_at(&h, &tampered, at(TS)).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        verifier(Buildkite::new(), "another-token")
            .verify_at(&h, BODY, at(TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn header_shapes() {
    let v = verifier(Buildkite::new(), TOKEN);
    for ok in [
        format!("signature={SIG},timestamp={TS}"),
        format!("timestamp={TS}, signature={SIG}"),
        format!("timestamp={TS},signature={},other=x", SIG.to_uppercase()),
    ] {
        assert!(v.verify_at(&bk(&ok), BODY, at(TS)).is_ok(), "{ok}");
    }
    for bad in [
        format!("signature={SIG}"),
        format!("timestamp={TS}"),
        format!("timestamp={TS},timestamp={TS},signature={SIG}"),
        format!("timestamp={TS},signature={SIG},signature={SIG}"),
        format!("timestamp={TS},signature="),
        format!("timestamp={TS}.0,signature={SIG}"),
        format!("timestamp={TS},signature=xyz"),
        format!("{TS},{SIG}"),
    ] {
        assert!(
            matches!(
                v.verify_at(&bk(&bad), BODY, at(TS)),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn token_mode() {
    let v = verifier(Buildkite::token(), TOKEN);
    assert!(!Buildkite::token().has_timestamp());
    let h = headers(&[("x-buildkite-token", TOKEN)]);
    let ok = v.verify(&h, BODY).unwrap();
    assert_eq!(ok.scheme(), "buildkite");
    assert_eq!(ok.unix_timestamp(), None);
    // A token binds nothing: the delivery is deduplicated by the body.
    let key = ok.dedup_key().into_owned();
    assert!(matches!(key, DedupKey::Digest(_)));
    assert_ne!(v.verify(&h, b"{}").unwrap().dedup_key(), key);
    let wrong = headers(&[("x-buildkite-token", "309c9c842g8565adecpd7469x6005988")]);
    assert_eq!(
        v.verify(&wrong, BODY).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        v.verify(&HeaderMap::new(), BODY).unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-buildkite-token".into()
        }
    );
    // The signer writes the token header.
    let signed = Signer::new(Buildkite::token(), TOKEN)
        .unwrap()
        .sign(BODY)
        .unwrap();
    assert_eq!(signed["x-buildkite-token"], TOKEN);
    assert!(v.verify(&signed, BODY).is_ok());
    // A token with a trailing newline (an environment variable) is trimmed; inner control
    // characters are refused when the verifier is built.
    assert!(
        Verifier::builder(Buildkite::token())
            .secret(&format!("{TOKEN}\n"))
            .build()
            .is_ok()
    );
    assert!(matches!(
        Verifier::builder(Buildkite::token()).secret("a\nb").build(),
        Err(ConfigError::InvalidSecret { .. })
    ));
}

#[test]
fn modes_do_not_cross() {
    // A signature-mode verifier refuses a token (no downgrade), and the other way round.
    let token_headers = headers(&[("x-buildkite-token", TOKEN)]);
    assert_eq!(
        verifier(Buildkite::new(), TOKEN)
            .verify_at(&token_headers, BODY, at(TS))
            .unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-buildkite-signature".into()
        }
    );
    let sig_headers = bk(&format!("timestamp={TS},signature={SIG}"));
    assert_eq!(
        verifier(Buildkite::token(), TOKEN)
            .verify_at(&sig_headers, BODY, at(TS))
            .unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-buildkite-token".into()
        }
    );
    // Both headers at once: each mode reads only its own.
    let mut both = sig_headers.clone();
    both.insert(
        "x-buildkite-token",
        HeaderValue::from_static("not-the-token"),
    );
    assert!(
        verifier(Buildkite::new(), TOKEN)
            .verify_at(&both, BODY, at(TS))
            .is_ok()
    );
}

#[test]
fn rotation_and_dedup() {
    let v = Verifier::builder(Buildkite::new())
        .labeled_secret("new", "new-token")
        .labeled_secret("old", TOKEN)
        .build()
        .unwrap();
    let h = bk(&format!("timestamp={TS},signature={SIG}"));
    let ok = v.verify_at(&h, BODY, at(TS)).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("old")));
    let key = ok.dedup_key().into_owned();
    let mut h2 = h.clone();
    h2.insert("x-buildkite-event", HeaderValue::from_static("ping"));
    assert_eq!(v.verify_at(&h2, BODY, at(TS)).unwrap().dedup_key(), key);
}
