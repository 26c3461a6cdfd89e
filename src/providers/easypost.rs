//! EasyPost (`X-Hmac-Signature: hmac-sha256-hex=…`).
//!
//! Source: `EasyPost/easypost-python` `easypost/util.py` (`validate_webhook`) and
//! `tests/test_webhook.py`, with the fixtures of `EasyPost/examples`
//! (`official/fixtures/client-library-fixtures.json`, `event-body.json`); docs.easypost.com
//! "Webhooks" and the Webhooks Guide.

use http::{HeaderMap, HeaderName};
use unicode_normalization::UnicodeNormalization as _;

use super::{EventIdSource, Parsed, Request, Scheme, insert_header, required_header};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};
use crate::secret::{Key, KeyFormat};

static SIGNATURE: HeaderName = HeaderName::from_static("x-hmac-signature");

/// What precedes the hex MAC in the header; part of the compared value.
const PREFIX: &str = "hmac-sha256-hex=";

/// [EasyPost](https://docs.easypost.com/docs/webhooks):
/// `X-Hmac-Signature: hmac-sha256-hex=<hex>`, the HMAC-SHA256 of the raw body keyed with the
/// `webhook_secret` you gave when creating or updating the webhook.
///
/// * **Key trap**: EasyPost's libraries key the MAC with the secret **Unicode NFKD-normalised**,
///   then UTF-8 encoded. For an ASCII secret this changes nothing; `sécret` becomes `se` +
///   U+0301 + `cret`. [`parse_key`](Scheme::parse_key) normalises the same way, so configure the
///   secret exactly as you gave it to EasyPost (no surrounding spaces are removed).
/// * The `hmac-sha256-hex=` prefix is part of the value EasyPost's libraries compare: it must be
///   there, exactly so (lowercase), or the header is malformed. The hex after it is accepted in
///   either case (EasyPost sends lowercase); the MAC is compared as bytes, in constant time.
/// * **No timestamp** is signed: time cannot refuse a replay, so the
///   [`Receiver`](crate::Receiver) remembers EasyPost deliveries for a long retention instead.
/// * **Dedup key**: the body's top-level `id` (the Event's `evt_…`), which the signature covers.
///   Retries of one event may differ in `pending_urls` / `completed_urls` (so in their MAC); the
///   id recognises them. A body without `id` is deduplicated by its MAC.
/// * Hash the body **as received**: EasyPost's Node library rewrites `"weight":<int>` to a float
///   before hashing and so refuses some genuine bodies; this crate does not copy that.
/// * EasyPost expects a 2xx (200 preferred); endpoints that keep failing may be disabled.
///   Basic authentication in the webhook URL is EasyPost's other documented protection; verify
///   the HMAC when you set a secret.
///
/// ```
/// use webhook_receiver::{Verifier, providers::EasyPost, testing::Signer};
///
/// let body = br#"{"id":"evt_1","description":"tracker.updated"}"#;
/// let headers = Signer::new(EasyPost::new(), "sécret")?.sign(body)?;
/// assert!(headers["x-hmac-signature"].to_str()?.starts_with("hmac-sha256-hex="));
///
/// let verifier = Verifier::builder(EasyPost::new()).secret("sécret").build()?;
/// let verified = verifier.verify(&headers, body)?;
/// assert_eq!(verified.event_id().as_deref(), Some("evt_1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct EasyPost;

impl EasyPost {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for EasyPost {
    fn name(&self) -> &str {
        "easypost"
    }

    /// The secret NFKD-normalised, UTF-8 encoded, as EasyPost's libraries key the MAC.
    fn parse_key(&self, text: &str) -> Result<Key, ConfigError> {
        let normalized: String = text.nfkd().collect();
        Key::parse(KeyFormat::Raw, &normalized)
    }

    fn encoding(&self) -> Encoding {
        Encoding::Hex
    }

    fn has_timestamp(&self) -> bool {
        false
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let value = required_header(request.headers, &SIGNATURE)?;
        let Some(hex) = value.strip_prefix(PREFIX) else {
            return Err(VerifyError::malformed(
                &SIGNATURE,
                "missing the `hmac-sha256-hex=` prefix",
            ));
        };
        let mut parsed = Parsed::new(Algorithm::HmacSha256).with_signature_header(&SIGNATURE);
        parsed.push_signature(hex);
        Ok(parsed)
    }

    fn signed_content(
        &self,
        _parsed: &Parsed<'_>,
        request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        feed(request.body);
    }

    fn event_id(&self) -> EventIdSource {
        EventIdSource::Json(&["id"])
    }

    fn write_headers(
        &self,
        _parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        insert_header(headers, SIGNATURE.clone(), &format!("{PREFIX}{signature}"))
    }
}
