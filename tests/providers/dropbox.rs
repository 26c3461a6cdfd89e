//! Dropbox: HMAC-SHA256 of the body in `X-Dropbox-Signature`, and the unsigned `challenge` GET.
//!
//! Dropbox publishes no fixed signature. The body is the notification shape of
//! dropbox.com/developers/reference/webhooks (`list_folder.accounts`, `delta.users`), the
//! signature was computed with Python's `hmac` exactly as `dropbox/mdwebhook` `app.py`
//! @1b32d5a computes it (`hmac.new(APP_SECRET, request.data, sha256).hexdigest()`).

use webhook_receiver::DedupKey;
use webhook_receiver::providers::Dropbox;
use webhook_receiver::testing::Signer;

use super::body_hmac::{assert_malformed, common_checks};
use super::{headers, verifier};

const SECRET: &str = "dropbox-app-secret";
const BODY: &[u8] = br#"{"list_folder": {"accounts": ["dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc", "dbid:AAAKpz2i1Tz3-Q5kUddSbz9zo21IN4tWCQ0"]}, "delta": {"users": [12345678, 23456789]}}"#;
const SIG: &str = "aef779c6881d2dc57e89b884f3d07f92265663f84fe407e207b005eb99c13a9f";
const HEADER: &str = "x-dropbox-signature";

#[test]
fn computed_vector_and_common_checks() {
    let h = headers(&[(HEADER, SIG)]);
    let checker = verifier(Dropbox::new(), SECRET);
    let ok = checker.verify(&h, BODY).unwrap();
    assert_eq!(ok.scheme(), "dropbox");
    assert_eq!(ok.event_id(), None);
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
    common_checks(Dropbox::new(), SECRET, BODY, &h, HEADER);
}

#[test]
fn identical_notifications_share_a_key() {
    let signer = Signer::new(Dropbox::new(), SECRET).unwrap();
    let v = verifier(Dropbox::new(), SECRET);
    let a = v
        .verify(&signer.sign(BODY).unwrap(), BODY)
        .unwrap()
        .dedup_key()
        .into_owned();
    let b = v
        .verify(&headers(&[(HEADER, SIG)]), BODY)
        .unwrap()
        .dedup_key()
        .into_owned();
    assert_eq!(a, b);
    let other = br#"{"list_folder": {"accounts": ["dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"]}, "delta": {"users": [12345678]}}"#;
    let c = v
        .verify(&signer.sign(other).unwrap(), other)
        .unwrap()
        .dedup_key()
        .into_owned();
    assert_ne!(a, c);
}

#[test]
fn challenge_request() {
    // mdwebhook `challenge()`: echo `challenge` of a GET.
    assert_eq!(
        Dropbox::challenge_response("GET", "challenge=aBcDeF123").as_deref(),
        Some("aBcDeF123")
    );
    assert_eq!(
        Dropbox::challenge_response("GET", "x=1&challenge=a%2Db%2Bc").as_deref(),
        Some("a-b+c"),
        "percent-decoded"
    );
    for (method, query) in [
        ("POST", "challenge=abc"),
        ("get", "challenge=abc"),
        ("GET", ""),
        ("GET", "challenge="),
        ("GET", "challenges=abc"),
        ("GET", "challenge=%3Cscript%3E%20alert(1)"),
        ("GET", "challenge=%C3%A9t%C3%A9"),
        ("GET", "challenge=%0A"),
    ] {
        assert_eq!(
            Dropbox::challenge_response(method, query),
            None,
            "{method} {query}"
        );
    }
    let long = format!("challenge={}", "a".repeat(1025));
    assert_eq!(Dropbox::challenge_response("GET", &long), None);
    let max = format!("challenge={}", "a".repeat(1024));
    assert_eq!(
        Dropbox::challenge_response("GET", &max).map(|c| c.len()),
        Some(1024)
    );
    // Garbage query strings never panic.
    for query in ["%", "%%%", "challenge=%ZZ", "&&&=", "challenge=%FF%FE"] {
        let _ = Dropbox::challenge_response("GET", query);
    }
}

#[test]
fn malformed_signatures() {
    for value in [
        "sha256=aef779c6",
        "aef779c6881d2dc57e89b884f3d07f92",
        "v1=aef7",
    ] {
        assert_malformed(Dropbox::new(), SECRET, BODY, HEADER, value);
    }
}
