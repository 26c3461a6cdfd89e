//! Standard Webhooks senders with their own secret formats and header names: OpenAI, Clerk,
//! Resend, and Svix itself.
//!
//! Sources: `openai/openai-python` `src/openai/lib/_webhooks.py` (`webhook_signature_matches`)
//! and `tests/lib/test_webhooks.py` @e43b422; `openai/openai-node` `src/lib/webhook-signature.ts`
//! and `src/resources/webhooks/webhooks.ts` @7b7d6ca; `clerk/javascript`
//! `packages/backend/src/webhooks.ts` (`verifyWebhook`) and its tests; `resend/resend-node`
//! `src/webhooks/webhooks.ts` @3f67459; `resend/resend-python` `resend/webhooks/_webhooks.py`
//! @b972ed9; `svix/svix-webhooks` `server/svix-server/src/worker.rs` (`generate_msg_headers`)
//! @4fc0cfb; developers.openai.com "Webhooks", clerk.com "Webhooks overview", resend.com
//! "Verify webhooks requests", docs.svix.com "Verifying payloads manually" and "Retries".

use http::HeaderMap;

use super::{
    Draft, EventIdSource, Parsed, Request, Scheme, SignContent, SignedRequest, StandardHeaders,
    StandardWebhooks, Tolerance,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};
use crate::secret::{Key, KeyFormat};

/// Declares a Standard Webhooks preset: a type wrapping a configured [`StandardWebhooks`] and
/// forwarding every [`Scheme`] method to it.
macro_rules! preset {
    ($(#[$doc:meta])* $ty:ident = $scheme:expr;) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $ty(StandardWebhooks);

        impl $ty {
            /// The scheme.
            pub const fn new() -> Self {
                Self($scheme)
            }
        }

        impl Default for $ty {
            fn default() -> Self {
                Self::new()
            }
        }

        impl Scheme for $ty {
            fn name(&self) -> &str {
                self.0.name()
            }
            fn key_format(&self) -> KeyFormat {
                self.0.key_format()
            }
            fn parse_key(&self, text: &str) -> Result<Key, ConfigError> {
                self.0.parse_key(text)
            }
            fn encoding(&self) -> Encoding {
                self.0.encoding()
            }
            fn algorithms(&self) -> &[Algorithm] {
                self.0.algorithms()
            }
            fn has_timestamp(&self) -> bool {
                self.0.has_timestamp()
            }
            fn default_tolerance(&self) -> Tolerance {
                self.0.default_tolerance()
            }
            fn reject_status(&self, error: &VerifyError) -> http::StatusCode {
                self.0.reject_status(error)
            }
            fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
                self.0.parse(request)
            }
            fn signed_content(
                &self,
                parsed: &Parsed<'_>,
                request: &Request<'_>,
                feed: &mut dyn FnMut(&[u8]),
            ) {
                self.0.signed_content(parsed, request, feed)
            }
            fn body_timestamp(&self, body: &[u8]) -> Option<i64> {
                self.0.body_timestamp(body)
            }
            fn event_id(&self) -> EventIdSource {
                self.0.event_id()
            }
            fn format_timestamp(&self, unix_millis: i64) -> String {
                self.0.format_timestamp(unix_millis)
            }
            fn write_headers(
                &self,
                parsed: &Parsed<'_>,
                signature: &str,
                headers: &mut HeaderMap,
            ) -> Result<(), ConfigError> {
                self.0.write_headers(parsed, signature, headers)
            }
            fn sign(
                &self,
                draft: &Draft<'_>,
                signer: &mut dyn SignContent,
                out: &mut SignedRequest,
            ) -> Result<(), ConfigError> {
                self.0.sign(draft, signer, out)
            }
        }
    };
}

preset! {
    /// [OpenAI](https://platform.openai.com/docs/guides/webhooks) webhooks:
    /// [Standard Webhooks](StandardWebhooks) `v1`, reported as `"openai"`.
    ///
    /// * **Headers**: `webhook-id`, `webhook-timestamp` (Unix seconds) and
    ///   `webhook-signature: v1,<base64> [v1,<base64> …]`, HMAC-SHA256 over
    ///   `{webhook-id}.{webhook-timestamp}.{body}`. Only the `webhook-*` names are read (OpenAI's
    ///   SDKs require them); `svix-*` headers are ignored.
    /// * **Key**: the endpoint's signing secret as the dashboard shows it
    ///   ([`KeyFormat::WhsecOrRaw`]): `whsec_` + base64 is **decoded**; a secret **without** the
    ///   prefix is used verbatim as UTF-8 bytes, as both OpenAI SDKs do (the Standard Webhooks
    ///   libraries would base64-decode it instead). Rotation with
    ///   `keep_old_secret_active_for_24_hours`: configure both secrets for that day.
    /// * **Tolerance**: 5 minutes each way, OpenAI's SDK default (`tolerance=300`, both "too old"
    ///   and "too new").
    /// * **Dedup key**: `webhook-id`, which is signed. The body's event `id` is signed too but not
    ///   used.
    ///
    /// Stricter than OpenAI's SDKs, on purpose:
    ///
    /// * only `v1,` entries are candidates (the SDKs also compare entries without the prefix);
    /// * the timestamp must be canonical decimal seconds (the Python SDK's `int()` takes
    ///   `+1750861210`, ` 1750861210 ` and `01750861210`; the Node SDK's `parseInt` takes
    ///   `1750861210suffix`), and an empty `webhook-id` is refused (the Node SDK then signs
    ///   `{timestamp}.{body}`);
    /// * an id containing `.` is refused, as the Standard Webhooks spec requires.
    ///
    /// ```
    /// use webhook_receiver::{Verifier, providers::OpenAi, testing::Signer};
    ///
    /// let secret = "whsec_RdvaYFYUXuIFuEbvZHwMfYFhUf7aMYjYcmM24+Aj40c=";
    /// let verifier = Verifier::builder(OpenAi::new()).secret(secret).build()?;
    /// let body = br#"{"id":"evt_1","object":"event","type":"response.completed"}"#;
    /// let headers = Signer::new(OpenAi::new(), secret)?.id("wh_1").sign(body)?;
    /// let verified = verifier.verify(&headers, body)?;
    /// assert_eq!(verified.scheme(), "openai");
    /// assert_eq!(verified.event_id().as_deref(), Some("wh_1"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    OpenAi = StandardWebhooks::new()
        .named("openai")
        .with_key_format(KeyFormat::WhsecOrRaw)
        .with_header_names(StandardHeaders::Webhook);
}

preset! {
    /// [Clerk](https://clerk.com/docs/guides/development/webhooks/overview) webhooks, delivered
    /// by Svix: [Standard Webhooks](StandardWebhooks) `v1` under the `svix-*` names, reported as
    /// `"clerk"`.
    ///
    /// * **Headers**: `svix-id`, `svix-timestamp` (Unix seconds) and
    ///   `svix-signature: v1,<base64> [v1,<base64> …]`, HMAC-SHA256 over
    ///   `{svix-id}.{svix-timestamp}.{body}`.
    /// * **Only `svix-*`**: Clerk's `verifyWebhook` (`@clerk/backend`) refuses a request that
    ///   lacks any of the three `svix-*` headers, even when `webhook-*` twins are present, so a
    ///   Clerk delivery always carries them; this scheme requires them too and ignores
    ///   `webhook-*` headers rather than accept what Clerk's own SDK refuses.
    /// * **Key**: the endpoint's signing secret from the Clerk dashboard
    ///   (`CLERK_WEBHOOK_SIGNING_SECRET`), `whsec_` + base64, **decoded** ([`KeyFormat::Whsec`]).
    /// * **Tolerance**: 5 minutes each way, as in the `standardwebhooks` library Clerk's SDK
    ///   calls.
    /// * **Dedup key**: `svix-id`, signed and the same on every retry (Svix retries for about
    ///   27.6 hours: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
    /// * The `standardwebhooks` library Clerk's SDK calls reads the timestamp with `parseInt`
    ///   and signs the integer it read; this scheme signs the header text and requires canonical
    ///   decimal seconds, which is what Svix sends.
    ///
    /// ```
    /// use webhook_receiver::{Verifier, providers::Clerk, testing::Signer};
    ///
    /// let secret = "whsec_dGVzdF9zaWduaW5nX3NlY3JldF8zMl9jaGFyc19sb25n";
    /// let verifier = Verifier::builder(Clerk::new()).secret(secret).build()?;
    /// let body = br#"{"type":"user.created","data":{"id":"user_123"}}"#;
    /// let headers = Signer::new(Clerk::new(), secret)?.id("msg_123").sign(body)?;
    /// assert!(headers.contains_key("svix-signature"));
    /// let verified = verifier.verify(&headers, body)?;
    /// assert_eq!(verified.event_id().as_deref(), Some("msg_123"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    Clerk = StandardWebhooks::new()
        .named("clerk")
        .with_header_names(StandardHeaders::Svix);
}

preset! {
    /// [Resend](https://resend.com/docs/webhooks/verify-webhooks-requests) webhooks, delivered
    /// by Svix: [Standard Webhooks](StandardWebhooks) `v1`, reported as `"resend"`.
    ///
    /// * **Headers**: `svix-id`, `svix-timestamp` (Unix seconds) and
    ///   `svix-signature: v1,<base64> [v1,<base64> …]`, HMAC-SHA256 over
    ///   `{svix-id}.{svix-timestamp}.{body}`. Resend's docs read the `svix-*` names; its Node SDK
    ///   takes the three values whatever their names and its docs also point to the Svix
    ///   libraries, which accept the white-label `webhook-*` names too, so both families are
    ///   read (an `svix-*` header wins over its twin) and the signer writes `svix-*`.
    /// * **Key**: the webhook's signing secret (webhook details page, or the `signing_secret` of
    ///   the create/get/list webhook API), `whsec_` + base64, **decoded** ([`KeyFormat::Whsec`]).
    /// * **Tolerance**: 5 minutes each way, as in the `standardwebhooks` library the Node SDK
    ///   calls and the Python SDK's own check.
    /// * **Dedup key**: `svix-id`, signed and the same on every retry and on manual replays
    ///   from the dashboard.
    /// * Stricter than Resend's Python SDK, which accepts an entry of any version (`v2,…`)
    ///   carrying a valid signature: only `v1,` entries are candidates here.
    ///
    /// ```
    /// use webhook_receiver::{Verifier, providers::Resend, testing::Signer};
    ///
    /// let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    /// let verifier = Verifier::builder(Resend::new()).secret(secret).build()?;
    /// let body = br#"{"type":"email.sent","data":{"email_id":"4ef9a417"}}"#;
    /// let headers = Signer::new(Resend::new(), secret)?.id("msg_2").sign(body)?;
    /// assert_eq!(verifier.verify(&headers, body)?.scheme(), "resend");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    Resend = StandardWebhooks::new().named("resend").signing_svix_names();
}

preset! {
    /// Any sender that delivers through [Svix](https://docs.svix.com/receiving/verifying-payloads/how-manual):
    /// [Standard Webhooks](StandardWebhooks) `v1` (and `v1a` for self-hosted Svix servers set to
    /// Ed25519), reported as `"svix"`.
    ///
    /// * **Headers**: `svix-id`, `svix-timestamp` and `svix-signature`; senders on a white-label
    ///   plan send `webhook-id`, `webhook-timestamp` and `webhook-signature` instead (the Svix
    ///   server sends one family or the other). Both are read, an `svix-*` header winning over
    ///   its twin as in the Svix libraries; the signer writes `svix-*`.
    /// * **Key**: `whsec_` + base64, **decoded** ([`KeyFormat::Whsec`]); `whpk_` + base64 is an
    ///   Ed25519 public key for `v1a`.
    /// * **Tolerance**: 5 minutes each way, as in the Svix libraries.
    /// * **Dedup key**: `svix-id` (or `webhook-id`), signed and the same across retries. Svix
    ///   retries 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h after the first attempt (about
    ///   27.6 hours) and counts only a 2xx within 15 s as success (a 3xx is a failure).
    ///
    /// For a specific sender prefer its own preset ([`Clerk`], [`Resend`], [`OpenAi`]): it names
    /// deliveries after the sender and applies its quirks.
    ///
    /// ```
    /// use webhook_receiver::{Verifier, providers::Svix, testing::Signer};
    ///
    /// let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    /// let verifier = Verifier::builder(Svix::new()).secret(secret).build()?;
    /// let body = br#"{"test": 2432232314}"#;
    /// let headers = Signer::new(Svix::new(), secret)?.id("msg_p5jXN8AQM9LWM0D4loKWxJek").sign(body)?;
    /// assert!(headers.contains_key("svix-id"));
    /// assert_eq!(verifier.verify(&headers, body)?.scheme(), "svix");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    Svix = StandardWebhooks::new().named("svix").signing_svix_names();
}
