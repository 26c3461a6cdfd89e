//! The inbox: accept deliveries durably, answer at once, process them in workers with retries,
//! backoff, dead letters and replay (feature `inbox`; the SQLite engine with `sqlite`).
//!
//! Every provider asks the same of a receiver: answer 2xx quickly (Slack within 3 s, GitHub
//! within 10 s, Stripe "before any complex logic"), *then* process. The inbox puts a durable
//! queue between the two:
//!
//! ```text
//! request ─► verify ─► accept (durable, once per key) ─► 200
//!                              │
//!           workers: lease the next due record ─► handler ─► ok    ─► done (kept for retention)
//!                                                          ├► error ─► retry at now + backoff
//!                                                          └► max attempts or permanent ─► dead
//! ```
//!
//! * [`InboxEndpoint::receive`] verifies a request with a [`Verifier`](crate::Verifier) and
//!   [accepts](Inbox::accept) it: one durable, idempotent write keyed by the dedup key (bound
//!   to signed content), so a duplicate is answered 200 and stored once. Full or down: 503 +
//!   `Retry-After`, nothing acknowledged.
//! * A [`Worker`] leases due records (a lease renewed by heartbeat), runs your [`Handler`],
//!   and marks the record done, schedules a retry with exponential backoff and jitter
//!   ([`RetryPolicy`]), or makes it dead after the last attempt or a [permanent
//!   error](HandlerError::permanent). A worker that dies leaves a lease that expires: the
//!   record runs again. Attempts are counted at lease time, so even a record that crashes its
//!   worker every time ends dead.
//! * Operators [list](Inbox::list_dead) and [inspect](Inbox::inspect) dead records,
//!   [replay](Inbox::replay) one or [all since a time](Inbox::replay_dead_since),
//!   [purge](Inbox::purge) done records past their retention, and read [counts](Inbox::counts).
//! * Records are the audit log: provider, endpoint, received-at, event id, signed timestamp,
//!   secret label, the exact body and the headers a handler may need (never a signature or a
//!   token), status, attempts, last error.
//!
//! **Guarantees**: at-least-once invocation; no two runs of one record at once while its lease
//! is heartbeated (a worker that loses its lease has its handler cancelled, and its late
//! outcome changes nothing). Handlers that cause external effects should be idempotent on
//! [`Job::key`] or the event id. Optional per-key ordering: see
//! [`InboxEndpointBuilder::ordering_key`].
//!
//! Engines implement [`InboxEngine`] (the transitions table is in its docs): `SqliteInbox`
//! (feature `sqlite`) is the embedded default — one file, durable on one machine, nothing to
//! run. For fleets: `PostgresInbox` (features `postgres` and `inbox`) — workers on any number
//! of hosts lease with `FOR UPDATE SKIP LOCKED`, and `PostgresInbox::transactional` runs a
//! handler inside the transaction that marks its record done, so its database writes commit
//! exactly once — and `RedisInbox` (features `redis` and `inbox`) on one Redis: a stream read
//! by a consumer group, leases in its pending entries (expired ones found with `XAUTOCLAIM`),
//! a sorted set for retries, a dead-letter stream. Check your
//! own engine with `testing::inbox_contract` (features `testing` and `inbox`).
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "sqlite")]
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! use std::time::Duration;
//! use webhook_receiver::inbox::{HandlerError, Inbox, Job, RetryPolicy, SqliteInbox};
//! use webhook_receiver::{Verifier, providers::StandardWebhooks, testing::Signer};
//!
//! const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
//! # let dir = std::env::temp_dir().join(format!("inbox-mod-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! let inbox = Inbox::builder(SqliteInbox::open(dir.join("inbox.db")).await?)
//!     .retry(RetryPolicy::new().base(Duration::from_secs(1)).max_attempts(5))
//!     .build()?;
//! let endpoint = inbox
//!     .endpoint(Verifier::builder(StandardWebhooks::new()).secret(SECRET).build()?)
//!     .build()?;
//!
//! // The HTTP route: verify, store, answer 200 — no handler on the request path.
//! let body = br#"{"type":"invoice.paid","data":{}}"#;
//! let headers = Signer::new(StandardWebhooks::new(), SECRET)?.id("msg_1").sign(body)?;
//! endpoint.receive(&headers, body.to_vec().into()).await?;
//!
//! // The worker: a default handler, one per event type.
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let worker = tokio::spawn(
//!     inbox
//!         .worker(|_job: Job| async { Ok::<(), HandlerError>(()) })
//!         .on("invoice.paid", |job: Job| async move {
//!             let event: serde_json::Value = job.json()?;
//!             assert_eq!(event["type"], "invoice.paid");
//!             Ok(())
//!         })
//!         .concurrency(4)
//!         .run(async { stopped.await.ok(); }),
//! );
//! while inbox.counts().await?.done == 0 {
//!     tokio::time::sleep(Duration::from_millis(10)).await;
//! }
//! stop.send(()).ok();
//! assert_eq!(worker.await??.done, 1);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

#[cfg(any(feature = "redis", feature = "postgres", feature = "sqlite"))]
mod batch;
mod endpoint;
mod engine;
mod error;
mod front;
#[cfg(feature = "postgres")]
mod postgres;
mod record;
#[cfg(feature = "redis")]
mod redis;
mod retry;
#[cfg(feature = "sqlite")]
mod sqlite;
mod telemetry;
mod worker;

#[cfg(feature = "testing")]
pub(crate) mod contract;

pub use endpoint::{
    DEFAULT_KEPT_HEADERS, InboxEndpoint, InboxEndpointBuilder, InboxReceiveError,
    NEVER_KEPT_HEADER_PARTS, NEVER_KEPT_HEADER_WORDS, Receipt,
};
pub use engine::{DynInboxEngine, InboxEngine};
pub use error::{HandlerError, INBOX_RETRY_AFTER, InboxError};
pub use front::{DEFAULT_INBOX_LEASE, Inbox, InboxBuilder, MIN_INBOX_LEASE};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(all(feature = "postgres", feature = "inbox"))))]
pub use postgres::{InboxTransaction, PostgresInbox, Transactional, TransactionalHandler};
pub use record::{
    Accepted, Counts, Leased, ListQuery, NewRecord, ParseStatusError, Record, RecordMeta, Status,
    decode_headers, encode_headers,
};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(all(feature = "redis", feature = "inbox"))))]
pub use redis::RedisInbox;
pub use retry::RetryPolicy;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::{SqliteInbox, SqliteInboxBuilder};
pub use worker::{
    Attempt, AttemptOutcome, DEFAULT_POLL_INTERVAL, DEFAULT_SHUTDOWN_GRACE, Handler, Job,
    MAX_ERROR_LEN, Worker, WorkerReport,
};
