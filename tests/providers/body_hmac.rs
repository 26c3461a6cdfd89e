//! Checks shared by the schemes that sign the raw body in one header and no timestamp
//! (Segment, Coinbase Commerce, Alchemy, Dropbox, GoCardless, Checkout.com, Razorpay, Lemon
//! Squeezy, CircleCI, Sentry, Notion, Bitbucket, Meta): each provider's file calls them with its
//! own vector.

use http::{HeaderMap, HeaderValue};
use time::OffsetDateTime;
use webhook_receiver::providers::Scheme;
use webhook_receiver::testing::Signer;
use webhook_receiver::{Verifier, VerifyError};

/// `signed` is a request `scheme` signed over `body` with `key`, its signature in `header`.
/// Checks: it verifies, with no timestamp, at any time; the signer reproduces the header; a
/// tampered body, another key, a missing or repeated header are refused; with two keys the
/// matching one is reported, whatever their order.
pub(crate) fn common_checks<S: Scheme + Copy>(
    scheme: S,
    key: &str,
    body: &[u8],
    signed: &HeaderMap,
    header: &str,
) {
    let name = scheme.name().to_owned();
    let v = Verifier::builder(scheme).secret(key).build().unwrap();
    assert!(!v.has_timestamp(), "{name}");
    for when in [0, 946_684_800, 4_102_444_800] {
        let ok = v
            .verify_at(
                signed,
                body,
                OffsetDateTime::from_unix_timestamp(when).unwrap(),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ok.scheme(), name);
        assert_eq!(ok.unix_timestamp(), None, "{name}: nothing signs a time");
    }

    // The signer writes exactly the provider's header.
    let ours = Signer::new(scheme, key).unwrap().sign(body).unwrap();
    assert_eq!(ours[header], signed[header], "{name}: signer");

    // Tampered body: one byte more, one byte changed.
    let mut longer = body.to_vec();
    longer.push(b' ');
    let mut changed = body.to_vec();
    let last = changed.len() - 2;
    changed[last] ^= 0x01;
    for tampered in [&longer, &changed] {
        assert_eq!(
            v.verify(signed, tampered).unwrap_err(),
            VerifyError::SignatureMismatch,
            "{name}: tampered"
        );
    }
    assert!(
        matches!(
            v.verify(signed, b""),
            Err(VerifyError::SignatureMismatch | VerifyError::MalformedBody { .. })
        ),
        "{name}: empty body"
    );

    // Another key.
    let other = Verifier::builder(scheme)
        .secret("another-secret-entirely")
        .build()
        .unwrap();
    assert_eq!(
        other.verify(signed, body).unwrap_err(),
        VerifyError::SignatureMismatch,
        "{name}: wrong key"
    );

    // Rotation: the matching key is reported, in either position.
    for (old_first, index) in [(true, 1), (false, 0)] {
        let mut builder = Verifier::builder(scheme);
        if old_first {
            builder = builder
                .labeled_secret("old", "another-secret-entirely")
                .labeled_secret("current", key);
        } else {
            builder = builder
                .labeled_secret("current", key)
                .labeled_secret("old", "another-secret-entirely");
        }
        let rotated = builder.build().unwrap();
        let ok = rotated.verify(signed, body).unwrap();
        assert_eq!(
            (ok.key_index(), ok.key_label()),
            (index, Some("current")),
            "{name}: rotation"
        );
    }

    // Missing and repeated signature header.
    let mut missing = signed.clone();
    missing.remove(header);
    assert_eq!(
        v.verify(&missing, body).unwrap_err(),
        VerifyError::MissingHeader {
            name: header.to_owned().into()
        },
        "{name}: missing"
    );
    let mut repeated = signed.clone();
    let value = repeated[header].clone();
    repeated.append(
        http::HeaderName::from_bytes(header.as_bytes()).unwrap(),
        value,
    );
    assert!(
        matches!(
            v.verify(&repeated, body),
            Err(VerifyError::MalformedHeader { .. })
        ),
        "{name}: repeated"
    );
    let mut blank = signed.clone();
    blank.insert(
        http::HeaderName::from_bytes(header.as_bytes()).unwrap(),
        HeaderValue::from_static(" "),
    );
    assert!(
        matches!(
            v.verify(&blank, body),
            Err(VerifyError::MalformedHeader { .. })
        ),
        "{name}: blank"
    );
}

/// `value` in `header` is refused as malformed (never a mismatch, never a panic).
pub(crate) fn assert_malformed<S: Scheme + Copy>(
    scheme: S,
    key: &str,
    body: &[u8],
    header: &str,
    value: &str,
) {
    let v = Verifier::builder(scheme).secret(key).build().unwrap();
    let mut h = HeaderMap::new();
    h.insert(
        http::HeaderName::from_bytes(header.as_bytes()).unwrap(),
        HeaderValue::from_str(value).unwrap(),
    );
    assert!(
        matches!(v.verify(&h, body), Err(VerifyError::MalformedHeader { .. })),
        "{}: {value:?} -> {:?}",
        scheme.name(),
        v.verify(&h, body)
    );
}
