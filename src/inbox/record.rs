//! What the inbox stores: records, their metadata, counts and list queries.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use time::OffsetDateTime;

use super::InboxError;

/// `d` in milliseconds as engines store it: at most 100 years.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
pub(crate) fn millis(d: Duration) -> i64 {
    crate::clock::stored_millis(d, 0)
}

/// A time an engine stored in Unix milliseconds; out of range is a corrupt record `key`.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
pub(crate) fn datetime(key: &str, ms: i64) -> Result<OffsetDateTime, InboxError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|_| InboxError::corrupt(key, "a stored time is out of range"))
}

/// A record's metadata from a row of an SQL engine's metadata columns (`key` decoded by the
/// caller: its column type differs between engines; `attempts` as a 64-bit integer).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn meta_from_row<R>(
    row: &R,
    key: String,
    map_error: fn(sqlx::Error) -> InboxError,
) -> Result<RecordMeta, InboxError>
where
    R: sqlx::Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let get_time = |column: &str| -> Result<Option<OffsetDateTime>, InboxError> {
        let ms: Option<i64> = row.try_get(column).map_err(map_error)?;
        ms.map(|ms| datetime(&key, ms)).transpose()
    };
    let received_at =
        get_time("received_at")?.ok_or_else(|| InboxError::corrupt(&key, "no received_at"))?;
    let updated_at =
        get_time("updated_at")?.ok_or_else(|| InboxError::corrupt(&key, "no updated_at"))?;
    let deadline = get_time("deadline")?;
    let status: String = row.try_get("status").map_err(map_error)?;
    let status: Status = status
        .parse()
        .map_err(|_| InboxError::corrupt(&key, "unknown status"))?;
    let attempts: i64 = row.try_get("attempts").map_err(map_error)?;
    let body_len: i64 = row.try_get("body_len").map_err(map_error)?;
    let retain_ms: i64 = row.try_get("retain_ms").map_err(map_error)?;
    let endpoint: String = row.try_get("endpoint").map_err(map_error)?;
    let provider: String = row.try_get("provider").map_err(map_error)?;
    let mut meta = RecordMeta::new(key, endpoint, provider, received_at);
    meta.event_id = row.try_get("event_id").map_err(map_error)?;
    meta.signed_at = row.try_get("signed_at").map_err(map_error)?;
    meta.key_label = row.try_get("key_label").map_err(map_error)?;
    meta.ordering_key = row.try_get("ordering_key").map_err(map_error)?;
    meta.status = status;
    meta.attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
    meta.run_at = match status {
        Status::Pending | Status::Running => deadline,
        _ => None,
    };
    meta.expires_at = match status {
        Status::Done => deadline,
        _ => None,
    };
    meta.updated_at = updated_at;
    meta.last_error = row.try_get("last_error").map_err(map_error)?;
    meta.body_len = u64::try_from(body_len).unwrap_or(0);
    meta.retain = Duration::from_millis(u64::try_from(retain_ms).unwrap_or(0));
    Ok(meta)
}

/// Where a record is in its life.
///
/// ```text
/// accept ─► Pending ─lease─► Running ─done──► Done ─(retention)─► purged
///              ▲               │  └──dead───► Dead ─replay─┐
///              └──retry/release┘                           │
///              ▲───────────────────────────────────────────┘
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Status {
    /// Waiting to run, at its `run_at` time.
    Pending,
    /// Leased by a worker until its `run_at` time (the lease's end).
    Running,
    /// Processed; kept until its retention ends, as the audit log and for deduplication.
    Done,
    /// Given up on (attempts exhausted or a permanent error); kept until an operator replays it.
    Dead,
}

impl Status {
    /// Every status, in life order.
    pub const ALL: [Status; 4] = [Self::Pending, Self::Running, Self::Done, Self::Dead];

    /// `"pending"`, `"running"`, `"done"` or `"dead"`: how engines store it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Done => "done",
            Self::Dead => "dead",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The text is not a [`Status`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown record status (expected pending, running, done or dead)")]
#[non_exhaustive]
pub struct ParseStatusError;

impl FromStr for Status {
    type Err = ParseStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or(ParseStatusError)
    }
}

/// A delivery to store: what [`InboxEngine::accept`](super::InboxEngine::accept) receives.
///
/// Built by [`InboxEndpoint`](super::InboxEndpoint) from a verified request; build one yourself
/// with [`NewRecord::new`] and the `with_*` setters to feed the inbox from elsewhere. `Debug`
/// shows the metadata, the header names and the body's length, never the body.
#[derive(Clone)]
#[non_exhaustive]
pub struct NewRecord {
    /// The namespaced dedup key (`{endpoint}:{dedup key}`): the record's identity.
    pub key: String,
    /// The endpoint (namespace) that received it.
    pub endpoint: String,
    /// The scheme's name (`"stripe"`).
    pub provider: String,
    /// The signed event id, if the scheme has one.
    pub event_id: Option<String>,
    /// The signed timestamp in Unix seconds, if the scheme has one.
    pub signed_at: Option<i64>,
    /// The label of the secret that matched, if it has one.
    pub key_label: Option<String>,
    /// Records with the same ordering key run one at a time, in received order.
    pub ordering_key: Option<String>,
    /// The headers the handler may need (never signature or token headers).
    pub headers: HeaderMap,
    /// The exact body bytes.
    pub body: Bytes,
    /// How long the record is kept once done (for deduplication and audit).
    pub retain: Duration,
}

impl NewRecord {
    /// A record with no optional metadata, no headers, and a retention of one day.
    pub fn new(
        key: impl Into<String>,
        endpoint: impl Into<String>,
        provider: impl Into<String>,
        body: impl Into<Bytes>,
    ) -> Self {
        Self {
            key: key.into(),
            endpoint: endpoint.into(),
            provider: provider.into(),
            event_id: None,
            signed_at: None,
            key_label: None,
            ordering_key: None,
            headers: HeaderMap::new(),
            body: body.into(),
            retain: Duration::from_secs(24 * 3600),
        }
    }

    /// Sets the signed event id.
    #[must_use]
    pub fn with_event_id(mut self, id: impl Into<String>) -> Self {
        self.event_id = Some(id.into());
        self
    }

    /// Sets the signed timestamp (Unix seconds).
    #[must_use]
    pub fn with_signed_at(mut self, unix_seconds: i64) -> Self {
        self.signed_at = Some(unix_seconds);
        self
    }

    /// Sets the matching secret's label.
    #[must_use]
    pub fn with_key_label(mut self, label: impl Into<String>) -> Self {
        self.key_label = Some(label.into());
        self
    }

    /// Sets the ordering key.
    #[must_use]
    pub fn with_ordering_key(mut self, key: impl Into<String>) -> Self {
        self.ordering_key = Some(key.into());
        self
    }

    /// Sets the headers to keep.
    #[must_use]
    pub fn with_headers(mut self, headers: HeaderMap) -> Self {
        self.headers = headers;
        self
    }

    /// Sets how long the record is kept once done. Default: one day.
    #[must_use]
    pub fn with_retain(mut self, retain: Duration) -> Self {
        self.retain = retain;
        self
    }
}

impl fmt::Debug for NewRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewRecord")
            .field("key", &self.key)
            .field("endpoint", &self.endpoint)
            .field("provider", &self.provider)
            .field("event_id", &self.event_id)
            .field("signed_at", &self.signed_at)
            .field("key_label", &self.key_label)
            .field("ordering_key", &self.ordering_key)
            .field("headers", &HeaderNames(&self.headers))
            .field("body_len", &self.body.len())
            .field("retain", &self.retain)
            .finish()
    }
}

/// Shows header names only.
struct HeaderNames<'a>(&'a HeaderMap);

impl fmt::Debug for HeaderNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// A stored record's metadata: everything but the headers and the body.
///
/// Engines build it with [`RecordMeta::new`] and then set the public fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordMeta {
    /// The namespaced dedup key: the record's identity.
    pub key: String,
    /// The endpoint (namespace) that received it.
    pub endpoint: String,
    /// The scheme's name.
    pub provider: String,
    /// The signed event id, if any.
    pub event_id: Option<String>,
    /// The signed timestamp in Unix seconds, if any.
    pub signed_at: Option<i64>,
    /// The label of the secret that matched, if any.
    pub key_label: Option<String>,
    /// The ordering key, if any.
    pub ordering_key: Option<String>,
    /// When the engine accepted it.
    pub received_at: OffsetDateTime,
    /// Where it is in its life.
    pub status: Status,
    /// How many times it was leased since it was accepted or last replayed.
    pub attempts: u32,
    /// Pending: when it is due. Running: when its lease ends. Otherwise `None`.
    pub run_at: Option<OffsetDateTime>,
    /// Done: when its retention ends and [`purge`](super::InboxEngine::purge) may remove it.
    pub expires_at: Option<OffsetDateTime>,
    /// When its status last changed (dead: since when it is dead).
    pub updated_at: OffsetDateTime,
    /// The last failure's message, if it failed.
    pub last_error: Option<String>,
    /// The body's length in bytes.
    pub body_len: u64,
    /// How long it is kept once done.
    pub retain: Duration,
}

impl RecordMeta {
    /// Metadata of a pending record, due at `received_at`, never attempted.
    pub fn new(
        key: impl Into<String>,
        endpoint: impl Into<String>,
        provider: impl Into<String>,
        received_at: OffsetDateTime,
    ) -> Self {
        Self {
            key: key.into(),
            endpoint: endpoint.into(),
            provider: provider.into(),
            event_id: None,
            signed_at: None,
            key_label: None,
            ordering_key: None,
            received_at,
            status: Status::Pending,
            attempts: 0,
            run_at: Some(received_at),
            expires_at: None,
            updated_at: received_at,
            last_error: None,
            body_len: 0,
            retain: Duration::ZERO,
        }
    }
}

/// A stored record: metadata, kept headers, body. `Debug` never shows the body.
#[derive(Clone)]
#[non_exhaustive]
pub struct Record {
    /// The metadata.
    pub meta: RecordMeta,
    /// The headers kept at accept time.
    pub headers: HeaderMap,
    /// The exact body bytes.
    pub body: Bytes,
}

impl Record {
    /// A record from its parts.
    pub fn new(meta: RecordMeta, headers: HeaderMap, body: Bytes) -> Self {
        Self {
            meta,
            headers,
            body,
        }
    }

    /// The record's key.
    pub fn key(&self) -> &str {
        &self.meta.key
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("meta", &self.meta)
            .field("headers", &HeaderNames(&self.headers))
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// A record leased by one worker, with the token that proves it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Leased {
    /// The record, as it is after the lease (status running, attempts counted).
    pub record: Record,
    /// The lease token: every transition of this record must present it.
    pub token: crate::dedup::LeaseToken,
}

impl Leased {
    /// A leased record.
    pub fn new(record: Record, token: crate::dedup::LeaseToken) -> Self {
        Self { record, token }
    }
}

/// What [`InboxEngine::accept`](super::InboxEngine::accept) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::exhaustive_enums)] // Idempotent accept has exactly these two answers.
pub enum Accepted {
    /// The record is stored, pending and due now.
    Stored,
    /// A record with this key is already retained; nothing was stored.
    Duplicate,
}

/// How many records are in each status, and the oldest pending one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counts {
    /// Pending records (due now or later).
    pub pending: u64,
    /// Running records (live or expired leases).
    pub running: u64,
    /// Done records still retained.
    pub done: u64,
    /// Dead records.
    pub dead: u64,
    /// When the oldest pending record was received.
    pub oldest_pending: Option<OffsetDateTime>,
}

impl Counts {
    /// All zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one row of an SQL engine's `status, count, oldest received_at (ms)` summary.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn add(
        &mut self,
        status: &str,
        n: i64,
        oldest: Option<i64>,
        table: &str,
    ) -> Result<(), InboxError> {
        let n = u64::try_from(n).unwrap_or(0);
        match status.parse::<Status>() {
            Ok(Status::Pending) => {
                self.pending = n;
                self.oldest_pending = oldest.map(|ms| datetime("", ms)).transpose()?;
            }
            Ok(Status::Running) => self.running = n,
            Ok(Status::Done) => self.done = n,
            Ok(Status::Dead) => self.dead = n,
            Err(_) => {
                return Err(InboxError::backend(format!(
                    "unknown status in table `{table}`"
                )));
            }
        }
        Ok(())
    }

    /// Pending plus running: the backlog that the inbox's bound applies to.
    pub fn unfinished(&self) -> u64 {
        self.pending.saturating_add(self.running)
    }

    /// How long the oldest pending record has waited at `now` (zero if it is "in the future",
    /// e.g. an engine on another clock).
    pub fn oldest_pending_age(&self, now: OffsetDateTime) -> Option<Duration> {
        self.oldest_pending
            .map(|at| Duration::try_from(now - at).unwrap_or(Duration::ZERO))
    }
}

/// Which records [`InboxEngine::list`](super::InboxEngine::list) returns: those in one status,
/// ordered by `(received_at, key)`, after an optional cursor, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListQuery {
    /// Only records in this status.
    pub status: Status,
    /// At most this many (at least 1).
    pub limit: u32,
    /// Only records strictly after this `(received_at, key)`, to page through a long list.
    pub after: Option<(OffsetDateTime, String)>,
}

impl ListQuery {
    /// The first 100 records in `status`.
    pub fn new(status: Status) -> Self {
        Self {
            status,
            limit: 100,
            after: None,
        }
    }

    /// At most `limit` records (raised to 1 if zero). Default: 100.
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit.max(1);
        self
    }

    /// Records after `last`, the last record of the previous page.
    #[must_use]
    pub fn after(mut self, last: &RecordMeta) -> Self {
        self.after = Some((last.received_at, last.key.clone()));
        self
    }
}

/// Encodes headers for storage as HTTP/1 header lines (`name: value\r\n`), which keeps every
/// byte a header value may hold and is readable in a database shell.
///
/// For engine implementations; [`decode_headers`] reverses it.
pub fn encode_headers(headers: &HeaderMap) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Decodes what [`encode_headers`] wrote. `key` names the record in the error.
///
/// # Errors
///
/// [`InboxError::Corrupt`] if the bytes are not header lines.
pub fn decode_headers(key: &str, bytes: &[u8]) -> Result<HeaderMap, InboxError> {
    let mut headers = HeaderMap::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| InboxError::corrupt(key, "a stored header line is not terminated"))?;
        let line = &rest[..end];
        rest = &rest[end + 2..];
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or_else(|| InboxError::corrupt(key, "a stored header line has no `:`"))?;
        let name = HeaderName::from_bytes(&line[..colon])
            .map_err(|_| InboxError::corrupt(key, "a stored header name is invalid"))?;
        let value = line[colon + 1..]
            .strip_prefix(b" ")
            .unwrap_or(&line[colon + 1..]);
        let value = HeaderValue::from_bytes(value)
            .map_err(|_| InboxError::corrupt(key, "a stored header value is invalid"))?;
        headers.append(name, value);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_every_allowed_byte() {
        let mut headers = HeaderMap::new();
        headers.append("content-type", HeaderValue::from_static("application/json"));
        headers.append("x-multi", HeaderValue::from_static("a"));
        headers.append("x-multi", HeaderValue::from_static("b: c"));
        headers.append("x-empty", HeaderValue::from_static(""));
        headers.append(
            "x-opaque",
            HeaderValue::from_bytes(b"\xff\x80 tab\t").unwrap(),
        );
        let decoded = decode_headers("k", &encode_headers(&headers)).unwrap();
        assert_eq!(decoded, headers);
        assert!(decode_headers("k", b"").unwrap().is_empty());
    }

    #[test]
    fn corrupt_headers_are_errors_not_panics() {
        for bad in [
            &b"no-terminator"[..],
            b"no colon\r\n",
            b"bad name: v\r\n",
            b"x: \x01\r\n",
        ] {
            let err = decode_headers("the-key", bad).unwrap_err();
            assert!(matches!(err, InboxError::Corrupt { .. }), "{err:?}");
            assert!(err.to_string().contains("the-key"), "{err}");
        }
    }

    #[test]
    fn status_text_round_trips() {
        for status in Status::ALL {
            assert_eq!(status.as_str().parse::<Status>(), Ok(status));
        }
        assert!("Pending".parse::<Status>().is_err());
    }

    #[test]
    fn debug_never_shows_the_body() {
        let record = NewRecord::new("k", "e", "p", &b"card 4242 4242"[..]);
        let shown = format!("{record:?}");
        assert!(!shown.contains("4242"), "{shown}");
        assert!(shown.contains("body_len: 14"), "{shown}");
    }
}
