//! A [`DedupStore`] in Redis, for a fleet of receivers.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{ErrorKind, RedisError, Script, ScriptInvocation, ServerErrorKind};

use super::{Claim, DedupStore, LeaseToken, StoreError};
use crate::redis_conn;

/// Default key prefix of [`RedisStore`].
const DEFAULT_PREFIX: &str = "webhook-receiver:";

/// Default [`RedisStore::with_completion_grace`]: ten minutes.
const DEFAULT_GRACE: Duration = Duration::from_secs(600);

/// The longest lease, retention or grace sent to Redis: 100 years, in milliseconds. Keeps every
/// number exact in Lua (doubles) and far from Redis' own overflow checks.
const MAX_MILLIS: u64 = 100 * 365 * 24 * 3600 * 1000;

/// `KEYS[1]` = key, `ARGV[1]` = new token (32 hex digits), `ARGV[2]` = `PX` of the new entry
/// (lease + grace, ms), `ARGV[3]` = grace (ms).
///
/// Returns 0: acquired; -1: completed; n > 0: in flight for n more milliseconds.
///
/// Runs after `SET … NX GET` found a lease at the key (the key may have changed since, so the
/// script starts over), and for every claim on servers that refuse `NX` with `GET` (< 7.0).
/// A new key costs one `SET NX`, as a plain `SET NX PX` lock would; only an existing key is read.
const CLAIM_LUA: &str = r"
local lease = 'L' .. ARGV[3] .. ':' .. ARGV[1]
if redis.call('SET', KEYS[1], lease, 'NX', 'PX', ARGV[2]) then
  return 0
end
local v = redis.call('GET', KEYS[1])
if v == 'C' then
  return -1
end
local grace = tonumber(string.match(v, '^L(%d+):'))
if not grace then
  return redis.error_reply('webhook-receiver: unexpected value at ' .. KEYS[1])
end
local left = redis.call('PTTL', KEYS[1]) - grace
if left > 0 then
  return left
end
redis.call('SET', KEYS[1], lease, 'PX', ARGV[2])
return 0
";

/// `KEYS[1]` = key, `ARGV[1]` = token (32 hex digits), `ARGV[2]` = retention (ms).
///
/// Returns 1 if the key held that token's lease and is now completed, else 0.
const COMPLETE_LUA: &str = r"
local v = redis.call('GET', KEYS[1])
if v and string.byte(v, 1) == 76 and string.sub(v, -32) == ARGV[1] then
  redis.call('SET', KEYS[1], 'C', 'PX', ARGV[2])
  return 1
end
return 0
";

/// `KEYS[1]` = key, `ARGV[1]` = token (32 hex digits).
///
/// Returns 1 if the key held that token's lease and is now deleted, else 0.
const RELEASE_LUA: &str = r"
local v = redis.call('GET', KEYS[1])
if v and string.byte(v, 1) == 76 and string.sub(v, -32) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
";

static CLAIM: LazyLock<Script> = LazyLock::new(|| Script::new(CLAIM_LUA));
static COMPLETE: LazyLock<Script> = LazyLock::new(|| Script::new(COMPLETE_LUA));
static RELEASE: LazyLock<Script> = LazyLock::new(|| Script::new(RELEASE_LUA));

/// A dedup store in Redis, shared by every receiver of a fleet (feature `redis`).
///
/// * **Atomic, and one round trip in the common case.** A claim is one
///   `SET {key} L{grace}:{token} NX GET PX {lease + grace}`: it creates a new key, or finds a
///   completed one, in one atomic command and one round trip. Only a duplicate of a delivery
///   whose lease is at the key (still in flight, or run out but inside the
///   [completion grace](Self::with_completion_grace)) takes a second round trip: the claim
///   script, which reads the key again atomically and answers [`Claim::InFlight`] or takes an
///   expired lease over. `complete` and `release` are one Lua script each. Scripts run as
///   `EVALSHA` and are loaded again automatically after `NOSCRIPT` (e.g. after a server
///   restart).
/// * **Redis 7.0 or later for the fast path; older servers work too.** `NX` together with `GET`
///   needs Redis >= 7.0. An older server answers that `SET` with an `ERR` reply (`ERR syntax
///   error`, having written nothing); the store then runs that claim and every later one as the
///   claim script alone, atomic too, one round trip each (a plain `EVALSHA`, costlier on the
///   server than a `SET`). The switch is remembered by the store and its clones (until the
///   process restarts), and made only once the script has succeeded on that server; connection
///   errors and time-outs never cause it.
/// * **The server's clock decides.** Leases and retention are key expiries (`PX`), read back
///   with `PTTL`; the receivers' clocks play no part, so leases hold across hosts.
///   [`Claim::InFlight`] carries the lease's remaining time.
/// * **Reconnects on its own** over redis' [`ConnectionManager`]. While Redis is unreachable
///   every operation fails with [`StoreError::Unavailable`] (the receiver answers 503, the sender
///   retries later); nothing is acknowledged unprocessed.
///
/// # Key layout
///
/// A dedup key `k` is stored at the Redis key `{prefix}{k}` (prefix default
/// `"webhook-receiver:"`, see [`with_prefix`](Self::with_prefix)) as a string:
///
/// | state | value | expiry (`PX`) |
/// | --- | --- | --- |
/// | in flight | `L{grace ms}:{token, 32 hex digits}` | lease + [completion grace](Self::with_completion_grace) |
/// | completed | `C` | retention |
///
/// A lease is live while the key's `PTTL` exceeds the grace recorded in its value; during the
/// grace an expired lease can still be completed or released by its holder, unless a new claim
/// took the key over. Released keys are deleted.
///
/// **Every command touches exactly one key** (the claim's `SET`, and `KEYS[1]` of each
/// script), so the layout suits Redis Cluster: each command runs on the key's own slot. Any
/// [`redis::aio::ConnectionLike`] connection can be used with [`new`](Self::new), e.g. a
/// cluster connection from redis' `cluster-async` feature. Do not put a hash tag (`{…}`) in the
/// prefix unless you want every key on one node.
///
/// # Failures
///
/// If a reply is lost (time-out, connection cut) after the server ran a claim, the delivery is
/// answered 503 and the lease stays until it expires: the sender's retry is then in flight,
/// later processed once. Nothing runs twice; it only runs later.
///
/// Redis must keep the keys for as long as they are live:
/// * use `maxmemory-policy noeviction` (every key here has an expiry, so `volatile-*` policies
///   would evict live ones too); a full Redis then refuses writes (`OOM`), the claim fails
///   with [`StoreError::Unavailable`] and the delivery is answered 503;
/// * a Redis restarted without persistence (AOF or RDB) forgets completed keys, so a replay or
///   a late retry inside the retention would be processed again.
///
/// ```no_run
/// use webhook_receiver::dedup::RedisStore;
///
/// # async fn run() -> Result<(), webhook_receiver::dedup::StoreError> {
/// let store = RedisStore::connect("redis://127.0.0.1:6379")
///     .await?
///     .with_prefix("billing-webhooks:");
/// # let _ = store;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStore<C = ConnectionManager> {
    conn: C,
    prefix: String,
    grace: Duration,
    /// Set once the server refused `SET … NX GET` (Redis < 7.0): claims then run the claim
    /// script only. Shared by clones.
    script_claims: Arc<AtomicBool>,
}

impl<C> fmt::Debug for RedisStore<C> {
    /// Shows the prefix and grace, never the connection (its URL may hold a password).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("completion_grace", &self.grace)
            .field("script_claims", &self.script_claims())
            .finish_non_exhaustive()
    }
}

impl RedisStore<ConnectionManager> {
    /// Connects to the Redis server at `url` (`redis://[user:password@]host:port/db`, or
    /// `rediss://` where redis' TLS features are enabled) through a [`ConnectionManager`].
    ///
    /// The manager answers 500 ms after a command at the latest (redis' default response
    /// time-out) and, once the connection is lost, makes two quick reconnection attempts per
    /// operation, so that a store whose server is down fails fast with
    /// [`StoreError::Unavailable`] instead of holding deliveries. For other settings build the
    /// manager yourself and use [`new`](Self::new).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] if the server cannot be reached, [`StoreError::Backend`] if
    /// the URL is invalid or the server refuses the connection (e.g. wrong password). The
    /// errors never contain the URL's password.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let manager = redis_conn::connect(url, redis_conn::reconnecting())
            .await
            .map_err(map_error)?;
        Ok(Self::new(manager))
    }
}

impl<C> RedisStore<C> {
    /// A store over `conn`: usually a [`ConnectionManager`], which reconnects on its own; any
    /// cloneable [`ConnectionLike`] connection works. Clones of the store share the connection.
    pub fn new(conn: C) -> Self {
        Self {
            conn,
            prefix: DEFAULT_PREFIX.to_owned(),
            grace: DEFAULT_GRACE,
            script_claims: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Namespaces every key: the dedup key `k` is stored at `{prefix}{k}`. Default:
    /// `"webhook-receiver:"`.
    ///
    /// Receivers that must see each other's deliveries need the same prefix; give unrelated
    /// fleets sharing one Redis different ones.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long an in-flight key is kept after its lease ran out, so that a handler which
    /// outlived its lease can still complete (or release) it, as long as no other claim took
    /// the key over. Default: 10 minutes.
    ///
    /// It costs only memory for leases that were never completed or released (crashed
    /// handlers); the lease itself is not extended: a claim after the lease takes the key over.
    /// Completed keys are kept for exactly their retention.
    #[must_use]
    pub fn with_completion_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// How long an expired lease can still be completed; see
    /// [`with_completion_grace`](Self::with_completion_grace).
    pub fn completion_grace(&self) -> Duration {
        self.grace
    }

    /// The Redis key that holds the dedup key `key`.
    pub fn redis_key(&self, key: &str) -> String {
        let mut out = String::with_capacity(self.prefix.len() + key.len());
        out.push_str(&self.prefix);
        out.push_str(key);
        out
    }

    /// The connection.
    pub fn connection(&self) -> &C {
        &self.conn
    }

    /// Runs every claim as the claim script alone, as the store does by itself on a server
    /// older than Redis 7.0 (for this store and its clones). For tests and benchmarks of that
    /// path; not part of the stable API.
    #[doc(hidden)]
    #[must_use]
    pub fn with_script_claims(self) -> Self {
        self.script_claims.store(true, Ordering::Relaxed);
        self
    }

    /// Whether claims run as the claim script alone: the server refused `SET … NX GET`, or
    /// [`with_script_claims`](Self::with_script_claims) was called. Not part of the stable API.
    #[doc(hidden)]
    pub fn script_claims(&self) -> bool {
        self.script_claims.load(Ordering::Relaxed)
    }
}

/// Milliseconds for Redis: at least 1 (`PX 0` is an error), at most [`MAX_MILLIS`].
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_MILLIS)
}

fn token_hex(token: LeaseToken) -> String {
    format!("{:032x}", token.get())
}

/// Connection, I/O and time-out errors, and the server's transient states (loading, failover,
/// cluster down), are [`StoreError::Unavailable`]; everything else is [`StoreError::Backend`].
fn map_error(error: RedisError) -> StoreError {
    if redis_conn::unavailable(&error) {
        StoreError::unavailable(error)
    } else {
        StoreError::backend(error)
    }
}

/// Whether the server refused the claim's `SET … NX GET` as such: an `ERR` reply, which is what
/// servers older than 7.0 answer (`ERR syntax error`) and never a connection failure, time-out,
/// `WRONGTYPE`, `OOM`, `NOPERM` or a transient server state. Such a `SET` wrote nothing.
fn refuses_set_nx_get(error: &RedisError) -> bool {
    error.kind() == ErrorKind::Server(ServerErrorKind::ResponseError)
}

/// What the claim's `SET … NX GET` found at the key.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    /// Nothing: the `SET` created the key, the claim is acquired.
    Nothing,
    /// `C`: completed.
    Completed,
    /// A lease (`L…`), live or expired: only the claim script can tell.
    Lease,
    /// Anything else: not written by this store.
    Foreign,
}

fn found(previous: Option<&[u8]>) -> Found {
    match previous {
        None => Found::Nothing,
        Some(b"C") => Found::Completed,
        Some([b'L', ..]) => Found::Lease,
        Some(_) => Found::Foreign,
    }
}

impl<C> RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    /// Runs one script: `EVALSHA`, and on `NOSCRIPT` `SCRIPT LOAD` then `EVALSHA` again.
    async fn invoke(&self, invocation: ScriptInvocation<'_>) -> Result<i64, StoreError> {
        let mut conn = self.conn.clone();
        invocation
            .invoke_async::<i64>(&mut conn)
            .await
            .map_err(map_error)
    }

    /// Claims by the claim script alone; `hex` is `token` in 32 hex digits.
    async fn claim_script(
        &self,
        redis_key: String,
        token: LeaseToken,
        hex: &str,
        px: u64,
        grace: u64,
    ) -> Result<Claim, StoreError> {
        let mut invocation = CLAIM.key(redis_key);
        invocation.arg(hex).arg(px).arg(grace);
        match self.invoke(invocation).await? {
            0 => Ok(Claim::Acquired(token)),
            -1 => Ok(Claim::Completed),
            left if left > 0 => Ok(Claim::InFlight {
                retry_after: Some(Duration::from_millis(left.unsigned_abs())),
            }),
            other => Err(StoreError::backend(format!(
                "unexpected reply {other} from the claim script"
            ))),
        }
    }
}

impl<C> DedupStore for RedisStore<C>
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    async fn claim(&self, key: &str, lease: Duration) -> Result<Claim, StoreError> {
        let token = LeaseToken::random();
        let grace = u64::try_from(self.grace.as_millis())
            .unwrap_or(u64::MAX)
            .min(MAX_MILLIS);
        let px = millis(lease) + grace;
        let redis_key = self.redis_key(key);
        let hex = token_hex(token);
        if self.script_claims() {
            return self.claim_script(redis_key, token, &hex, px, grace).await;
        }
        let mut conn = self.conn.clone();
        let previous = redis::cmd("SET")
            .arg(&redis_key)
            .arg(format!("L{grace}:{hex}"))
            .arg("NX")
            .arg("GET")
            .arg("PX")
            .arg(px)
            .query_async::<Option<Vec<u8>>>(&mut conn)
            .await;
        match previous {
            Ok(previous) => match found(previous.as_deref()) {
                Found::Nothing => Ok(Claim::Acquired(token)),
                Found::Completed => Ok(Claim::Completed),
                Found::Lease => self.claim_script(redis_key, token, &hex, px, grace).await,
                Found::Foreign => Err(StoreError::backend(format!(
                    "webhook-receiver: unexpected value at {redis_key}"
                ))),
            },
            Err(error) if refuses_set_nx_get(&error) => {
                // Redis < 7.0: the SET wrote nothing. The script decides this claim; once it
                // worked on this server, every later claim goes to the script directly.
                let claim = self.claim_script(redis_key, token, &hex, px, grace).await?;
                self.script_claims.store(true, Ordering::Relaxed);
                Ok(claim)
            }
            Err(error) => Err(map_error(error)),
        }
    }

    async fn complete(
        &self,
        key: &str,
        token: LeaseToken,
        retain: Duration,
    ) -> Result<bool, StoreError> {
        let mut invocation = COMPLETE.key(self.redis_key(key));
        invocation.arg(token_hex(token)).arg(millis(retain));
        Ok(self.invoke(invocation).await? == 1)
    }

    async fn release(&self, key: &str, token: LeaseToken) -> Result<bool, StoreError> {
        let mut invocation = RELEASE.key(self.redis_key(key));
        invocation.arg(token_hex(token));
        Ok(self.invoke(invocation).await? == 1)
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[test]
    fn only_an_err_reply_means_the_server_refuses_set_nx_get() {
        // What Redis < 7.0 answers.
        let syntax = RedisError::from((
            ErrorKind::Server(ServerErrorKind::ResponseError),
            "An error was signalled by the server",
            "syntax error".to_owned(),
        ));
        assert!(refuses_set_nx_get(&syntax));
        // Connection failures and time-outs are outages, not an old server.
        for kind in [
            io::ErrorKind::ConnectionRefused,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::BrokenPipe,
            io::ErrorKind::TimedOut,
            io::ErrorKind::UnexpectedEof,
        ] {
            let error = RedisError::from(io::Error::new(kind, "down"));
            assert!(!refuses_set_nx_get(&error), "{kind:?}");
            assert!(matches!(map_error(error), StoreError::Unavailable(_)));
        }
        // Other server replies are about the key or the server's state.
        for (code, detail) in [
            (
                "WRONGTYPE",
                "Operation against a key holding the wrong kind of value",
            ),
            ("OOM", "command not allowed when used memory > 'maxmemory'."),
        ] {
            let error = redis::make_extension_error(code.to_owned(), Some(detail.to_owned()));
            assert!(!refuses_set_nx_get(&error), "{code}");
        }
        for kind in [
            ServerErrorKind::NoPerm,
            ServerErrorKind::ReadOnly,
            ServerErrorKind::BusyLoading,
            ServerErrorKind::TryAgain,
            ServerErrorKind::ClusterDown,
            ServerErrorKind::MasterDown,
            ServerErrorKind::NoScript,
        ] {
            let error = RedisError::from((ErrorKind::Server(kind), "server error"));
            assert!(!refuses_set_nx_get(&error), "{kind:?}");
        }
    }

    #[test]
    fn the_previous_value_decides_whether_the_script_runs() {
        assert_eq!(found(None), Found::Nothing);
        assert_eq!(found(Some(b"C")), Found::Completed);
        assert_eq!(
            found(Some(b"L600000:0123456789abcdef0123456789abcdef")),
            Found::Lease
        );
        assert_eq!(
            found(Some(b"L")),
            Found::Lease,
            "the script checks the format"
        );
        for foreign in [&b""[..], b"c", b"CC", b"not ours", b"l600000:00"] {
            assert_eq!(found(Some(foreign)), Found::Foreign, "{foreign:?}");
        }
    }

    #[test]
    fn clones_share_the_switch_to_script_claims() {
        let client = redis::Client::open("redis://127.0.0.1:1").unwrap();
        let store = RedisStore::new(client);
        let clone = store.clone().with_prefix("other:");
        assert!(!store.script_claims() && !clone.script_claims());
        let store = store.with_script_claims();
        assert!(store.script_claims() && clone.script_claims());
    }
}
