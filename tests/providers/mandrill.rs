//! Mailchimp Transactional (Mandrill): HMAC-SHA1 (base64) over the webhook URL exactly as
//! configured + the POST fields sorted by key as `key` + `value`.
//!
//! Mandrill publishes the algorithm but no signed example ("How to Authenticate Webhook
//! Requests", mandrill.zendesk.com 360039232513). The vectors follow its steps and were computed
//! with Python (`hmac.new(key, url + "".join(k + v for k, v in sorted(fields)), sha1)`,
//! base64); the event is the "send" example of its "Webhook Format" pages, and the body is
//! Python's `urllib.parse.urlencode` of it.

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::Mandrill;
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, Request, Verifier, VerifyError};

use super::{headers, verifier};

const KEY: &str = "x9ZqlYj4t5X6mHxr0mrLrA";
const URL: &str = "https://hooks.example.com/mandrill?token=abc";
const BODY: &[u8] = b"mandrill_events=%5B%7B%22event%22%3A%22send%22%2C%22msg%22%3A%7B%22ts%22%3A1365109999%2C%22subject%22%3A%22This+an+example+webhook+message%22%2C%22email%22%3A%22example.webhook%40mandrillapp.com%22%2C%22sender%22%3A%22example.sender%40mandrillapp.com%22%2C%22tags%22%3A%5B%22webhook-example%22%5D%2C%22state%22%3A%22sent%22%2C%22_id%22%3A%22exampleaaaaaaaaaaaaaaaaaaaaaaaaa%22%7D%2C%22_id%22%3A%22exampleaaaaaaaaaaaaaaaaaaaaaaaaa%22%2C%22ts%22%3A1385020180%7D%5D";
const SIG: &str = "jgI7Be350UaXg9oeG70szSIUCOM=";
const FORM: &str = "application/x-www-form-urlencoded";

fn signed(signature: &str) -> HeaderMap {
    headers(&[("x-mandrill-signature", signature), ("content-type", FORM)])
}

fn check(
    v: &Verifier,
    url: &str,
    h: &HeaderMap,
    body: &[u8],
) -> Result<DedupKey<'static>, VerifyError> {
    v.verify_request(&Request::new(h, body).url(url))
        .map(|ok| ok.dedup_key().into_owned())
}

#[test]
fn computed_vector_and_signer() {
    let v = verifier(Mandrill::new(), KEY);
    let h = signed(SIG);
    let ok = v.verify_request(&Request::new(&h, BODY).url(URL)).unwrap();
    assert_eq!(ok.scheme(), "mandrill");
    assert_eq!(ok.unix_timestamp(), None);
    assert_eq!(ok.event_id(), None);
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
    let out = Signer::new(Mandrill::new(), KEY)
        .unwrap()
        .url(URL)
        .sign_request(BODY)
        .unwrap();
    assert_eq!(out.headers["x-mandrill-signature"], SIG);
    assert_eq!(out.headers["content-type"], FORM);
    assert_eq!(out.body, BODY);
}

#[test]
fn the_url_is_signed_exactly_as_configured() {
    let v = verifier(Mandrill::new(), KEY);
    for url in [
        "https://hooks.example.com/mandrill/?token=abc",
        "https://hooks.example.com:443/mandrill?token=abc",
        "https://hooks.example.com/mandrill",
        "http://hooks.example.com/mandrill?token=abc",
        "https://HOOKS.example.com/mandrill?token=abc",
    ] {
        assert_eq!(
            check(&v, url, &signed(SIG), BODY).unwrap_err(),
            VerifyError::SignatureMismatch,
            "{url}"
        );
    }
    // Signed for the URL with a trailing slash, it verifies only there.
    let slash = "https://hooks.example.com/mandrill/?token=abc";
    let h = signed("lfGhDg0e9nU/5MVF9ZBAK/tVur4=");
    assert!(check(&v, slash, &h, BODY).is_ok());
    assert!(check(&v, URL, &h, BODY).is_err());
    // No public URL: a configuration error.
    assert_eq!(
        v.verify(&signed(SIG), BODY).unwrap_err(),
        VerifyError::NoPublicUrl
    );
}

#[test]
fn fields_are_sorted_decoded_and_unique() {
    let v = verifier(Mandrill::new(), KEY);
    // A second field `z` = "1 2" (as `1+2`), placed first in the body: sorted after.
    let mut body = b"z=1+2&".to_vec();
    body.extend_from_slice(BODY);
    assert!(check(&v, URL, &signed("Ht7UCoSmIEnV/WLreH3lK7QmTns="), &body).is_ok());
    // The same events encoded differently (`%20` for the `+` spaces) are the same fields.
    let spaced = String::from_utf8(BODY.to_vec())
        .unwrap()
        .replace('+', "%20");
    assert!(check(&v, URL, &signed(SIG), spaced.as_bytes()).is_ok());
    // A repeated field is ambiguous.
    let mut twice = BODY.to_vec();
    twice.extend_from_slice(b"&mandrill_events=%5B%5D");
    assert!(matches!(
        check(&v, URL, &signed(SIG), &twice),
        Err(VerifyError::MalformedBody { .. })
    ));
    // Not UTF-8 once decoded.
    assert!(matches!(
        check(&v, URL, &signed(SIG), b"mandrill_events=%FF"),
        Err(VerifyError::MalformedBody { .. })
    ));
    // Not a form.
    let json = headers(&[
        ("x-mandrill-signature", SIG),
        ("content-type", "application/json"),
    ]);
    assert!(matches!(
        check(&v, URL, &json, BODY),
        Err(VerifyError::MalformedBody { .. })
    ));
    // Without a content type the body is read as a form.
    let bare = headers(&[("x-mandrill-signature", SIG)]);
    assert!(check(&v, URL, &bare, BODY).is_ok());
}

#[test]
fn tampered_body_and_wrong_key() {
    let v = verifier(Mandrill::new(), KEY);
    let tampered = String::from_utf8(BODY.to_vec())
        .unwrap()
        .replace("%22send%22", "%22hard_bounce%22");
    assert_eq!(
        check(&v, URL, &signed(SIG), tampered.as_bytes()).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        check(
            &verifier(Mandrill::new(), "another-key"),
            URL,
            &signed(SIG),
            BODY
        )
        .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn malformed_and_missing_signatures() {
    let v = verifier(Mandrill::new(), KEY);
    for value in [
        // SHA-256 length, hex, garbage, two signatures.
        "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        "8e023b05edf9d1469783da1e1bbd2ccd221408e3",
        "!!",
        "jgI7Be350UaXg9oeG70szSIUCOM=,jgI7Be350UaXg9oeG70szSIUCOM=",
    ] {
        assert!(
            matches!(
                check(&v, URL, &signed(value), BODY),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{value}"
        );
    }
    let none = headers(&[("content-type", FORM)]);
    assert_eq!(
        check(&v, URL, &none, BODY).unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-mandrill-signature".into()
        }
    );
    let mut twice = signed(SIG);
    twice.append("x-mandrill-signature", HeaderValue::from_static(SIG));
    assert!(matches!(
        check(&v, URL, &twice, BODY),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

#[test]
fn rotation_reports_the_matching_key() {
    let v = Verifier::builder(Mandrill::new())
        .labeled_secret("old", KEY)
        .labeled_secret("reset", "rotated-key")
        .build()
        .unwrap();
    let h = signed("i+HEtzIfonldZdkgfgw5nV3+3Ho=");
    let ok = v.verify_request(&Request::new(&h, BODY).url(URL)).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("reset")));
}

#[test]
fn one_batch_one_delivery() {
    let v = verifier(Mandrill::new(), KEY);
    let a = check(&v, URL, &signed(SIG), BODY).unwrap();
    // The same batch again (a retry), with unsigned headers changed: a duplicate.
    let mut retry = signed(SIG);
    retry.insert(
        "user-agent",
        HeaderValue::from_static("Mandrill-Webhook/1.0 retry"),
    );
    assert_eq!(check(&v, URL, &retry, BODY).unwrap(), a);
    // Another batch is another delivery.
    let other = b"mandrill_events=%5B%7B%22event%22%3A%22open%22%7D%5D";
    let h = Signer::new(Mandrill::new(), KEY)
        .unwrap()
        .url(URL)
        .sign(other)
        .unwrap();
    assert_ne!(check(&v, URL, &h, other).unwrap(), a);
}

#[test]
fn url_checks_are_answered_before_verification() {
    let none = HeaderMap::new();
    assert!(Mandrill::is_url_check(
        &Request::new(&none, b"").method("HEAD")
    ));
    // The POST fallback: `mandrill_events=[]`, signed with the public key `test-webhook`.
    let probe = b"mandrill_events=%5B%5D";
    let h = signed("TQoSreVvb5Y94Meg5Bq5z6LUyRA=");
    assert!(Mandrill::is_url_check(&Request::new(&h, probe).url(URL)));
    assert!(check(&verifier(Mandrill::new(), "test-webhook"), URL, &h, probe).is_ok());
    // It does not verify with the webhook's own key.
    assert_eq!(
        check(&verifier(Mandrill::new(), KEY), URL, &h, probe).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    for body in [
        BODY,
        &b"mandrill_events=%5B%5D&x=1"[..],
        b"mandrill_events=",
        b"",
        b"events=%5B%5D",
    ] {
        assert!(
            !Mandrill::is_url_check(&Request::new(&none, body)),
            "{body:?}"
        );
    }
}
