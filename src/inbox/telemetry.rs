//! Metrics (feature `metrics`) and logs (feature `tracing`) of the inbox. Labels are bounded:
//! endpoint names and key labels are configured (or, for keys fetched at run time, name one
//! real key: a signed `kid`, a certificate's fingerprint), reasons and outcomes are fixed words.
//! Never a secret, a body, or a header value.

#![cfg_attr(
    not(feature = "metrics"),
    allow(unused_variables, clippy::needless_pass_by_value)
)]

use std::time::Duration;

use time::OffsetDateTime;

#[cfg(feature = "metrics")]
use super::Status;
use super::{Accepted, Counts};

/// A delivery was stored or found to be a duplicate.
pub(crate) fn received(
    endpoint: &str,
    provider: &str,
    key_label: Option<&str>,
    accepted: Accepted,
    elapsed: Duration,
) {
    #[cfg(feature = "metrics")]
    {
        let outcome = match accepted {
            Accepted::Stored => "stored",
            Accepted::Duplicate => "duplicate",
        };
        metrics::counter!(
            "webhook_receiver_inbox_received_total",
            "endpoint" => endpoint.to_owned(),
            "provider" => provider.to_owned(),
            "key_label" => key_label.unwrap_or("").to_owned(),
            "outcome" => outcome,
        )
        .increment(1);
        metrics::histogram!(
            "webhook_receiver_inbox_accept_seconds",
            "endpoint" => endpoint.to_owned(),
        )
        .record(elapsed.as_secs_f64());
    }
}

/// A delivery was refused: `reason` is one of a fixed set of words.
pub(crate) fn rejected(endpoint: &str, provider: &str, reason: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(
        "webhook_receiver_inbox_rejected_total",
        "endpoint" => endpoint.to_owned(),
        "provider" => provider.to_owned(),
        "reason" => reason,
    )
    .increment(1);
}

/// One processing attempt ended with `outcome`.
pub(crate) fn attempt(endpoint: &str, outcome: &'static str, elapsed: Duration) {
    #[cfg(feature = "metrics")]
    {
        metrics::counter!(
            "webhook_receiver_inbox_attempts_total",
            "endpoint" => endpoint.to_owned(),
            "outcome" => outcome,
        )
        .increment(1);
        metrics::histogram!(
            "webhook_receiver_inbox_attempt_seconds",
            "endpoint" => endpoint.to_owned(),
            "outcome" => outcome,
        )
        .record(elapsed.as_secs_f64());
        if outcome == "dead" {
            metrics::counter!(
                "webhook_receiver_inbox_dead_letters_total",
                "endpoint" => endpoint.to_owned(),
            )
            .increment(1);
        }
    }
}

/// Queue depth per status and the oldest pending record's age of the inbox named `inbox`.
pub(crate) fn counts(inbox: &str, counts: &Counts, now: OffsetDateTime) {
    #[cfg(feature = "metrics")]
    {
        for (status, n) in [
            (Status::Pending, counts.pending),
            (Status::Running, counts.running),
            (Status::Done, counts.done),
            (Status::Dead, counts.dead),
        ] {
            metrics::gauge!(
                "webhook_receiver_inbox_records",
                "inbox" => inbox.to_owned(),
                "status" => status.as_str(),
            )
            .set(n as f64);
        }
        let age = counts.oldest_pending_age(now).unwrap_or(Duration::ZERO);
        metrics::gauge!(
            "webhook_receiver_inbox_oldest_pending_seconds",
            "inbox" => inbox.to_owned(),
        )
        .set(age.as_secs_f64());
    }
}

pub(crate) use crate::telemetry::log_warn;
