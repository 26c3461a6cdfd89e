//! Every scheme's parse + verify on arbitrary requests: raw headers and bodies, and correctly
//! signed requests with arbitrary edits. Never panics; an unedited signed request always
//! verifies.

#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;
use webhook_receiver::providers::{
    Custom, CustomConfig, GitHub, Scheme, Shopify, Slack, StandardWebhooks, Stripe,
};
use webhook_receiver::testing::Signer;
use webhook_receiver::{Encoding, Request, Verifier};

/// Every header name some scheme reads, so raw inputs reach the parsers.
const NAMES: &[&str] = &[
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "stripe-signature",
    "x-hub-signature-256",
    "x-hub-signature",
    "x-slack-request-timestamp",
    "x-slack-signature",
    "x-shopify-hmac-sha256",
    "shopify-hmac-sha256",
    "x-acme-id",
    "x-acme-timestamp",
    "x-acme-signature",
    "content-type",
];

const URL: &str = "https://hooks.example.com/path?x=1";
const TS: i64 = 1_767_225_600;

struct Case {
    verifier: Verifier,
    signer: Signer,
}

fn case(scheme: impl Scheme + Clone, verify_with: &[&str], sign_with: &str) -> Case {
    let mut builder = Verifier::builder(scheme.clone());
    for key in verify_with {
        builder = builder.secret(key);
    }
    Case {
        verifier: builder.build().expect("valid test keys"),
        signer: Signer::new(scheme, sign_with)
            .expect("valid test key")
            .url(URL)
            .timestamp(TS),
    }
}

fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        const SW: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        // An Ed25519 key for Standard Webhooks `v1a`: the seed 07…07, as a `whsk_` key.
        const WHSK: &str = "whsk_BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
        let sw_public = Signer::new(StandardWebhooks::new(), WHSK)
            .expect("whsk key")
            .public_key()
            .expect("public key");
        let mut custom = CustomConfig::new("acme", "x-acme-signature", Encoding::Base64);
        custom.id_header = Some("x-acme-id".into());
        custom.timestamp_header = Some("x-acme-timestamp".into());
        custom.template = "{id}.{timestamp}.{body}".into();
        custom.signature_prefix = "v1=".into();
        custom.signature_separator = Some(',');
        let custom = Custom::new(custom).expect("valid custom scheme");
        vec![
            case(StandardWebhooks::new(), &[SW, &sw_public], SW),
            case(StandardWebhooks::new(), &[SW, &sw_public], WHSK),
            case(Stripe::new(), &["whsec_old", "whsec_test_secret"], "whsec_test_secret"),
            case(GitHub::new().with_legacy_sha1(), &["It's a Secret to Everybody"], "It's a Secret to Everybody"),
            case(Slack::new(), &["8f742231b10e8888abcd99yyyzzz85a5"], "8f742231b10e8888abcd99yyyzzz85a5"),
            case(Shopify::new(), &["shpss_secret"], "shpss_secret"),
            case(custom, &["s"], "s"),
        ]
    })
}

#[derive(Arbitrary, Debug)]
enum Edit<'a> {
    Replace { header: u8, value: &'a [u8] },
    Append { header: u8, value: &'a [u8] },
    Remove { header: u8 },
    Flip { header: u8, index: u16, xor: u8 },
    Body(&'a [u8]),
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

fn name(index: u8) -> HeaderName {
    HeaderName::from_static(NAMES[usize::from(index) % NAMES.len()])
}

fuzz_target!(|input: Input<'_>| {
    let cases = cases();
    let case = &cases[usize::from(input.scheme) % cases.len()];
    match input.mode {
        Mode::Raw { headers, now } => {
            let mut map = HeaderMap::new();
            for (index, value) in headers {
                if let Ok(value) = HeaderValue::from_bytes(value) {
                    map.append(name(index), value);
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
                let verified = case.verifier.verify_request_at(&request, now);
                assert!(verified.is_ok(), "a signed request must verify: {verified:?}");
            }
            for edit in edits {
                match edit {
                    Edit::Replace { header, value } => {
                        if let Ok(value) = HeaderValue::from_bytes(value) {
                            headers.insert(name(header), value);
                        }
                    }
                    Edit::Append { header, value } => {
                        if let Ok(value) = HeaderValue::from_bytes(value) {
                            headers.append(name(header), value);
                        }
                    }
                    Edit::Remove { header } => {
                        headers.remove(name(header));
                    }
                    Edit::Flip { header, index, xor } => {
                        let name = name(header);
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
