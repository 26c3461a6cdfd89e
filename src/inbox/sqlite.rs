//! The embedded inbox engine: one SQLite file in WAL mode.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use time::OffsetDateTime;

use super::batch::{Answer, Batcher};
use super::record::{self, millis};
use super::{
    Accepted, Counts, InboxEngine, InboxError, Leased, ListQuery, NewRecord, Record, RecordMeta,
    decode_headers, encode_headers,
};
use crate::clock::{Clock, SystemClock};
use crate::dedup::LeaseToken;
use crate::error::ConfigError;
use crate::sql::{statement, token_bytes, validate_table};
use crate::verify::unix_millis;

/// Default table of [`SqliteInbox`].
const DEFAULT_TABLE: &str = "webhook_inbox";

/// The longest busy timeout SQLite takes (`i32::MAX` milliseconds).
const MAX_BUSY_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);

/// Metadata columns, in the order [`meta_from_row`] reads them.
const META: &str = "key, endpoint, provider, event_id, signed_at, key_label, ordering_key, \
                    received_at, status, attempts, deadline, updated_at, last_error, \
                    length(body) AS body_len, retain_ms";

type Query = sqlx::query::Query<'static, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

/// The statements for one table.
struct Sql {
    migrate: Vec<Arc<str>>,
    find: Arc<str>,
    insert: Arc<str>,
    insert_bounded: Arc<str>,
    lease: Arc<str>,
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
    fn new(table: &str) -> Self {
        let t = format!("\"{table}\"");
        let active = "status IN ('pending', 'running')";
        let owned = "key = ?1 AND token = ?2 AND status = 'running'";
        Self {
            migrate: vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\
                     seq INTEGER PRIMARY KEY, \
                     key TEXT NOT NULL UNIQUE, \
                     endpoint TEXT NOT NULL, \
                     provider TEXT NOT NULL, \
                     event_id TEXT, \
                     signed_at INTEGER, \
                     key_label TEXT, \
                     ordering_key TEXT, \
                     headers BLOB NOT NULL, \
                     body BLOB NOT NULL, \
                     status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'dead')), \
                     attempts INTEGER NOT NULL DEFAULT 0, \
                     deadline INTEGER, \
                     token BLOB, \
                     received_at INTEGER NOT NULL, \
                     updated_at INTEGER NOT NULL, \
                     retain_ms INTEGER NOT NULL, \
                     last_error TEXT)"
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
                format!(
                    "CREATE INDEX IF NOT EXISTS \"{table}_list\" ON {t} (status, received_at, key)"
                )
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
            ],
            find: format!("SELECT status, deadline FROM {t} WHERE key = ?1").into(),
            // One statement: insert a new key, or replace a done record past its retention (with
            // a new place in received order), unless the bound is reached. No row changed means
            // a live duplicate, or a full inbox.
            insert: format!(
                "INSERT INTO {t} (key, endpoint, provider, event_id, signed_at, key_label, \
                 ordering_key, headers, body, status, attempts, deadline, received_at, \
                 updated_at, retain_ms) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', 0, ?10, ?10, ?10, ?11 \
                 WHERE true \
                 ON CONFLICT (key) DO UPDATE SET \
                 seq = (SELECT max(seq) + 1 FROM {t}), endpoint = excluded.endpoint, \
                 provider = excluded.provider, event_id = excluded.event_id, \
                 signed_at = excluded.signed_at, key_label = excluded.key_label, \
                 ordering_key = excluded.ordering_key, headers = excluded.headers, \
                 body = excluded.body, status = 'pending', attempts = 0, \
                 deadline = excluded.deadline, token = NULL, \
                 received_at = excluded.received_at, updated_at = excluded.updated_at, \
                 retain_ms = excluded.retain_ms, last_error = NULL \
                 WHERE status = 'done' AND deadline <= ?10"
            )
            .into(),
            insert_bounded: format!(
                "INSERT INTO {t} (key, endpoint, provider, event_id, signed_at, key_label, \
                 ordering_key, headers, body, status, attempts, deadline, received_at, \
                 updated_at, retain_ms) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', 0, ?10, ?10, ?10, ?11 \
                 WHERE (SELECT count(*) FROM {t} WHERE {active}) < ?12 \
                 ON CONFLICT (key) DO UPDATE SET \
                 seq = (SELECT max(seq) + 1 FROM {t}), endpoint = excluded.endpoint, \
                 provider = excluded.provider, event_id = excluded.event_id, \
                 signed_at = excluded.signed_at, key_label = excluded.key_label, \
                 ordering_key = excluded.ordering_key, headers = excluded.headers, \
                 body = excluded.body, status = 'pending', attempts = 0, \
                 deadline = excluded.deadline, token = NULL, \
                 received_at = excluded.received_at, updated_at = excluded.updated_at, \
                 retain_ms = excluded.retain_ms, last_error = NULL \
                 WHERE status = 'done' AND deadline <= ?10"
            )
            .into(),
            // One statement, so one writer at a time picks and takes the record. The due index
            // is named: without statistics the planner would rather sort every active record. A record with
            // an ordering key waits for every older active record with that key, and for any
            // live lease on it.
            lease: format!(
                "UPDATE {t} SET status = 'running', token = ?1, deadline = ?2 + ?3, \
                 attempts = attempts + 1, updated_at = ?2 \
                 WHERE seq = (\
                     SELECT r.seq FROM {t} AS r INDEXED BY \"{table}_due\" \
                     WHERE r.{active} AND r.deadline <= ?2 \
                     AND (r.ordering_key IS NULL OR NOT EXISTS (\
                         SELECT 1 FROM {t} AS o \
                         WHERE o.ordering_key = r.ordering_key AND o.{active} \
                         AND o.seq <> r.seq \
                         AND (o.seq < r.seq OR (o.status = 'running' AND o.deadline > ?2)))) \
                     ORDER BY r.deadline, r.seq LIMIT 1) \
                 RETURNING {META}, headers, body"
            )
            .into(),
            heartbeat: format!("UPDATE {t} SET deadline = ?3 + ?4 WHERE {owned}").into(),
            done: format!(
                "UPDATE {t} SET status = 'done', token = NULL, deadline = ?3 + retain_ms, \
                 updated_at = ?3 WHERE {owned}"
            )
            .into(),
            retry: format!(
                "UPDATE {t} SET status = 'pending', token = NULL, deadline = ?3 + ?4, \
                 last_error = ?5, updated_at = ?3 WHERE {owned}"
            )
            .into(),
            dead: format!(
                "UPDATE {t} SET status = 'dead', token = NULL, deadline = NULL, \
                 last_error = ?4, updated_at = ?3 WHERE {owned}"
            )
            .into(),
            release: format!(
                "UPDATE {t} SET status = 'pending', token = NULL, deadline = ?3, \
                 attempts = max(attempts - 1, 0), updated_at = ?3 WHERE {owned}"
            )
            .into(),
            get: format!("SELECT {META}, headers, body FROM {t} WHERE key = ?1").into(),
            list: format!(
                "SELECT {META} FROM {t} WHERE status = ?1 ORDER BY received_at, key LIMIT ?2"
            )
            .into(),
            list_after: format!(
                "SELECT {META} FROM {t} WHERE status = ?1 AND (received_at, key) > (?3, ?4) \
                 ORDER BY received_at, key LIMIT ?2"
            )
            .into(),
            counts: format!(
                "SELECT status, count(*), min(received_at) FROM {t} GROUP BY status"
            )
            .into(),
            replay: format!(
                "UPDATE {t} SET status = 'pending', attempts = 0, deadline = ?2, \
                 updated_at = ?2 WHERE key = ?1 AND status = 'dead'"
            )
            .into(),
            replay_since: format!(
                "UPDATE {t} SET status = 'pending', attempts = 0, deadline = ?2, \
                 updated_at = ?2 WHERE status = 'dead' AND updated_at >= ?1"
            )
            .into(),
            purge: format!("DELETE FROM {t} WHERE status = 'done' AND deadline <= ?1").into(),
        }
    }
}

/// The embedded inbox engine (feature `sqlite`): one SQLite file, durable on one machine,
/// nothing to run. SQLite is compiled into the crate.
///
/// * **Durable accepts**: WAL journal with `synchronous = FULL` by default, so an accepted
///   record survives a crash of the process *and* of the machine (see
///   [`SqliteInboxBuilder::synchronous_normal`] for the trade-off).
/// * **One writer connection** takes every transition in turn (SQLite serializes writers
///   anyway; one connection avoids lock contention inside the process); reads (`get`, `list`,
///   `counts`) use a small pool of their own. Several processes may share the file (e.g. an
///   admin tool): they wait for each other up to the busy timeout, then get
///   [`InboxError::Unavailable`].
/// * Every other transition is one statement; so is an accept alone (plus a look-up when a
///   bound refused it or its key was taken). Concurrent accepts of one engine (and its
///   clones) are **committed together**: up to 64 records (1 MiB of bodies) in one
///   transaction, each settled in arrival order as if alone, each caller answered after the
///   commit — one `fsync` for the group instead of one per record. A group that fails because
///   the file is unavailable (busy past the timeout, full, an I/O error) answers that error
///   to every record in it ([`InboxError::Unavailable`], 503: the senders retry); one that
///   fails for another reason is written again record by record, so that error is only its
///   record's. If the caller writing a group goes away mid-write (its request cancelled), the
///   others write their records alone: those the group had stored are answered `Duplicate`
///   (200, nothing lost).
/// * Times are this engine's [`Clock`] in milliseconds (the system clock by default).
///
/// The table (default `webhook_inbox`) is created by [`open`](Self::open), or by
/// [`migrate`](Self::migrate) for an engine made [`from_pools`](Self::from_pools).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use webhook_receiver::inbox::{Inbox, SqliteInbox};
///
/// # let dir = std::env::temp_dir().join(format!("sqlite-inbox-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let engine = SqliteInbox::builder(dir.join("webhooks.db"))
///     .table("billing_inbox")?
///     .open()
///     .await?;
/// let inbox = Inbox::new(engine);
/// assert_eq!(inbox.counts().await?.pending, 0);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct SqliteInbox {
    writer: SqlitePool,
    reader: SqlitePool,
    table: Arc<str>,
    sql: Arc<Sql>,
    clock: Arc<dyn Clock>,
    /// Concurrent accepts of this engine (and its clones) share one transaction.
    accepts: Arc<AcceptBatcher>,
}

/// Accepts written together: the record and its bound; per record `None` when the bound
/// refused it.
type AcceptBatcher = Batcher<(NewRecord, Option<u64>), Answer<Option<Accepted>>>;

/// At most this many accepts, and (past the first) this many bytes of bodies, per transaction.
const ACCEPT_BATCH: usize = 64;
const ACCEPT_BATCH_BYTES: usize = 1 << 20;

fn accept_batcher() -> Arc<AcceptBatcher> {
    // One writer connection: one batch at a time.
    Arc::new(Batcher::new(ACCEPT_BATCH, ACCEPT_BATCH_BYTES, 1))
}

impl fmt::Debug for SqliteInbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteInbox")
            .field("table", &self.table)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// Configures a [`SqliteInbox`]. Every setter documents its default.
#[derive(Debug)]
pub struct SqliteInboxBuilder {
    path: PathBuf,
    table: String,
    clock: Arc<dyn Clock>,
    synchronous: SqliteSynchronous,
    readers: u32,
    busy_timeout: Duration,
}

impl SqliteInboxBuilder {
    /// Keeps the records in the table `name`. Default: `webhook_inbox`. Its indexes are named
    /// `name` + `_due`, `_ordering`, `_list`, `_expiry` and `_dead`: two inboxes in one file
    /// must not be named `billing` and `billing_due`, say.
    ///
    /// # Errors
    ///
    /// Unless `name` is a plain SQL identifier of at most 48 bytes: lower-case ASCII letters,
    /// digits and `_`, not starting with a digit.
    pub fn table(mut self, name: &str) -> Result<Self, ConfigError> {
        validate_table(name)?;
        self.table = name.to_owned();
        Ok(self)
    }

    /// The clock for due times, leases and retention. Default: [`SystemClock`]. Every process
    /// sharing the file must use the same time (a [`ManualClock`](crate::ManualClock) only in
    /// tests).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// `synchronous = NORMAL` instead of `FULL`: commits no longer wait for the disk, which
    /// makes accepts several times faster, but the last accepted records may be lost if the
    /// **machine** loses power (not if the process crashes). Default: `FULL`.
    #[must_use]
    pub fn synchronous_normal(mut self) -> Self {
        self.synchronous = SqliteSynchronous::Normal;
        self
    }

    /// How many connections serve reads (`get`, `list`, `counts`), at least 1. Default: 2.
    #[must_use]
    pub fn readers(mut self, connections: u32) -> Self {
        self.readers = connections.max(1);
        self
    }

    /// How long a statement waits for another process's write lock before failing with
    /// [`InboxError::Unavailable`]. Default: 5 s. At most about 24.8 days (`i32::MAX`
    /// milliseconds, SQLite's limit): a longer one, `Duration::MAX` included, waits that long.
    #[must_use]
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout.min(MAX_BUSY_TIMEOUT);
        self
    }

    /// Opens (creating if needed) the file, switches it to WAL mode, and creates the table and
    /// its indexes if they do not exist. The file's directory must exist.
    ///
    /// # Errors
    ///
    /// [`InboxError::Unavailable`] if the file cannot be opened or created.
    pub async fn open(self) -> Result<SqliteInbox, InboxError> {
        let options = SqliteConnectOptions::new()
            .filename(&self.path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(self.synchronous)
            .busy_timeout(self.busy_timeout)
            .foreign_keys(false);
        // No ping before each statement (sqlx's default): a file has no peer that could hang
        // up, and the ping is one more round trip to the connection's thread per statement.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(self.busy_timeout.saturating_add(Duration::from_secs(25)))
            .connect_with(options.clone())
            .await
            .map_err(map_error)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(self.readers)
            .min_connections(0)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .map_err(map_error)?;
        let engine = SqliteInbox {
            writer,
            reader,
            sql: Arc::new(Sql::new(&self.table)),
            table: self.table.into(),
            clock: self.clock,
            accepts: accept_batcher(),
        };
        engine.migrate().await?;
        Ok(engine)
    }
}

impl SqliteInbox {
    /// Opens the inbox file at `path` with the default settings; see
    /// [`SqliteInboxBuilder::open`].
    ///
    /// # Errors
    ///
    /// [`InboxError::Unavailable`] if the file cannot be opened or created.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, InboxError> {
        Self::builder(path).open().await
    }

    /// Configures an inbox in the file at `path`.
    pub fn builder(path: impl AsRef<Path>) -> SqliteInboxBuilder {
        SqliteInboxBuilder {
            path: path.as_ref().to_owned(),
            table: DEFAULT_TABLE.to_owned(),
            clock: Arc::new(SystemClock),
            synchronous: SqliteSynchronous::Full,
            readers: 2,
            busy_timeout: Duration::from_secs(5),
        }
    }

    /// An engine over pools you configured: `writer` should have one connection; both should
    /// use WAL mode. Call [`migrate`](Self::migrate) before use.
    ///
    /// # Errors
    ///
    /// If `table` is not a plain SQL identifier (see [`SqliteInboxBuilder::table`]).
    pub fn from_pools(
        writer: SqlitePool,
        reader: SqlitePool,
        table: &str,
    ) -> Result<Self, ConfigError> {
        validate_table(table)?;
        Ok(Self {
            writer,
            reader,
            sql: Arc::new(Sql::new(table)),
            table: table.into(),
            clock: Arc::new(SystemClock),
            accepts: accept_batcher(),
        })
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The writer pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.writer
    }

    /// Creates the table and its indexes if they do not exist.
    ///
    /// # Errors
    ///
    /// If the file cannot be written.
    pub async fn migrate(&self) -> Result<(), InboxError> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
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

    /// Closes every connection (waiting for running statements). Clones are closed too.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    fn now(&self) -> i64 {
        self.clock.unix_millis()
    }

    /// Accepts a group of records: one alone in its own statement, more in one transaction, so
    /// one commit (one `fsync` with `synchronous = FULL`) makes them all durable. Each record
    /// is settled as if alone, in order (so two of one key store one). Per record, `None`:
    /// the bound refused it.
    async fn accept_all(
        &self,
        group: &[(NewRecord, Option<u64>)],
    ) -> Result<Vec<Option<Accepted>>, InboxError> {
        let now = self.now();
        if let [(record, max)] = group {
            let mut conn = self.writer.acquire().await.map_err(map_error)?;
            return Ok(vec![self.accept_one(&mut conn, record, *max, now).await?]);
        }
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_error)?;
        let mut answers = Vec::with_capacity(group.len());
        for (record, max) in group {
            answers.push(self.accept_one(&mut tx, record, *max, now).await?);
        }
        tx.commit().await.map_err(map_error)?;
        Ok(answers)
    }

    /// One accept, in one statement (and a look-up when nothing changed under a bound).
    async fn accept_one(
        &self,
        conn: &mut sqlx::SqliteConnection,
        record: &NewRecord,
        max_unfinished: Option<u64>,
        now: i64,
    ) -> Result<Option<Accepted>, InboxError> {
        // Counting unfinished records costs a scan of them: only when there is a bound.
        let sql = match max_unfinished {
            Some(_) => &self.sql.insert_bounded,
            None => &self.sql.insert,
        };
        let query = sqlx::query(statement(sql))
            .bind(record.key.as_str())
            .bind(record.endpoint.as_str())
            .bind(record.provider.as_str())
            .bind(record.event_id.as_deref())
            .bind(record.signed_at)
            .bind(record.key_label.as_deref())
            .bind(record.ordering_key.as_deref())
            .bind(encode_headers(&record.headers))
            .bind(&record.body[..])
            .bind(now)
            .bind(millis(record.retain));
        let query = match max_unfinished {
            Some(limit) => query.bind(i64::try_from(limit).unwrap_or(i64::MAX)),
            None => query,
        };
        let done = query.execute(&mut *conn).await.map_err(map_error)?;
        if done.rows_affected() == 1 {
            return Ok(Some(Accepted::Stored));
        }
        if max_unfinished.is_none() {
            return Ok(Some(Accepted::Duplicate));
        }
        // Nothing changed: a live record has the key, or the bound refused a new one.
        let existing = sqlx::query(statement(&self.sql.find))
            .bind(record.key.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(map_error)?;
        if let Some(row) = existing {
            let status: String = row.try_get(0).map_err(map_error)?;
            let deadline: Option<i64> = row.try_get(1).map_err(map_error)?;
            let expired = status == "done" && deadline.is_some_and(|d| d <= now);
            if !expired {
                return Ok(Some(Accepted::Duplicate));
            }
        }
        Ok(None)
    }

    async fn owned_update(
        &self,
        sql: &Arc<str>,
        key: &str,
        token: LeaseToken,
        extra: impl FnOnce(Query) -> Query,
    ) -> Result<bool, InboxError> {
        let query = sqlx::query(statement(sql))
            .bind(key)
            .bind(token_bytes(token))
            .bind(self.now());
        let done = extra(query)
            .execute(&self.writer)
            .await
            .map_err(map_error)?;
        Ok(done.rows_affected() == 1)
    }
}

impl InboxEngine for SqliteInbox {
    async fn accept(
        &self,
        record: &NewRecord,
        max_unfinished: Option<u64>,
    ) -> Result<Accepted, InboxError> {
        let answer = self
            .accepts
            .write(
                || (record.clone(), max_unfinished),
                record.body.len(),
                |group| async move { self.accept_all(&group).await },
            )
            .await?;
        answer.ok_or(InboxError::Full {
            limit: max_unfinished.unwrap_or(0),
        })
    }

    async fn lease(&self, lease: Duration) -> Result<Option<Leased>, InboxError> {
        let token = LeaseToken::random();
        let row = sqlx::query(statement(&self.sql.lease))
            .bind(token_bytes(token))
            .bind(self.now())
            .bind(millis(lease).max(1))
            .fetch_optional(&self.writer)
            .await
            .map_err(map_error)?;
        let Some(row) = row else { return Ok(None) };
        let record = super::engine::readable(self, token, record_from_row(&row)).await?;
        Ok(Some(Leased::new(record, token)))
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
        let error = error.to_owned();
        self.owned_update(&self.sql.retry, key, token, |q| {
            q.bind(millis(delay)).bind(error)
        })
        .await
    }

    async fn dead(&self, key: &str, token: LeaseToken, error: &str) -> Result<bool, InboxError> {
        let error = error.to_owned();
        self.owned_update(&self.sql.dead, key, token, |q| q.bind(error))
            .await
    }

    async fn release(&self, key: &str, token: LeaseToken) -> Result<bool, InboxError> {
        self.owned_update(&self.sql.release, key, token, |q| q)
            .await
    }

    async fn get(&self, key: &str) -> Result<Option<Record>, InboxError> {
        let row = sqlx::query(statement(&self.sql.get))
            .bind(key)
            .fetch_optional(&self.reader)
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
                    .fetch_all(&self.reader)
                    .await
            }
            Some((received_at, key)) => {
                sqlx::query(statement(&self.sql.list_after))
                    .bind(query.status.as_str())
                    .bind(limit)
                    .bind(unix_millis(*received_at))
                    .bind(key.clone())
                    .fetch_all(&self.reader)
                    .await
            }
        }
        .map_err(map_error)?;
        rows.iter().map(meta_from_row).collect()
    }

    async fn counts(&self) -> Result<Counts, InboxError> {
        let rows = sqlx::query(statement(&self.sql.counts))
            .fetch_all(&self.reader)
            .await
            .map_err(map_error)?;
        let mut counts = Counts::new();
        for row in rows {
            let status: String = row.try_get(0).map_err(map_error)?;
            let n: i64 = row.try_get(1).map_err(map_error)?;
            let oldest: Option<i64> = row.try_get(2).map_err(map_error)?;
            counts.add(&status, n, oldest, &self.table)?;
        }
        Ok(counts)
    }

    async fn replay(&self, key: &str) -> Result<bool, InboxError> {
        let done = sqlx::query(statement(&self.sql.replay))
            .bind(key)
            .bind(self.now())
            .execute(&self.writer)
            .await
            .map_err(map_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn replay_dead_since(&self, since: OffsetDateTime) -> Result<u64, InboxError> {
        let done = sqlx::query(statement(&self.sql.replay_since))
            .bind(unix_millis(since))
            .bind(self.now())
            .execute(&self.writer)
            .await
            .map_err(map_error)?;
        Ok(done.rows_affected())
    }

    async fn purge(&self) -> Result<u64, InboxError> {
        let done = sqlx::query(statement(&self.sql.purge))
            .bind(self.now())
            .execute(&self.writer)
            .await
            .map_err(map_error)?;
        Ok(done.rows_affected())
    }
}

fn meta_from_row(row: &SqliteRow) -> Result<RecordMeta, InboxError> {
    let key: String = row.try_get("key").map_err(map_error)?;
    record::meta_from_row(row, key, map_error)
}

fn record_from_row(row: &SqliteRow) -> Result<Record, InboxError> {
    let meta = meta_from_row(row)?;
    let headers: Vec<u8> = row.try_get("headers").map_err(map_error)?;
    let headers = decode_headers(&meta.key, &headers)?;
    let body: Vec<u8> = row.try_get("body").map_err(map_error)?;
    Ok(Record::new(meta, headers, Bytes::from(body)))
}

/// Pool and I/O failures, and SQLite's busy, locked, I/O, disk-full and cannot-open errors
/// are [`InboxError::Unavailable`]; the rest is [`InboxError::Backend`].
fn map_error(error: sqlx::Error) -> InboxError {
    let unavailable = match &error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            // Primary result codes: BUSY, LOCKED, IOERR, FULL, CANTOPEN.
            .is_some_and(|code| matches!(code & 0xff, 5 | 6 | 10 | 13 | 14)),
        _ => false,
    };
    if unavailable {
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
        assert!(SqliteInbox::builder("x.db").table("drop table").is_err());
    }

    #[test]
    fn times_out_of_range_are_corrupt_not_panics() {
        assert!(matches!(
            record::datetime("k", i64::MAX),
            Err(InboxError::Corrupt { .. })
        ));
        assert_eq!(millis(Duration::MAX), crate::clock::MAX_STORED_MILLIS);
    }
}
