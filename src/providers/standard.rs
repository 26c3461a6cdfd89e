//! Standard Webhooks v1 (HMAC-SHA256) and v1a (Ed25519), which Svix and GitLab signing tokens
//! also use.
//!
//! Source: the Standard Webhooks spec and reference libraries
//! (`standard-webhooks/standard-webhooks`, `spec/standard-webhooks.md`, `libraries/`); the `v1a`
//! key layout and vector from `svix/svix-webhooks` (`server/svix-server/src/worker.rs`).

use http::{HeaderMap, HeaderName};

use super::{
    Parsed, Request, Scheme, insert_header, parse_unix_seconds, scan_headers, split_byte,
    split_once_byte,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};
use crate::secret::KeyFormat;

static WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
static WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
static WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");
static SVIX_ID: HeaderName = HeaderName::from_static("svix-id");
static SVIX_TIMESTAMP: HeaderName = HeaderName::from_static("svix-timestamp");
static SVIX_SIGNATURE: HeaderName = HeaderName::from_static("svix-signature");

/// [Standard Webhooks](https://www.standardwebhooks.com/): `webhook-id`, `webhook-timestamp`
/// and `webhook-signature: v1,<base64> [v1a,<base64> …]` over `{id}.{timestamp}.{body}`.
///
/// * `v1` is HMAC-SHA256 with a `whsec_` + base64 secret, which is **decoded**
///   ([`KeyFormat::Whsec`]; the prefix is optional).
/// * `v1a` is Ed25519, verified with a `whpk_` + base64 public key (32 bytes). One keyring may
///   hold both kinds: each key checks the entries of its own kind. No released reference library
///   verifies `v1a`; this one does.
/// * The `svix-id` / `svix-timestamp` / `svix-signature` names are accepted too; as in the Svix
///   libraries, an `svix-*` header wins over its `webhook-*` twin when both are present.
/// * Entries are split on runs of spaces; entries of other versions and entries without a comma
///   are ignored; an empty `v1,` entry, or one that does not decode to a signature of the right
///   length, is a malformed header.
/// * An id containing `.` is malformed: the spec forbids it, and it would make
///   `{id}.{timestamp}` ambiguous.
/// * Tolerance: 5 minutes each way, as in every reference library.
/// * `webhook-id` is signed, so it is the dedup key.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct StandardWebhooks {
    name: &'static str,
}

impl StandardWebhooks {
    /// The scheme.
    pub const fn new() -> Self {
        Self {
            name: "standard-webhooks",
        }
    }

    /// The same scheme reported under another name, for senders that use it (`"svix"`,
    /// `"gitlab"`): the name appears in [`Verified`](crate::Verified) and in dedup namespaces.
    #[must_use]
    pub const fn named(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }
}

impl Scheme for StandardWebhooks {
    fn name(&self) -> &str {
        if self.name.is_empty() {
            "standard-webhooks"
        } else {
            self.name
        }
    }

    fn key_format(&self) -> KeyFormat {
        KeyFormat::Whsec
    }

    fn encoding(&self) -> Encoding {
        Encoding::Base64
    }

    fn algorithms(&self) -> &[Algorithm] {
        &[Algorithm::HmacSha256, Algorithm::Ed25519]
    }

    fn has_timestamp(&self) -> bool {
        true
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let [svix_id, svix_ts, svix_sig, id, ts, sig] = scan_headers(
            request.headers,
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
        let (id, id_name) = pick(svix_id, &SVIX_ID, id, &WEBHOOK_ID)?;
        let (ts, ts_name) = pick(svix_ts, &SVIX_TIMESTAMP, ts, &WEBHOOK_TIMESTAMP)?;
        let (sigs, sig_name) = pick(svix_sig, &SVIX_SIGNATURE, sig, &WEBHOOK_SIGNATURE)?;
        if id.contains('.') {
            return Err(VerifyError::malformed(id_name, "contains `.`"));
        }

        let mut parsed = Parsed::new(Algorithm::HmacSha256)
            .with_signature_header(sig_name)
            .with_id(id)
            .with_timestamp(parse_unix_seconds(ts_name, ts)?);
        for entry in split_byte(sigs, b' ').filter(|e| !e.is_empty()) {
            let Some((version, signature)) = split_once_byte(entry, b',') else {
                continue;
            };
            let algorithm = match version {
                "v1" => Algorithm::HmacSha256,
                "v1a" => Algorithm::Ed25519,
                _ => continue,
            };
            if signature.is_empty() {
                return Err(VerifyError::malformed(sig_name, "empty signature entry"));
            }
            if !parsed.push_signature_with(algorithm, signature) {
                return Err(VerifyError::malformed(sig_name, "too many signatures"));
            }
        }
        if parsed.signature_count() == 0 {
            return Err(VerifyError::malformed(
                sig_name,
                "no `v1` or `v1a` signature",
            ));
        }
        Ok(parsed)
    }

    fn signed_content(
        &self,
        parsed: &Parsed<'_>,
        request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        feed(parsed.id.as_deref().unwrap_or_default().as_bytes());
        feed(b".");
        feed(parsed.timestamp.as_ref().map_or("", |t| &t.text).as_bytes());
        feed(b".");
        feed(request.body);
    }

    fn write_headers(
        &self,
        parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        let version = match parsed.algorithm {
            Algorithm::Ed25519 => "v1a",
            _ => "v1",
        };
        insert_header(
            headers,
            WEBHOOK_ID.clone(),
            parsed.id.as_deref().unwrap_or_default(),
        )?;
        insert_header(
            headers,
            WEBHOOK_TIMESTAMP.clone(),
            parsed.timestamp.as_ref().map_or("", |t| &t.text),
        )?;
        insert_header(
            headers,
            WEBHOOK_SIGNATURE.clone(),
            &format!("{version},{signature}"),
        )
    }
}
