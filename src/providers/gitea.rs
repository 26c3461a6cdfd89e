//! Gitea, Forgejo and Gogs (`X-Gitea-Signature`, `X-Forgejo-Signature`, `X-Gogs-Signature`,
//! `X-Hub-Signature-256`).
//!
//! Source: `go-gitea/gitea` `services/webhook/deliver.go` (`newDefaultRequest`,
//! `addDefaultHeaders`, `Deliver`) and `services/webhook/default.go`; Forgejo's
//! `services/webhook/shared/payloader.go` (`AddDefaultHeaders`: the same MACs, plus
//! `X-Forgejo-Signature`) and `services/webhook/default.go`, read in a GitHub mirror of
//! codeberg.org/forgejo/forgejo; forgejo.org/docs/latest/user/webhooks.

use std::borrow::Cow;

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::{
    Draft, EventIdSource, Parsed, Request, Scheme, SignContent, SignedRequest, form, header_str,
    insert_header,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static GITEA: HeaderName = HeaderName::from_static("x-gitea-signature");
static FORGEJO: HeaderName = HeaderName::from_static("x-forgejo-signature");
static GOGS: HeaderName = HeaderName::from_static("x-gogs-signature");
static HUB_256: HeaderName = HeaderName::from_static("x-hub-signature-256");

const FORM: &str = "application/x-www-form-urlencoded";

/// [Gitea](https://docs.gitea.com/usage/webhooks), [Forgejo](https://forgejo.org/docs/latest/user/webhooks/)
/// and Gogs: the hex HMAC-SHA256 of the **JSON payload** keyed with the webhook's secret, sent
/// as `X-Gitea-Signature`, `X-Forgejo-Signature` (Forgejo), `X-Gogs-Signature` and
/// `X-Hub-Signature-256: sha256=<hex>` — the same MAC in each.
///
/// * The first of those headers present, in that order, is checked; all carry SHA-256 of the
///   same content, so one delivery has one dedup key whichever is read. The SHA-1
///   `X-Hub-Signature` Gitea also sends is not used.
/// * **Form webhooks** (`Content-Type: application/x-www-form-urlencoded`) send
///   `payload=<url-encoded JSON>`, but the MAC covers the **decoded JSON**, not the bytes
///   received: this scheme verifies the decoded `payload` field. The form must hold that one
///   field, once (an added or repeated field is refused as malformed: which copy a framework
///   reads would be ambiguous), decoding to UTF-8. Read the event from that field. JSON
///   webhooks are verified over the raw body.
/// * **GET webhooks** (the payload in the URL's query) are refused: configure the webhook with
///   POST.
/// * **No secret**: Gitea still sends the headers, empty (`X-Hub-Signature: sha1=`). Such a
///   request is refused as malformed, with a message that says so; set a secret on the webhook.
/// * **Key**: the secret as entered, used verbatim ([`KeyFormat::Raw`](crate::KeyFormat::Raw)).
/// * **No timestamp** is signed. **Dedup key**: the MAC of the JSON payload.
///   `X-Gitea-Delivery` (and `X-Forgejo-Delivery`, `X-Gogs-Delivery`, `X-GitHub-Delivery`) are
///   not signed, so they are not trusted. Gitea does not retry a failed delivery by itself; a
///   delivery redone from the web interface has the same payload and counts as a duplicate
///   once the first was processed.
/// * Gitea counts any 2xx as delivered. An `Authorization` header configured on the webhook
///   is sent as well; this scheme does not read it.
/// * Forgejo rewrites some payloads before sending them (the `ref` of create/delete events for
///   Gitea-type hooks, a `compare` field on pushes) and signs what it sends: verify the bytes
///   received, never a payload re-serialised.
/// * Forgejo's example payloads still show a legacy `secret` field in the body: never treat a
///   body field as authentication.
///
/// ```
/// use webhook_receiver::{Verifier, providers::Gitea, testing::Signer};
///
/// let body = br#"{"ref":"refs/heads/main","after":"bd1e4f0"}"#;
/// let headers = Signer::new(Gitea::new(), "gitea-secret")?.sign(body)?;
/// let verifier = Verifier::builder(Gitea::new()).secret("gitea-secret").build()?;
/// assert!(verifier.verify(&headers, body).is_ok());
///
/// // A form webhook: the MAC covers the JSON inside `payload`.
/// let form = Signer::new(Gitea::form(), "gitea-secret")?.sign_request(body)?;
/// assert!(form.body.starts_with(b"payload="));
/// assert!(verifier.verify(&form.headers, &form.body).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Gitea {
    /// Whether the signing helper sends form webhooks (verification reads both kinds).
    form: bool,
}

impl Gitea {
    /// The scheme (JSON and form webhooks alike).
    pub fn new() -> Self {
        Self { form: false }
    }

    /// The same scheme, whose signing helper ([`testing::Signer`](crate::testing::Signer))
    /// sends **form** webhooks, `payload=<url-encoded JSON>`; verification is unchanged.
    pub fn form() -> Self {
        Self { form: true }
    }
}

/// The single value of `name`; `None` when absent. A repeated or non-ASCII header is malformed,
/// and so is an empty one — what Gitea sends for a webhook without a secret.
fn signature_header<'r>(
    headers: &'r HeaderMap,
    name: &'r HeaderName,
) -> Result<Option<&'r str>, VerifyError> {
    let Some(value) = headers.get(name) else {
        return Ok(None);
    };
    let empty = value.as_bytes().trim_ascii();
    if empty.is_empty() || (name == HUB_256 && empty == b"sha256=") {
        return Err(VerifyError::malformed(
            name,
            "empty: the webhook was sent without a secret; set one on the webhook",
        ));
    }
    header_str(headers, name)
}

fn malformed(reason: &'static str) -> VerifyError {
    VerifyError::MalformedBody { reason }
}

impl Scheme for Gitea {
    fn name(&self) -> &str {
        "gitea"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Hex
    }

    fn has_timestamp(&self) -> bool {
        false
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let headers = request.headers;
        let mut found = None;
        for name in [&GITEA, &FORGEJO, &GOGS] {
            if let Some(value) = signature_header(headers, name)? {
                found = Some((name, value));
                break;
            }
        }
        if found.is_none()
            && let Some(value) = signature_header(headers, &HUB_256)?
        {
            let hex = value
                .strip_prefix("sha256=")
                .ok_or_else(|| VerifyError::malformed(&HUB_256, "missing the `sha256=` prefix"))?;
            found = Some((&HUB_256, hex));
        }
        let Some((name, signature)) = found else {
            return Err(VerifyError::missing(&GITEA));
        };
        if request.method.eq_ignore_ascii_case("GET") {
            return Err(malformed(
                "Gitea GET webhooks carry the payload in the URL: configure the webhook with POST",
            ));
        }
        let mut parsed = Parsed::new(Algorithm::HmacSha256).with_signature_header(name);
        parsed.push_signature(signature);
        if is_form(headers)? {
            parsed.push_content(form_payload(request.body)?.into_owned().into_bytes());
        }
        Ok(parsed)
    }

    fn signed_content(
        &self,
        parsed: &Parsed<'_>,
        request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        match parsed.contents().first() {
            Some(payload) => feed(payload),
            None => feed(request.body),
        }
    }

    fn event_id(&self) -> EventIdSource {
        EventIdSource::None
    }

    fn write_headers(
        &self,
        _parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        insert_header(headers, GITEA.clone(), signature)?;
        insert_header(headers, GOGS.clone(), signature)?;
        insert_header(headers, HUB_256.clone(), &format!("sha256={signature}"))
    }

    /// Signs the draft's body, the JSON payload, as Gitea does; [`Gitea::form`] sends it as
    /// `payload=<url-encoded JSON>`.
    fn sign(
        &self,
        draft: &Draft<'_>,
        signer: &mut dyn SignContent,
        out: &mut SignedRequest,
    ) -> Result<(), ConfigError> {
        let payload = draft.body;
        if self.form && std::str::from_utf8(payload).is_err() {
            return Err(ConfigError::invalid(
                "body",
                "a Gitea payload is UTF-8 JSON",
            ));
        }
        let signature = signer.sign(draft.algorithm, &mut |feed| feed(payload))?;
        if self.form {
            out.body = form_urlencoded::Serializer::new(String::new())
                .append_pair("payload", std::str::from_utf8(payload).unwrap_or_default())
                .finish()
                .into_bytes();
            out.headers
                .insert(CONTENT_TYPE, HeaderValue::from_static(FORM));
        } else {
            out.body = payload.to_vec();
            out.headers
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        self.write_headers(&Parsed::new(draft.algorithm), &signature, &mut out.headers)
    }
}

/// Whether the body is a form, by its content type.
fn is_form(headers: &HeaderMap) -> Result<bool, VerifyError> {
    let Some(value) = header_str(headers, &CONTENT_TYPE)? else {
        return Ok(false);
    };
    let media = value.split(';').next().unwrap_or_default().trim_ascii();
    Ok(media.eq_ignore_ascii_case(FORM))
}

/// The decoded `payload` field of a form webhook, which must be its only field.
fn form_payload(body: &[u8]) -> Result<Cow<'_, str>, VerifyError> {
    let pairs = form::decoded_pairs(body).map_err(|e| malformed(e.reason()))?;
    match <[_; 1]>::try_from(pairs) {
        Ok([(key, payload)]) if key == "payload" => Ok(payload),
        _ => Err(malformed(
            "a Gitea form webhook has exactly one field, `payload`",
        )),
    }
}
