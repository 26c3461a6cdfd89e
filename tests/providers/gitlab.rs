//! GitLab: the classic `X-Gitlab-Token` (a plain token, not a MAC) and signing tokens
//! (Standard Webhooks under the name `gitlab`).
//!
//! GitLab publishes no signed example. The token scheme needs none (the header is the token);
//! signing tokens are checked with the Standard Webhooks vectors and against the
//! `standardwebhooks` crate, the reference library GitLab's own test receiver uses.

use http::{HeaderMap, HeaderValue};
use sha2::Digest as _;
use webhook_receiver::providers::{GitLab, Scheme, StandardWebhooks};
use webhook_receiver::testing::Signer;
use webhook_receiver::{ConfigError, DedupKey, Verifier, VerifyError};

use super::{at, headers, verifier};

const TOKEN: &str = "my-gitlab-secret-token";
const PUSH: &[u8] = br#"{"object_kind":"push","event_name":"push","before":"95790bf891e76fee5e1747ab589903a6a1f80f22","after":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","ref":"refs/heads/main"}"#;

fn token(value: &str) -> HeaderMap {
    headers(&[
        ("x-gitlab-token", value),
        ("x-gitlab-event", "Push Hook"),
        ("idempotency-key", "f9a9d1b2-0e3c-4a8e-9d0e-1c2b3a4d5e6f"),
    ])
}

#[test]
fn token_round_trip() {
    let signed = Signer::new(GitLab::new(), TOKEN)
        .unwrap()
        .sign(PUSH)
        .unwrap();
    assert_eq!(signed["x-gitlab-token"], TOKEN, "the token is sent as is");
    let v = verifier(GitLab::new(), TOKEN);
    let ok = v.verify(&signed, PUSH).unwrap();
    assert_eq!(ok.scheme(), "gitlab");
    assert_eq!(ok.event_id(), None);
    assert_eq!(ok.unix_timestamp(), None);
    assert!(!v.has_timestamp());
    // No timestamp: a request is accepted at any time.
    assert!(v.verify_at(&token(TOKEN), PUSH, at(0)).is_ok());
}

#[test]
fn token_does_not_cover_the_body() {
    // The documented limitation: any body passes with the token. Only the dedup key changes,
    // since it is a digest of what was delivered.
    let v = verifier(GitLab::new(), TOKEN);
    let forged = br#"{"object_kind":"push","ref":"refs/heads/evil"}"#;
    let h = token(TOKEN);
    let a = v.verify(&h, PUSH).unwrap();
    let b = v.verify(&h, forged).unwrap();
    assert_ne!(a.dedup_key(), b.dedup_key());
    let DedupKey::Digest(digest) = a.dedup_key() else {
        panic!("a token scheme has no signed id");
    };
    assert_eq!(digest.as_bytes(), sha2::Sha256::digest(PUSH).as_slice());
}

#[test]
fn token_dedup_ignores_the_unsigned_idempotency_key() {
    let v = verifier(GitLab::new(), TOKEN);
    let first = v
        .verify(&token(TOKEN), PUSH)
        .unwrap()
        .dedup_key()
        .into_owned();
    let mut h = token(TOKEN);
    h.insert(
        "idempotency-key",
        HeaderValue::from_static("00000000-0000-0000-0000-000000000000"),
    );
    h.insert(
        "x-gitlab-event-uuid",
        HeaderValue::from_static("11111111-1111-1111-1111-111111111111"),
    );
    assert_eq!(v.verify(&h, PUSH).unwrap().dedup_key(), first);
}

#[test]
fn wrong_missing_and_malformed_tokens() {
    let v = verifier(GitLab::new(), TOKEN);
    for wrong in [
        "my-gitlab-secret-toke",
        "my-gitlab-secret-token2",
        "MY-GITLAB-SECRET-TOKEN",
        "x",
    ] {
        assert_eq!(
            v.verify(&token(wrong), PUSH).unwrap_err(),
            VerifyError::SignatureMismatch,
            "{wrong}"
        );
    }
    assert_eq!(
        verifier(GitLab::new(), "another-token")
            .verify(&token(TOKEN), PUSH)
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        v.verify(&HeaderMap::new(), PUSH).unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-gitlab-token".into()
        }
    );
    let mut h = token(TOKEN);
    h.append("x-gitlab-token", HeaderValue::from_static(TOKEN));
    assert!(matches!(
        v.verify(&h, PUSH),
        Err(VerifyError::MalformedHeader { .. })
    ));
    for bad in [&b"   "[..], b"caf\xc3\xa9"] {
        let mut h = HeaderMap::new();
        h.insert("x-gitlab-token", HeaderValue::from_bytes(bad).unwrap());
        assert!(
            matches!(v.verify(&h, PUSH), Err(VerifyError::MalformedHeader { .. })),
            "{bad:?}"
        );
    }
    // Surrounding spaces are not part of a header value.
    assert!(v.verify(&token(&format!("  {TOKEN} ")), PUSH).is_ok());
    // The error never shows the expected token.
    let err = v.verify(&token("nope"), PUSH).unwrap_err();
    assert!(!format!("{err} {err:?}").contains(TOKEN));
}

#[test]
fn token_rotation() {
    let v = Verifier::builder(GitLab::new())
        .labeled_secret("old", "old-token")
        .labeled_secret("new", TOKEN)
        .build()
        .unwrap();
    let h = token(TOKEN);
    let ok = v.verify(&h, PUSH).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("new")));
    let h = token("old-token");
    let ok = v.verify(&h, PUSH).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (0, Some("old")));
}

#[test]
fn token_key_is_read_as_gitlab_sends_it() {
    // GitLab removes line breaks before sending the token, and HTTP drops surrounding spaces:
    // a token read from a file with its newline still matches.
    let v = verifier(GitLab::new(), &format!("{TOKEN}\n"));
    assert!(v.verify(&token(TOKEN), PUSH).is_ok());
    assert!(GitLab::new().parse_key("with inner space").is_ok());
    // What a header cannot carry intact is refused when building, naming the label only.
    for bad in ["line\nbreak", "del\u{7f}", "pässword", "nul\0"] {
        let err = Verifier::builder(GitLab::new())
            .labeled_secret("hook", bad)
            .build()
            .unwrap_err();
        assert!(
            matches!(&err, ConfigError::InvalidSecret { label: Some(l), .. } if l == "hook"),
            "{bad:?}: {err:?}"
        );
        assert!(!err.to_string().contains(bad), "{err}");
    }
    assert!(matches!(
        Verifier::builder(GitLab::new()).secret(" \n").build(),
        Err(ConfigError::EmptySecret { .. })
    ));
}

// ---------------------------------------------------------------- signing tokens

// standard-webhooks/standard-webhooks libraries/python/standardwebhooks/tests.py
// `test_sign_function`, through the GitLab-named scheme (GitLab signs exactly as the spec).
const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SW_TS: i64 = 1614265330;
const SW_BODY: &[u8] = br#"{"test": 2432232314}"#;
const SW_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn sw(id: &str, ts: &str, sig: &str) -> HeaderMap {
    headers(&[
        ("webhook-id", id),
        ("webhook-timestamp", ts),
        ("webhook-signature", sig),
        ("idempotency-key", id),
    ])
}

#[test]
fn signing_token_standard_webhooks_vector() {
    let v = verifier(GitLab::signing_token(), SW_SECRET);
    let h = sw(SW_ID, "1614265330", SW_SIG);
    let ok = v.verify_at(&h, SW_BODY, at(SW_TS)).unwrap();
    assert_eq!(ok.scheme(), "gitlab");
    assert_eq!(ok.unix_timestamp(), Some(SW_TS));
    assert_eq!(ok.dedup_key(), DedupKey::EventId(SW_ID.into()));
    let signed = Signer::new(GitLab::signing_token(), SW_SECRET)
        .unwrap()
        .id(SW_ID)
        .timestamp(SW_TS)
        .sign(SW_BODY)
        .unwrap();
    assert_eq!(signed["webhook-signature"], SW_SIG);
    // Exactly Standard Webhooks, under another name.
    let standard = verifier(StandardWebhooks::new(), SW_SECRET);
    assert_eq!(
        standard
            .verify_at(&signed, SW_BODY, at(SW_TS))
            .unwrap()
            .scheme(),
        "standard-webhooks"
    );
}

#[test]
fn signing_token_matches_the_reference_library() {
    // A key of the shape GitLab requires (`whsec_` + base64 of 32 bytes), from the example in
    // gitlab-org/gitlab!231325.
    let key = "whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=";
    let reference = standardwebhooks::Webhook::new(key).unwrap();
    let id = "3f1d5b8e-6a2c-4c7e-9b1a-2d4e6f8a0b1c";
    let ts = 1_767_225_600;
    let body = br#"{"object_kind":"merge_request","object_attributes":{"iid":7}}"#;
    let sig = reference.sign(id, ts, body).unwrap();
    let v = verifier(GitLab::signing_token(), key);
    let h = sw(id, &ts.to_string(), &sig);
    let ok = v.verify_at(&h, body, at(ts)).unwrap();
    assert_eq!(ok.event_id().as_deref(), Some(id));
    // And the other way: what our signer sends, the reference library accepts.
    let signed = Signer::new(GitLab::signing_token(), key)
        .unwrap()
        .id(id)
        .sign(body)
        .unwrap();
    assert!(reference.verify(body, &signed).is_ok());
}

#[test]
fn signing_token_rejections() {
    let v = verifier(GitLab::signing_token(), SW_SECRET);
    let h = sw(SW_ID, "1614265330", SW_SIG);
    // Tampered body, tampered (signed) id, wrong key.
    assert_eq!(
        v.verify_at(&h, br#"{"test": 2432232315}"#, at(SW_TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        v.verify_at(&sw("msg_other", "1614265330", SW_SIG), SW_BODY, at(SW_TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        verifier(
            GitLab::signing_token(),
            "whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q="
        )
        .verify_at(&h, SW_BODY, at(SW_TS))
        .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // Expired and future, 5 minutes each way.
    assert!(v.verify_at(&h, SW_BODY, at(SW_TS + 300)).is_ok());
    assert!(matches!(
        v.verify_at(&h, SW_BODY, at(SW_TS + 301)),
        Err(VerifyError::TimestampTooOld { .. })
    ));
    assert!(matches!(
        v.verify_at(&h, SW_BODY, at(SW_TS - 301)),
        Err(VerifyError::TimestampInFuture { .. })
    ));
    // Malformed and missing headers.
    assert!(matches!(
        v.verify_at(&sw(SW_ID, "1614265330", "v1,"), SW_BODY, at(SW_TS)),
        Err(VerifyError::MalformedHeader { .. })
    ));
    assert!(matches!(
        v.verify_at(&sw(SW_ID, "16142653300000000", SW_SIG), SW_BODY, at(SW_TS)),
        Err(VerifyError::MalformedHeader { .. })
    ));
    // A request with only the classic token does not pass the signing-token scheme, and a
    // signed request without `X-Gitlab-Token` does not pass the token scheme.
    assert_eq!(
        v.verify_at(&token(TOKEN), SW_BODY, at(SW_TS)).unwrap_err(),
        VerifyError::MissingHeader {
            name: "webhook-id".into()
        }
    );
    assert_eq!(
        verifier(GitLab::new(), TOKEN)
            .verify_at(&h, SW_BODY, at(SW_TS))
            .unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-gitlab-token".into()
        }
    );
}

#[test]
fn signing_token_rotation_and_dedup() {
    let v = Verifier::builder(GitLab::signing_token())
        .labeled_secret("new", "whsec_dGVzdHRlc3R0ZXN0dGVzdHRlc3R0ZXN0dGVzdHRlc3Q=")
        .labeled_secret("old", SW_SECRET)
        .build()
        .unwrap();
    let h = sw(SW_ID, "1614265330", SW_SIG);
    let ok = v.verify_at(&h, SW_BODY, at(SW_TS)).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("old")));
    // `webhook-id` is signed and is the dedup key; the `Idempotency-Key` header beside it is
    // not read.
    let mut h = sw(SW_ID, "1614265330", SW_SIG);
    h.insert(
        "idempotency-key",
        HeaderValue::from_static("something-else"),
    );
    assert_eq!(
        v.verify_at(&h, SW_BODY, at(SW_TS)).unwrap().dedup_key(),
        DedupKey::EventId(SW_ID.into())
    );
}
