//! Okta event hooks: the registered header value compared in constant time; the one-time
//! verification challenge.
//!
//! Okta signs nothing, so there is no vector to reproduce: the requests below follow Okta's
//! documentation (`okta/okta-developer-docs`
//! `packages/@okta/vuepress-site/docs/concepts/event-hooks/index.md` @0216983: "HTTP Headers",
//! "One-Time Verification Request", and its sample event delivery payload, abridged).

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::Okta;
use webhook_receiver::testing::Signer;
use webhook_receiver::{ConfigError, DedupKey, Verifier, VerifyError};

use super::{headers, verifier};

const KEY: &str = "Bearer 0b6f6e0d-6f2c-4bd1-9a67-6fd4a7e1b2c3";
const BODY: &[u8] = br#"{"eventType":"com.okta.event_hook","eventTypeVersion":"1.0","cloudEventsVersion":"0.1","contentType":"application/json","eventId":"b5a188b9-5ece-4636-b041-482ffda96311","eventTime":"2019-03-27T16:59:53.032Z","source":"https://example.okta.com/api/v1/eventHooks/whoql0HfiLGPWc8Jx0g3","data":{"events":[{"uuid":"f790999f-fe87-467a-9880-6982a583986c","published":"2018-03-28T22:23:07.777Z","eventType":"user.session.start"}]}}"#;

fn auth(value: &str) -> HeaderMap {
    headers(&[
        ("authorization", value),
        ("content-type", "application/json"),
    ])
}

#[test]
fn the_registered_value_authenticates() {
    let v = verifier(Okta::new(), KEY);
    let h = auth(KEY);
    let ok = v.verify(&h, BODY).unwrap();
    assert_eq!(ok.scheme(), "okta");
    assert_eq!(ok.unix_timestamp(), None);
    // `eventId` and `uuid` are covered by nothing: never the dedup key.
    assert_eq!(ok.event_id(), None);
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
    let h = Signer::new(Okta::new(), KEY).unwrap().sign(BODY).unwrap();
    assert_eq!(h["authorization"], KEY);
}

#[test]
fn wrong_values_are_refused() {
    let v = verifier(Okta::new(), KEY);
    for value in [
        "Bearer 0b6f6e0d-6f2c-4bd1-9a67-6fd4a7e1b2c4",
        "bearer 0b6f6e0d-6f2c-4bd1-9a67-6fd4a7e1b2c3",
        "0b6f6e0d-6f2c-4bd1-9a67-6fd4a7e1b2c3",
        "Bearer 0b6f6e0d-6f2c-4bd1-9a67-6fd4a7e1b2c3x",
    ] {
        assert_eq!(
            v.verify(&auth(value), BODY).unwrap_err(),
            VerifyError::SignatureMismatch,
            "{value}"
        );
    }
    // Surrounding whitespace is not part of an HTTP header value.
    assert!(v.verify(&auth(&format!("  {KEY} ")), BODY).is_ok());
}

#[test]
fn the_value_does_not_bind_the_body() {
    // Documented limitation: any body passes with the value; each body is its own delivery.
    let v = verifier(Okta::new(), KEY);
    let a = v.verify(&auth(KEY), BODY).unwrap().dedup_key().into_owned();
    let forged = br#"{"data":{"events":[]}}"#;
    let b = v
        .verify(&auth(KEY), forged)
        .unwrap()
        .dedup_key()
        .into_owned();
    assert_ne!(a, b);
    // Okta's single retry has the same body: the same key, whatever unsigned header changes.
    let mut retry = auth(KEY);
    retry.insert("x-okta-request-id", HeaderValue::from_static("retry-1"));
    assert_eq!(v.verify(&retry, BODY).unwrap().dedup_key(), a);
}

#[test]
fn missing_repeated_or_empty_headers() {
    let v = verifier(Okta::new(), KEY);
    assert_eq!(
        v.verify(&HeaderMap::new(), BODY).unwrap_err(),
        VerifyError::MissingHeader {
            name: "authorization".into()
        }
    );
    let mut twice = auth(KEY);
    twice.append("authorization", HeaderValue::from_static(KEY));
    assert!(matches!(
        v.verify(&twice, BODY),
        Err(VerifyError::MalformedHeader { .. })
    ));
    assert!(matches!(
        v.verify(&auth(" "), BODY),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

#[test]
fn a_custom_header() {
    let scheme = Okta::with_header("X-Okta-Secret").unwrap();
    let v = verifier(scheme.clone(), "s3cret-value");
    let h = headers(&[("x-okta-secret", "s3cret-value")]);
    assert!(v.verify(&h, BODY).is_ok());
    // `Authorization` is not read.
    assert_eq!(
        v.verify(&auth("s3cret-value"), BODY).unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-okta-secret".into()
        }
    );
    let signed = Signer::new(scheme, "s3cret-value")
        .unwrap()
        .sign(BODY)
        .unwrap();
    assert_eq!(signed["x-okta-secret"], "s3cret-value");
    for bad in ["", "bad header", "x-okta:secret", "é"] {
        assert!(Okta::with_header(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn keys_that_cannot_travel_in_a_header_are_refused() {
    for bad in ["line\nbreak", "tab\u{7}bell", "naïve"] {
        assert!(
            matches!(
                Verifier::builder(Okta::new()).secret(bad).build(),
                Err(ConfigError::InvalidSecret { .. })
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        Verifier::builder(Okta::new()).secret("  ").build(),
        Err(ConfigError::EmptySecret { .. })
    ));
    // Surrounding whitespace is removed, as HTTP removes it.
    assert!(
        verifier(Okta::new(), &format!(" {KEY}\n"))
            .verify(&auth(KEY), BODY)
            .is_ok()
    );
}

#[test]
fn rotation_reports_the_matching_value() {
    let v = Verifier::builder(Okta::new())
        .labeled_secret("old", KEY)
        .labeled_secret("new", "Basic bmV3OnZhbHVl")
        .build()
        .unwrap();
    let (new, old) = (auth("Basic bmV3OnZhbHVl"), auth(KEY));
    let ok = v.verify(&new, BODY).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("new")));
    let ok = v.verify(&old, BODY).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (0, Some("old")));
}

#[test]
fn one_time_verification_is_answered_before_verification() {
    let challenge = headers(&[(
        "x-okta-verification-challenge",
        "mG6ao0-TzAIKmT1Mb0Ef-FNCprmhsYIdh1FqTOwD",
    )]);
    assert_eq!(
        Okta::verification_response(&challenge).as_deref(),
        Some(r#"{"verification":"mG6ao0-TzAIKmT1Mb0Ef-FNCprmhsYIdh1FqTOwD"}"#)
    );
    // JSON-escaped.
    let quoted = headers(&[("x-okta-verification-challenge", r#"a"b\c"#)]);
    assert_eq!(
        Okta::verification_response(&quoted).as_deref(),
        Some(r#"{"verification":"a\"b\\c"}"#)
    );
    assert_eq!(Okta::verification_response(&HeaderMap::new()), None);
    let mut twice = challenge.clone();
    twice.append(
        "x-okta-verification-challenge",
        HeaderValue::from_static("x"),
    );
    assert_eq!(Okta::verification_response(&twice), None);
    // The GET carries no authentication value of its own to check here.
    assert_eq!(
        verifier(Okta::new(), KEY)
            .verify(&challenge, b"")
            .unwrap_err(),
        VerifyError::MissingHeader {
            name: "authorization".into()
        }
    );
}
