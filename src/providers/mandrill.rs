//! Mailchimp Transactional, formerly Mandrill (`X-Mandrill-Signature`, HMAC-SHA1 over the URL and
//! the sorted POST fields).
//!
//! Source: Mailchimp Transactional support, "How to Authenticate Webhook Requests"
//! (mandrill.zendesk.com articles 360039232513 and 205583257), "Introduction to Webhooks" and
//! "Why can't my webhook or inbound route URL be verified?" (360038740014), "Webhook Format"
//! (360038740594). Mailchimp publishes no library that verifies.

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::{
    Draft, MAX_BUILT_CONTENT, Parsed, Request, Scheme, SignContent, SignedRequest, form,
    header_str, insert_header, required_header,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("x-mandrill-signature");

const FORM: &str = "application/x-www-form-urlencoded";

/// [Mailchimp Transactional (Mandrill)](https://mandrill.zendesk.com/hc/en-us/articles/360039232513-How-to-Authenticate-Webhook-Requests):
/// `X-Mandrill-Signature: <base64>`, **HMAC-SHA1** keyed with the webhook's key, over the
/// webhook URL **exactly as configured** followed by every POST field sorted by key, each as
/// `key` + `value` with no delimiter.
///
/// * **The URL is signed byte for byte** as you entered it in Mandrill, query included: a
///   trailing slash, a port or an escaped character more or less breaks the signature, and
///   unlike Twilio no other form of it is tried. Configure it exactly
///   ([`PublicUrl::Exact`](crate::PublicUrl::Exact) on a [`Receiver`](crate::Receiver),
///   [`Request::url`] by hand); without one, verification fails with
///   [`VerifyError::NoPublicUrl`].
/// * The body is `application/x-www-form-urlencoded`; Mandrill posts one field,
///   `mandrill_events`, a JSON array of up to 1000 events. Fields are signed decoded (`+` is a
///   space), sorted by key in byte order. A field repeated in the body is refused as malformed:
///   PHP keeps the last value, other frameworks the first, so the signed value would be
///   ambiguous. Decoded fields must be UTF-8.
/// * **Key**: the webhook's key as Mandrill shows it (Webhooks page, `webhooks/add`,
///   `webhooks/info`), used verbatim. Resetting it on the Webhooks page changes it at once:
///   configure both keys for the switch.
/// * **No timestamp** is signed. **Dedup key**: a digest of the signed content — one batch is
///   one delivery; a retried batch has the same body.
/// * Setup: Mandrill checks a new URL with a `HEAD` request, and if that is not answered 200,
///   with a POST whose `mandrill_events` is `[]`, signed with the public key `test-webhook`.
///   Neither is authentic: route them to [`Mandrill::is_url_check`] and answer 200 before
///   verification.
/// * Mandrill's sample code compares base64 text with `!=`; this crate compares the decoded
///   MAC in constant time.
///
/// ```
/// use webhook_receiver::{Request, Verifier, providers::Mandrill, testing::Signer};
///
/// let url = "https://hooks.example.com/mandrill";
/// let body = b"mandrill_events=%5B%7B%22event%22%3A%22send%22%7D%5D";
/// let signed = Signer::new(Mandrill::new(), "webhook-key")?.url(url).sign_request(body)?;
///
/// let verifier = Verifier::builder(Mandrill::new()).secret("webhook-key").build()?;
/// assert!(verifier.verify_request(&Request::new(&signed.headers, body).url(url)).is_ok());
/// // Another form of the URL is another signed text.
/// let slash = Request::new(&signed.headers, body).url("https://hooks.example.com/mandrill/");
/// assert!(verifier.verify_request(&slash).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Mandrill;

impl Mandrill {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }

    /// Whether this request is Mandrill's URL check when a webhook is added: a `HEAD`, or a
    /// POST whose only field is `mandrill_events=[]` (signed with the public key
    /// `test-webhook`). Answer it 200.
    ///
    /// **Unauthenticated**: anyone can send one; it carries no event, so do nothing with it but
    /// answer.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use webhook_receiver::{Request, providers::Mandrill};
    ///
    /// let headers = HeaderMap::new();
    /// assert!(Mandrill::is_url_check(&Request::new(&headers, b"").method("HEAD")));
    /// assert!(Mandrill::is_url_check(&Request::new(&headers, b"mandrill_events=%5B%5D")));
    /// assert!(!Mandrill::is_url_check(&Request::new(&headers, b"mandrill_events=%5B%7B%7D%5D")));
    /// ```
    pub fn is_url_check(request: &Request<'_>) -> bool {
        if request.method.eq_ignore_ascii_case("HEAD") {
            return true;
        }
        matches!(
            form::decoded_pairs(request.body).as_deref(),
            Ok([(key, value)]) if key == "mandrill_events" && value.trim_ascii() == "[]"
        )
    }
}

fn malformed(reason: &'static str) -> VerifyError {
    VerifyError::MalformedBody { reason }
}

/// The POST fields as Mandrill signs them: sorted by key, each as `key` + `value`. `Err` with a
/// reason when a decoded field is not UTF-8, there are too many or a key is repeated.
fn sorted_fields(body: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut pairs = form::decoded_pairs(body).map_err(form::FormError::reason)?;
    pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    if pairs.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err("a Mandrill form field is repeated, so its signed value is ambiguous");
    }
    Ok(form::concat_pairs(&pairs))
}

impl Scheme for Mandrill {
    fn name(&self) -> &str {
        "mandrill"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Base64
    }

    fn algorithms(&self) -> &[Algorithm] {
        &[Algorithm::HmacSha1]
    }

    fn has_timestamp(&self) -> bool {
        false
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let signature = required_header(request.headers, &SIGNATURE)?;
        let url = match request.require_url()? {
            "" => return Err(VerifyError::NoPublicUrl),
            url => url,
        };
        if let Some(kind) = header_str(request.headers, &CONTENT_TYPE)? {
            let media = kind.split(';').next().unwrap_or_default().trim_ascii();
            if !media.eq_ignore_ascii_case(FORM) {
                return Err(malformed(
                    "a Mandrill body is a form (`application/x-www-form-urlencoded`)",
                ));
            }
        }
        let fields = sorted_fields(request.body).map_err(malformed)?;
        if url.len() + fields.len() > MAX_BUILT_CONTENT {
            return Err(malformed(
                "the URL and form fields are larger than the signed content limit",
            ));
        }
        let mut content = Vec::with_capacity(url.len() + fields.len());
        content.extend_from_slice(url.as_bytes());
        content.extend_from_slice(&fields);
        let mut parsed = Parsed::new(Algorithm::HmacSha1).with_signature_header(&SIGNATURE);
        parsed.push_signature(signature);
        parsed.push_content(content);
        Ok(parsed)
    }

    fn signed_content(
        &self,
        parsed: &Parsed<'_>,
        _request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        // `parse` always builds the content.
        if let Some(content) = parsed.contents().first() {
            feed(content);
        }
    }

    fn write_headers(
        &self,
        _parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        insert_header(headers, SIGNATURE.clone(), signature)
    }

    /// Signs a form body for the URL set with `Signer::url`.
    fn sign(
        &self,
        draft: &Draft<'_>,
        signer: &mut dyn SignContent,
        out: &mut SignedRequest,
    ) -> Result<(), ConfigError> {
        let url = draft.url.filter(|u| !u.is_empty()).ok_or_else(|| {
            ConfigError::invalid("url", "Mandrill signs the webhook URL: set `Signer::url`")
        })?;
        let fields =
            sorted_fields(draft.body).map_err(|reason| ConfigError::invalid("body", reason))?;
        let signature = signer.sign(draft.algorithm, &mut |feed| {
            feed(url.as_bytes());
            feed(&fields);
        })?;
        out.body = draft.body.to_vec();
        out.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static(FORM));
        self.write_headers(&Parsed::new(draft.algorithm), &signature, &mut out.headers)
    }
}
