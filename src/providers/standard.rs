//! Standard Webhooks v1 (HMAC-SHA256), which Svix and GitLab signing tokens also use.
//!
//! Source: the Standard Webhooks spec and reference libraries
//! (`standard-webhooks/standard-webhooks`, `spec/standard-webhooks.md`, `libraries/`).

use http::{HeaderMap, HeaderName};

use super::{
    Parsed, Scheme, insert_header, parse_unix_seconds, scan_headers, split_byte, split_once_byte,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};
use crate::secret::SecretFormat;

static WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
static WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
static WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");
static SVIX_ID: HeaderName = HeaderName::from_static("svix-id");
static SVIX_TIMESTAMP: HeaderName = HeaderName::from_static("svix-timestamp");
static SVIX_SIGNATURE: HeaderName = HeaderName::from_static("svix-signature");

/// [Standard Webhooks](https://www.standardwebhooks.com/) v1: `webhook-id`, `webhook-timestamp`
/// and `webhook-signature: v1,<base64> [v1,<base64> …]`, HMAC-SHA256 over
/// `{id}.{timestamp}.{body}`.
///
/// * The `svix-id` / `svix-timestamp` / `svix-signature` names are accepted too; as in the Svix
///   libraries, an `svix-*` header wins over its `webhook-*` twin when both are present.
/// * The secret is `whsec_` + base64 and is **decoded** ([`SecretFormat::Whsec`]); the prefix is
///   optional.
/// * Entries of other versions (`v1a,…`) and entries without a comma are ignored; an empty `v1,`
///   entry or one that is not a valid 32-byte base64 MAC is a malformed header.
/// * `webhook-id` is signed, so it is the dedup key.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct StandardWebhooks;

impl StandardWebhooks {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

impl Scheme for StandardWebhooks {
    fn name(&self) -> &str {
        "standard-webhooks"
    }

    fn secret_format(&self) -> SecretFormat {
        SecretFormat::Whsec
    }

    fn encoding(&self) -> Encoding {
        Encoding::Base64
    }

    fn has_timestamp(&self) -> bool {
        true
    }

    fn parse<'r>(&'r self, headers: &'r HeaderMap) -> Result<Parsed<'r>, VerifyError> {
        let [svix_id, svix_ts, svix_sig, id, ts, sig] = scan_headers(
            headers,
            [
                &SVIX_ID,
                &SVIX_TIMESTAMP,
                &SVIX_SIGNATURE,
                &WEBHOOK_ID,
                &WEBHOOK_TIMESTAMP,
                &WEBHOOK_SIGNATURE,
            ],
        )?;
        // As in the Svix libraries, an `svix-*` header wins over its `webhook-*` twin.
        let pick = |svix: Option<&'r str>, svix_name: &'static HeaderName, standard, name| match (
            svix, standard,
        ) {
            (Some(v), _) => Ok((v, svix_name)),
            (None, Some(v)) => Ok((v, name)),
            (None, None) => Err(VerifyError::missing(name)),
        };
        let (id, _) = pick(svix_id, &SVIX_ID, id, &WEBHOOK_ID)?;
        let (ts, ts_name) = pick(svix_ts, &SVIX_TIMESTAMP, ts, &WEBHOOK_TIMESTAMP)?;
        let (sigs, sig_name) = pick(svix_sig, &SVIX_SIGNATURE, sig, &WEBHOOK_SIGNATURE)?;

        let mut parsed = Parsed::new(Algorithm::HmacSha256);
        parsed.signature_header = Some(sig_name);
        parsed.id = Some(id);
        parsed.timestamp = Some(parse_unix_seconds(ts_name, ts)?);
        for entry in split_byte(sigs, b' ').filter(|e| !e.is_empty()) {
            let Some((version, signature)) = split_once_byte(entry, b',') else {
                continue;
            };
            if version != "v1" {
                continue;
            }
            if signature.is_empty() {
                return Err(VerifyError::malformed(sig_name, "empty `v1,` signature"));
            }
            if !parsed.push_signature(signature) {
                return Err(VerifyError::malformed(sig_name, "too many signatures"));
            }
        }
        if parsed.signatures().is_empty() {
            return Err(VerifyError::malformed(sig_name, "no `v1` signature"));
        }
        Ok(parsed)
    }

    fn signed_content(&self, parsed: &Parsed<'_>, body: &[u8], feed: &mut dyn FnMut(&[u8])) {
        feed(parsed.id.unwrap_or_default().as_bytes());
        feed(b".");
        feed(
            parsed
                .timestamp
                .map(|t| t.text)
                .unwrap_or_default()
                .as_bytes(),
        );
        feed(b".");
        feed(body);
    }

    fn write_headers(
        &self,
        parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        insert_header(headers, WEBHOOK_ID.clone(), parsed.id.unwrap_or_default())?;
        insert_header(
            headers,
            WEBHOOK_TIMESTAMP.clone(),
            parsed.timestamp.map(|t| t.text).unwrap_or_default(),
        )?;
        insert_header(
            headers,
            WEBHOOK_SIGNATURE.clone(),
            &format!("v1,{signature}"),
        )
    }
}
