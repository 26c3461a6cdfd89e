//! A [`DedupStore`] in PostgreSQL, for a fleet of receivers.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sqlx::{PgPool, Row};

use super::{Claim, DedupStore, LeaseToken, StoreError};
use crate::clock::stored_millis as millis;
use crate::error::ConfigError;
use crate::sql::{pg_unavailable, row_id, statement, token_bytes, validate_table};

/// Default table of [`PostgresStore`].
const DEFAULT_TABLE: &str = "webhook_receiver_dedup";

/// Default [`PostgresStore::with_completion_grace`]: ten minutes.
const DEFAULT_GRACE: Duration = Duration::from_secs(600);

/// Default [`PostgresStore::with_purge_every`].
const DEFAULT_PURGE_EVERY: u64 = 1000;

/// Advisory lock taken by [`PostgresStore::migrate`], so that receivers starting together do
/// not race to create the table ("webhook!" in ASCII).
const MIGRATE_LOCK: i64 = 0x7765_6268_6f6f_6b21;

/// The statements for one table, shared cheaply with every query (sqlx takes them by value).
struct Sql {
    create_table: Arc<str>,
    create_index: Arc<str>,
    claim: Arc<str>,
    complete: Arc<str>,
    release: Arc<str>,
    purge: Arc<str>,
    purge_batch: Arc<str>,
}

impl Sql {
    /// `table` is a validated identifier (lower-case letters, digits, `_`).
    fn new(table: &str) -> Self {
        let t = format!("\"{table}\"");
        let ms = "* interval '1 millisecond'";
        Self {
            create_table: format!(
                "CREATE TABLE IF NOT EXISTS {t} (\
                 key text COLLATE \"C\" PRIMARY KEY, \
                 token bytea NOT NULL, \
                 completed boolean NOT NULL DEFAULT false, \
                 expires_at timestamptz NOT NULL)"
            )
            .into(),
            create_index: format!(
                "CREATE INDEX IF NOT EXISTS \"{table}_expires_at_idx\" ON {t} (expires_at)"
            )
            .into(),
            // One statement. `existing` reads the row as it was when the statement started;
            // `claimed` inserts the key, or takes it over if its deadline passed, and returns a
            // row only if it did. A live row is reported from `existing`. A row inserted by a
            // concurrent transaction is invisible to both (READ COMMITTED): then nothing is
            // returned and nothing is seen, which means in flight.
            claim: format!(
                "WITH existing AS (\
                     SELECT completed, expires_at FROM {t} WHERE key = $1\
                 ), claimed AS (\
                     INSERT INTO {t} AS d (key, token, completed, expires_at) \
                     VALUES ($1, $2, false, now() + $3 {ms}) \
                     ON CONFLICT (key) DO UPDATE \
                     SET token = EXCLUDED.token, completed = false, \
                         expires_at = EXCLUDED.expires_at \
                     WHERE d.expires_at <= now() \
                     RETURNING 1\
                 ) \
                 SELECT EXISTS (SELECT 1 FROM claimed), e.completed, \
                     ceil(extract(epoch FROM e.expires_at - now()) * 1000)::int8 \
                 FROM (SELECT) AS one LEFT JOIN existing AS e ON true"
            )
            .into(),
            complete: format!(
                "UPDATE {t} SET completed = true, expires_at = now() + $3 {ms} \
                 WHERE key = $1 AND token = $2 AND NOT completed"
            )
            .into(),
            release: format!("DELETE FROM {t} WHERE key = $1 AND token = $2 AND NOT completed")
                .into(),
            purge: format!("DELETE FROM {t} WHERE expires_at < now() - $1 {ms}").into(),
            purge_batch: format!(
                "DELETE FROM {t} WHERE key IN (\
                     SELECT key FROM {t} WHERE expires_at < now() - $1 {ms} \
                     ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED\
                 ) AND expires_at < now() - $1 {ms}"
            )
            .into(),
        }
    }
}

/// Shared by clones: drives the opportunistic purge.
#[derive(Default)]
struct PurgeState {
    claims: AtomicU64,
    running: AtomicBool,
}

/// Clears [`PurgeState::running`] when a background purge ends, even if it is cancelled.
struct PurgeGuard(Arc<PurgeState>);

impl Drop for PurgeGuard {
    fn drop(&mut self) {
        self.0.running.store(false, Ordering::Release);
    }
}

/// A dedup store in a PostgreSQL table, shared by every receiver of a fleet (feature
/// `postgres`), over an [`sqlx::PgPool`] you already have.
///
/// * **One statement per operation**, each atomic: `claim` is a single
///   `INSERT … ON CONFLICT (key) DO UPDATE … WHERE <expired> RETURNING …` (in a CTE that also
///   reports whether a live key is completed or in flight); `complete` and `release` are an
///   `UPDATE` / `DELETE` that compare the lease token.
/// * **The server's clock decides** (`now()`), so leases hold across hosts whatever their
///   clocks say. [`Claim::InFlight`] carries the lease's remaining time in milliseconds.
/// * **Expired rows are purged** in the background every
///   [`purge_every`](Self::with_purge_every) claims (a bounded, non-blocking `DELETE` that never
///   fails a claim), and by [`purge`](Self::purge), which you may run on a schedule.
/// * Pool errors (time-out, closed pool, I/O) and the server's connection and resource errors
///   (SQLSTATE classes 08, 53, 57), deadlocks and serialization failures (40) are
///   [`StoreError::Unavailable`]; other database errors are
///   [`StoreError::Backend`].
///
/// Run [`migrate`](Self::migrate) once (at start-up, from any number of receivers) to create
/// the table:
///
/// ```sql
/// CREATE TABLE IF NOT EXISTS "webhook_receiver_dedup" (
///     key        text COLLATE "C" PRIMARY KEY,
///     token      bytea NOT NULL,            -- the lease token, 16 bytes
///     completed  boolean NOT NULL DEFAULT false,
///     expires_at timestamptz NOT NULL       -- lease end in flight, retention end once completed
/// );
/// CREATE INDEX IF NOT EXISTS "webhook_receiver_dedup_expires_at_idx"
///     ON "webhook_receiver_dedup" (expires_at);
/// ```
///
/// The statements assume the default `READ COMMITTED` isolation (each runs in its own
/// transaction). Under `SERIALIZABLE` concurrent claims may fail with serialization errors
/// ([`StoreError::Backend`]) instead of answering in flight.
///
/// ```no_run
/// use webhook_receiver::dedup::PostgresStore;
///
/// # async fn run(pool: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
/// let store = PostgresStore::new(pool).with_table("billing_webhook_dedup")?;
/// store.migrate().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    table: Arc<str>,
    sql: Arc<Sql>,
    grace: Duration,
    purge_every: u64,
    state: Arc<PurgeState>,
}

impl fmt::Debug for PostgresStore {
    /// Shows the table and settings, never the pool's connection options (they may hold a
    /// password).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("table", &self.table)
            .field("completion_grace", &self.grace)
            .field("purge_every", &self.purge_every)
            .finish_non_exhaustive()
    }
}

/// Pool and connection failures are [`StoreError::Unavailable`], as are the server's
/// connection exceptions (class 08), transaction rollbacks (40: deadlock, serialization
/// failure), insufficient resources (53, e.g. too many connections) and operator intervention
/// (57: shutdown, cancelled statement); everything else is [`StoreError::Backend`].
fn map_error(error: sqlx::Error) -> StoreError {
    if pg_unavailable(&error) {
        StoreError::unavailable(error)
    } else {
        StoreError::backend(error)
    }
}

impl PostgresStore {
    /// A store in the table `webhook_receiver_dedup` over `pool`. Clones share the pool.
    ///
    /// Nothing is sent to the server until the first operation; call
    /// [`migrate`](Self::migrate) to create the table.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            table: Arc::from(DEFAULT_TABLE),
            sql: Arc::new(Sql::new(DEFAULT_TABLE)),
            grace: DEFAULT_GRACE,
            purge_every: DEFAULT_PURGE_EVERY,
            state: Arc::default(),
        }
    }

    /// Keeps the entries in the table `name` (in the connection's `search_path`). Default:
    /// `webhook_receiver_dedup`.
    ///
    /// # Errors
    ///
    /// Unless `name` is a plain SQL identifier of at most 48 bytes: lower-case ASCII letters,
    /// digits and `_`, not starting with a digit. (It is written into the statements, so no
    /// other name is accepted.)
    pub fn with_table(mut self, name: &str) -> Result<Self, ConfigError> {
        validate_table(name)?;
        self.table = Arc::from(name);
        self.sql = Arc::new(Sql::new(name));
        Ok(self)
    }

    /// How long a row is kept after its deadline, so that a handler which outlived its lease
    /// can still complete (or release) it, as long as no other claim took the key over.
    /// Default: 10 minutes.
    ///
    /// It only delays [`purge`](Self::purge): a lease is never extended (a claim after the
    /// lease takes the key over), and a completed key is claimable again right after its
    /// retention.
    #[must_use]
    pub fn with_completion_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Every `claims`-th claim of this store (and its clones) starts a background deletion of
    /// up to `2 × claims` rows that are past their deadline and grace, with
    /// `FOR UPDATE SKIP LOCKED`, so it neither blocks nor fails any claim; at most one runs at
    /// a time, on the current Tokio runtime. 0 turns it off (then schedule
    /// [`purge`](Self::purge) yourself). Default: 1000.
    #[must_use]
    pub fn with_purge_every(mut self, claims: u64) -> Self {
        self.purge_every = claims;
        self
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// How long rows are kept after their deadline; see
    /// [`with_completion_grace`](Self::with_completion_grace).
    pub fn completion_grace(&self) -> Duration {
        self.grace
    }

    /// How often a claim starts a background purge; see
    /// [`with_purge_every`](Self::with_purge_every).
    pub fn purge_every(&self) -> u64 {
        self.purge_every
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates the table and its index on `expires_at`, if they do not exist. Safe to run from
    /// every receiver at start-up: concurrent calls wait for each other (advisory lock).
    ///
    /// # Errors
    ///
    /// If the server is unreachable or refuses the statements (e.g. no `CREATE` privilege).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(map_error)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATE_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        sqlx::query(statement(&self.sql.create_table))
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        sqlx::query(statement(&self.sql.create_index))
            .execute(&mut *tx)
            .await
            .map_err(map_error)?;
        tx.commit().await.map_err(map_error)
    }

    /// Deletes every row past its deadline (lease or retention) by more than the
    /// [completion grace](Self::with_completion_grace), and returns how many it deleted. Uses
    /// the index on `expires_at`; run it on a schedule if you turned the background purge off.
    ///
    /// # Errors
    ///
    /// If the server is unreachable or refuses the statement.
    pub async fn purge(&self) -> Result<u64, StoreError> {
        let done = sqlx::query(statement(&self.sql.purge))
            .bind(millis(self.grace, 0))
            .execute(&self.pool)
            .await
            .map_err(map_error)?;
        Ok(done.rows_affected())
    }

    /// Counts a claim, and every `purge_every` claims starts a bounded purge in the
    /// background, unless one is running or there is no Tokio runtime.
    fn maybe_purge(&self) {
        if self.purge_every == 0 {
            return;
        }
        let count = self
            .state
            .claims
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1);
        if !count.is_multiple_of(self.purge_every) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.state.running.swap(true, Ordering::Acquire) {
            return;
        }
        let guard = PurgeGuard(Arc::clone(&self.state));
        let store = self.clone();
        let limit = i64::try_from(self.purge_every.saturating_mul(2)).unwrap_or(i64::MAX);
        runtime.spawn(async move {
            let _guard = guard;
            // A failed purge only leaves rows for the next one.
            let _ = sqlx::query(statement(&store.sql.purge_batch))
                .bind(millis(store.grace, 0))
                .bind(limit)
                .execute(&store.pool)
                .await;
        });
    }
}

impl DedupStore for PostgresStore {
    async fn claim(&self, key: &str, lease: Duration) -> Result<Claim, StoreError> {
        let key = row_id(key);
        let key = &*key;
        let token = LeaseToken::random();
        let row = sqlx::query(statement(&self.sql.claim))
            .bind(key)
            .bind(token_bytes(token))
            .bind(millis(lease, 1))
            .fetch_one(&self.pool)
            .await
            .map_err(map_error)?;
        let acquired: bool = row.try_get(0).map_err(map_error)?;
        let completed: Option<bool> = row.try_get(1).map_err(map_error)?;
        let remaining: Option<i64> = row.try_get(2).map_err(map_error)?;
        self.maybe_purge();
        if acquired {
            return Ok(Claim::Acquired(token));
        }
        Ok(match (completed, remaining) {
            (Some(true), Some(left)) if left > 0 => Claim::Completed,
            (Some(false), Some(left)) if left > 0 => Claim::InFlight {
                retry_after: Some(Duration::from_millis(left.unsigned_abs())),
            },
            // Not acquired, yet nothing live was visible: a concurrent claim took the key.
            _ => Claim::InFlight { retry_after: None },
        })
    }

    async fn complete(
        &self,
        key: &str,
        token: LeaseToken,
        retain: Duration,
    ) -> Result<bool, StoreError> {
        let key = row_id(key);
        let key = &*key;
        let done = sqlx::query(statement(&self.sql.complete))
            .bind(key)
            .bind(token_bytes(token))
            .bind(millis(retain, 0))
            .execute(&self.pool)
            .await
            .map_err(map_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn release(&self, key: &str, token: LeaseToken) -> Result<bool, StoreError> {
        let key = row_id(key);
        let key = &*key;
        let done = sqlx::query(statement(&self.sql.release))
            .bind(key)
            .bind(token_bytes(token))
            .execute(&self.pool)
            .await
            .map_err(map_error)?;
        Ok(done.rows_affected() == 1)
    }
}
