//! `CustomConfig` deserialization, template parsing and verification of arbitrary requests
//! under whatever scheme the configuration describes. Never panics; a scheme `Custom::new`
//! accepts signs requests that verify.

#![no_main]

use arbitrary::Arbitrary;
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;
use webhook_receiver::providers::{Custom, CustomConfig};
use webhook_receiver::testing::Signer;
use webhook_receiver::Verifier;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    config: &'a [u8],
    secret: &'a str,
    id: &'a str,
    headers: Vec<(&'a str, &'a [u8])>,
    body: &'a [u8],
    now: i64,
}

fuzz_target!(|input: Input<'_>| {
    let Ok(config) = serde_json::from_slice::<CustomConfig>(input.config) else {
        return;
    };
    let Ok(scheme) = Custom::new(config) else {
        return;
    };
    let Ok(verifier) = Verifier::builder(scheme.clone()).secret(input.secret).build() else {
        return;
    };
    // Arbitrary requests.
    let mut headers = HeaderMap::new();
    for (name, value) in &input.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(*name), HeaderValue::from_bytes(value)) {
            headers.append(name, value);
        }
    }
    let now = OffsetDateTime::from_unix_timestamp(input.now % 100_000_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let _ = verifier.verify_at(&headers, input.body, now);

    // A signed request verifies, unless its id is refused (it contains its separator, or is not
    // valid header text).
    let ts = 1_767_225_600;
    if let Ok(signer) = Signer::new(scheme, input.secret)
        && let Ok(signed) = signer.id(input.id).timestamp(ts).sign(input.body)
    {
        let now = OffsetDateTime::from_unix_timestamp(ts).expect("valid time");
        match verifier.verify_at(&signed, input.body, now) {
            Ok(_) => {}
            Err(webhook_receiver::VerifyError::MalformedHeader { .. }) => {}
            Err(e) => panic!("a signed request failed: {e}"),
        }
    }
});
