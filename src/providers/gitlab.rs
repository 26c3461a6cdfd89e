//! GitLab: the classic secret token (`X-Gitlab-Token`), and signing tokens (Standard Webhooks).
//!
//! Source: docs.gitlab.com "Webhooks" (delivery headers, secret token);
//! `gitlab-org/gitlab` `app/services/web_hook_service.rb` (the headers GitLab sends, the token
//! with line breaks removed); merge requests gitlab-org/gitlab!230944 ("Add webhook HMAC signing
//! token") and !231325 (`signing_token` is `whsec_` + base64 of 32 bytes); the GitLab 19.0
//! release note on HMAC signing tokens.

use http::{HeaderMap, HeaderName};

use super::{
    EventIdSource, Parsed, Request, Scheme, StandardWebhooks, insert_header, required_header,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};
use crate::secret::{Key, KeyFormat};

static TOKEN: HeaderName = HeaderName::from_static("x-gitlab-token");

/// [GitLab](https://docs.gitlab.com/user/project/integrations/webhooks/)'s classic secret
/// token: `X-Gitlab-Token: <token>`, the token you configured on the webhook, sent **as is**.
///
/// # This is not a signature
///
/// The token is a password, not a MAC: it is compared (in constant time) with the configured
/// one, and that is all.
///
/// * It authenticates the **sender only**. Nothing binds it to the body: anyone who sees one
///   request (a proxy, a log that records headers, a misconfigured receiver) can send any body
///   with it, forever, until the token is changed.
/// * **No timestamp**: a captured request can be replayed at any time. The
///   [`Receiver`](crate::Receiver) deduplicates what it has seen for a long retention, which
///   stops exact replays within it, not forged bodies.
/// * Use it over TLS only, never log the `X-Gitlab-Token` header, and prefer a signing token
///   ([`GitLab::signing_token`]) where your GitLab offers one.
///
/// # Details
///
/// * **Key**: the token text, with surrounding whitespace removed (GitLab removes line breaks
///   before sending it, and HTTP drops surrounding spaces). A token that still contains a
///   control character (an inner line break included) or non-ASCII text is refused when the
///   verifier is built: it cannot arrive intact in a header, so configure it as GitLab sends it.
/// * **Dedup key**: a SHA-256 digest of the body. GitLab's `Idempotency-Key` header (the same
///   on every retry) is **not** covered by anything, so it is not trusted. Two deliveries with
///   byte-identical bodies therefore count as one within the retention (GitLab payloads carry
///   object ids, SHAs and times, so distinct events differ in practice).
/// * Tolerance does not apply (no timestamp).
///
/// ```
/// use webhook_receiver::{Verifier, providers::GitLab};
/// use http::{HeaderMap, HeaderValue};
///
/// let verifier = Verifier::builder(GitLab::new()).secret("my-gitlab-token").build()?;
/// let mut headers = HeaderMap::new();
/// headers.insert("x-gitlab-token", HeaderValue::from_static("my-gitlab-token"));
/// let verified = verifier.verify(&headers, br#"{"object_kind":"push"}"#)?;
/// assert_eq!(verified.event_id(), None); // nothing identifies the event in a signed way
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct GitLab;

impl GitLab {
    /// The classic secret-token scheme (`X-Gitlab-Token`).
    pub fn new() -> Self {
        Self
    }

    /// GitLab's **signing tokens** (GitLab 19.0 and later; behind the `webhook_signing_token`
    /// feature flag during its rollout): [Standard Webhooks](StandardWebhooks) `v1`, reported
    /// under the name `"gitlab"`.
    ///
    /// * Headers: `webhook-id`, `webhook-timestamp` (Unix seconds) and
    ///   `webhook-signature: v1,<base64>`, the HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`.
    /// * **Key**: the signing token as GitLab takes it, `whsec_` + base64 of 32 random bytes; it
    ///   is **base64-decoded** ([`KeyFormat::Whsec`]), unlike the classic token.
    /// * Tolerance: 5 minutes each way, as in the Standard Webhooks libraries GitLab's own test
    ///   receiver uses.
    /// * **Dedup key**: `webhook-id`, which is signed and equals the `Idempotency-Key` GitLab
    ///   keeps across retries.
    /// * When a webhook has both a secret token and a signing token, GitLab sends both
    ///   headers; verify with this scheme, which covers the body.
    ///
    /// ```
    /// use webhook_receiver::{Verifier, providers::GitLab, testing::Signer};
    ///
    /// let token = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    /// let verifier = Verifier::builder(GitLab::signing_token()).secret(token).build()?;
    /// let body = br#"{"object_kind":"push"}"#;
    /// let headers = Signer::new(GitLab::signing_token(), token)?.id("6a3c0cfa-1f1e").sign(body)?;
    /// let verified = verifier.verify(&headers, body)?;
    /// assert_eq!(verified.scheme(), "gitlab");
    /// assert_eq!(verified.event_id().as_deref(), Some("6a3c0cfa-1f1e"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const fn signing_token() -> StandardWebhooks {
        StandardWebhooks::new().named("gitlab")
    }
}

impl Scheme for GitLab {
    fn name(&self) -> &str {
        "gitlab"
    }

    fn parse_key(&self, text: &str) -> Result<Key, ConfigError> {
        let token = text.trim_ascii();
        // What a header can carry intact: visible ASCII and inner spaces or tabs.
        if !token
            .bytes()
            .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
        {
            return Err(ConfigError::InvalidSecret {
                label: None,
                reason: "a GitLab token must be visible ASCII (GitLab sends it in a header)",
            });
        }
        Key::parse(KeyFormat::Raw, token)
    }

    fn encoding(&self) -> Encoding {
        // Unused: a token is compared as text, never decoded.
        Encoding::Hex
    }

    fn algorithms(&self) -> &[Algorithm] {
        &[Algorithm::Token]
    }

    fn has_timestamp(&self) -> bool {
        false
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let token = required_header(request.headers, &TOKEN)?;
        let mut parsed = Parsed::new(Algorithm::Token).with_signature_header(&TOKEN);
        parsed.push_signature(token);
        Ok(parsed)
    }

    fn signed_content(
        &self,
        _parsed: &Parsed<'_>,
        _request: &Request<'_>,
        _feed: &mut dyn FnMut(&[u8]),
    ) {
        // A token signs nothing.
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
        insert_header(headers, TOKEN.clone(), signature)
    }
}
