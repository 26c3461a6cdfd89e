//! The verifier: body limit, tolerance window, MAC per secret, constant-time comparison.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use time::OffsetDateTime;

use crate::clock::{Clock, SystemClock};
use crate::encoding::{KeyedMacs, MAX_TAG, Tag};
use crate::error::{ConfigError, VerifyError};
use crate::providers::{EventIdSource, MAX_SIGNATURES, Parsed, Scheme};
use crate::secret::Secret;

/// Default tolerance for timestamps in the past and in the future: 5 minutes each.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// Default body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// One configured secret: its label and its pre-keyed MAC state per algorithm.
struct Key {
    label: Option<Box<str>>,
    macs: KeyedMacs,
}

/// Decides whether a request is authentic and fresh.
///
/// Built with [`Verifier::builder`]; cheap to share (`Arc`) and `Sync`.
///
/// ```
/// use webhook_receiver::{Verifier, providers::StandardWebhooks, testing::Signer};
///
/// let verifier = Verifier::builder(StandardWebhooks::new())
///     .secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
///     .build()?;
///
/// let body = br#"{"type":"invoice.paid"}"#;
/// let headers = Signer::new(StandardWebhooks::new(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?
///     .id("msg_1")
///     .sign(body)?;
///
/// let verified = verifier.verify(&headers, body)?;
/// assert_eq!(verified.event_id().as_deref(), Some("msg_1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Verifier {
    scheme: Box<dyn Scheme>,
    keys: Box<[Key]>,
    tolerance_past: Duration,
    tolerance_future: Duration,
    body_limit: usize,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let labels: Vec<_> = self.keys.iter().map(|k| k.label.as_deref()).collect();
        f.debug_struct("Verifier")
            .field("scheme", &self.scheme)
            .field(
                "secrets",
                &format_args!("{} [redacted], labels {labels:?}", self.keys.len()),
            )
            .field("tolerance_past", &self.tolerance_past)
            .field("tolerance_future", &self.tolerance_future)
            .field("body_limit", &self.body_limit)
            .field("clock", &self.clock)
            .finish()
    }
}

/// Configures a [`Verifier`]. Every setter documents its default.
pub struct VerifierBuilder {
    scheme: Box<dyn Scheme>,
    secrets: Vec<(Option<String>, Result<Secret, ConfigError>)>,
    tolerance_past: Duration,
    tolerance_future: Duration,
    body_limit: usize,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("scheme", &self.scheme)
            .field(
                "secrets",
                &format_args!("{} [redacted]", self.secrets.len()),
            )
            .finish_non_exhaustive()
    }
}

impl VerifierBuilder {
    /// Adds a secret, written as the provider shows it (parsed with the scheme's
    /// [`SecretFormat`](crate::SecretFormat)). Add several to rotate: every one is tried.
    #[must_use]
    pub fn secret(mut self, secret: &str) -> Self {
        let parsed = Secret::parse(self.scheme.secret_format(), secret);
        self.secrets.push((None, parsed));
        self
    }

    /// Adds a secret with a label (`"2026-11"`, `"previous"`); [`Verified::key_label`] reports
    /// the label of the secret that matched, so operators see when an old one stops being used.
    #[must_use]
    pub fn labeled_secret(mut self, label: impl Into<String>, secret: &str) -> Self {
        let parsed = Secret::parse(self.scheme.secret_format(), secret);
        self.secrets.push((Some(label.into()), parsed));
        self
    }

    /// Adds an already-decoded secret, optionally labelled.
    #[must_use]
    pub fn raw_secret(mut self, label: Option<String>, secret: Secret) -> Self {
        self.secrets.push((label, Ok(secret)));
        self
    }

    /// Sets both tolerances. Default: 5 minutes each.
    #[must_use]
    pub fn tolerance(self, tolerance: Duration) -> Self {
        self.tolerance_past(tolerance).tolerance_future(tolerance)
    }

    /// How old a signed timestamp may be. Default: 5 minutes.
    #[must_use]
    pub fn tolerance_past(mut self, tolerance: Duration) -> Self {
        self.tolerance_past = tolerance;
        self
    }

    /// How far in the future a signed timestamp may be (clock skew). Default: 5 minutes — also
    /// for Stripe, whose SDKs do not check the future at all.
    #[must_use]
    pub fn tolerance_future(mut self, tolerance: Duration) -> Self {
        self.tolerance_future = tolerance;
        self
    }

    /// Largest accepted body in bytes. Default: 1 MiB ([`DEFAULT_BODY_LIMIT`]). GitHub caps its
    /// payloads at 25 MB; raise the limit for large push events.
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The time source. Default: [`SystemClock`].
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds the verifier, computing each secret's keyed MAC state once.
    ///
    /// Errors when no secret was given, a secret is empty or cannot be decoded (the error names
    /// the label, never the value), or the body limit is zero.
    pub fn build(self) -> Result<Verifier, ConfigError> {
        if self.secrets.is_empty() {
            return Err(ConfigError::NoSecret);
        }
        if self.body_limit == 0 {
            return Err(ConfigError::invalid(
                "body_limit",
                "must be at least 1 byte",
            ));
        }
        let algorithms = self.scheme.algorithms();
        if algorithms.is_empty() {
            return Err(ConfigError::invalid("scheme", "declares no algorithm"));
        }
        let mut keys = Vec::with_capacity(self.secrets.len());
        for (label, secret) in self.secrets {
            let secret = secret.map_err(|e| e.with_label(label.as_deref()))?;
            let macs = KeyedMacs::new(algorithms, secret.as_bytes());
            keys.push(Key {
                label: label.map(Into::into),
                macs,
            });
        }
        Ok(Verifier {
            scheme: self.scheme,
            keys: keys.into(),
            tolerance_past: self.tolerance_past,
            tolerance_future: self.tolerance_future,
            body_limit: self.body_limit,
            clock: self.clock,
        })
    }
}

impl Verifier {
    /// Starts configuring a verifier for `scheme`.
    pub fn builder(scheme: impl Scheme) -> VerifierBuilder {
        VerifierBuilder {
            scheme: Box::new(scheme),
            secrets: Vec::new(),
            tolerance_past: DEFAULT_TOLERANCE,
            tolerance_future: DEFAULT_TOLERANCE,
            body_limit: DEFAULT_BODY_LIMIT,
            clock: Arc::new(SystemClock),
        }
    }

    /// The scheme.
    pub fn scheme(&self) -> &dyn Scheme {
        &*self.scheme
    }

    /// The body limit in bytes; adapters refuse larger bodies before buffering them.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// The past tolerance.
    pub fn tolerance_past(&self) -> Duration {
        self.tolerance_past
    }

    /// The future tolerance.
    pub fn tolerance_future(&self) -> Duration {
        self.tolerance_future
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Verifies a request against the clock's current time.
    pub fn verify<'a>(
        &'a self,
        headers: &'a HeaderMap,
        body: &'a [u8],
    ) -> Result<Verified<'a>, VerifyError> {
        self.verify_at(headers, body, self.clock.now())
    }

    /// Verifies a request as if it arrived at `now`.
    ///
    /// Order: body limit, header parsing, timestamp window, then one MAC per secret over the
    /// signed bytes compared in constant time with every candidate. No heap allocation on success
    /// (a body event id is read later, only when asked for).
    pub fn verify_at<'a>(
        &'a self,
        headers: &'a HeaderMap,
        body: &'a [u8],
        now: OffsetDateTime,
    ) -> Result<Verified<'a>, VerifyError> {
        if body.len() > self.body_limit {
            return Err(VerifyError::BodyTooLarge {
                limit: self.body_limit,
            });
        }
        let parsed = self.scheme.parse(headers)?;
        if let Some(ts) = parsed.timestamp {
            self.check_window(ts.unix, now.unix_timestamp())?;
        }

        let mut candidates = [[0u8; MAX_TAG]; MAX_SIGNATURES];
        let len = parsed.algorithm.output_len();
        let encoding = self.scheme.encoding();
        let signatures = parsed.signatures();
        for (slot, text) in candidates.iter_mut().zip(signatures) {
            if !Tag::decode_into(text, encoding, len, slot) {
                return Err(malformed_signature(&parsed));
            }
        }
        let candidates = &candidates[..signatures.len()];

        for (index, key) in self.keys.iter().enumerate() {
            let Some(tag) = key.macs.compute(parsed.algorithm, |feed| {
                self.scheme.signed_content(&parsed, body, feed)
            }) else {
                continue;
            };
            let mut matched = false;
            for candidate in candidates {
                // Every candidate is compared, so timing does not reveal which one matched.
                matched |= tag.ct_eq(&candidate[..len]);
            }
            if matched {
                let event_id = match self.scheme.event_id(&parsed) {
                    EventIdSource::Signed(id) => EventId::Known(Cow::Borrowed(id)),
                    EventIdSource::JsonField(field) => EventId::Json { body, field },
                    _ => EventId::None,
                };
                return Ok(Verified {
                    scheme: Cow::Borrowed(self.scheme.name()),
                    timestamp: parsed.timestamp.map(|t| t.unix),
                    event_id,
                    mac: MacKey::new(tag.as_slice()),
                    key_index: index,
                    key_label: key.label.as_deref().map(Cow::Borrowed),
                });
            }
        }
        Err(VerifyError::SignatureMismatch)
    }

    fn check_window(&self, ts: i64, now: i64) -> Result<(), VerifyError> {
        let past = self.tolerance_past.as_secs();
        let future = self.tolerance_future.as_secs();
        if ts <= now {
            let age = now.abs_diff(ts);
            if age > past {
                return Err(VerifyError::TimestampTooOld {
                    age_secs: age,
                    tolerance_secs: past,
                });
            }
        } else {
            let ahead = ts.abs_diff(now);
            if ahead > future {
                return Err(VerifyError::TimestampInFuture {
                    ahead_secs: ahead,
                    tolerance_secs: future,
                });
            }
        }
        Ok(())
    }

    /// Whether the scheme signs a timestamp (so replays are refused by time).
    pub fn has_timestamp(&self) -> bool {
        self.scheme.has_timestamp()
    }

    /// The MAC of `content` under the first secret, encoded for the scheme; used by the signing
    /// helpers.
    pub(crate) fn sign_parsed(&self, parsed: &Parsed<'_>, body: &[u8]) -> Option<String> {
        let tag = self.keys.first()?.macs.compute(parsed.algorithm, |feed| {
            self.scheme.signed_content(parsed, body, feed)
        })?;
        Some(tag.encode(self.scheme.encoding()))
    }
}

#[cold]
fn malformed_signature(parsed: &Parsed<'_>) -> VerifyError {
    VerifyError::MalformedHeader {
        name: parsed
            .signature_header
            .map_or(Cow::Borrowed("signature"), |h| {
                Cow::Owned(h.as_str().to_owned())
            }),
        reason: "a signature is not a MAC of the right length in the scheme's encoding",
    }
}

/// A MAC kept as a dedup key (at most 32 bytes of it).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacKey {
    bytes: [u8; 32],
    len: u8,
}

impl MacKey {
    fn new(tag: &[u8]) -> Self {
        let len = tag.len().min(32);
        let mut bytes = [0u8; 32];
        bytes[..len].copy_from_slice(&tag[..len]);
        Self {
            bytes,
            len: len as u8,
        }
    }

    /// The MAC bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacKey({self})")
    }
}

impl fmt::Display for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// What identifies a delivery for deduplication. Always bound to signed content.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DedupKey<'a> {
    /// An event id the signature covers (Standard Webhooks `webhook-id`, Stripe's body `id`).
    EventId(Cow<'a, str>),
    /// The request's MAC, for schemes whose id is not signed (GitHub, Shopify). A sender that
    /// re-signs a retry differently (new timestamp) produces a new key.
    Mac(MacKey),
}

impl fmt::Display for DedupKey<'_> {
    /// `id:<event id>` or `mac:<hex>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EventId(id) => write!(f, "id:{id}"),
            Self::Mac(mac) => write!(f, "mac:{mac}"),
        }
    }
}

impl DedupKey<'_> {
    /// An owned copy.
    pub fn into_owned(self) -> DedupKey<'static> {
        match self {
            Self::EventId(id) => DedupKey::EventId(Cow::Owned(id.into_owned())),
            Self::Mac(mac) => DedupKey::Mac(mac),
        }
    }
}

/// Where a verified request's event id is; read from the body only when asked for.
#[derive(Clone, PartialEq, Eq)]
enum EventId<'a> {
    None,
    Known(Cow<'a, str>),
    Json { body: &'a [u8], field: &'static str },
}

/// A request that passed verification.
///
/// Borrows the request; [`into_owned`](Verified::into_owned) makes a copy to keep. `Debug` shows
/// the metadata, never the body.
#[derive(Clone, PartialEq, Eq)]
pub struct Verified<'a> {
    scheme: Cow<'a, str>,
    timestamp: Option<i64>,
    event_id: EventId<'a>,
    mac: MacKey,
    key_index: usize,
    key_label: Option<Cow<'a, str>>,
}

impl fmt::Debug for Verified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("scheme", &self.scheme)
            .field("timestamp", &self.timestamp)
            .field("event_id", &self.event_id())
            .field("dedup_key", &self.dedup_key())
            .field("key_index", &self.key_index)
            .field("key_label", &self.key_label)
            .finish()
    }
}

impl Verified<'_> {
    /// The scheme's name (`"stripe"`).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The signed timestamp, for schemes that have one.
    pub fn timestamp(&self) -> Option<OffsetDateTime> {
        self.timestamp
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
    }

    /// The signed timestamp in Unix seconds.
    pub fn unix_timestamp(&self) -> Option<i64> {
        self.timestamp
    }

    /// The event id, only where the signature covers it (`webhook-id`, Stripe's body `id`,
    /// Slack's body `event_id`). A body id is read on each call, stopping right after the field;
    /// borrowed unless it contains JSON escapes.
    pub fn event_id(&self) -> Option<Cow<'_, str>> {
        match &self.event_id {
            EventId::None => None,
            EventId::Known(id) => Some(Cow::Borrowed(id)),
            EventId::Json { body, field } => EventIdSource::JsonField(field).resolve(body),
        }
    }

    /// The dedup key, bound to signed content: the signed event id if there is one, else the MAC.
    /// Not yet namespaced; the receiver adds the endpoint namespace.
    pub fn dedup_key(&self) -> DedupKey<'_> {
        match self.event_id() {
            Some(id) => DedupKey::EventId(id),
            None => DedupKey::Mac(self.mac),
        }
    }

    /// Position of the matching secret, in the order they were added.
    pub fn key_index(&self) -> usize {
        self.key_index
    }

    /// Label of the matching secret, if it has one.
    pub fn key_label(&self) -> Option<&str> {
        self.key_label.as_deref()
    }

    /// An owned copy, to keep past the request (adapters put it in request extensions). The body
    /// is not kept: a body event id is read now.
    pub fn into_owned(self) -> Verified<'static> {
        let event_id = match self.event_id() {
            Some(id) => EventId::Known(Cow::Owned(id.into_owned())),
            None => EventId::None,
        };
        Verified {
            scheme: Cow::Owned(self.scheme.into_owned()),
            timestamp: self.timestamp,
            event_id,
            mac: self.mac,
            key_index: self.key_index,
            key_label: self.key_label.map(|c| Cow::Owned(c.into_owned())),
        }
    }
}
