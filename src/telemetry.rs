//! Metrics of the inline mode (feature `metrics`): a [`Receiver`](crate::Receiver) counts what
//! it received, refused and finished, in the inbox's vocabulary (`endpoint`, `provider`,
//! `key_label`, `outcome`, `reason`), without the `inbox_` part. Labels are bounded: endpoint
//! names and key labels are configured (or, for keys fetched at run time, name one real key:
//! a signed `kid`, a certificate's fingerprint), outcomes and reasons are fixed words. Never a
//! secret, a body or a header value.

#![cfg_attr(not(feature = "metrics"), allow(unused_variables))]

use crate::error::VerifyError;

/// The `reason` label of a request that failed verification.
pub(crate) fn verify_reason(error: &VerifyError) -> &'static str {
    match error {
        VerifyError::MissingHeader { .. } => "missing_header",
        VerifyError::MalformedHeader { .. } => "malformed_header",
        VerifyError::SignatureMismatch => "signature",
        VerifyError::TimestampTooOld { .. } | VerifyError::TimestampInFuture { .. } => "timestamp",
        VerifyError::BodyTooLarge { .. } => "body_too_large",
        VerifyError::MalformedBody { .. } => "malformed_body",
        VerifyError::NoPublicUrl => "no_public_url",
    }
}

/// A verified delivery was claimed (`new`), found done (`duplicate`) or found running
/// (`in_flight`), or is processed without a claim because the store failed and the receiver
/// fails open (`unguarded`).
pub(crate) fn received(
    endpoint: &str,
    provider: &str,
    key_label: Option<&str>,
    outcome: &'static str,
) {
    #[cfg(feature = "metrics")]
    metrics::counter!(
        "webhook_receiver_received_total",
        "endpoint" => endpoint.to_owned(),
        "provider" => provider.to_owned(),
        "key_label" => key_label.unwrap_or("").to_owned(),
        "outcome" => outcome,
    )
    .increment(1);
}

/// A request was refused before its handler could run: `reason` is a fixed word.
pub(crate) fn rejected(endpoint: &str, provider: &str, reason: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(
        "webhook_receiver_rejected_total",
        "endpoint" => endpoint.to_owned(),
        "provider" => provider.to_owned(),
        "reason" => reason,
    )
    .increment(1);
}

/// A claimed delivery ended: `completed` after its handler succeeded, `released` after it
/// failed (the sender's retry runs it again).
pub(crate) fn finished(endpoint: &str, outcome: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(
        "webhook_receiver_deliveries_total",
        "endpoint" => endpoint.to_owned(),
        "outcome" => outcome,
    )
    .increment(1);
}

/// Logs at warn level through `tracing` (feature `tracing`); nothing without it. Never a
/// secret, a body or a header value.
#[cfg(feature = "tracing")]
macro_rules! log_warn {
    ($($t:tt)*) => { ::tracing::warn!($($t)*) };
}
/// Logs at warn level through `tracing` (feature `tracing`); nothing without it.
#[cfg(not(feature = "tracing"))]
macro_rules! log_warn {
    ($($t:tt)*) => {{}};
}
pub(crate) use log_warn;

/// Displays an error with its sources (`dedup store unavailable: connection refused`), so
/// logs keep the cause that `Display` alone would drop.
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(crate) struct ErrorChain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use std::collections::BTreeMap;

    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use crate::dedup::MemoryStore;
    use crate::providers::Stripe;
    use crate::testing::Signer;
    use crate::{Outcome, Receiver, Verifier};

    const SECRET: &str = "whsec_inline_metrics";

    /// Every metric `run` records (run to its end on a current-thread runtime), as
    /// `name label=value,…` with its count; all must be counters.
    fn counted(run: impl std::future::Future<Output = ()>) -> BTreeMap<String, u64> {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(run);
        });
        let mut seen = BTreeMap::new();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let text = format!("{} {}", key.name(), labels.join(","));
            let DebugValue::Counter(n) = value else {
                panic!("{text} is not a counter");
            };
            seen.insert(text, n);
        }
        seen
    }

    #[test]
    fn a_receiver_counts_received_refused_and_finished_deliveries_without_body_or_secret() {
        let seen = counted(async {
            let verifier = Verifier::builder(Stripe::new())
                .labeled_secret("2026-11", SECRET)
                .build()
                .unwrap();
            let receiver = Receiver::builder(verifier, MemoryStore::new())
                .namespace("billing")
                .build()
                .unwrap();
            let signer = Signer::new(Stripe::new(), SECRET).unwrap();
            let body = br#"{"id":"evt_1","amount":"secret-amount"}"#;
            let headers = signer.clone().sign(body).unwrap();
            let Outcome::New(delivery) = receiver.receive(&headers, body).await.unwrap() else {
                panic!("new");
            };
            // Running: a copy is in flight.
            receiver.receive(&headers, body).await.unwrap();
            delivery.complete().await.unwrap();
            receiver.receive(&headers, body).await.unwrap();
            let other = br#"{"id":"evt_2"}"#;
            let headers2 = signer.sign(other).unwrap();
            let Outcome::New(delivery) = receiver.receive(&headers2, other).await.unwrap() else {
                panic!("new");
            };
            delivery.release().await.unwrap();
            receiver
                .receive(&headers, b"tampered amount")
                .await
                .unwrap_err();
        });
        for text in seen.keys() {
            assert!(!text.contains("amount") && !text.contains(SECRET), "{text}");
        }
        let received = "webhook_receiver_received_total endpoint=billing,provider=stripe,key_label=2026-11,outcome=";
        let expected: BTreeMap<String, u64> = [
            (format!("{received}new"), 2),
            (format!("{received}in_flight"), 1),
            (format!("{received}duplicate"), 1),
            (
                "webhook_receiver_rejected_total endpoint=billing,provider=stripe,reason=signature"
                    .to_owned(),
                1,
            ),
            (
                "webhook_receiver_deliveries_total endpoint=billing,outcome=completed".to_owned(),
                1,
            ),
            (
                "webhook_receiver_deliveries_total endpoint=billing,outcome=released".to_owned(),
                1,
            ),
        ]
        .into_iter()
        .collect();
        assert_eq!(seen, expected);
    }

    /// A store that is down.
    struct DownStore;

    impl crate::dedup::DedupStore for DownStore {
        async fn claim(
            &self,
            _: &str,
            _: std::time::Duration,
        ) -> Result<crate::dedup::Claim, crate::dedup::StoreError> {
            Err(crate::dedup::StoreError::unavailable("connection refused"))
        }
        async fn complete(
            &self,
            _: &str,
            _: crate::dedup::LeaseToken,
            _: std::time::Duration,
        ) -> Result<bool, crate::dedup::StoreError> {
            unreachable!("nothing was claimed")
        }
        async fn release(
            &self,
            _: &str,
            _: crate::dedup::LeaseToken,
        ) -> Result<bool, crate::dedup::StoreError> {
            unreachable!("nothing was claimed")
        }
    }

    #[test]
    fn deliveries_run_without_a_claim_when_failing_open_are_counted_as_unguarded() {
        let seen = counted(async {
            let verifier = Verifier::builder(Stripe::new())
                .secret(SECRET)
                .build()
                .unwrap();
            let receiver = Receiver::builder(verifier, DownStore)
                .namespace("billing")
                .insecure_fail_open_on_store_error(true)
                .build()
                .unwrap();
            let signer = Signer::new(Stripe::new(), SECRET).unwrap();
            for (id, succeeds) in [("evt_1", true), ("evt_2", false)] {
                let body = format!(r#"{{"id":"{id}"}}"#);
                let headers = signer.clone().sign(body.as_bytes()).unwrap();
                let Outcome::New(delivery) =
                    receiver.receive(&headers, body.as_bytes()).await.unwrap()
                else {
                    panic!("failing open runs the handler");
                };
                assert!(!delivery.is_claimed());
                let finished = if succeeds {
                    delivery.complete().await
                } else {
                    delivery.release().await
                };
                assert!(!finished.unwrap(), "nothing was claimed");
            }
        });
        let expected: BTreeMap<String, u64> = [
            (
                "webhook_receiver_received_total endpoint=billing,provider=stripe,key_label=,outcome=unguarded",
                2,
            ),
            (
                "webhook_receiver_deliveries_total endpoint=billing,outcome=completed",
                1,
            ),
            (
                "webhook_receiver_deliveries_total endpoint=billing,outcome=released",
                1,
            ),
        ]
        .into_iter()
        .map(|(k, n)| (k.to_owned(), n))
        .collect();
        assert_eq!(seen, expected);
    }
}
