//! Every built-in scheme's parse + verify on arbitrary requests: raw headers and bodies, and
//! correctly signed requests with arbitrary edits. Never panics; an unedited signed request
//! never fails with a signature mismatch.

#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;
use webhook_receiver::providers::{self, Custom, CustomConfig, Scheme};
use webhook_receiver::testing::Signer;
use webhook_receiver::{Encoding, Request, Verifier};

const URL: &str = "https://hooks.example.com/path?x=1";
const TS: i64 = 1_767_225_600;

/// Header names some scheme reads that a signed request may lack, so raw inputs and edits
/// reach more parsers.
const EXTRA: &[&str] = &[
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-signature",
    "x-hub-signature",
    "x-hub-signature-256",
    "content-type",
    "authorization",
];

struct Case {
    verifier: Verifier,
    signer: Signer,
}

/// The first of a few keys that the scheme accepts: a Standard Webhooks secret, hex, or text.
fn case<S: Scheme>(make: impl Fn() -> S) -> Option<Case> {
    let public = make().algorithms().iter().all(|a| a.is_public_key());
    if public {
        let (signer, key) = Signer::generate(make()).ok()?;
        // A scheme that fetches its keys (Plaid) gets the document its provider serves: pin the
        // public key instead, so the verifier needs no key cache.
        let key = if make().fetches_keys() { signer.public_key()? } else { key };
        let verifier = Verifier::builder(make()).public_key(&key).build().ok()?;
        return Some(Case { verifier, signer: signer.url(URL).timestamp(TS) });
    }
    for key in [
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "00112233445566778899aabbccddeeff",
        "a fuzzing secret of some length",
        "user:password",
    ] {
        let Ok(verifier) = Verifier::builder(make()).secret(key).build() else {
            continue;
        };
        let signer = Signer::new(make(), key).ok()?;
        return Some(Case { verifier, signer: signer.url(URL).timestamp(TS) });
    }
    None
}

fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        let mut custom = CustomConfig::new("acme", "x-acme-signature", Encoding::Base64);
        custom.id_header = Some("x-acme-id".into());
        custom.timestamp_header = Some("x-acme-timestamp".into());
        custom.template = "{id}.{timestamp}.{body}".into();
        custom.signature_prefix = "v1=".into();
        custom.signature_separator = Some(',');
        let mut cases: Vec<Case> = providers::names()
            .filter_map(|name| case(|| providers::by_name(name).expect("a catalog name")))
            .collect();
        let custom = Custom::new(custom).expect("a valid custom scheme");
        cases.extend(case(|| custom.clone()));
        assert!(cases.len() > 50, "every scheme has a case");
        cases
    })
}

#[derive(Arbitrary, Debug)]
enum Edit<'a> {
    Replace { header: u8, value: &'a [u8] },
    Append { header: u8, value: &'a [u8] },
    Remove { header: u8 },
    Flip { header: u8, index: u16, xor: u8 },
    Body(&'a [u8]),
    Truncate(u16),
}

#[derive(Arbitrary, Debug)]
enum Mode<'a> {
    Raw { headers: Vec<(u8, &'a [u8])>, now: i64 },
    Signed { edits: Vec<Edit<'a>> },
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    scheme: u8,
    body: &'a [u8],
    url: bool,
    mode: Mode<'a>,
}

/// The `index`-th header of `headers`, or one of [`EXTRA`].
fn name(headers: &HeaderMap, index: u8) -> HeaderName {
    let names: Vec<&HeaderName> = headers.keys().collect();
    let i = usize::from(index);
    match names.get(i % (names.len() + EXTRA.len()).max(1)) {
        Some(name) => (*name).clone(),
        None => HeaderName::from_static(EXTRA[i % EXTRA.len()]),
    }
}

fuzz_target!(|input: Input<'_>| {
    let cases = cases();
    let case = &cases[usize::from(input.scheme) % cases.len()];
    match input.mode {
        Mode::Raw { headers, now } => {
            let mut map = HeaderMap::new();
            for (index, value) in headers {
                if let Ok(value) = HeaderValue::from_bytes(value) {
                    let name = name(&HeaderMap::new(), index);
                    map.append(name, value);
                }
            }
            let now = OffsetDateTime::from_unix_timestamp(now % 100_000_000_000)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
            let mut request = Request::new(&map, input.body);
            if input.url {
                request = request.url(URL);
            }
            let _ = case.verifier.verify_request_at(&request, now);
        }
        Mode::Signed { edits } => {
            let Ok(signed) = case.signer.sign_request(input.body) else {
                return;
            };
            let mut headers = signed.headers;
            let mut body = signed.body;
            let now = OffsetDateTime::from_unix_timestamp(TS).expect("valid time");
            {
                let request = Request::new(&headers, &body).url(URL);
                // A body the provider would never send may be malformed for its scheme (Linear's
                // needs a timestamp), but what the signer signed never fails to match.
                let verified = case.verifier.verify_request_at(&request, now);
                assert!(
                    !matches!(verified, Err(webhook_receiver::VerifyError::SignatureMismatch)),
                    "{}: a signed request must verify: {verified:?}",
                    case.verifier.scheme().name()
                );
            }
            for edit in edits {
                match edit {
                    Edit::Replace { header, value } => {
                        if let Ok(value) = HeaderValue::from_bytes(value) {
                            headers.insert(name(&headers, header), value);
                        }
                    }
                    Edit::Append { header, value } => {
                        if let Ok(value) = HeaderValue::from_bytes(value) {
                            headers.append(name(&headers, header), value);
                        }
                    }
                    Edit::Remove { header } => {
                        headers.remove(name(&headers, header));
                    }
                    Edit::Flip { header, index, xor } => {
                        let name = name(&headers, header);
                        if let Some(value) = headers.get(&name) {
                            let mut bytes = value.as_bytes().to_vec();
                            if !bytes.is_empty() {
                                let i = usize::from(index) % bytes.len();
                                bytes[i] ^= xor;
                                if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                                    headers.insert(name, value);
                                }
                            }
                        }
                    }
                    Edit::Body(new) => body = new.to_vec(),
                    Edit::Truncate(n) => body.truncate(usize::from(n)),
                }
            }
            let mut request = Request::new(&headers, &body);
            if input.url {
                request = request.url(URL);
            }
            let _ = case.verifier.verify_request_at(&request, now);
        }
    }
});
