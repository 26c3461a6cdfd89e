//! Meta webhooks — WhatsApp Cloud API, Messenger, Instagram (`X-Hub-Signature-256`) — and
//! the `hub.challenge` verification request.
//!
//! Source: `WhatsApp/WhatsApp-Nodejs-SDK` `src/utils.ts` (`generateXHub256Sig`) and
//! `src/api/webhooks.ts` @58ca3d5 (Meta's own SDK, archived 2023); `fbsamples/messenger-platform-samples`
//! `messenger-api/messenger-api-and-webhooks/app.py`; developers.facebook.com "Getting started
//! with webhooks" (verification requests, event notifications, validating payloads).

use http::HeaderMap;
use subtle::ConstantTimeEq;

use super::github::{hub_algorithms, parse_hub_signature, write_hub_signature};
use super::{EventIdSource, Parsed, Request, Scheme, form_pairs};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

/// The longest `hub.challenge` [`Meta::verification_response`] echoes.
const MAX_CHALLENGE: usize = 64;

/// [Meta](https://developers.facebook.com/docs/graph-api/webhooks/getting-started) webhooks
/// (WhatsApp Cloud API, Messenger, Instagram, and other Graph API subscriptions):
/// `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the raw body keyed with the **App
/// Secret**, verbatim ([`KeyFormat::Raw`](crate::KeyFormat::Raw)) — not the verify token, not
/// an access token.
///
/// * **Verification request**: when a callback URL is set, Meta sends an **unsigned**
///   `GET ?hub.mode=subscribe&hub.challenge=<int>&hub.verify_token=<your string>`; answer it
///   with [`Meta::verification_response`] before verifying (a `GET` has no signature).
/// * **Legacy SHA-1**: Meta also sends `X-Hub-Signature: sha1=<hex>` (HMAC-SHA1). It is
///   accepted only after [`Meta::with_legacy_sha1`], and only when `X-Hub-Signature-256` is
///   absent; the dedup key is the same whichever header was checked.
/// * **The raw body is signed.** Meta's docs mention an escaped-unicode rendering of the
///   payload; verifying the bytes received avoids the question.
/// * **No timestamp** is signed: the [`Receiver`](crate::Receiver) remembers deliveries for a
///   long retention.
/// * **Dedup key**: a digest of the signed body. One delivery may batch several `entry`
///   items (Meta says so), so the **delivery** is deduplicated; make the handler idempotent on
///   the ids inside (`messages[].id`, `statuses[].id` for WhatsApp — `wamid.…` — or `mid` for
///   Messenger) too. There is no delivery-id header.
/// * Stricter than Meta's archived WhatsApp SDK, which also accepts a bare hex value without
///   `sha256=` and compares with `==`: the prefix is required here and comparison is
///   constant-time over the decoded bytes. Hex is accepted in either case.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Meta {
    legacy_sha1: bool,
}

impl Meta {
    /// The scheme, SHA-256 only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also accept the legacy `X-Hub-Signature: sha1=<hex>` when `X-Hub-Signature-256` is
    /// missing. Enable it only for integrations that cannot receive the SHA-256 header.
    #[must_use]
    pub fn with_legacy_sha1(mut self) -> Self {
        self.legacy_sha1 = true;
        self
    }

    /// The body to answer Meta's verification request with: `hub.challenge`, when the request
    /// is a `GET` with `hub.mode=subscribe` and a `hub.verify_token` equal (compared in
    /// constant time) to `verify_token`, the string you entered with the callback URL. Send it
    /// back with status 200. `query` is the request's query string, without the `?`.
    ///
    /// **Unauthenticated**: the verify token is the only check, and it travels in the URL.
    /// Route this request before verification and do nothing else with it. `None` — answer 403
    /// — for any other method, mode or token, an empty `verify_token`, or a challenge that is
    /// not an integer of at most 64 digits (Meta sends an integer).
    ///
    /// ```
    /// use webhook_receiver::providers::Meta;
    ///
    /// let query = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock";
    /// assert_eq!(Meta::verification_response("GET", query, "meatyhamhock").as_deref(), Some("1158201444"));
    /// assert_eq!(Meta::verification_response("GET", query, "another-token"), None);
    /// ```
    pub fn verification_response(method: &str, query: &str, verify_token: &str) -> Option<String> {
        if method != "GET" || verify_token.is_empty() {
            return None;
        }
        let (mut mode, mut challenge, mut token) = (None, None, None);
        for (key, value) in form_pairs(query.as_bytes()) {
            let slot = match &*key {
                "hub.mode" => &mut mode,
                "hub.challenge" => &mut challenge,
                "hub.verify_token" => &mut token,
                _ => continue,
            };
            // The first occurrence wins, as in `URLSearchParams.get`.
            slot.get_or_insert(value);
        }
        if mode.as_deref() != Some("subscribe") {
            return None;
        }
        let token_matches: bool = token?.as_bytes().ct_eq(verify_token.as_bytes()).into();
        let challenge = challenge?;
        let valid = token_matches
            && !challenge.is_empty()
            && challenge.len() <= MAX_CHALLENGE
            && challenge.bytes().all(|b| b.is_ascii_digit());
        valid.then(|| challenge.into_owned())
    }
}

impl Scheme for Meta {
    fn name(&self) -> &str {
        "meta"
    }

    fn algorithms(&self) -> &[Algorithm] {
        hub_algorithms(self.legacy_sha1)
    }

    fn encoding(&self) -> Encoding {
        Encoding::Hex
    }

    fn has_timestamp(&self) -> bool {
        false
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        parse_hub_signature(request, self.legacy_sha1)
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
        EventIdSource::None
    }

    fn write_headers(
        &self,
        parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        write_hub_signature(parsed, signature, headers)
    }
}
