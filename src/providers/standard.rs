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
///   libraries, an `svix-*` header wins over its `webhook-*` twin when both are present
///   ([`with_header_names`](StandardWebhooks::with_header_names) restricts this to one family).
/// * Entries are split on runs of spaces; entries of other versions and entries without a comma
///   are ignored; an empty `v1,` entry, or one that does not decode to a signature of the right
///   length, is a malformed header.
/// * An id containing `.` is malformed: the spec forbids it, and it would make
///   `{id}.{timestamp}` ambiguous.
/// * Tolerance: 5 minutes each way, as in every reference library.
/// * `webhook-id` is signed, so it is the dedup key.
///
/// Senders that use this scheme with their own secret format or header names have presets:
/// [`OpenAi`](super::OpenAi), [`Clerk`](super::Clerk), [`Resend`](super::Resend),
/// [`Svix`](super::Svix), [`GitLab::signing_token`](super::GitLab::signing_token).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct StandardWebhooks {
    name: &'static str,
    key_format: KeyFormat,
    header_names: StandardHeaders,
    sign_svix_names: bool,
}

/// Which header names a [`StandardWebhooks`] scheme reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StandardHeaders {
    /// `webhook-*` or `svix-*`, each header independently; an `svix-*` header wins over its
    /// `webhook-*` twin, as in the Svix libraries. The default.
    #[default]
    Either,
    /// `webhook-id`, `webhook-timestamp` and `webhook-signature` only (`svix-*` headers are
    /// ignored).
    Webhook,
    /// `svix-id`, `svix-timestamp` and `svix-signature` only (`webhook-*` headers are ignored).
    Svix,
}

impl Default for StandardWebhooks {
    fn default() -> Self {
        Self::new()
    }
}

impl StandardWebhooks {
    /// The scheme: `whsec_` keys decoded ([`KeyFormat::Whsec`]), either header family.
    pub const fn new() -> Self {
        Self {
            name: "standard-webhooks",
            key_format: KeyFormat::Whsec,
            header_names: StandardHeaders::Either,
            sign_svix_names: false,
        }
    }

    /// The same scheme with keys read in another format, for senders that show theirs
    /// differently (OpenAI uses a secret without the `whsec_` prefix verbatim:
    /// [`KeyFormat::WhsecOrRaw`]). Default: [`KeyFormat::Whsec`].
    #[must_use]
    pub const fn with_key_format(mut self, format: KeyFormat) -> Self {
        self.key_format = format;
        self
    }

    /// The same scheme reading only one family of header names. Default:
    /// [`StandardHeaders::Either`]. With [`StandardHeaders::Svix`], [`testing::Signer`](crate::testing::Signer)
    /// also writes the `svix-*` names.
    #[must_use]
    pub const fn with_header_names(mut self, names: StandardHeaders) -> Self {
        self.header_names = names;
        self.sign_svix_names = matches!(names, StandardHeaders::Svix);
        self
    }

    /// Signs with the `svix-*` names while still reading either family (Svix's own default).
    pub(crate) const fn signing_svix_names(mut self) -> Self {
        self.sign_svix_names = true;
        self
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
        self.key_format
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
        let headers = request.headers;
        let [svix_id, svix_ts, svix_sig, id, ts, sig] = match self.header_names {
            StandardHeaders::Either => scan_headers(
                headers,
                [
                    &SVIX_ID,
                    &SVIX_TIMESTAMP,
                    &SVIX_SIGNATURE,
                    &WEBHOOK_ID,
                    &WEBHOOK_TIMESTAMP,
                    &WEBHOOK_SIGNATURE,
                ],
            )?,
            StandardHeaders::Webhook => {
                let [id, ts, sig] = scan_headers(
                    headers,
                    [&WEBHOOK_ID, &WEBHOOK_TIMESTAMP, &WEBHOOK_SIGNATURE],
                )?;
                [None, None, None, id, ts, sig]
            }
            StandardHeaders::Svix => {
                let [id, ts, sig] =
                    scan_headers(headers, [&SVIX_ID, &SVIX_TIMESTAMP, &SVIX_SIGNATURE])?;
                [id, ts, sig, None, None, None]
            }
        };
        // As in the Svix libraries, an `svix-*` header wins over its `webhook-*` twin; a missing
        // header is named in the family this scheme reads.
        let svix_only = self.header_names == StandardHeaders::Svix;
        let pick = |svix: Option<&'r str>, svix_name: &'static HeaderName, standard, name| match (
            svix, standard,
        ) {
            (Some(v), _) => Ok((v, svix_name)),
            (None, Some(v)) => Ok((v, name)),
            (None, None) if svix_only => Err(VerifyError::missing(svix_name)),
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
            // An empty entry is skipped, as the reference libraries do; a header of only
            // such entries has no signature (below).
            if signature.is_empty() {
                continue;
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
        let [id, timestamp, signature_name] = if self.sign_svix_names {
            [&SVIX_ID, &SVIX_TIMESTAMP, &SVIX_SIGNATURE]
        } else {
            [&WEBHOOK_ID, &WEBHOOK_TIMESTAMP, &WEBHOOK_SIGNATURE]
        };
        insert_header(
            headers,
            id.clone(),
            parsed.id.as_deref().unwrap_or_default(),
        )?;
        insert_header(
            headers,
            timestamp.clone(),
            parsed.timestamp.as_ref().map_or("", |t| &t.text),
        )?;
        insert_header(
            headers,
            signature_name.clone(),
            &format!("{version},{signature}"),
        )
    }
}
