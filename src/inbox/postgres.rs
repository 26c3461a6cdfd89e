//! The PostgreSQL inbox engine, for fleets: `FOR UPDATE SKIP LOCKED` leasing, and handlers that
//! commit their own writes in the transaction that marks the record done.

use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{PgConnection, PgPool, Postgres, Row, Transaction};
use time::OffsetDateTime;

use super::batch::{Answer, Batcher};
use super::record::{self, millis};
use super::worker::Handler;
use super::{
    Accepted, Counts, HandlerError, InboxEngine, InboxError, Job, Leased, ListQuery, NewRecord,
    Record, RecordMeta, decode_headers, encode_headers,
};
use crate::clock::{Clock, SystemClock};
use crate::dedup::LeaseToken;
use crate::error::ConfigError;
use crate::sql::{pg_unavailable, row_id, statement, token_bytes, validate_table};
use crate::verify::unix_millis;

/// Default table of [`PostgresInbox`].
const DEFAULT_TABLE: &str = "webhook_inbox";

/// Advisory lock taken by [`PostgresInbox::migrate`], so that receivers starting together do
/// not race to create the table ("inbox!!!" in ASCII).
const MIGRATE_LOCK: i64 = 0x696e_626f_7821_2121;

/// Metadata columns, in the order [`meta_from_row`] reads them.
const META: &str = "key, endpoint, provider, event_id, signed_at, key_label, ordering_key, \
                    received_at, status, attempts::int8 AS attempts, deadline, updated_at, \
                    last_error, octet_length(body)::int8 AS body_len, retain_ms";

type Query = sqlx::query::Query<'static, Postgres, PgArguments>;

/// One table: its name, its accept lock and its statements, shared cheaply with every query
/// (sqlx takes statements by value).
struct Sql {
    table: Box<str>,
    /// The advisory lock serializing bounded accepts into the table.
    accept_lock: i64,
    migrate: Vec<Arc<str>>,
    insert: Arc<str>,
    accept_bounded: Arc<str>,
    lease: Arc<str>,
    older_active: Arc<str>,
    heartbeat: Arc<str>,
    done: Arc<str>,
    retry: Arc<str>,
    dead: Arc<str>,
    release: Arc<str>,
    get: Arc<str>,
    list: Arc<str>,
    list_after: Arc<str>,
    counts: Arc<str>,
    replay: Arc<str>,
    replay_since: Arc<str>,
    purge: Arc<str>,
}

impl Sql {
    /// `table` is a validated identifier (lower-case letters, digits, `_`).
    fn new(table: &str) -> Self {
        let t = format!("\"{table}\"");
        let bound = format!("\"{table}_bound\"");
        let active = "status IN ('pending', 'running')";
        let owned = "id = $1 AND token = $2 AND status = 'running'";
        let columns = "id, key, endpoint, provider, event_id, signed_at, key_label, \
                       ordering_key, headers, body, status, attempts, deadline, received_at, \
                       updated_at, retain_ms";
        let values = "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', 0, $11, $11, $11, $12";
        // A done record past its retention is replaced, with a new place in received order.
        let replace = "ON CONFLICT (id) DO UPDATE SET \
                       seq = DEFAULT, key = EXCLUDED.key, endpoint = EXCLUDED.endpoint, \
                       provider = EXCLUDED.provider, event_id = EXCLUDED.event_id, \
                       signed_at = EXCLUDED.signed_at, key_label = EXCLUDED.key_label, \
                       ordering_key = EXCLUDED.ordering_key, headers = EXCLUDED.headers, \
                       body = EXCLUDED.body, status = 'pending', attempts = 0, \
                       deadline = EXCLUDED.deadline, token = NULL, \
                       received_at = EXCLUDED.received_at, updated_at = EXCLUDED.updated_at, \
                       retain_ms = EXCLUDED.retain_ms, last_error = NULL \
                       WHERE r.status = 'done' AND r.deadline <= $11";
        // Stores the record unless the table holds `$13` unfinished records; reports whether it
        // stored, and the row as it was, to tell a duplicate from a full inbox.
        let insert_bounded = format!(
            "WITH existing AS (SELECT e.status, e.deadline FROM {t} AS e WHERE e.id = $1), \
             added AS (\
                 INSERT INTO {t} AS r ({columns}) SELECT {values} WHERE est < $13 \
                 {replace} RETURNING 1) \
             SELECT EXISTS (SELECT 1 FROM added), x.status, x.deadline \
             INTO stored, status, deadline \
             FROM (SELECT) AS one LEFT JOIN existing AS x ON true"
        );
        // Revived records are unfinished again without an accept: the bound's estimate is
        // marked unknown, so the next bounded accept counts (see `accept_bounded_one`).
        let revive = format!(
            "revived AS (\
                 UPDATE {t} SET status = 'pending', attempts = 0, deadline = $2, token = NULL, \
                 updated_at = $2 WHERE seq IN (SELECT seq FROM target) RETURNING 1), \
             unknown AS (\
                 UPDATE {bound} SET counted = NULL, version = version + 1 \
                 WHERE EXISTS (SELECT 1 FROM revived)) \
             SELECT count(*) FROM revived"
        );
        Self {
            table: table.into(),
            accept_lock: accept_lock(table),
            migrate: vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\
                     seq bigserial PRIMARY KEY, \
                     id text COLLATE \"C\" NOT NULL UNIQUE, \
                     key bytea NOT NULL, \
                     endpoint text NOT NULL, \
                     provider text NOT NULL, \
                     event_id text, \
                     signed_at bigint, \
                     key_label text, \
                     ordering_key text COLLATE \"C\", \
                     headers bytea NOT NULL, \
                     body bytea NOT NULL, \
                     status text NOT NULL \
                         CHECK (status IN ('pending', 'running', 'done', 'dead')), \
                     attempts integer NOT NULL DEFAULT 0, \
                     deadline bigint, \
                     token bytea, \
                     received_at bigint NOT NULL, \
                     updated_at bigint NOT NULL, \
                     retain_ms bigint NOT NULL, \
                     last_error text)"
                )
                .into(),
                format!(
                    "CREATE INDEX IF NOT EXISTS \"{table}_due\" ON {t} (deadline, seq) \
                     WHERE {active}"
                )
                .into(),
                format!(
                    "CREATE INDEX IF NOT EXISTS \"{table}_ordering\" ON {t} (ordering_key, seq) \
                     WHERE ordering_key IS NOT NULL AND {active}"
                )
                .into(),
                // Not on `key`: a key may be longer than a B-tree entry can hold.
                format!("CREATE INDEX IF NOT EXISTS \"{table}_list\" ON {t} (status, received_at)")
                    .into(),
                format!(
                    "CREATE INDEX IF NOT EXISTS \"{table}_expiry\" ON {t} (deadline) \
                     WHERE status = 'done'"
                )
                .into(),
                format!(
                    "CREATE INDEX IF NOT EXISTS \"{table}_dead\" ON {t} (updated_at) \
                     WHERE status = 'dead'"
                )
                .into(),
                // The bound's estimate of unfinished records: the last exact count plus the
                // bounded accepts since (`NULL`: unknown); `version` changes whenever something
                // else makes records unfinished (a replay).
                format!(
                    "CREATE TABLE IF NOT EXISTS {bound} (\
                     one boolean PRIMARY KEY DEFAULT true CHECK (one), \
                     counted bigint, \
                     accepted bigint NOT NULL DEFAULT 0, \
                     version bigint NOT NULL DEFAULT 0)"
                )
                .into(),
                format!(
                    "INSERT INTO {bound} AS b (one) VALUES (true) ON CONFLICT (one) DO UPDATE \
                     SET counted = NULL, version = b.version + 1"
                )
                .into(),
                // A bounded accept in one round trip: the function takes the table's accept
                // lock, then reads the estimate, counts only when the estimate reaches the
                // bound, and inserts — each statement on a fresh snapshot (a volatile function
                // in READ COMMITTED), which sees every accept committed before the lock.
                format!(
                    "CREATE OR REPLACE FUNCTION \"{table}_accept_bounded\"(\
                     text, bytea, text, text, text, bigint, text, text, bytea, bytea, bigint, \
                     bigint, bigint, bigint) \
                     RETURNS TABLE (stored boolean, status text, deadline bigint) \
                     LANGUAGE plpgsql VOLATILE AS $fn$ \
                     #variable_conflict use_column
                     DECLARE est bigint; ver bigint; exact bigint; \
                     BEGIN \
                     PERFORM pg_advisory_xact_lock($14); \
                     SELECT b.counted + b.accepted, b.version INTO est, ver FROM {bound} AS b; \
                     IF est IS NULL OR est >= $13 THEN \
                         SELECT count(*) INTO exact FROM {t} AS c WHERE c.{active}; \
                         est := exact; \
                     END IF; \
                     {insert_bounded}; \
                     IF exact IS NOT NULL THEN \
                         UPDATE {bound} SET counted = exact, \
                         accepted = CASE WHEN stored THEN 1 ELSE 0 END WHERE version = ver; \
                     ELSIF stored THEN \
                         UPDATE {bound} SET accepted = accepted + 1; \
                     END IF; \
                     RETURN NEXT; \
                     END $fn$"
                )
                .into(),
            ],
            // One statement: insert a new key or replace an expired done record. No row
            // returned means a live duplicate (a concurrent insert of the key is waited for by
            // `ON CONFLICT`, then found live).
            insert: format!(
                "INSERT INTO {t} AS r ({columns}) VALUES ({values}) {replace} RETURNING 1"
            )
            .into(),
            // A bounded accept: the function `migrate` makes (see above).
            accept_bounded: format!(
                "SELECT stored, status, deadline FROM \"{table}_accept_bounded\"(\
                 $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            )
            .into(),
            // One statement: pick the first eligible record, skipping rows other leases hold,
            // and take it. A row another lease took and committed meanwhile is re-checked
            // against its new version (running, lease live) and skipped. A record with an
            // ordering key waits for every older active record with that key, and for any
            // live lease on it.
            lease: format!(
                "UPDATE {t} SET status = 'running', token = $1, deadline = $2 + $3, \
                 attempts = attempts + 1, updated_at = $2 \
                 WHERE seq = (\
                     SELECT r.seq FROM {t} AS r \
                     WHERE r.{active} AND r.deadline <= $2 \
                     AND (r.ordering_key IS NULL OR NOT EXISTS (\
                         SELECT 1 FROM {t} AS o \
                         WHERE o.ordering_key = r.ordering_key AND o.{active} \
                         AND o.seq <> r.seq \
                         AND (o.seq < r.seq OR (o.status = 'running' AND o.deadline > $2)))) \
                     ORDER BY r.deadline, r.seq LIMIT 1 \
                     FOR UPDATE SKIP LOCKED) \
                 RETURNING {META}, headers, body"
            )
            .into(),
            // Checked after a lease of a record with an ordering key, on a fresh snapshot.
            older_active: format!(
                "SELECT EXISTS (SELECT 1 FROM {t} AS o \
                 WHERE o.ordering_key = $1 AND o.{active} \
                 AND o.seq < (SELECT seq FROM {t} WHERE id = $2))"
            )
            .into(),
            heartbeat: format!("UPDATE {t} SET deadline = $3 + $4 WHERE {owned}").into(),
            done: format!(
                "UPDATE {t} SET status = 'done', token = NULL, deadline = $3 + retain_ms, \
                 updated_at = $3 WHERE {owned}"
            )
            .into(),
            retry: format!(
                "UPDATE {t} SET status = 'pending', token = NULL, deadline = $3 + $4, \
                 last_error = $5, updated_at = $3 WHERE {owned}"
            )
            .into(),
            dead: format!(
                "UPDATE {t} SET status = 'dead', token = NULL, deadline = NULL, \
                 last_error = $4, updated_at = $3 WHERE {owned}"
            )
            .into(),
            release: format!(
                "UPDATE {t} SET status = 'pending', token = NULL, deadline = $3, \
                 attempts = greatest(attempts - 1, 0), updated_at = $3 WHERE {owned}"
            )
            .into(),
            get: format!("SELECT {META}, headers, body FROM {t} WHERE id = $1").into(),
            list: format!(
                "SELECT {META} FROM {t} WHERE status = $1 ORDER BY received_at, key LIMIT $2"
            )
            .into(),
            list_after: format!(
                "SELECT {META} FROM {t} WHERE status = $1 AND (received_at, key) > ($3, $4) \
                 ORDER BY received_at, key LIMIT $2"
            )
            .into(),
            counts: format!("SELECT status, count(*), min(received_at) FROM {t} GROUP BY status")
                .into(),
            replay: format!(
                "WITH target AS (\
                     SELECT seq FROM {t} WHERE id = $1 AND status = 'dead' FOR UPDATE), \
                 {revive}"
            )
            .into(),
            replay_since: format!(
                "WITH target AS (\
                     SELECT seq FROM {t} \
                     WHERE status = 'dead' AND updated_at >= $1 ORDER BY seq FOR UPDATE), \
                 {revive}"
            )
            .into(),
            purge: format!("DELETE FROM {t} WHERE status = 'done' AND deadline <= $1").into(),
        }
    }
}

/// The PostgreSQL inbox engine (features `postgres` and `inbox`), for a fleet of receivers
/// and workers sharing one table, over an [`sqlx::PgPool`] you already have.
///
/// * **One statement per transition**, each atomic: `accept` is one
///   `INSERT … ON CONFLICT (id) DO UPDATE … WHERE <done and expired>`; `lease` is one
///   `UPDATE … WHERE seq = (SELECT … ORDER BY deadline, seq LIMIT 1 FOR UPDATE SKIP LOCKED)
///   RETURNING …`, so concurrent workers on any number of hosts never wait for each other nor
///   take the same record; `heartbeat`, `done`, `retry`, `dead` and `release` are one `UPDATE`
///   comparing the lease token.
/// * **The bound is exact**: with [`max_pending`](super::InboxBuilder::max_pending), accepts
///   run in a short transaction holding an advisory lock of the table, so concurrent accepts
///   cannot all see room for one more. A lone accept is one round trip: a PL/pgSQL function
///   (`<table>_accept_bounded`, made by [`migrate`](Self::migrate)) takes the lock, then
///   counts if needed and inserts. Concurrent bounded accepts of one engine (and its clones)
///   call it in one transaction — the lock held once and one commit for up to 64 records or
///   1 MiB of bodies — so the bound does not serialize every commit; a transaction that fails for a
///   reason other than an unreachable server is retried record by record, so one record's
///   error is never another's. (Accepts without a bound take no lock.) Counting reads every
///   unfinished record's index entry (about 10–25 ms at 100 000 on a small server), so it is
///   done only when needed: a one-row table `<table>_bound` keeps the last count plus the
///   bounded accepts since, an upper bound of the unfinished records as long as nothing else
///   adds any; the accept counts again only when that estimate reaches the bound, when a
///   replay made records unfinished, or after [`migrate`](Self::migrate). Records added by
///   accepts **without** a bound (another inbox front on the same table) are seen at the next
///   count only.
/// * **Exactly-once effects**, optionally: [`transactional`](Self::transactional) runs a
///   handler inside a transaction that also marks the record done — see there for what is
///   guaranteed.
/// * **Times** are this engine's [`Clock`] in milliseconds (the system clock by default),
///   passed to every statement: every host of the fleet must have a synchronized clock (NTP).
///   Leases and retry delays tolerate skews well below the lease.
/// * **Keys of any length and content**: the unique index is on a row id, the key itself, or
///   its SHA-256 when it is longer than 512 bytes or contains a NUL; the full key is kept
///   (`bytea`) and returned, as are the body and headers. An ordering key is indexed too: one
///   longer than 512 bytes, holding a NUL or starting with `sha256:` is stored, and read back,
///   as `sha256:<hex>` of it, which orders its records exactly as the key would. The other
///   text fields (endpoint, provider, event id, secret label, last error) cannot hold a NUL (a
///   PostgreSQL `text` limit): each NUL in them is stored as U+FFFD, so a signed event id with
///   an escaped NUL is still accepted.
/// * Pool errors (time-out, closed pool, I/O) and the server's connection and resource errors
///   (SQLSTATE classes 08, 53, 57), deadlocks and serialization failures (40) are
///   [`InboxError::Unavailable`] (an endpoint answers 503, a worker tries its transition
///   again); other database errors are [`InboxError::Backend`].
///
/// Run [`migrate`](Self::migrate) once (at start-up, from any number of processes) to create
/// the table and its indexes:
///
/// ```sql
/// CREATE TABLE IF NOT EXISTS "webhook_inbox" (
///     seq          bigserial PRIMARY KEY,        -- received order
///     id           text COLLATE "C" NOT NULL UNIQUE, -- the key, or sha256:<hex> of a long one
///     key          bytea NOT NULL,               -- the full key (UTF-8)
///     endpoint     text NOT NULL,
///     provider     text NOT NULL,
///     event_id     text,
///     signed_at    bigint,
///     key_label    text,
///     ordering_key text COLLATE "C",          -- or sha256:<hex> of a long one
///     headers      bytea NOT NULL,
///     body         bytea NOT NULL,
///     status       text NOT NULL CHECK (status IN ('pending', 'running', 'done', 'dead')),
///     attempts     integer NOT NULL DEFAULT 0,
///     deadline     bigint,   -- ms: due (pending), lease end (running), retention end (done)
///     token        bytea,    -- the lease token while running
///     received_at  bigint NOT NULL,
///     updated_at   bigint NOT NULL,
///     retain_ms    bigint NOT NULL,
///     last_error   text
/// );
/// -- plus partial indexes for due records, ordering keys, listing, expiry and dead records.
/// ```
///
/// The statements assume the default `READ COMMITTED` isolation.
///
/// ```no_run
/// use webhook_receiver::inbox::{Inbox, PostgresInbox};
///
/// # async fn run(pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
/// let engine = PostgresInbox::new(pool).with_table("billing_inbox")?;
/// engine.migrate().await?;
/// let inbox = Inbox::builder(engine).max_pending(100_000).build()?;
/// # let _ = inbox;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresInbox {
    pool: PgPool,
    sql: Arc<Sql>,
    clock: Arc<dyn Clock>,
    /// Concurrent bounded accepts of this engine (and its clones) share one transaction.
    bounded: Arc<BoundedBatcher>,
}

/// A record and its bound; per record, stored / duplicate (`None`: full), or an error shared
/// by the whole transaction.
type BoundedBatcher = Batcher<(NewRecord, u64), Answer<Option<Accepted>>>;

/// The most records in one bounded-accept transaction, and their most body bytes past the
/// first record.
const ACCEPT_BATCH: usize = 64;
const ACCEPT_BATCH_BYTES: usize = 1 << 20;

fn bounded_batcher() -> Arc<BoundedBatcher> {
    // One at a time: groups take the table's accept lock in turn anyway.
    Arc::new(Batcher::new(ACCEPT_BATCH, ACCEPT_BATCH_BYTES, 1))
}

impl fmt::Debug for PostgresInbox {
    /// Shows the table and clock, never the pool's connection options (they may hold a
    /// password).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresInbox")
            .field("table", &self.sql.table)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// The advisory lock serializing bounded accepts into `table`.
fn accept_lock(table: &str) -> i64 {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("webhook-receiver inbox accept {table}"));
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

impl PostgresInbox {
    /// An engine on the table `webhook_inbox` over `pool`, on the system clock. Clones share
    /// the pool.
    ///
    /// Nothing is sent to the server until the first call; call [`migrate`](Self::migrate)
    /// to create the table.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            sql: Arc::new(Sql::new(DEFAULT_TABLE)),
            clock: Arc::new(SystemClock),
            bounded: bounded_batcher(),
        }
    }

    /// Keeps the records in the table `name` (in the connection's `search_path`). Default:
    /// `webhook_inbox`. What [`migrate`](Self::migrate) makes beside it is named `name` +
    /// `_due`, `_ordering`, `_list`, `_expiry`, `_dead` (indexes), `_bound` (a table) and
    /// `_accept_bounded` (a function): two inboxes in one schema must not be named `billing`
    /// and `billing_due`, say.
    ///
    /// # Errors
    ///
    /// Unless `name` is a plain SQL identifier of at most 48 bytes: lower-case ASCII letters,
    /// digits and `_`, not starting with a digit. (It is written into the statements, so no
    /// other name is accepted.)
    pub fn with_table(mut self, name: &str) -> Result<Self, ConfigError> {
        validate_table(name)?;
        self.sql = Arc::new(Sql::new(name));
        // Batches are written into one table.
        self.bounded = bounded_batcher();
        Ok(self)
    }

    /// The clock for due times, leases and retention. Default: [`SystemClock`]. Every process
    /// sharing the table must use the same time (a [`ManualClock`](crate::ManualClock) only in
    /// tests).
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        // Batches are written at one clock's time.
        self.bounded = bounded_batcher();
        self
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.sql.table
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates the table and its indexes, if they do not exist, and (re)creates what bounded
    /// accepts use: the function `<table>_accept_bounded` and the one-row table
    /// `<table>_bound`. Safe to run from every process at
    /// start-up: concurrent calls wait for each other (advisory lock). Run it again after
    /// upgrading this crate.
    ///
    /// # Errors
    ///
    /// If the server is unreachable or refuses the statements (e.g. no `CREATE` privilege).
    pub async fn migrate(&self) -> Result<(), InboxError> {
        let mut tx = self.pool.begin().await.map_err(map_error)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATE_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        for text in &self.sql.migrate {
            sqlx::query(statement(text))
                .execute(&mut *tx)
                .await
                .map_err(map_error)?;
        }
        tx.commit().await.map_err(map_error)
    }

    /// Wraps `handler` so that it runs **inside a transaction that also marks the record
    /// done**: your writes through the [`InboxTransaction`] commit together with the record's
    /// `done`, or not at all. Give the result to [`Inbox::worker`](super::Inbox::worker),
    /// [`Worker::on`](super::Worker::on) or [`Inbox::process_next`](super::Inbox::process_next)
    /// of an inbox over **this** engine (same table).
    ///
    /// For each attempt the wrapper begins a transaction on this engine's pool, runs
    /// `handler(job, tx)`, and then:
    ///
    /// * the handler returned `Ok`: in the same transaction, `done` — an `UPDATE` that only
    ///   applies while the record is running under this attempt's lease token — then
    ///   `COMMIT`. If the lease was lost meanwhile (it expired and another worker leased the
    ///   record), the `UPDATE` matches no row: the transaction is rolled back and the attempt
    ///   ends [`Lost`](super::AttemptOutcome::Lost).
    /// * the handler returned an error or panicked: the transaction is rolled back, and the
    ///   worker schedules the retry or marks the record dead as usual.
    /// * the worker was cancelled, lost its lease at a heartbeat, or its process died: the
    ///   transaction is never committed.
    ///
    /// **What is exactly-once**: the writes made through the transaction. Across every attempt
    /// of a record (retries, crashed or hung workers, leases taken over) they are committed
    /// at most once, and exactly once when the record ends done. A concurrent lease cannot
    /// take the record between the `done` and the `COMMIT`: the `done` holds the row lock,
    /// which `FOR UPDATE SKIP LOCKED` leases skip.
    ///
    /// **What is not**: the handler itself may run several times (at-least-once, like every
    /// handler), so anything it does *outside* the transaction — HTTP calls, other databases,
    /// e-mails — is not covered. Writes must go through the transaction (`&mut *tx`), not
    /// through another connection. A failed `COMMIT` (the connection dropped while committing)
    /// leaves it to the server: either the writes and `done` both persisted or neither did.
    ///
    /// Each running handler holds one connection of the pool for its whole run, and the
    /// worker's heartbeats need others: give the pool more connections than the worker's
    /// concurrency. Under `REPEATABLE READ` or `SERIALIZABLE` (if the handler raises the
    /// isolation), a concurrent take-over makes the `done` fail with a serialization error:
    /// the attempt is retried, nothing committed.
    ///
    /// ```no_run
    /// use webhook_receiver::inbox::{HandlerError, Inbox, InboxTransaction, Job, PostgresInbox};
    ///
    /// # async fn run(pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
    /// let engine = PostgresInbox::new(pool);
    /// engine.migrate().await?;
    /// let inbox = Inbox::new(engine.clone());
    /// let paid = engine.transactional(|job: Job, mut tx: InboxTransaction| async move {
    ///     let event: serde_json::Value = job.json()?;
    ///     sqlx::query("UPDATE invoices SET paid = true WHERE id = $1")
    ///         .bind(event["data"]["id"].as_str())
    ///         .execute(&mut *tx)
    ///         .await?;
    ///     Ok::<(), HandlerError>(())
    /// });
    /// inbox
    ///     .worker(|_job: Job| async { Ok::<(), HandlerError>(()) })
    ///     .on("invoice.paid", paid)
    ///     .concurrency(8)
    ///     .run(async { tokio::signal::ctrl_c().await.ok(); })
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn transactional<H: TransactionalHandler>(&self, handler: H) -> Transactional<H> {
        Transactional {
            engine: self.clone(),
            handler: Arc::new(handler),
        }
    }

    fn now(&self) -> i64 {
        self.clock.unix_millis()
    }

    async fn owned_update(
        &self,
        sql: &Arc<str>,
        key: &str,
        token: LeaseToken,
        extra: impl FnOnce(Query) -> Query,
    ) -> Result<bool, InboxError> {
        let query = sqlx::query(statement(sql))
            .bind(row_id(key).into_owned())
            .bind(token_bytes(token))
            .bind(self.now());
        let done = extra(query).execute(&self.pool).await.map_err(map_error)?;
        Ok(done.rows_affected() == 1)
    }

    fn insert_query(&self, sql: &Arc<str>, record: &NewRecord, now: i64) -> Query {
        sqlx::query(statement(sql))
            .bind(row_id(&record.key).into_owned())
            .bind(record.key.as_bytes().to_vec())
            .bind(text(&record.endpoint))
            .bind(text(&record.provider))
            .bind(record.event_id.as_deref().map(text))
            .bind(record.signed_at)
            .bind(record.key_label.as_deref().map(text))
            // Indexed: long ones (and ones a `text` cannot hold) as their digest.
            .bind(
                record
                    .ordering_key
                    .as_deref()
                    .map(|k| row_id(k).into_owned()),
            )
            .bind(encode_headers(&record.headers))
            .bind(record.body.to_vec())
            .bind(now)
            .bind(millis(record.retain))
    }

    /// A bounded accept: concurrent ones of this process share a transaction
    /// ([`accept_bounded_all`](Self::accept_bounded_all)), so they take the table's accept
    /// lock, count and commit once for all.
    async fn accept_bounded(&self, record: &NewRecord, limit: u64) -> Result<Accepted, InboxError> {
        let answer = self
            .bounded
            .write(
                || (record.clone(), limit),
                record.body.len(),
                |group| async move { self.accept_bounded_all(&group).await },
            )
            .await?;
        answer.ok_or(InboxError::Full { limit })
    }

    /// One bounded accept in one round trip, through the table's accept function (see
    /// [`migrate`](Self::migrate)), on the pool or inside a group's transaction.
    async fn accept_bounded_one(
        &self,
        executor: impl sqlx::PgExecutor<'_>,
        record: &NewRecord,
        limit: u64,
    ) -> Result<Option<Accepted>, InboxError> {
        let now = self.now();
        let row = self
            .insert_query(&self.sql.accept_bounded, record, now)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(self.sql.accept_lock)
            .fetch_one(executor)
            .await
            .map_err(map_error)?;
        if row.try_get::<bool, _>(0).map_err(map_error)? {
            return Ok(Some(Accepted::Stored));
        }
        let status: Option<String> = row.try_get(1).map_err(map_error)?;
        let deadline: Option<i64> = row.try_get(2).map_err(map_error)?;
        Ok(live(status.as_deref(), deadline, now).then_some(Accepted::Duplicate))
    }

    /// Accepts `records` through the accept function, a group in one transaction: the table's
    /// accept lock, taken by the first record, is held until the commit, so bounded accepts of
    /// every process take turns and each turn sees the previous one committed; the bound is
    /// exact. One answer per record, in order: stored or duplicate, `None` when full.
    async fn accept_bounded_all(
        &self,
        records: &[(NewRecord, u64)],
    ) -> Result<Vec<Option<Accepted>>, InboxError> {
        if let [(record, limit)] = records {
            return Ok(vec![
                self.accept_bounded_one(&self.pool, record, *limit).await?,
            ]);
        }
        let group = async {
            let mut tx = self.pool.begin().await.map_err(map_error)?;
            let mut answers = Vec::with_capacity(records.len());
            for (record, limit) in records {
                answers.push(self.accept_bounded_one(&mut *tx, record, *limit).await?);
            }
            tx.commit().await.map_err(map_error)?;
            Ok(answers)
        };
        // A group rolled back by a deadlock or a serialization failure is written again record
        // by record (as after any failure that may be one record's), not answered 503 whole.
        group.await.map_err(|error| match error {
            InboxError::Unavailable(source) if rolled_back(source.as_ref()) => {
                InboxError::Backend(source)
            }
            other => other,
        })
    }
}

impl InboxEngine for PostgresInbox {
    async fn accept(
        &self,
        record: &NewRecord,
        max_unfinished: Option<u64>,
    ) -> Result<Accepted, InboxError> {
        if let Some(limit) = max_unfinished {
            return self.accept_bounded(record, limit).await;
        }
        let stored = self
            .insert_query(&self.sql.insert, record, self.now())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_error)?;
        Ok(match stored {
            Some(_) => Accepted::Stored,
            None => Accepted::Duplicate,
        })
    }

    /// Leases the next eligible record. A record with an ordering key is checked again once
    /// leased, on a fresh snapshot: the lease statement decides on the snapshot it started
    /// with, where an older record of the key may still have been dead (or not yet committed
    /// as accepted) while a replay made it pending. If an older record of the key is active
    /// now, the lease is handed back and the next eligible record is taken instead.
    async fn lease(&self, lease: Duration) -> Result<Option<Leased>, InboxError> {
        // Bounded: each hand-back is caused by an older record that the next statement sees.
        for _ in 0..3 {
            let token = LeaseToken::random();
            let Some(row) = sqlx::query(statement(&self.sql.lease))
                .bind(token_bytes(token))
                .bind(self.now())
                .bind(millis(lease).max(1))
                .fetch_optional(&self.pool)
                .await
                .map_err(map_error)?
            else {
                return Ok(None);
            };
            let record = super::engine::readable(self, token, record_from_row(&row)).await?;
            let leased = Leased::new(record, token);
            let Some(ordering_key) = leased.record.meta.ordering_key.as_deref() else {
                return Ok(Some(leased));
            };
            let older: bool = sqlx::query_scalar(statement(&self.sql.older_active))
                .bind(ordering_key)
                .bind(row_id(&leased.record.meta.key).into_owned())
                .fetch_one(&self.pool)
                .await
                .map_err(map_error)?;
            if !older {
                return Ok(Some(leased));
            }
            self.release(&leased.record.meta.key, token).await?;
        }
        Ok(None)
    }

    async fn heartbeat(
        &self,
        key: &str,
        token: LeaseToken,
        lease: Duration,
    ) -> Result<bool, InboxError> {
        self.owned_update(&self.sql.heartbeat, key, token, |q| {
            q.bind(millis(lease).max(1))
        })
        .await
    }

    async fn done(&self, key: &str, token: LeaseToken) -> Result<bool, InboxError> {
        self.owned_update(&self.sql.done, key, token, |q| q).await
    }

    async fn retry(
        &self,
        key: &str,
        token: LeaseToken,
        delay: Duration,
        error: &str,
    ) -> Result<bool, InboxError> {
        let error = text(error);
        self.owned_update(&self.sql.retry, key, token, |q| {
            q.bind(millis(delay)).bind(error)
        })
        .await
    }

    async fn dead(&self, key: &str, token: LeaseToken, error: &str) -> Result<bool, InboxError> {
        let error = text(error);
        self.owned_update(&self.sql.dead, key, token, |q| q.bind(error))
            .await
    }

    async fn release(&self, key: &str, token: LeaseToken) -> Result<bool, InboxError> {
        self.owned_update(&self.sql.release, key, token, |q| q)
            .await
    }

    async fn get(&self, key: &str) -> Result<Option<Record>, InboxError> {
        let row = sqlx::query(statement(&self.sql.get))
            .bind(row_id(key).into_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_error)?;
        row.map(|row| record_from_row(&row)).transpose()
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<RecordMeta>, InboxError> {
        let limit = i64::from(query.limit.max(1));
        let rows = match &query.after {
            None => {
                sqlx::query(statement(&self.sql.list))
                    .bind(query.status.as_str())
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await
            }
            Some((received_at, key)) => {
                sqlx::query(statement(&self.sql.list_after))
                    .bind(query.status.as_str())
                    .bind(limit)
                    .bind(unix_millis(*received_at))
                    .bind(key.as_bytes().to_vec())
                    .fetch_all(&self.pool)
                    .await
            }
        }
        .map_err(map_error)?;
        rows.iter().map(meta_from_row).collect()
    }

    async fn counts(&self) -> Result<Counts, InboxError> {
        let rows = sqlx::query(statement(&self.sql.counts))
            .fetch_all(&self.pool)
            .await
            .map_err(map_error)?;
        let mut counts = Counts::new();
        for row in rows {
            let status: String = row.try_get(0).map_err(map_error)?;
            let n: i64 = row.try_get(1).map_err(map_error)?;
            let oldest: Option<i64> = row.try_get(2).map_err(map_error)?;
            counts.add(&status, n, oldest, &self.sql.table)?;
        }
        Ok(counts)
    }

    async fn replay(&self, key: &str) -> Result<bool, InboxError> {
        let revived: i64 = sqlx::query_scalar(statement(&self.sql.replay))
            .bind(row_id(key).into_owned())
            .bind(self.now())
            .fetch_one(&self.pool)
            .await
            .map_err(map_error)?;
        Ok(revived == 1)
    }

    async fn replay_dead_since(&self, since: OffsetDateTime) -> Result<u64, InboxError> {
        let revived: i64 = sqlx::query_scalar(statement(&self.sql.replay_since))
            .bind(unix_millis(since))
            .bind(self.now())
            .fetch_one(&self.pool)
            .await
            .map_err(map_error)?;
        Ok(u64::try_from(revived).unwrap_or(0))
    }

    async fn purge(&self) -> Result<u64, InboxError> {
        let done = sqlx::query(statement(&self.sql.purge))
            .bind(self.now())
            .execute(&self.pool)
            .await
            .map_err(map_error)?;
        Ok(done.rows_affected())
    }
}

/// A handler that writes through the transaction that marks its record done: an async function
/// of a [`Job`] and an [`InboxTransaction`]. Wrap it with [`PostgresInbox::transactional`].
///
/// Implemented for every `Fn(Job, InboxTransaction) -> impl Future<Output = Result<(),
/// HandlerError>>` that is `Send + Sync + 'static`. Return `Ok(())` to commit your writes with
/// the record's `done`; an error rolls them back and retries (or gives up) like any handler.
pub trait TransactionalHandler: Send + Sync + 'static {
    /// Processes one record, writing through `tx`.
    fn handle(
        &self,
        job: Job,
        tx: InboxTransaction,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'static;
}

impl<F, Fut> TransactionalHandler for F
where
    F: Fn(Job, InboxTransaction) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    fn handle(
        &self,
        job: Job,
        tx: InboxTransaction,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'static {
        self(job, tx)
    }
}

/// A [`TransactionalHandler`] made a [`Handler`] by [`PostgresInbox::transactional`].
pub struct Transactional<H> {
    engine: PostgresInbox,
    handler: Arc<H>,
}

impl<H> fmt::Debug for Transactional<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transactional")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl<H> Clone for Transactional<H> {
    fn clone(&self) -> Self {
        Self {
            engine: self.engine.clone(),
            handler: Arc::clone(&self.handler),
        }
    }
}

impl<H: TransactionalHandler> Handler for Transactional<H> {
    fn handle(&self, job: Job) -> impl Future<Output = Result<(), HandlerError>> + Send + 'static {
        let engine = self.engine.clone();
        let handler = Arc::clone(&self.handler);
        async move {
            let id = row_id(job.key()).into_owned();
            let token = job.token();
            let settle = job.settle();
            let tx = engine.pool.begin().await.map_err(map_error)?;
            let back = Arc::new(Mutex::new(None));
            let lent = InboxTransaction {
                tx: Some(tx),
                back: Arc::clone(&back),
            };
            let result = handler.handle(job, lent).await;
            let tx = back.lock().unwrap_or_else(PoisonError::into_inner).take();
            let Some(mut tx) = tx else {
                return Err(HandlerError::retry(
                    "the transactional handler kept its InboxTransaction past its end; \
                     nothing was committed",
                ));
            };
            if let Err(error) = result {
                // Rolled back at once, so the connection returns clean and row locks go.
                let _ = tx.rollback().await;
                return Err(error);
            }
            let done = sqlx::query(statement(&engine.sql.done))
                .bind(id)
                .bind(token_bytes(token))
                .bind(engine.now())
                .execute(&mut *tx)
                .await
                .map_err(map_error)?;
            if done.rows_affected() != 1 {
                let _ = tx.rollback().await;
                return Err(HandlerError::retry(format!(
                    "the record is no longer running under this attempt's lease in table `{}` \
                     (the lease was taken over, or the worker's inbox uses another table); \
                     the handler's writes were rolled back",
                    engine.sql.table
                )));
            }
            settle.settling();
            tx.commit().await.map_err(map_error)?;
            settle.settled();
            Ok(())
        }
    }
}

/// The transaction a [`TransactionalHandler`] writes through: it dereferences to a
/// [`PgConnection`], so pass `&mut *tx` to sqlx as you would a [`sqlx::Transaction`].
///
/// Do not commit or roll it back yourself: the record's `done` is added to it and committed
/// after your handler returns `Ok`. It goes back to the wrapper when dropped (at the latest
/// when the handler's future ends); keeping it elsewhere past the handler's end fails the
/// attempt.
pub struct InboxTransaction {
    tx: Option<Transaction<'static, Postgres>>,
    back: Arc<Mutex<Option<Transaction<'static, Postgres>>>>,
}

impl InboxTransaction {
    fn tx(&self) -> &Transaction<'static, Postgres> {
        self.tx
            .as_ref()
            .expect("the transaction is present until drop")
    }

    fn tx_mut(&mut self) -> &mut Transaction<'static, Postgres> {
        self.tx
            .as_mut()
            .expect("the transaction is present until drop")
    }
}

impl Deref for InboxTransaction {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        self.tx()
    }
}

impl DerefMut for InboxTransaction {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.tx_mut()
    }
}

impl Drop for InboxTransaction {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            *self.back.lock().unwrap_or_else(PoisonError::into_inner) = Some(tx);
        }
    }
}

impl fmt::Debug for InboxTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxTransaction").finish_non_exhaustive()
    }
}

/// An error message PostgreSQL's `text` can hold.
/// Whether a record with `status` and `deadline` holds its key at `now`: any record but a done
/// one past its retention (which an accept replaces).
fn live(status: Option<&str>, deadline: Option<i64>, now: i64) -> bool {
    match status {
        None => false,
        Some("done") => deadline.is_none_or(|d| d > now),
        Some(_) => true,
    }
}

/// `value` for a `text` column, which cannot hold a NUL: each NUL becomes U+FFFD.
fn text(value: &str) -> String {
    value.replace('\0', "\u{fffd}")
}

fn meta_from_row(row: &PgRow) -> Result<RecordMeta, InboxError> {
    let key: Vec<u8> = row.try_get("key").map_err(map_error)?;
    let key = String::from_utf8(key)
        .map_err(|_| InboxError::corrupt("(not UTF-8)", "the stored key is not UTF-8"))?;
    record::meta_from_row(row, key, map_error)
}

fn record_from_row(row: &PgRow) -> Result<Record, InboxError> {
    let meta = meta_from_row(row)?;
    let headers: Vec<u8> = row.try_get("headers").map_err(map_error)?;
    let headers = decode_headers(&meta.key, &headers)?;
    let body: Vec<u8> = row.try_get("body").map_err(map_error)?;
    Ok(Record::new(meta, headers, Bytes::from(body)))
}

/// Pool and connection failures are [`InboxError::Unavailable`], as are the server's
/// connection exceptions (class 08), transaction rollbacks (40: deadlock, serialization
/// failure), insufficient resources (53, e.g. too many connections) and operator intervention
/// (57: shutdown, cancelled statement); everything else is [`InboxError::Backend`].
/// Whether `error` is PostgreSQL's transaction rollback (SQLSTATE class 40: a deadlock or a
/// serialization failure).
fn rolled_back(error: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    error
        .downcast_ref::<sqlx::Error>()
        .and_then(sqlx::Error::as_database_error)
        .and_then(|db| db.code())
        .is_some_and(|code| code.starts_with("40"))
}

fn map_error(error: sqlx::Error) -> InboxError {
    if pg_unavailable(&error) {
        InboxError::unavailable(error)
    } else {
        InboxError::backend(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_checked() {
        assert!(validate_table("webhook_inbox").is_ok());
        for bad in ["", "1x", "Upper", "semi;colon", "quote\"", &"x".repeat(49)] {
            assert!(validate_table(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn row_ids_are_injective_and_short() {
        assert_eq!(row_id("billing:evt_1"), "billing:evt_1");
        let long = "k".repeat(10_000);
        let nul = "a\0b";
        let digest_of_long = row_id(&long).into_owned();
        assert!(
            digest_of_long.starts_with(crate::sql::DIGEST_PREFIX)
                && digest_of_long.len() < crate::sql::MAX_ROW_ID
        );
        assert!(row_id(nul).starts_with(crate::sql::DIGEST_PREFIX));
        // A key that looks like another key's digest is digested itself.
        assert_ne!(row_id(&digest_of_long), digest_of_long);
        assert_eq!(
            row_id(&"k".repeat(crate::sql::MAX_ROW_ID)).len(),
            crate::sql::MAX_ROW_ID
        );
    }

    #[test]
    fn accept_locks_differ_per_table() {
        assert_ne!(accept_lock("a"), accept_lock("b"));
        assert_eq!(accept_lock("a"), accept_lock("a"));
    }

    #[test]
    fn times_out_of_range_are_corrupt_not_panics() {
        assert!(matches!(
            record::datetime("k", i64::MAX),
            Err(InboxError::Corrupt { .. })
        ));
        assert_eq!(millis(Duration::MAX), crate::clock::MAX_STORED_MILLIS);
        assert_eq!(text("a\0b\0"), "a\u{fffd}b\u{fffd}");
    }
}
