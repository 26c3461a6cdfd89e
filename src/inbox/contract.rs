//! The public inbox contract suite (`testing::inbox_contract`).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use http::{HeaderMap, HeaderValue};
use time::OffsetDateTime;

use super::{
    Accepted, AttemptOutcome, HandlerError, Inbox, InboxEngine, InboxError, Job, Leased, ListQuery,
    NewRecord, Record, RetryPolicy, Status,
};
use crate::clock::Clock;
use crate::dedup::LeaseToken;
use crate::testing::TimeTravel;

/// Settings for [`inbox_contract`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct InboxContractConfig<'a> {
    /// How time passes for the engine.
    pub time: TimeTravel<'a>,
    /// The lease to lease with; retry delays and retentions are fractions and multiples of it.
    /// With real time, keep it well above the engine's round trip (the suite's time margins
    /// are a quarter of it). From 1 ms to one day: the suite panics on anything else.
    pub lease: Duration,
    /// How many concurrent accepts of one key, and leases of a few records, to race.
    pub concurrency: usize,
}

impl<'a> InboxContractConfig<'a> {
    /// For an engine on `clock`: 30-second leases, 32-way races.
    pub fn manual(clock: &'a crate::ManualClock) -> Self {
        Self {
            time: TimeTravel::Manual(clock),
            lease: Duration::from_secs(30),
            concurrency: 32,
        }
    }

    /// For an engine on real time (a server's clock): 2-second leases, 32-way races. The
    /// suite then sleeps about 12 leases in all. Its margins are a quarter of the lease: half
    /// a second, so that a loaded machine's stalls do not read as a lease ending early.
    pub fn real_time() -> Self {
        Self {
            time: TimeTravel::Real,
            lease: Duration::from_secs(2),
            concurrency: 32,
        }
    }
}

struct Suite<'a, E> {
    engine: E,
    time: TimeTravel<'a>,
    lease: Duration,
    margin: Duration,
    retain: Duration,
    concurrency: usize,
    prefix: String,
}

fn ok<T>(result: Result<T, InboxError>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => {
            let mut text = error.to_string();
            let mut next = std::error::Error::source(&error);
            while let Some(cause) = next {
                let _ = write!(text, ": {cause}");
                next = cause.source();
            }
            panic!("inbox contract: the engine failed on {what}: {text}")
        }
    }
}

/// Panics with "inbox contract violated: …" unless `condition` holds.
macro_rules! check {
    ($condition:expr, $($message:tt)+) => {
        assert!($condition, "inbox contract violated: {}", format_args!($($message)+))
    };
}

impl<E: InboxEngine + Clone> Suite<'_, E> {
    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    fn record(&self, name: &str) -> NewRecord {
        let mut headers = HeaderMap::new();
        headers.append("content-type", HeaderValue::from_static("application/json"));
        headers.append("x-multi", HeaderValue::from_static("one"));
        headers.append("x-multi", HeaderValue::from_static("two: 2"));
        headers.append(
            "x-opaque",
            HeaderValue::from_bytes(b"\xfe\x80 tab\t").expect("valid header value"),
        );
        let mut body = format!(r#"{{"type":"contract.{name}","data":"#).into_bytes();
        body.extend_from_slice(b"\"\x00\xff\xfe binary\"}");
        NewRecord::new(self.key(name), "contract", "contract-provider", body)
            .with_event_id(format!("evt_{name}"))
            .with_signed_at(1_767_225_600)
            .with_key_label("2026-01")
            .with_headers(headers)
            .with_retain(self.retain)
    }

    async fn pass(&self, by: Duration) {
        match self.time {
            TimeTravel::Manual(clock) => clock.advance(by),
            _ => tokio::time::sleep(by).await,
        }
    }

    fn now(&self) -> OffsetDateTime {
        match self.time {
            TimeTravel::Manual(clock) => clock.now(),
            _ => OffsetDateTime::now_utc(),
        }
    }

    async fn accept(&self, record: &NewRecord, max: Option<u64>) -> Accepted {
        ok(self.engine.accept(record, max).await, "accept")
    }

    async fn get(&self, name: &str) -> Record {
        ok(self.engine.get(&self.key(name)).await, "get")
            .unwrap_or_else(|| panic!("inbox contract violated: record `{name}` is missing"))
    }

    async fn lease(&self) -> Option<Leased> {
        ok(self.engine.lease(self.lease).await, "lease")
    }

    async fn lease_name(&self, name: &str, what: &str) -> LeaseToken {
        let leased = self.lease().await.unwrap_or_else(|| {
            panic!("inbox contract violated: {what}: expected to lease `{name}`, got nothing")
        });
        check!(
            leased.record.meta.key == self.key(name),
            "{what}: expected to lease `{name}`, got `{}`",
            leased.record.meta.key
        );
        check!(
            leased.record.meta.status == Status::Running,
            "{what}: a leased record must be running, is {}",
            leased.record.meta.status
        );
        leased.token
    }

    async fn nothing_due(&self, what: &str) {
        if let Some(leased) = self.lease().await {
            panic!(
                "inbox contract violated: {what}: expected nothing to lease, got `{}` ({} attempts)",
                leased.record.meta.key, leased.record.meta.attempts
            );
        }
    }

    async fn counts_are(&self, pending: u64, running: u64, done: u64, dead: u64, what: &str) {
        let counts = ok(self.engine.counts().await, "counts");
        check!(
            (counts.pending, counts.running, counts.done, counts.dead)
                == (pending, running, done, dead),
            "{what}: counts (pending, running, done, dead) should be {:?}, are {:?}",
            (pending, running, done, dead),
            (counts.pending, counts.running, counts.done, counts.dead)
        );
        check!(
            counts.oldest_pending.is_some() == (pending > 0),
            "{what}: oldest_pending must be set exactly when records are pending ({:?})",
            counts.oldest_pending
        );
    }
}

/// Checks `engine` against the [`InboxEngine`] contract — the transitions table, token checks,
/// lease expiry, ordering keys (also while a replay races leases), the bound, operators, every
/// field round trip (any `i64` signed time, an empty body) — and,
/// through an [`Inbox`] over a clone of it, retries with backoff, max attempts, permanent
/// errors, crash loops and replay.
///
/// The engine must be **empty and used by nobody else** while the suite runs (give it a fresh
/// table, key prefix or database): `lease` takes any due record, and counts are checked
/// exactly. With [`TimeTravel::Manual`] the engine must read that clock; with
/// [`TimeTravel::Real`] the suite sleeps. Needs a Tokio runtime with the time driver.
///
/// # Panics
///
/// On the first violation, with a message starting `inbox contract violated:` that names it,
/// or `inbox contract: the engine failed on …` if a call returns an error.
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// use webhook_receiver::ManualClock;
/// use webhook_receiver::inbox::SqliteInbox;
/// use webhook_receiver::testing::{InboxContractConfig, inbox_contract};
///
/// # let dir = std::env::temp_dir().join(format!("inbox-contract-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// let clock = ManualClock::at_unix(1_767_225_600);
/// let engine = SqliteInbox::builder(dir.join("contract.db"))
///     .clock(clock.clone())
///     .open()
///     .await
///     .unwrap();
/// inbox_contract(engine, InboxContractConfig::manual(&clock)).await;
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
pub async fn inbox_contract<E: InboxEngine + Clone>(engine: E, config: InboxContractConfig<'_>) {
    let lease = config.lease;
    // The suite multiplies the lease (heartbeats to ten leases, retention of two): bounded as
    // the inbox's own lease is, so that a wrong setting says so instead of overflowing.
    assert!(
        (Duration::from_millis(1)..=Duration::from_secs(24 * 3600)).contains(&lease),
        "inbox contract: the lease must be from 1 ms to one day, is {lease:?}"
    );
    let suite = Suite {
        engine,
        time: config.time,
        lease,
        margin: lease / 4,
        retain: lease * 2,
        concurrency: config.concurrency.max(2),
        prefix: format!("contract:{:08x}", LeaseToken::random().get() as u32),
    };
    let s = &suite;
    let counts = ok(s.engine.counts().await, "counts");
    assert!(
        counts.unfinished() + counts.done + counts.dead == 0,
        "inbox contract: the engine must be empty before the suite runs, has {counts:?}"
    );

    accept_and_read_back(s).await;
    let token = leases_tokens_and_transitions(s).await;
    lease_expiry_and_heartbeat(s, token).await;
    operators(s).await;
    ordering_keys(s).await;
    policy_through_the_inbox(s).await;
    retention_and_purge(s).await;
    replay_racing_leases(s).await;
    extreme_values(s).await;
}

/// Accept is idempotent, stores every field exactly, races store once, the bound refuses.
async fn accept_and_read_back<E: InboxEngine + Clone>(s: &Suite<'_, E>) {
    let a = s.record("a");
    check!(
        s.accept(&a, None).await == Accepted::Stored,
        "a new key must be Stored"
    );
    let stored = s.get("a").await;
    let meta = &stored.meta;
    check!(meta.key == a.key, "key round trip: {:?}", meta.key);
    check!(
        meta.endpoint == "contract",
        "endpoint round trip: {:?}",
        meta.endpoint
    );
    check!(
        meta.provider == "contract-provider",
        "provider round trip: {:?}",
        meta.provider
    );
    check!(
        meta.event_id.as_deref() == Some("evt_a"),
        "event_id round trip: {:?}",
        meta.event_id
    );
    check!(
        meta.signed_at == Some(1_767_225_600),
        "signed_at round trip: {:?}",
        meta.signed_at
    );
    check!(
        meta.key_label.as_deref() == Some("2026-01"),
        "key_label round trip: {:?}",
        meta.key_label
    );
    check!(
        meta.ordering_key.is_none(),
        "ordering_key must be None: {:?}",
        meta.ordering_key
    );
    check!(
        meta.status == Status::Pending,
        "a stored record is pending, is {}",
        meta.status
    );
    check!(
        meta.attempts == 0,
        "a stored record has 0 attempts, has {}",
        meta.attempts
    );
    check!(
        meta.last_error.is_none(),
        "a stored record has no last error"
    );
    check!(
        meta.retain == s.retain,
        "retain round trip: {:?}",
        meta.retain
    );
    check!(
        meta.body_len == a.body.len() as u64,
        "body_len: {}",
        meta.body_len
    );
    check!(
        meta.run_at.is_some_and(|at| at <= s.now() + s.margin),
        "a stored record is due now: run_at {:?}",
        meta.run_at
    );
    check!(
        stored.body == a.body,
        "the body must round-trip byte for byte"
    );
    check!(
        stored.headers == a.headers,
        "the headers must round-trip exactly (repeated names, opaque bytes): {:?}",
        stored.headers
    );

    let mut again = s.record("a");
    again.body = Bytes::from_static(b"a different body");
    check!(
        s.accept(&again, None).await == Accepted::Duplicate,
        "a second accept of a pending key must be Duplicate"
    );
    check!(
        s.get("a").await.body == a.body,
        "a duplicate must not change the stored body"
    );
    check!(
        ok(s.engine.get(&s.key("unknown")).await, "get").is_none(),
        "get of an unknown key must be None"
    );

    let b = s.record("b");
    let results = join_all((0..s.concurrency).map(|_| s.engine.accept(&b, None))).await;
    let stored = results
        .into_iter()
        .map(|r| ok(r, "concurrent accept"))
        .filter(|a| *a == Accepted::Stored)
        .count();
    check!(
        stored == 1,
        "exactly one of {} concurrent accepts of a new key must be Stored, {stored} were",
        s.concurrency
    );
    s.counts_are(2, 0, 0, 0, "after two accepts").await;

    let c = s.record("c");
    match s.engine.accept(&c, Some(2)).await {
        Err(InboxError::Full { limit: 2 }) => {}
        other => panic!(
            "inbox contract violated: accept with 2 unfinished records and max 2 must be \
             Full {{ limit: 2 }}, was {other:?}"
        ),
    }
    check!(
        ok(s.engine.get(&c.key).await, "get").is_none(),
        "a refused accept must store nothing"
    );
    check!(
        s.accept(&a, Some(2)).await == Accepted::Duplicate,
        "a duplicate is answered Duplicate even when the inbox is full"
    );
    check!(
        s.accept(&c, Some(3)).await == Accepted::Stored,
        "accept below the bound must be Stored"
    );
    s.counts_are(3, 0, 0, 0, "after three accepts").await;
}

/// Concurrent leases hand each record to one worker; every transition checks the token.
async fn leases_tokens_and_transitions<E: InboxEngine + Clone>(s: &Suite<'_, E>) -> LeaseToken {
    let leases = join_all((0..s.concurrency * 2).map(|_| s.engine.lease(s.lease))).await;
    let mut tokens = std::collections::HashMap::new();
    for leased in leases.into_iter().filter_map(|l| ok(l, "concurrent lease")) {
        let meta = &leased.record.meta;
        check!(
            meta.attempts == 1,
            "a first lease counts attempt 1, counted {}",
            meta.attempts
        );
        check!(meta.status == Status::Running, "a leased record is running");
        let lease_end = meta
            .run_at
            .expect("a running record has run_at (its lease's end)");
        let length = lease_end - meta.updated_at;
        check!(
            length >= s.lease - Duration::from_millis(1)
                && length <= s.lease + Duration::from_secs(1),
            "a lease must last `lease` from the lease time: run_at − updated_at = {length}"
        );
        check!(
            tokens.insert(meta.key.clone(), leased.token).is_none(),
            "`{}` was leased twice by concurrent leases",
            meta.key
        );
    }
    let names: BTreeSet<_> = tokens.keys().cloned().collect();
    let expected: BTreeSet<_> = ["a", "b", "c"].iter().map(|n| s.key(n)).collect();
    check!(
        names == expected,
        "{} concurrent leases over 3 due records must lease each exactly once, leased {names:?}",
        s.concurrency * 2
    );
    check!(
        tokens
            .values()
            .map(|t| t.get())
            .collect::<BTreeSet<_>>()
            .len()
            == 3,
        "tokens must differ"
    );
    s.nothing_due("every record is leased").await;
    s.counts_are(0, 3, 0, 0, "after leasing all").await;

    let e = &s.engine;
    let (a, ta) = (s.key("a"), tokens[&s.key("a")]);
    let foreign = LeaseToken::random();
    check!(
        !ok(e.heartbeat(&a, foreign, s.lease).await, "heartbeat"),
        "heartbeat with a foreign token must change nothing"
    );
    check!(
        !ok(e.done(&a, foreign).await, "done"),
        "done with a foreign token must change nothing"
    );
    check!(
        !ok(e.retry(&a, foreign, Duration::ZERO, "x").await, "retry"),
        "retry with a foreign token must change nothing"
    );
    check!(
        !ok(e.dead(&a, foreign, "x").await, "dead"),
        "dead with a foreign token must change nothing"
    );
    check!(
        !ok(e.release(&a, foreign).await, "release"),
        "release with a foreign token must change nothing"
    );
    let still = s.get("a").await.meta;
    check!(
        still.status == Status::Running && still.attempts == 1 && still.last_error.is_none(),
        "foreign tokens must leave the record as it was: {still:?}"
    );
    check!(
        ok(e.heartbeat(&a, ta, s.lease).await, "heartbeat"),
        "heartbeat with the token must apply"
    );
    check!(
        ok(e.done(&a, ta).await, "done"),
        "done with the token must apply"
    );
    let done = s.get("a").await.meta;
    check!(
        done.status == Status::Done,
        "done makes the record done, is {}",
        done.status
    );
    check!(
        done.run_at.is_none(),
        "a done record has no run_at: {:?}",
        done.run_at
    );
    let kept = done.expires_at.map(|at| at - done.updated_at);
    check!(
        kept.is_some_and(
            |k| k >= s.retain - Duration::from_millis(1) && k <= s.retain + Duration::from_secs(1)
        ),
        "a done record expires its `retain` after done: expires_at − updated_at = {kept:?}"
    );
    check!(
        ok(e.purge().await, "purge") == 0,
        "purge must not remove a done record inside its retention"
    );
    check!(
        !ok(e.done(&a, ta).await, "done"),
        "a second done must change nothing"
    );
    check!(
        !ok(e.retry(&a, ta, Duration::ZERO, "x").await, "retry"),
        "retry of a done record must change nothing"
    );
    check!(
        !ok(e.dead(&a, ta, "x").await, "dead"),
        "dead of a done record must change nothing"
    );
    check!(
        !ok(e.release(&a, ta).await, "release"),
        "release of a done record must change nothing"
    );
    check!(
        !ok(e.heartbeat(&a, ta, s.lease).await, "heartbeat"),
        "heartbeat of a done record must change nothing"
    );
    check!(
        s.accept(&s.record("a"), None).await == Accepted::Duplicate,
        "a done record inside its retention makes accept Duplicate"
    );

    // Keep `c` leased while time passes below (a heartbeat may ask for a longer lease).
    let (c, tc) = (s.key("c"), tokens[&s.key("c")]);
    check!(
        ok(e.heartbeat(&c, tc, s.lease * 10).await, "heartbeat"),
        "heartbeat with the token must apply"
    );

    // Retry: pending again, due after the delay, with the error; then a new token.
    let (b, tb) = (s.key("b"), tokens[&s.key("b")]);
    check!(
        ok(e.retry(&b, tb, s.lease, "boom: 1").await, "retry"),
        "retry with the token must apply"
    );
    let retried = s.get("b").await.meta;
    check!(
        retried.status == Status::Pending && retried.attempts == 1,
        "retry makes the record pending and keeps attempts: {retried:?}"
    );
    check!(
        retried.last_error.as_deref() == Some("boom: 1"),
        "retry stores the error: {:?}",
        retried.last_error
    );
    let delay = retried.run_at.map(|at| at - retried.updated_at);
    check!(
        delay
            .is_some_and(|d| d >= s.lease - Duration::from_millis(1)
                && d <= s.lease + Duration::from_secs(1)),
        "retry makes the record due `delay` later: run_at − updated_at = {delay:?}"
    );
    s.nothing_due("a retried record before its delay").await;
    s.pass(s.lease + s.margin).await;
    let tb2 = s.lease_name("b", "a retried record after its delay").await;
    check!(tb2 != tb, "a new lease must hand out a new token");
    check!(
        s.get("b").await.meta.attempts == 2,
        "the second lease counts attempt 2"
    );
    check!(
        !ok(e.retry(&b, tb, Duration::ZERO, "x").await, "retry"),
        "the previous token must change nothing"
    );
    check!(
        ok(e.dead(&b, tb2, "poison").await, "dead"),
        "dead with the token must apply"
    );
    let dead = s.get("b").await.meta;
    check!(
        dead.status == Status::Dead && dead.attempts == 2 && dead.run_at.is_none(),
        "dead makes the record dead and keeps attempts: {dead:?}"
    );
    check!(
        dead.last_error.as_deref() == Some("poison"),
        "dead stores the error: {:?}",
        dead.last_error
    );
    s.nothing_due("a dead record is never leased").await;
    check!(
        s.accept(&s.record("b"), None).await == Accepted::Duplicate,
        "a dead record makes accept Duplicate"
    );

    // Release: pending, due now, the attempt uncounted.
    let (c, tc) = (s.key("c"), tokens[&s.key("c")]);
    check!(
        ok(e.release(&c, tc).await, "release"),
        "release with the token must apply"
    );
    let released = s.get("c").await.meta;
    check!(
        released.status == Status::Pending && released.attempts == 0,
        "release makes the record pending with the attempt uncounted: {released:?}"
    );
    check!(
        released.run_at.is_some_and(|at| at <= s.now() + s.margin),
        "a released record is due now: {:?}",
        released.run_at
    );
    check!(
        !ok(e.done(&c, tc).await, "done"),
        "done after release must change nothing"
    );
    let tc = s.lease_name("c", "a released record").await;
    check!(
        s.get("c").await.meta.attempts == 1,
        "the lease after release counts attempt 1"
    );
    s.counts_are(0, 1, 1, 1, "after done, dead and a re-lease")
        .await;
    tc
}

/// A lease expires unless heartbeated; the record then goes to the next lease, and the old
/// token changes nothing.
async fn lease_expiry_and_heartbeat<E: InboxEngine + Clone>(s: &Suite<'_, E>, t1: LeaseToken) {
    let e = &s.engine;
    let c = s.key("c");
    s.pass(s.lease / 2).await;
    s.nothing_due("half-way through a lease").await;
    check!(
        ok(e.heartbeat(&c, t1, s.lease).await, "heartbeat"),
        "heartbeat with the token must apply"
    );
    s.pass(s.lease * 3 / 4).await;
    s.nothing_due("a heartbeat extends the lease to `lease` from the heartbeat")
        .await;
    s.pass(s.lease / 2).await;
    let t2 = s
        .lease_name("c", "a heartbeated lease that then expired")
        .await;
    check!(t2 != t1, "a take-over must hand out a new token");
    check!(
        s.get("c").await.meta.attempts == 2,
        "a take-over counts an attempt"
    );
    check!(
        !ok(e.done(&c, t1).await, "done"),
        "done with a taken-over token must change nothing"
    );
    check!(
        !ok(e.heartbeat(&c, t1, s.lease).await, "heartbeat"),
        "heartbeat with a taken-over token must change nothing"
    );
    check!(
        !ok(e.release(&c, t1).await, "release"),
        "release with a taken-over token must change nothing"
    );
    check!(
        !ok(e.dead(&c, t1, "x").await, "dead"),
        "dead with a taken-over token must change nothing"
    );

    // An expired lease nobody took over still completes.
    s.pass(s.lease + s.margin).await;
    check!(
        ok(e.done(&c, t2).await, "done"),
        "done with an expired token nobody took over must apply"
    );
    s.counts_are(0, 0, 2, 1, "after `c` is done").await;
}

/// List, inspect, replay one, replay all dead since a time.
async fn operators<E: InboxEngine + Clone>(s: &Suite<'_, E>) {
    let e = &s.engine;
    let dead = ok(e.list(&ListQuery::new(Status::Dead)).await, "list");
    check!(
        dead.len() == 1 && dead[0].key == s.key("b"),
        "list(dead) must return `b` only: {dead:?}"
    );
    check!(
        dead[0].last_error.as_deref() == Some("poison") && dead[0].attempts == 2,
        "list shows the last error and attempts: {:?}",
        dead[0]
    );
    check!(
        ok(e.list(&ListQuery::new(Status::Pending)).await, "list").is_empty(),
        "nothing is pending"
    );
    let done = ok(e.list(&ListQuery::new(Status::Done)).await, "list");
    let keys: Vec<_> = done.iter().map(|m| m.key.clone()).collect();
    check!(
        keys.len() == 2,
        "list(done) must return `a` and `c`: {keys:?}"
    );
    check!(
        done.windows(2)
            .all(|w| (w[0].received_at, &w[0].key) < (w[1].received_at, &w[1].key)),
        "list must be ordered by (received_at, key): {keys:?}"
    );
    let first = ok(e.list(&ListQuery::new(Status::Done).limit(1)).await, "list");
    check!(
        first.len() == 1 && first[0].key == keys[0],
        "limit(1) returns the first: {first:?}"
    );
    let second = ok(
        e.list(&ListQuery::new(Status::Done).after(&first[0])).await,
        "list",
    );
    check!(
        second.len() == 1 && second[0].key == keys[1],
        "after(first) returns the rest: {second:?}"
    );

    let b = s.key("b");
    check!(
        ok(e.replay(&b).await, "replay"),
        "replay of a dead record must apply"
    );
    let replayed = s.get("b").await.meta;
    check!(
        replayed.status == Status::Pending && replayed.attempts == 0,
        "replay makes the record pending with attempts reset: {replayed:?}"
    );
    check!(
        replayed.run_at.is_some_and(|at| at <= s.now() + s.margin),
        "a replayed record is due now: {:?}",
        replayed.run_at
    );
    check!(
        !ok(e.replay(&b).await, "replay"),
        "replay of a pending record must change nothing"
    );
    check!(
        !ok(e.replay(&s.key("a")).await, "replay"),
        "replay of a done record must change nothing"
    );
    check!(
        !ok(e.replay(&s.key("unknown")).await, "replay"),
        "replay of an unknown key must change nothing"
    );
    let tb = s.lease_name("b", "a replayed record").await;
    check!(
        s.get("b").await.meta.attempts == 1,
        "the lease after replay counts attempt 1"
    );
    check!(ok(e.dead(&b, tb, "again").await, "dead"), "dead must apply");

    s.pass(s.margin).await;
    let d = s.record("d");
    check!(s.accept(&d, None).await == Accepted::Stored, "accept `d`");
    let td = s.lease_name("d", "`d`").await;
    check!(
        ok(e.dead(&d.key, td, "d failed").await, "dead"),
        "dead must apply"
    );
    let d_died = s.get("d").await.meta.updated_at;
    check!(
        s.get("b").await.meta.updated_at < d_died,
        "`b` died before `d` (updated_at)"
    );
    check!(
        ok(
            e.replay_dead_since(d_died + Duration::from_secs(3600))
                .await,
            "replay_dead_since"
        ) == 0,
        "replay_dead_since(later) must replay nothing"
    );
    check!(
        ok(e.replay_dead_since(d_died).await, "replay_dead_since") == 1,
        "replay_dead_since(t) must replay exactly the records dead since t (inclusive)"
    );
    check!(
        s.get("d").await.meta.status == Status::Pending,
        "`d` is replayed"
    );
    check!(
        s.get("b").await.meta.status == Status::Dead,
        "`b` died earlier and stays dead"
    );
    check!(
        ok(
            e.replay_dead_since(d_died - Duration::from_secs(3600))
                .await,
            "replay_dead_since"
        ) == 1,
        "replay_dead_since(earlier) replays `b`"
    );
    for _ in 0..2 {
        let leased = s.lease().await.unwrap_or_else(|| {
            panic!("inbox contract violated: replayed records must be due at once")
        });
        let key = &leased.record.meta.key;
        check!(
            ok(e.done(key, leased.token).await, "done"),
            "done `{key}` must apply"
        );
    }
    s.nothing_due("every record is done or dead").await;
    s.counts_are(0, 0, 4, 0, "after the operators").await;
}

/// Records with one ordering key run one at a time, in received order.
async fn ordering_keys<E: InboxEngine + Clone>(s: &Suite<'_, E>) {
    let e = &s.engine;
    for (name, ordering) in [
        ("o1", Some("A")),
        ("o2", Some("A")),
        ("o3", Some("A")),
        ("p1", Some("B")),
        ("n1", None),
    ] {
        let mut record = s.record(name);
        record.ordering_key = ordering.map(str::to_owned);
        check!(
            s.accept(&record, None).await == Accepted::Stored,
            "accept `{name}`"
        );
        // Received order must be unambiguous even on a coarse clock.
        s.pass(Duration::from_millis(5)).await;
    }
    check!(
        s.get("o1").await.meta.ordering_key.as_deref() == Some("A"),
        "ordering_key round trip"
    );
    let mut tokens = std::collections::HashMap::new();
    while let Some(leased) = s.lease().await {
        tokens.insert(leased.record.meta.key.clone(), leased.token);
    }
    let leased: BTreeSet<_> = tokens.keys().cloned().collect();
    let expected: BTreeSet<_> = ["o1", "p1", "n1"].iter().map(|n| s.key(n)).collect();
    check!(
        leased == expected,
        "with o1, o2, o3 under key A, p1 under B and n1 without: only o1, p1 and n1 may run \
         at once; leased {leased:?}"
    );
    let token = |name: &str| tokens[&s.key(name)];
    check!(
        ok(e.done(&s.key("o1"), token("o1")).await, "done"),
        "done o1"
    );
    let t = s
        .lease_name("o2", "after o1 is done, the next of key A")
        .await;
    s.nothing_due("o3 waits for o2").await;
    check!(
        ok(
            e.retry(&s.key("o2"), t, s.lease / 2, "later").await,
            "retry"
        ),
        "retry o2"
    );
    s.nothing_due("o3 waits for o2 even while o2 waits for its retry")
        .await;
    s.pass(s.lease / 2 + s.margin).await;
    let t = s.lease_name("o2", "o2's retry").await;
    check!(ok(e.dead(&s.key("o2"), t, "dead").await, "dead"), "dead o2");
    let t3 = s
        .lease_name("o3", "a dead record no longer holds its key back")
        .await;
    let mut o4 = s.record("o4");
    o4.ordering_key = Some("A".into());
    check!(s.accept(&o4, None).await == Accepted::Stored, "accept o4");
    s.nothing_due("o4 waits for o3").await;
    check!(ok(e.done(&s.key("o3"), t3).await, "done"), "done o3");
    let t4 = s.lease_name("o4", "after o3").await;
    check!(ok(e.replay(&s.key("o2")).await, "replay"), "replay o2");
    s.nothing_due("a replayed o2 is older than o4 but must not run while o4 runs")
        .await;
    check!(ok(e.done(&s.key("o4"), t4).await, "done"), "done o4");
    let t2 = s.lease_name("o2", "the replayed o2 after o4").await;
    check!(ok(e.done(&s.key("o2"), t2).await, "done"), "done o2");
    check!(
        ok(e.done(&s.key("p1"), token("p1")).await, "done"),
        "done p1"
    );
    check!(
        ok(e.done(&s.key("n1"), token("n1")).await, "done"),
        "done n1"
    );
    s.counts_are(0, 0, 10, 0, "after the ordering scenario")
        .await;
}

/// Through an `Inbox`: backoff grows, max attempts → dead, permanent → dead at once, a crash
/// loop ends dead without running the handler, replay → processed.
async fn policy_through_the_inbox<E: InboxEngine + Clone>(s: &Suite<'_, E>) {
    let base = s.lease / 4;
    let inbox = Inbox::builder(s.engine.clone())
        .lease(s.lease)
        .retry(
            RetryPolicy::new()
                .base(base)
                .factor(2.0)
                .cap(s.lease * 4)
                .max_attempts(3)
                .jitter(0.0),
        )
        .build()
        .expect("a valid inbox");
    let calls = Arc::new(AtomicU32::new(0));
    let failing = {
        let calls = Arc::clone(&calls);
        move |job: Job| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                Err::<(), _>(HandlerError::retry(format!(
                    "failed attempt {}",
                    job.attempt()
                )))
            }
        }
    };
    let processed = |name: &'static str| {
        move |job: Job| async move {
            if job.key().ends_with(name) {
                Ok(())
            } else {
                Err(HandlerError::permanent("wrong record"))
            }
        }
    };

    check!(
        s.accept(&s.record("m"), None).await == Accepted::Stored,
        "accept m"
    );
    let mut delays = Vec::new();
    for attempt in 1..=2u32 {
        let result =
            ok(inbox.process_next(failing.clone()).await, "process_next").expect("m is due");
        match result.outcome {
            AttemptOutcome::Retry { delay } => delays.push(delay),
            other => panic!(
                "inbox contract violated: failed attempt {attempt} of 3 must retry, was {other:?}"
            ),
        }
        check!(
            ok(inbox.process_next(failing.clone()).await, "process_next").is_none(),
            "m is not due before its backoff"
        );
        s.pass(delays[delays.len() - 1] + s.margin).await;
    }
    check!(
        delays == [base, base * 2],
        "backoff must be base, base × factor: {delays:?}"
    );
    let last = ok(inbox.process_next(failing.clone()).await, "process_next").expect("m is due");
    check!(
        last.outcome == AttemptOutcome::Dead,
        "the last allowed attempt failing makes the record dead: {last:?}"
    );
    let m = s.get("m").await.meta;
    check!(
        m.status == Status::Dead && m.attempts == 3,
        "dead after 3 attempts: {m:?}"
    );
    check!(
        m.last_error.as_deref().is_some_and(
            |e| e.contains("gave up after 3 attempts") && e.contains("failed attempt 3")
        ),
        "the last error names the give-up and the handler's error: {:?}",
        m.last_error
    );

    check!(
        s.accept(&s.record("q"), None).await == Accepted::Stored,
        "accept q"
    );
    let permanent = |_job: Job| async { Err::<(), _>(HandlerError::permanent("cannot parse")) };
    let q = ok(inbox.process_next(permanent).await, "process_next").expect("q is due");
    check!(
        q.outcome == AttemptOutcome::Dead,
        "a permanent error makes the record dead at once: {q:?}"
    );
    let q = s.get("q").await.meta;
    check!(
        q.attempts == 1 && q.last_error.as_deref() == Some("cannot parse"),
        "{q:?}"
    );

    // A worker that dies mid-handler three times: the fourth lease finds it exhausted.
    check!(
        s.accept(&s.record("z"), None).await == Accepted::Stored,
        "accept z"
    );
    for _ in 0..3 {
        s.lease_name("z", "a crash-looping record").await;
        s.pass(s.lease + s.margin).await;
    }
    let before = calls.load(Ordering::SeqCst);
    let z = ok(inbox.process_next(failing.clone()).await, "process_next").expect("z is due");
    check!(
        z.outcome == AttemptOutcome::Dead,
        "a record leased more often than max attempts is dead: {z:?}"
    );
    check!(
        calls.load(Ordering::SeqCst) == before,
        "an exhausted record must not run its handler"
    );
    let z = s.get("z").await.meta;
    check!(
        z.last_error
            .as_deref()
            .is_some_and(|e| e.contains("gave up")),
        "a crash loop names the give-up: {:?}",
        z.last_error
    );

    check!(
        !ok(inbox.replay("missing").await, "replay"),
        "replay of an unknown key"
    );
    check!(ok(inbox.replay(&s.key("m")).await, "replay"), "replay m");
    let m = ok(inbox.process_next(processed("m")).await, "process_next").expect("m is due");
    check!(
        m.outcome == AttemptOutcome::Done && m.attempt == 1,
        "a replayed poison record is processed: {m:?}"
    );
    s.counts_are(0, 0, 11, 2, "after the policy scenario").await;
}

/// Done records expire after their retention: accept replaces them, purge removes them; it
/// never touches pending, running or dead ones.
async fn retention_and_purge<E: InboxEngine + Clone>(s: &Suite<'_, E>) {
    let e = &s.engine;
    check!(
        s.accept(&s.record("run"), None).await == Accepted::Stored,
        "accept run"
    );
    s.lease_name("run", "`run`").await;
    check!(
        s.accept(&s.record("pend"), None).await == Accepted::Stored,
        "accept pend"
    );
    s.pass(s.retain + s.margin).await;

    let mut fresh = s.record("a");
    fresh.body = Bytes::from_static(b"{\"type\":\"again\"}");
    check!(
        s.accept(&fresh, None).await == Accepted::Stored,
        "accept of a done key past its retention must store a new record"
    );
    let again = s.get("a").await;
    check!(
        again.meta.status == Status::Pending
            && again.meta.attempts == 0
            && again.body == fresh.body,
        "the new record replaces the expired one: {:?}",
        again.meta
    );
    let purged = ok(e.purge().await, "purge");
    check!(
        purged == 10,
        "purge must remove the 10 done records past their retention, removed {purged}"
    );
    for name in ["a", "run", "pend", "q", "z"] {
        check!(
            ok(e.get(&s.key(name)).await, "get").is_some(),
            "purge must never remove a pending, running or dead record (`{name}`)"
        );
    }
    check!(
        ok(e.get(&s.key("o1")).await, "get").is_none(),
        "purged records are gone"
    );
    s.counts_are(2, 1, 0, 2, "after purge").await;
    check!(
        ok(e.purge().await, "purge") == 0,
        "a second purge removes nothing"
    );
}

/// A replay racing two leases never runs two records of one ordering key at once: an older
/// record is dead, so the newer one of its key is due; the older one is replayed while two
/// leases run. At most one of the two may be leased.
async fn replay_racing_leases<E: InboxEngine + Clone>(s: &Suite<'_, E>) {
    const ROUNDS: usize = 30;
    let e = &s.engine;
    // First finish what the earlier scenarios left due (a few records; bounded).
    for _ in 0..16 {
        let Some(leased) = s.lease().await else { break };
        let key = leased.record.meta.key;
        check!(ok(e.done(&key, leased.token).await, "done"), "done `{key}`");
    }
    s.nothing_due("before the replay races").await;
    for round in 0..ROUNDS {
        let (older, newer) = (format!("race{round}a"), format!("race{round}b"));
        for name in [&older, &newer] {
            let record = s.record(name).with_ordering_key(format!("race{round}"));
            check!(
                s.accept(&record, None).await == Accepted::Stored,
                "accept `{name}`"
            );
            s.pass(Duration::from_millis(5)).await;
        }
        let t = s.lease_name(&older, "the older record of the race").await;
        check!(
            ok(e.dead(&s.key(&older), t, "poison").await, "dead"),
            "dead `{older}`"
        );
        let older_key = s.key(&older);
        let (replayed, first, second) = tokio::join!(e.replay(&older_key), s.lease(), s.lease());
        check!(ok(replayed, "replay"), "replay `{older}`");
        let running: Vec<_> = [first, second].into_iter().flatten().collect();
        check!(
            running.len() <= 1,
            "round {round}: two records of one ordering key run at once: {:?}",
            running
                .iter()
                .map(|l| &l.record.meta.key)
                .collect::<Vec<_>>()
        );
        // Finish the round one record at a time.
        let mut running: Vec<_> = running
            .into_iter()
            .map(|l| (l.record.meta.key, l.token))
            .collect();
        for _ in 0..3 {
            for (key, token) in running.drain(..) {
                check!(ok(e.done(&key, token).await, "done"), "done `{key}`");
            }
            if let Some(next) = s.lease().await {
                running.push((next.record.meta.key, next.token));
            }
        }
        check!(running.is_empty(), "round {round}: both records finish");
    }
    let after = ok(e.counts().await, "counts");
    check!(
        after.unfinished() == 0,
        "after the replay races, nothing is unfinished: {after:?}"
    );
}

/// Every `i64` signed timestamp is stored, leased and read back as accepted (nothing refuses
/// a record that was answered `Stored`), and an empty body too.
async fn extreme_values<E: InboxEngine + Clone>(s: &Suite<'_, E>) {
    let e = &s.engine;
    let values = [
        i64::MIN,
        -100_000_000_000_000_000,
        1_000_000_000_000_000_000,
        i64::MAX,
    ];
    for (i, signed_at) in values.into_iter().enumerate() {
        let name = format!("extreme{i}");
        let record = NewRecord::new(s.key(&name), "contract", "contract-provider", Bytes::new())
            .with_signed_at(signed_at)
            .with_retain(s.retain);
        check!(
            s.accept(&record, None).await == Accepted::Stored,
            "accept `{name}` (signed at {signed_at})"
        );
        let got = s.get(&name).await.meta.signed_at;
        check!(
            got == Some(signed_at),
            "signed_at {signed_at} round trip through get: {got:?}"
        );
        let leased = s.lease().await.unwrap_or_else(|| {
            panic!(
                "inbox contract violated: a record signed at {signed_at} was answered Stored \
                 but is never leased"
            )
        });
        let meta = &leased.record.meta;
        check!(
            meta.key == record.key,
            "leased `{}`, not `{name}`",
            meta.key
        );
        check!(
            meta.signed_at == Some(signed_at) && leased.record.body.is_empty(),
            "signed_at {signed_at} and an empty body round trip through lease: {:?}, {} bytes",
            meta.signed_at,
            leased.record.body.len()
        );
        check!(
            ok(e.done(&meta.key, leased.token).await, "done"),
            "done `{name}`"
        );
    }
}
