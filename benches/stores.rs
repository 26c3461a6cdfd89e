//! RedisStore and PostgresStore: claims per second against the plain command each is built on,
//! with the same client, the same concurrency, in the same run.
//!
//! Run: `cargo bench --all-features --bench stores`. Uses Redis at `REDIS_URL` and PostgreSQL at
//! `DATABASE_URL`, or, for each that is unset, a private server started as the tests start
//! theirs (`tests/servers/mod.rs`: `redis-server` on a free loopback port, a PostgreSQL cluster
//! on a unix socket, no durability). Numbers of a private server and of a tuned one differ; the
//! ratios compare both commands on the same server. For each concurrency (1, 16, 64
//! Tokio tasks sharing one `ConnectionManager` / one `PgPool`) and each of `OPS` fresh keys it
//! times:
//!
//! * Redis: `RedisStore::claim` (one `SET key value NX GET PX`, for a fresh key) against
//!   `SET key value NX PX lease`; and, for reference, the claims of servers older than Redis
//!   7.0 (one `EVALSHA` of the claim script each), which are not held to the target;
//! * PostgreSQL: `PostgresStore::claim` (one `INSERT … ON CONFLICT … DO UPDATE … WHERE` in a CTE)
//!   against `INSERT … ON CONFLICT DO NOTHING` into a table of the same shape.
//!
//! The measurements of one concurrency alternate, in reversed order every other round (Redis:
//! 5 rounds, PostgreSQL: 2). It prints the best run of each in claims per second, their ratio
//! store / raw (target: at least 0.80), the median of the ratios of the runs taken side by side
//! in one round (`paired`), and how far the raw runs spread (`raw spread`, best / worst: far
//! above 1 means a noisy machine, e.g. CPU steal in a VM; trust `paired` more then). Everything
//! it writes is removed at the end.

#[path = "../tests/servers/mod.rs"]
mod servers;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use webhook_receiver::dedup::{Claim, DedupStore, LeaseToken, PostgresStore, RedisStore};

/// Claims per measurement.
const OPS: usize = 20_000;
const LEVELS: [usize; 3] = [1, 16, 64];
const LEASE: Duration = Duration::from_secs(30);
const TARGET: f64 = 0.80;
/// Rounds per concurrency: Redis runs are short, so it gets more of them.
const REDIS_ROUNDS: usize = 5;
const POSTGRES_ROUNDS: usize = 2;

/// Runs `op(0..ops)` on `concurrency` tasks; returns operations per second.
async fn measure<F, Fut>(concurrency: usize, ops: usize, op: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|first| {
            let op = Arc::clone(&op);
            tokio::spawn(async move {
                let mut i = first;
                while i < ops {
                    op(i).await;
                    i += concurrency;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("benchmark task panicked");
    }
    ops as f64 / start.elapsed().as_secs_f64()
}

/// One concurrency's runs, in claims per second, round by round.
struct Row {
    level: usize,
    raw: Vec<f64>,
    store: Vec<f64>,
}

fn best(runs: &[f64]) -> f64 {
    runs.iter().copied().fold(0.0, f64::max)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn report(name: &str, raw_name: &str, rows: &[Row], target: bool) {
    println!();
    println!("{name} vs {raw_name}: claims/s, {OPS} fresh keys per run, loopback");
    println!(
        "{:>11}  {:>10}  {:>10}  {:>6}  {:>6}  {:>10}",
        "concurrency", "raw", "store", "ratio", "paired", "raw spread"
    );
    for row in rows {
        let (raw, store) = (best(&row.raw), best(&row.store));
        let ratio = store / raw;
        let paired = median(row.store.iter().zip(&row.raw).map(|(s, r)| s / r).collect());
        let worst = row.raw.iter().copied().fold(f64::INFINITY, f64::min);
        let spread = raw / worst;
        let verdict = match (target, ratio >= TARGET) {
            (false, _) => "",
            (true, true) => "ok",
            (true, false) => "BELOW TARGET",
        };
        println!(
            "{:>11}  {raw:>10.0}  {store:>10.0}  {ratio:>6.2}  {paired:>6.2}  {spread:>10.2}  {verdict}",
            row.level
        );
    }
}

async fn redis_bench(run: &str) {
    let url = servers::redis_url();
    let store = RedisStore::connect(&url)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot reach Redis at {}: {e}",
                servers::without_password(&url)
            )
        })
        .with_prefix(format!("wr-bench:{run}:"));
    let conn: ConnectionManager = store.connection().clone();
    // The same connection and prefix: the claims of a server older than 7.0.
    let script = RedisStore::new(conn.clone())
        .with_prefix(store.prefix())
        .with_script_claims();
    let store = Arc::new(store);
    let script = Arc::new(script);
    let raw_value = format!("L600000:{:032x}", LeaseToken::random().get());
    let px = LEASE.as_millis() as u64;

    let raw = |tag: String| {
        let conn = conn.clone();
        let value = raw_value.clone();
        let prefix = store.prefix().to_owned();
        move |i: usize| {
            let mut conn = conn.clone();
            let key = format!("{prefix}raw:{tag}:{i}");
            let value = value.clone();
            async move {
                let set: Option<String> = redis::cmd("SET")
                    .arg(&key)
                    .arg(&value)
                    .arg("NX")
                    .arg("PX")
                    .arg(px)
                    .query_async(&mut conn)
                    .await
                    .expect("SET NX PX");
                assert!(set.is_some(), "fresh key");
            }
        }
    };
    let claim = |store: &Arc<RedisStore>, tag: String| {
        let store = Arc::clone(store);
        move |i: usize| {
            let store = Arc::clone(&store);
            let key = format!("store:{tag}:{i}");
            async move {
                let claim = store.claim(&key, LEASE).await.expect("claim");
                assert!(matches!(claim, Claim::Acquired(_)), "fresh key: {claim:?}");
            }
        }
    };

    // Warm up: connections, script cache.
    measure(4, 1000, raw("warm".to_owned())).await;
    measure(4, 1000, claim(&store, "warm".to_owned())).await;
    measure(4, 1000, claim(&script, "warm-script".to_owned())).await;
    let (mut rows, mut script_rows) = (Vec::new(), Vec::new());
    for level in LEVELS {
        let mut runs = [Vec::new(), Vec::new(), Vec::new()];
        for round in 0..REDIS_ROUNDS {
            for slot in 0..3 {
                let which = if round % 2 == 0 { slot } else { 2 - slot };
                let tag = format!("{level}:{round}:{which}");
                let run = match which {
                    0 => measure(level, OPS, raw(tag)).await,
                    1 => measure(level, OPS, claim(&store, tag)).await,
                    _ => measure(level, OPS, claim(&script, tag)).await,
                };
                runs[which].push(run);
            }
        }
        let [raw, store, script] = runs;
        rows.push(Row {
            level,
            raw: raw.clone(),
            store,
        });
        script_rows.push(Row {
            level,
            raw,
            store: script,
        });
    }
    assert!(
        !store.script_claims(),
        "the server refused SET NX GET (Redis < 7.0?): the fast path was not measured"
    );
    report("RedisStore::claim", "SET NX PX", &rows, true);
    report(
        "RedisStore::claim, script only (Redis < 7.0), for reference,",
        "SET NX PX",
        &script_rows,
        false,
    );

    // Clean up: every key of this run.
    let mut conn = conn.clone();
    let pattern = format!("{}*", store.prefix());
    let mut cursor: u64 = 0;
    for _ in 0..100_000 {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .expect("SCAN");
        if !keys.is_empty() {
            let _: i64 = redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(&mut conn)
                .await
                .expect("UNLINK");
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
}

async fn postgres_bench(run: &str) {
    let pool = servers::pg_pool(64).await;
    let store_table = format!("wr_bench_store_{run}");
    let raw_table = format!("wr_bench_raw_{run}");
    let store = PostgresStore::new(pool.clone())
        .with_table(&store_table)
        .expect("table name");
    store.migrate().await.expect("migrate");
    // The same shape as the store's table.
    for sql in [
        format!(
            "CREATE TABLE \"{raw_table}\" (key text COLLATE \"C\" PRIMARY KEY, \
             token bytea NOT NULL, completed boolean NOT NULL DEFAULT false, \
             expires_at timestamptz NOT NULL)"
        ),
        format!("CREATE INDEX ON \"{raw_table}\" (expires_at)"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&pool)
            .await
            .expect("raw table");
    }
    let insert: Arc<str> = format!(
        "INSERT INTO \"{raw_table}\" (key, token, completed, expires_at) \
         VALUES ($1, $2, false, now() + $3 * interval '1 millisecond') ON CONFLICT DO NOTHING"
    )
    .into();
    let lease_ms = LEASE.as_millis() as i64;

    let raw = |tag: String| {
        let pool = pool.clone();
        let insert = Arc::clone(&insert);
        move |i: usize| {
            let pool = pool.clone();
            let insert = Arc::clone(&insert);
            let key = format!("raw:{tag}:{i}");
            async move {
                let token = LeaseToken::random().get().to_be_bytes().to_vec();
                let done = sqlx::query(sqlx::AssertSqlSafe(insert.clone()))
                    .bind(&key)
                    .bind(token)
                    .bind(lease_ms)
                    .execute(&pool)
                    .await
                    .expect("INSERT ON CONFLICT DO NOTHING");
                assert_eq!(done.rows_affected(), 1, "fresh key");
            }
        }
    };
    let store = Arc::new(store);
    let claim = |tag: String| {
        let store = Arc::clone(&store);
        move |i: usize| {
            let store = Arc::clone(&store);
            let key = format!("store:{tag}:{i}");
            async move {
                let claim = store.claim(&key, LEASE).await.expect("claim");
                assert!(matches!(claim, Claim::Acquired(_)), "fresh key: {claim:?}");
            }
        }
    };

    // Warm up: connections, prepared statements.
    measure(64, 2000, raw("warm".to_owned())).await;
    measure(64, 2000, claim("warm".to_owned())).await;
    let mut rows = Vec::new();
    for level in LEVELS {
        let mut row = Row {
            level,
            raw: Vec::new(),
            store: Vec::new(),
        };
        for round in 0..POSTGRES_ROUNDS {
            let tag = format!("{level}:{round}");
            if round % 2 == 0 {
                row.raw.push(measure(level, OPS, raw(tag.clone())).await);
                row.store.push(measure(level, OPS, claim(tag)).await);
            } else {
                row.store
                    .push(measure(level, OPS, claim(tag.clone())).await);
                row.raw.push(measure(level, OPS, raw(tag)).await);
            }
        }
        rows.push(row);
    }
    report(
        "PostgresStore::claim",
        "INSERT ON CONFLICT DO NOTHING",
        &rows,
        true,
    );

    for table in [&store_table, &raw_table] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP TABLE IF EXISTS \"{table}\""
        )))
        .execute(&pool)
        .await
        .expect("drop table");
    }
    pool.close().await;
}

fn main() {
    // `cargo test --benches` runs benches with `--bench` absent: keep that quick.
    if !std::env::args().any(|a| a == "--bench") {
        println!("stores bench: run with `cargo bench --bench stores`");
        return;
    }
    let run = format!("{:016x}", LeaseToken::random().get() as u64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        redis_bench(&run).await;
        postgres_bench(&run).await;
    });
}
