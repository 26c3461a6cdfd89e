//! Exponential backoff with jitter, and the maximum number of attempts.

use std::time::Duration;

use crate::error::ConfigError;

/// When a failed record runs again, and when the inbox gives up on it.
///
/// Attempt `n` (1-based) that fails with a retryable error is retried after
/// `min(base × factorⁿ⁻¹, cap)`, shortened by a random fraction of at most `jitter` (so that
/// records failing together do not retry together), unless `n` reached `max_attempts`: then the
/// record is dead. Defaults: base 5 s, factor 2, cap 1 hour, 12 attempts (about 2½ hours from the
/// first attempt to the last), jitter 0.2.
///
/// With `jitter < 1 − 1/factor` (the default 0.2 < 0.5) every delay is longer than the one before.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::inbox::RetryPolicy;
///
/// let policy = RetryPolicy::new()
///     .base(Duration::from_secs(1))
///     .cap(Duration::from_secs(60))
///     .max_attempts(5)
///     .jitter(0.0);
/// assert_eq!(policy.delay(1), Duration::from_secs(1));
/// assert_eq!(policy.delay(3), Duration::from_secs(4));
/// assert_eq!(policy.delay(10), Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    base: Duration,
    factor: f64,
    cap: Duration,
    max_attempts: u32,
    jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl RetryPolicy {
    /// The defaults: base 5 s, factor 2, cap 1 hour, 12 attempts, jitter 0.2.
    pub const fn new() -> Self {
        Self {
            base: Duration::from_secs(5),
            factor: 2.0,
            cap: Duration::from_secs(3600),
            max_attempts: 12,
            jitter: 0.2,
        }
    }

    /// The delay after the first failure. Default: 5 seconds.
    #[must_use]
    pub const fn base(mut self, base: Duration) -> Self {
        self.base = base;
        self
    }

    /// How much each delay grows (≥ 1, finite). Default: 2.
    #[must_use]
    pub const fn factor(mut self, factor: f64) -> Self {
        self.factor = factor;
        self
    }

    /// The longest delay (≥ base). Default: 1 hour.
    #[must_use]
    pub const fn cap(mut self, cap: Duration) -> Self {
        self.cap = cap;
        self
    }

    /// How many attempts in all (≥ 1) before a record is dead. Default: 12.
    ///
    /// Attempts are counted when a worker leases the record, so a record whose worker crashes
    /// every time also ends dead.
    #[must_use]
    pub const fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The largest fraction (in `[0, 1)`) by which a delay is randomly shortened. Default: 0.2.
    #[must_use]
    pub const fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// The maximum number of attempts.
    pub const fn attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// A zero base, a factor below 1 or not finite, a cap below the base, zero attempts, or a
    /// jitter outside `[0, 1)`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.base.is_zero() {
            return Err(ConfigError::invalid(
                "retry.base",
                "must be longer than zero",
            ));
        }
        if !self.factor.is_finite() || self.factor < 1.0 {
            return Err(ConfigError::invalid(
                "retry.factor",
                "must be a finite number of at least 1",
            ));
        }
        if self.cap < self.base {
            return Err(ConfigError::invalid(
                "retry.cap",
                "must be at least the base delay",
            ));
        }
        if self.max_attempts == 0 {
            return Err(ConfigError::invalid(
                "retry.max_attempts",
                "must be at least 1",
            ));
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return Err(ConfigError::invalid("retry.jitter", "must be in [0, 1)"));
        }
        Ok(())
    }

    /// The delay after failed attempt `attempt` (1-based), before jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(1024) as i32;
        let secs = self.base.as_secs_f64() * self.factor.powi(exponent);
        let cap = self.cap.as_secs_f64();
        if !secs.is_finite() || secs >= cap {
            return self.cap;
        }
        Duration::try_from_secs_f64(secs).unwrap_or(self.cap)
    }

    /// The delay after failed attempt `attempt`, shortened by `jitter × unit`, where `unit` is
    /// a random number in `[0, 1)` (clamped).
    pub fn delay_jittered(&self, attempt: u32, unit: f64) -> Duration {
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let delay = self.delay(attempt);
        let scale = 1.0 - self.jitter.clamp(0.0, 1.0) * unit;
        // Not `Duration::mul_f64`, which panics past `Duration::MAX` (an unbounded cap).
        Duration::try_from_secs_f64(delay.as_secs_f64() * scale)
            .map_or(delay, |jittered| jittered.min(delay))
    }

    /// Whether a record leased `attempts` times must not be retried again.
    pub const fn exhausted(&self, attempts: u32) -> bool {
        attempts >= self.max_attempts
    }
}

/// A random number in `[0, 1)` from the operating system (0.5 if it has none).
pub(crate) fn random_unit() -> f64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_cap() {
        let policy = RetryPolicy::new();
        assert_eq!(policy.delay(1), Duration::from_secs(5));
        assert_eq!(policy.delay(2), Duration::from_secs(10));
        assert_eq!(policy.delay(0), Duration::from_secs(5));
        assert_eq!(policy.delay(u32::MAX), Duration::from_secs(3600));
        let mut last = Duration::ZERO;
        for attempt in 1..=20 {
            for unit in [0.0, 0.5, 0.999_999] {
                let d = policy.delay_jittered(attempt, unit);
                assert!(d <= policy.delay(attempt));
                assert!(d >= policy.delay(attempt).mul_f64(0.8));
            }
            // The shortest jittered delay still exceeds the longest before it (until the cap).
            let shortest = policy.delay_jittered(attempt, 1.0);
            if policy.delay(attempt) < policy.cap {
                assert!(shortest > last, "attempt {attempt}");
            }
            last = policy.delay(attempt);
        }
        assert_eq!(policy.delay_jittered(1, f64::NAN), Duration::from_secs(5));
    }

    #[test]
    fn an_unbounded_cap_never_panics() {
        let policy = RetryPolicy::new()
            .base(Duration::from_secs(1))
            .cap(Duration::MAX)
            .jitter(0.0);
        assert!(policy.validate().is_ok());
        for attempt in [1, 64, 65, 1000, u32::MAX] {
            for unit in [0.0, 0.5, 1.0] {
                assert!(policy.delay_jittered(attempt, unit) <= policy.delay(attempt));
            }
        }
        assert_eq!(policy.delay(u32::MAX), Duration::MAX);
        assert_eq!(policy.delay_jittered(u32::MAX, 0.0), Duration::MAX);
        let jittered = policy.jitter(0.5).delay_jittered(u32::MAX, 1.0);
        assert!(jittered < Duration::MAX && jittered > Duration::from_secs(1 << 62));
    }

    #[test]
    fn invalid_settings_are_config_errors() {
        assert!(RetryPolicy::new().validate().is_ok());
        for bad in [
            RetryPolicy::new().base(Duration::ZERO),
            RetryPolicy::new().factor(0.5),
            RetryPolicy::new().factor(f64::NAN),
            RetryPolicy::new().factor(f64::INFINITY),
            RetryPolicy::new().cap(Duration::from_secs(1)),
            RetryPolicy::new().max_attempts(0),
            RetryPolicy::new().jitter(1.0),
            RetryPolicy::new().jitter(-0.1),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn random_units_are_in_range() {
        for _ in 0..100 {
            let u = random_unit();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
