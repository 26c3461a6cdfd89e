//! Time sources: the system clock by default, a settable clock for tests.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use time::OffsetDateTime;

/// The longest delay, lease or retention a store or inbox engine keeps: 100 years, in
/// milliseconds.
#[cfg(any(
    feature = "postgres",
    feature = "sqlite",
    all(feature = "inbox", feature = "redis")
))]
pub(crate) const MAX_STORED_MILLIS: i64 = 100 * 365 * 24 * 3600 * 1000;

/// `d` in milliseconds, within `[min, MAX_STORED_MILLIS]`.
#[cfg(any(
    feature = "postgres",
    feature = "sqlite",
    all(feature = "inbox", feature = "redis")
))]
pub(crate) fn stored_millis(d: Duration, min: i64) -> i64 {
    i64::try_from(d.as_millis())
        .unwrap_or(i64::MAX)
        .clamp(min, MAX_STORED_MILLIS)
}

/// A source of the current time.
///
/// The verifier reads it to check timestamps against the tolerance window; the in-memory store
/// reads it for lease and retention expiry. Inject [`ManualClock`] in tests.
pub trait Clock: fmt::Debug + Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> OffsetDateTime;

    /// Milliseconds since the Unix epoch; stores keep deadlines in it. Override it when the
    /// clock can answer faster than through [`now`](Clock::now).
    fn unix_millis(&self) -> i64 {
        let millis = self.now().unix_timestamp_nanos() / 1_000_000;
        millis.clamp(i64::MIN.into(), i64::MAX.into()) as i64
    }
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn unix_millis(&self) -> i64 {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
        }
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> OffsetDateTime {
        (**self).now()
    }

    fn unix_millis(&self) -> i64 {
        (**self).unix_millis()
    }
}

/// A clock that only moves when told to. Clones share the same time.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::{Clock, ManualClock};
///
/// let clock = ManualClock::at_unix(1_700_000_000);
/// let handle = clock.clone();
/// handle.advance(Duration::from_secs(30));
/// assert_eq!(clock.now().unix_timestamp(), 1_700_000_030);
/// ```
#[derive(Clone)]
pub struct ManualClock {
    unix_nanos: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock stopped at `unix_seconds` past the Unix epoch.
    pub fn at_unix(unix_seconds: i64) -> Self {
        Self {
            unix_nanos: Arc::new(AtomicI64::new(unix_seconds.saturating_mul(1_000_000_000))),
        }
    }

    /// A clock stopped at `at`.
    ///
    /// Times outside the years 1678–2262 are clamped (the clock counts nanoseconds in an `i64`).
    pub fn at(at: OffsetDateTime) -> Self {
        let clock = Self::at_unix(0);
        clock.set(at);
        clock
    }

    /// Moves the clock to `at` (clamped like [`ManualClock::at`]).
    pub fn set(&self, at: OffsetDateTime) {
        let nanos = at
            .unix_timestamp_nanos()
            .clamp(i64::MIN.into(), i64::MAX.into());
        self.unix_nanos.store(nanos as i64, Ordering::SeqCst);
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let nanos = i64::try_from(by.as_nanos()).unwrap_or(i64::MAX);
        let _ = self
            .unix_nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(nanos))
            });
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        let nanos = self.unix_nanos.load(Ordering::SeqCst);
        // Every i64 nanosecond count is inside `time`'s supported range.
        OffsetDateTime::from_unix_timestamp_nanos(nanos.into())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ManualClock").field(&self.now()).finish()
    }
}
