//! Sentry: HMAC-SHA256 of the body in `Sentry-Hook-Signature`; the timestamp header is not
//! signed and never trusted.
//!
//! Sentry publishes no signature example. The body has the shape `AppPlatformEvent.body` builds
//! (`getsentry/sentry` `src/sentry/sentry_apps/api/serializers/app_platform_event.py`
//! @0211925: `action`, `installation.uuid`, `data`, `actor`, `json.dumps` spacing); the
//! signature was computed with Python's `hmac` exactly as `SentryApp.build_signature` does
//! (`hmac.new(client_secret.encode(), body.encode(), sha256).hexdigest()`).

use webhook_receiver::DedupKey;
use webhook_receiver::providers::Sentry;
use webhook_receiver::testing::Signer;

use super::body_hmac::{assert_malformed, common_checks};
use super::{at, headers, verifier};

const SECRET: &str = "a0e1b8c3f4d5e6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1";
const BODY: &[u8] = br#"{"action": "created", "installation": {"uuid": "a8e5d37a-696c-4c54-adb5-b3f28d64c7de"}, "data": {"issue": {"id": "1117540176", "shortId": "IPE-1", "title": "Error: Cannot find module"}}, "actor": {"type": "application", "id": "sentry", "name": "Sentry"}}"#;
const SIG: &str = "72547af9418c5d62a1973059adeff46f619cd4cc69bc87393917c6852aba0a52";
const HEADER: &str = "sentry-hook-signature";

fn sentry_headers(timestamp: &str, request_id: &str) -> http::HeaderMap {
    headers(&[
        ("content-type", "application/json"),
        ("request-id", request_id),
        ("sentry-hook-resource", "issue"),
        ("sentry-hook-timestamp", timestamp),
        (HEADER, SIG),
    ])
}

#[test]
fn computed_vector_and_common_checks() {
    let h = sentry_headers("1601492371", "6f3b0d4c1a2e4b5c8d9e0f1a2b3c4d5e");
    let checker = verifier(Sentry::new(), SECRET);
    let ok = checker.verify(&h, BODY).unwrap();
    assert_eq!(ok.scheme(), "sentry");
    common_checks(Sentry::new(), SECRET, BODY, &h, HEADER);
    // The client secret is the key as text, though it looks like hex.
    let decoded = webhook_receiver::Verifier::builder(Sentry::new())
        .key(
            None,
            webhook_receiver::Key::parse(webhook_receiver::KeyFormat::Hex, SECRET).unwrap(),
        )
        .build()
        .unwrap();
    assert!(decoded.verify(&h, BODY).is_err());
}

#[test]
fn the_unsigned_timestamp_is_never_trusted() {
    let v = verifier(Sentry::new(), SECRET);
    let fresh = sentry_headers("1601492371", "6f3b0d4c1a2e4b5c8d9e0f1a2b3c4d5e");
    let first = v.verify_at(&fresh, BODY, at(1_601_492_371)).unwrap();
    assert_eq!(first.unix_timestamp(), None);
    let key = first.dedup_key().into_owned();
    // A replay with a rewritten timestamp and a new Request-ID, years later: the same
    // delivery (the receiver's dedup refuses it), not a fresh one.
    for (ts, id) in [
        ("4102444800", "00000000000000000000000000000000"),
        ("0", "ffffffffffffffffffffffffffffffff"),
        ("not a number", "x"),
    ] {
        let replay = sentry_headers(ts, id);
        let ok = v.verify_at(&replay, BODY, at(1_900_000_000)).unwrap();
        assert_eq!(ok.unix_timestamp(), None);
        assert_eq!(ok.dedup_key().into_owned(), key);
    }
    // Without the header at all: the same.
    let mut bare = fresh.clone();
    bare.remove("sentry-hook-timestamp");
    assert!(v.verify(&bare, BODY).is_ok());
    assert!(matches!(key, DedupKey::Digest(_)));
}

#[test]
fn signer_sends_sentrys_headers() {
    let signed = Signer::new(Sentry::new(), SECRET)
        .unwrap()
        .timestamp(1_601_492_371)
        .sign(BODY)
        .unwrap();
    assert_eq!(signed[HEADER], SIG);
    assert_eq!(signed["sentry-hook-timestamp"], "1601492371");
}

#[test]
fn malformed_signatures() {
    for value in [
        "sha256=72547af9418c5d62a1973059adeff46f619cd4cc69bc87393917c6852aba0a52",
        "v0=72547af9418c5d62a1973059adeff46f619cd4cc69bc87393917c6852aba0a52",
        "72547af9",
    ] {
        assert_malformed(Sentry::new(), SECRET, BODY, HEADER, value);
    }
}
