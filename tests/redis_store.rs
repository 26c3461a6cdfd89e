//! `RedisStore` against a real Redis: the store contract on both claim paths (`SET … NX GET`,
//! Redis >= 7.0, and the script alone), the fallback when a server refuses `NX` with `GET` (as
//! Redis < 7.0 does; simulated by a proxy), the round trips of each operation, a thousand
//! concurrent claims, typed errors, an outage of a server this test starts itself (fail closed,
//! then reconnect), and a lease handed over to a second receiver instance.
//!
//! Runs against Redis >= 7.0 at `REDIS_URL`, or, when it is unset, a private `redis-server`
//! that this test binary starts on a free loopback port (see `servers/mod.rs`). The tests that
//! kill and restart a server, or put a proxy in front of one, always start their own. A missing
//! `redis-server` fails the tests with what to install; it never skips them.

mod servers;

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use servers::{RedisServer, free_port, process_gone, redis_url};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use webhook_receiver::dedup::{
    Claim, DedupStore, DynDedupStore, LeaseToken, RedisStore, StoreError,
};
use webhook_receiver::providers::StandardWebhooks;
use webhook_receiver::testing::{ContractConfig, Signer, store_contract};
use webhook_receiver::{Outcome, ReceiveError, Receiver, Verifier};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BODY: &[u8] = br#"{"type":"invoice.paid"}"#;

/// A key prefix no other test or run uses.
fn unique_prefix() -> String {
    format!("wr-test:{:032x}:", LeaseToken::random().get())
}

/// A store on the shared server (`REDIS_URL`, or this binary's own), or a loud failure.
async fn shared_store() -> RedisStore {
    let url = redis_url();
    match within(30, "connect to Redis", RedisStore::connect(&url)).await {
        Ok(store) => store.with_prefix(unique_prefix()),
        Err(e) => servers::redis_unreachable(&url, &e),
    }
}

fn verifier() -> Verifier {
    Verifier::builder(StandardWebhooks::new())
        .secret(SECRET)
        .build()
        .unwrap()
}

fn receiver<S: DedupStore>(store: S, lease: Duration) -> Receiver<S> {
    Receiver::builder(verifier(), store)
        .lease(lease)
        .build()
        .unwrap()
}

fn signed(id: &str) -> http::HeaderMap {
    Signer::new(StandardWebhooks::new(), SECRET)
        .unwrap()
        .id(id)
        .sign(BODY)
        .unwrap()
}

/// Reads one RESP2 frame: its bytes, and the bulk strings in it (a command's name and
/// arguments). `None` at the end of the stream.
async fn read_frame<R: AsyncBufRead + Unpin>(
    reader: &mut R,
) -> io::Result<Option<(Vec<u8>, Vec<Vec<u8>>)>> {
    let mut raw = Vec::new();
    let mut strings = Vec::new();
    let mut pending = 1usize;
    while pending > 0 {
        pending -= 1;
        let start = raw.len();
        if reader.read_until(b'\n', &mut raw).await? == 0 {
            return Ok(None);
        }
        let line = &raw[start..];
        let kind = line[0];
        let number = std::str::from_utf8(&line[1..])
            .ok()
            .and_then(|n| n.trim_end().parse::<i64>().ok());
        match (kind, number) {
            (b'$', Some(len)) if len >= 0 => {
                let mut data = vec![0; usize::try_from(len).unwrap() + 2];
                reader.read_exact(&mut data).await?;
                raw.extend_from_slice(&data);
                data.truncate(data.len() - 2);
                strings.push(data);
            }
            (b'*', Some(len)) => pending += usize::try_from(len.max(0)).unwrap(),
            (b'$' | b'+' | b'-' | b':', _) => {}
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unexpected RESP line {:?}", String::from_utf8_lossy(line)),
                ));
            }
        }
    }
    Ok(Some((raw, strings)))
}

/// A RESP proxy in front of a Redis server, one upstream connection per client connection.
/// Logs every command as its name plus, for `SET`, its options (`"SET NX GET PX"`), and with
/// `refuse_set_nx_get` answers a `SET` with both `NX` and `GET` `-ERR syntax error` without
/// forwarding it, as Redis < 7.0 does.
struct Proxy {
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
    refused: Arc<AtomicUsize>,
}

impl Proxy {
    async fn start(upstream: u16, refuse_set_nx_get: bool) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(AtomicUsize::new(0));
        let (task_log, task_refused) = (Arc::clone(&log), Arc::clone(&refused));
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (log, refused) = (Arc::clone(&task_log), Arc::clone(&task_refused));
                tokio::spawn(async move {
                    let _ = Self::serve(client, upstream, refuse_set_nx_get, &log, &refused).await;
                });
            }
        });
        Self { port, log, refused }
    }

    async fn serve(
        client: tokio::net::TcpStream,
        upstream: u16,
        refuse_set_nx_get: bool,
        log: &Mutex<Vec<String>>,
        refused: &AtomicUsize,
    ) -> io::Result<()> {
        let server = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await?;
        let (client_read, mut client_write) = client.into_split();
        let (server_read, mut server_write) = server.into_split();
        let (mut client_read, mut server_read) =
            (BufReader::new(client_read), BufReader::new(server_read));
        while let Some((command, args)) = read_frame(&mut client_read).await? {
            let words: Vec<String> = args
                .iter()
                .map(|a| String::from_utf8_lossy(a).to_ascii_uppercase())
                .collect();
            let name = words.first().cloned().unwrap_or_default();
            let options: Vec<&str> = if name == "SET" {
                words
                    .iter()
                    .skip(3)
                    .filter(|w| w.parse::<u64>().is_err())
                    .map(String::as_str)
                    .collect()
            } else {
                Vec::new()
            };
            log.lock().unwrap().push(
                [name.as_str()]
                    .into_iter()
                    .chain(options.iter().copied())
                    .collect::<Vec<_>>()
                    .join(" "),
            );
            if refuse_set_nx_get && options.contains(&"NX") && options.contains(&"GET") {
                refused.fetch_add(1, Ordering::SeqCst);
                client_write.write_all(b"-ERR syntax error\r\n").await?;
                continue;
            }
            server_write.write_all(&command).await?;
            let Some((reply, _)) = read_frame(&mut server_read).await? else {
                return Ok(());
            };
            client_write.write_all(&reply).await?;
        }
        Ok(())
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The commands logged since the last call.
    fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

/// Fails the test instead of hanging if `future` takes longer than `secs`.
async fn within<F: std::future::Future>(secs: u64, what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {secs} s"))
}

#[tokio::test]
async fn redis_store_passes_the_contract() {
    let store = shared_store().await;
    assert!(!store.script_claims());
    store_contract(&store, ContractConfig::real_time()).await;
    assert!(
        !store.script_claims(),
        "Redis >= 7.0 accepts SET NX GET: the fast path stays on"
    );

    // The script-only claims of servers older than 7.0, on the same server.
    let script = shared_store().await.with_script_claims();
    store_contract(&script, ContractConfig::real_time()).await;
    assert!(script.script_claims());

    // Through the dyn-compatible mirror, with a grace just long enough for the contract's late
    // completion (1.5 leases).
    let dynamic: Arc<dyn DynDedupStore> = Arc::new(
        shared_store()
            .await
            .with_completion_grace(Duration::from_millis(600)),
    );
    store_contract(&dynamic, ContractConfig::real_time()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_refusing_set_nx_get_gets_script_claims_and_keeps_the_contract() {
    // A Redis that answers `SET … NX GET` as Redis < 7.0 does: `ERR syntax error`.
    let server = RedisServer::start();
    let proxy = Proxy::start(server.port(), true).await;
    let store = within(10, "connect", RedisStore::connect(&proxy.url()))
        .await
        .expect("connect through the proxy");
    let clone = store.clone();
    proxy.take_log();

    // The first claim is refused as a SET, then decided by the script, on the same call.
    let lease = Duration::from_secs(30);
    let Claim::Acquired(token) = store.claim("evt_old", lease).await.unwrap() else {
        panic!("the first claim of a new key must be acquired");
    };
    assert_eq!(
        proxy.take_log(),
        ["SET NX GET PX", "EVALSHA", "SCRIPT", "EVALSHA"]
    );
    assert!(
        store.script_claims() && clone.script_claims(),
        "remembered, by clones too"
    );
    // From now on: the script only, one round trip per claim.
    assert!(matches!(
        clone.claim("evt_old", lease).await.unwrap(),
        Claim::InFlight { retry_after: Some(left) } if left <= lease
    ));
    assert_eq!(proxy.take_log(), ["EVALSHA"]);
    assert!(store.complete("evt_old", token, lease).await.unwrap());
    assert_eq!(
        proxy.take_log(),
        ["EVALSHA", "SCRIPT", "EVALSHA"],
        "first use of the complete script: NOSCRIPT, loaded, run"
    );
    assert_eq!(
        store.claim("evt_old", lease).await.unwrap(),
        Claim::Completed
    );
    assert_eq!(proxy.take_log(), ["EVALSHA"]);

    // The whole contract on that path, through the same proxy; a second store finds out on
    // its own, once.
    store_contract(&store, ContractConfig::real_time()).await;
    let other = within(10, "connect", RedisStore::connect(&proxy.url()))
        .await
        .expect("connect through the proxy");
    store_contract(&other, ContractConfig::real_time()).await;
    assert!(other.script_claims());
    assert_eq!(
        proxy.refused.load(Ordering::SeqCst),
        2,
        "one refused SET per store"
    );
    assert_eq!(
        proxy
            .take_log()
            .iter()
            .filter(|c| *c == "SET NX GET PX")
            .count(),
        1,
        "only the second store's first claim tried SET NX GET"
    );
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_is_one_set_unless_a_lease_is_at_the_key() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.port(), false).await;
    let store = within(10, "connect", RedisStore::connect(&proxy.url()))
        .await
        .expect("connect through the proxy");
    proxy.take_log();
    let lease = Duration::from_millis(300);
    let retain = Duration::from_secs(30);

    // A new key: one SET.
    let Claim::Acquired(first) = store.claim("evt", lease).await.unwrap() else {
        panic!("acquired");
    };
    assert_eq!(proxy.take_log(), ["SET NX GET PX"]);
    // A duplicate while in flight: the SET finds the lease, the script answers.
    assert!(matches!(
        store.claim("evt", lease).await.unwrap(),
        Claim::InFlight { .. }
    ));
    assert_eq!(
        proxy.take_log(),
        ["SET NX GET PX", "EVALSHA", "SCRIPT", "EVALSHA"]
    );
    assert!(matches!(
        store.claim("evt", lease).await.unwrap(),
        Claim::InFlight { .. }
    ));
    assert_eq!(proxy.take_log(), ["SET NX GET PX", "EVALSHA"]);
    // After the lease, inside the grace: the same two, and the script takes the key over.
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    let Claim::Acquired(second) = store.claim("evt", lease).await.unwrap() else {
        panic!("an expired lease is taken over");
    };
    assert_ne!(first, second);
    assert_eq!(proxy.take_log(), ["SET NX GET PX", "EVALSHA"]);
    assert!(
        !store.complete("evt", first, retain).await.unwrap(),
        "taken over"
    );
    assert!(store.complete("evt", second, retain).await.unwrap());
    proxy.take_log();
    // A completed key: one SET.
    assert_eq!(store.claim("evt", lease).await.unwrap(), Claim::Completed);
    assert_eq!(proxy.take_log(), ["SET NX GET PX"]);
    // Released keys are new again: one SET.
    let Claim::Acquired(token) = store.claim("evt_released", lease).await.unwrap() else {
        panic!("acquired");
    };
    assert!(store.release("evt_released", token).await.unwrap());
    assert_eq!(
        proxy.take_log(),
        ["SET NX GET PX", "EVALSHA", "SCRIPT", "EVALSHA"],
        "first use of the release script: NOSCRIPT, loaded, run"
    );
    assert!(matches!(
        store.claim("evt_released", lease).await.unwrap(),
        Claim::Acquired(_)
    ));
    assert_eq!(proxy.take_log(), ["SET NX GET PX"]);
    assert!(!store.script_claims());
    drop(server);
}

#[tokio::test]
async fn key_layout_is_one_string_per_key_under_the_prefix() {
    let store = shared_store().await;
    let mut raw = store.connection().clone();
    let lease = Duration::from_secs(30);
    let Claim::Acquired(token) = store.claim("evt_layout", lease).await.unwrap() else {
        panic!("first claim must be acquired");
    };
    let key = store.redis_key("evt_layout");
    assert_eq!(key, format!("{}evt_layout", store.prefix()));
    let value: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(value, format!("L600000:{:032x}", token.get()));
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(
        pttl > 600_000 && pttl <= 630_000,
        "lease + grace, got {pttl}"
    );
    let Claim::InFlight {
        retry_after: Some(left),
    } = store.claim("evt_layout", lease).await.unwrap()
    else {
        panic!("second claim must be in flight with the remaining lease");
    };
    assert!(
        left <= lease && left > lease - Duration::from_secs(5),
        "{left:?}"
    );

    assert!(
        store
            .complete("evt_layout", token, Duration::from_secs(60))
            .await
            .unwrap()
    );
    let value: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(value, "C");
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(pttl > 55_000 && pttl <= 60_000, "retention, got {pttl}");

    let Claim::Acquired(token) = store.claim("evt_released", lease).await.unwrap() else {
        panic!("acquired");
    };
    assert!(store.release("evt_released", token).await.unwrap());
    let exists: i64 = redis::cmd("EXISTS")
        .arg(store.redis_key("evt_released"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(exists, 0, "a released key is deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn a_thousand_concurrent_claims_acquire_once() {
    // Two connections, as two receiver instances would have.
    let first = shared_store().await;
    let second = RedisStore::connect(&redis_url())
        .await
        .unwrap()
        .with_prefix(first.prefix());
    let lease = Duration::from_secs(30);
    let acquired = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..1000 {
        let store = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let acquired = Arc::clone(&acquired);
        tasks.push(tokio::spawn(async move {
            match store.claim("evt_race", lease).await.unwrap() {
                Claim::Acquired(_) => {
                    acquired.fetch_add(1, Ordering::SeqCst);
                }
                Claim::InFlight { retry_after } => {
                    let left = retry_after.expect("Redis knows the remaining lease");
                    assert!(left <= lease, "{left:?}");
                }
                Claim::Completed => panic!("nobody completed the key"),
            }
        }));
    }
    within(30, "1000 concurrent claims", async {
        for task in tasks {
            task.await.unwrap();
        }
    })
    .await;
    assert_eq!(acquired.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn errors_are_typed_and_never_show_the_password() {
    // Nothing listens: unavailable.
    let port = free_port();
    let err = within(
        10,
        "connect to a closed port",
        RedisStore::connect(&format!("redis://user:hunter2@127.0.0.1:{port}")),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(!format!("{err:?} {err}").contains("hunter2"), "{err:?}");

    // Not a Redis URL: a backend (configuration) error.
    let err = RedisStore::connect("http://127.0.0.1:6379")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");

    // The store's Debug shows no credentials, even when its connection has some.
    let client = redis::Client::open(format!("redis://user:hunter2@127.0.0.1:{port}")).unwrap();
    let lazy =
        ConnectionManager::new_lazy_with_config(client, ConnectionManagerConfig::new()).unwrap();
    let store = RedisStore::new(lazy).with_prefix("p:");
    let debug = format!("{store:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("\"p:\""), "{debug}");

    // Foreign data at a key: the server's errors are backend errors.
    let store = shared_store().await;
    let mut raw = store.connection().clone();
    let _: i64 = redis::cmd("LPUSH")
        .arg(store.redis_key("a_list"))
        .arg("x")
        .query_async(&mut raw)
        .await
        .unwrap();
    let _: i64 = redis::cmd("PEXPIRE")
        .arg(store.redis_key("a_list"))
        .arg(60_000)
        .query_async(&mut raw)
        .await
        .unwrap();
    let lease = Duration::from_secs(5);
    let err = store.claim("a_list", lease).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    let err = store
        .complete("a_list", LeaseToken::random(), lease)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    let err = store
        .release("a_list", LeaseToken::random())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    let _: () = redis::cmd("SET")
        .arg(store.redis_key("garbage"))
        .arg("not ours")
        .arg("PX")
        .arg(60_000)
        .query_async(&mut raw)
        .await
        .unwrap();
    let err = store.claim("garbage", lease).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(
        !store.script_claims(),
        "a foreign value or type is no reason to leave the fast path"
    );
    assert!(
        !store
            .complete("garbage", LeaseToken::random(), lease)
            .await
            .unwrap(),
        "a value that is no lease is never completed"
    );
    let _: i64 = redis::cmd("DEL")
        .arg(store.redis_key("a_list"))
        .arg(store.redis_key("garbage"))
        .query_async(&mut raw)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_fails_closed_and_the_store_reconnects_after_a_restart() {
    let server = RedisServer::start();
    let port = server.port();
    let url = server.url();
    let store = within(10, "connect", RedisStore::connect(&url))
        .await
        .expect("connect to the test's own redis-server");
    let receiver = receiver(store.clone(), Duration::from_secs(30));
    let processed = std::sync::Mutex::new(Vec::<String>::new());
    let process = |id: &str| processed.lock().unwrap().push(id.to_owned());

    // Before the outage: processed once, then a duplicate.
    let before = signed("msg_before");
    let Outcome::New(d) = receiver.receive(&before, BODY).await.unwrap() else {
        panic!("new");
    };
    process("msg_before");
    assert!(d.complete().await.unwrap());
    assert!(matches!(
        receiver.receive(&before, BODY).await.unwrap(),
        Outcome::Duplicate(_)
    ));
    // A delivery whose handler is running when Redis goes away.
    let running = signed("msg_running");
    let Outcome::New(running_delivery) = receiver.receive(&running, BODY).await.unwrap() else {
        panic!("new");
    };
    process("msg_running");

    drop(server); // killed

    // Every operation fails with `Unavailable`, promptly.
    let lease = Duration::from_secs(30);
    let err = within(10, "claim during the outage", store.claim("k", lease))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let err = within(
        10,
        "complete during the outage",
        store.complete("k", LeaseToken::random(), lease),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let err = within(
        10,
        "release during the outage",
        store.release("k", LeaseToken::random()),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    // The running handler cannot record its completion: the adapter answers 503 and the
    // sender retries.
    let err = within(
        10,
        "complete during the outage",
        running_delivery.complete(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

    // Deliveries during the outage are refused with 503 and never reach the handler.
    let during = signed("msg_during");
    for _ in 0..3 {
        match within(
            10,
            "receive during the outage",
            receiver.receive(&during, BODY),
        )
        .await
        {
            Err(err @ ReceiveError::Store(StoreError::Unavailable(_))) => {
                assert_eq!(err.status(), 503);
                assert_eq!(err.retry_after(), Some(Duration::from_secs(5)));
            }
            Err(other) => panic!("expected a store error, got {other:?}"),
            Ok(_) => panic!("a delivery was accepted while the store was down"),
        }
    }
    assert_eq!(*processed.lock().unwrap(), ["msg_before", "msg_running"]);

    // Redis comes back on the same port: the manager reconnects and the retry is processed.
    let server = RedisServer::start_on(port);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut refused = 0;
    loop {
        assert!(
            Instant::now() < deadline,
            "the store did not reconnect within 30 s ({refused} retries refused)"
        );
        match within(
            10,
            "retry after the restart",
            receiver.receive(&during, BODY),
        )
        .await
        {
            Ok(Outcome::New(d)) => {
                process("msg_during");
                assert!(d.complete().await.unwrap());
                break;
            }
            Ok(_) => panic!("the first accepted retry must be new"),
            Err(err) => {
                assert_eq!(err.status(), 503, "{err:?}");
                refused += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    // Further retries are duplicates: processed exactly once.
    for _ in 0..3 {
        assert!(matches!(
            receiver.receive(&during, BODY).await.unwrap(),
            Outcome::Duplicate(_)
        ));
    }
    assert_eq!(
        *processed.lock().unwrap(),
        ["msg_before", "msg_running", "msg_during"]
    );
    // The scripts were loaded again after NOSCRIPT: every operation works.
    let Claim::Acquired(token) = store.claim("after", lease).await.unwrap() else {
        panic!("acquired");
    };
    assert!(matches!(
        store.claim("after", lease).await.unwrap(),
        Claim::InFlight { .. }
    ));
    assert!(store.release("after", token).await.unwrap());
    // Connection errors are an outage, not an old server: claims still start with SET NX GET.
    assert!(!store.script_claims());
    drop(server);
}

#[tokio::test]
async fn an_expired_lease_lets_another_instance_process_the_retry() {
    let lease = Duration::from_millis(300);
    let first = shared_store().await;
    // Another receiver instance: its own connection, the same prefix.
    let second = RedisStore::connect(&redis_url())
        .await
        .unwrap()
        .with_prefix(first.prefix());
    let instance_a = receiver(first.clone(), lease);
    let instance_b = receiver(second.clone(), lease);
    let headers = signed("msg_handover");

    let Outcome::New(crashed) = instance_a.receive(&headers, BODY).await.unwrap() else {
        panic!("new on instance A");
    };
    // Instance A's handler hangs (or its process died). The retry reaches B while the lease is
    // live: in flight.
    let Outcome::InFlight { retry_after, .. } = instance_b.receive(&headers, BODY).await.unwrap()
    else {
        panic!("in flight on instance B while A's lease is live");
    };
    assert_eq!(retry_after, Duration::from_secs(1), "clamped to one second");
    let key = instance_b.store_key(&verifier().verify(&headers, BODY).unwrap());
    let Claim::InFlight {
        retry_after: Some(left),
    } = second.claim(&key, lease).await.unwrap()
    else {
        panic!("in flight");
    };
    assert!(left <= lease, "{left:?}");

    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    let Outcome::New(taken_over) = instance_b.receive(&headers, BODY).await.unwrap() else {
        panic!("after the lease the retry is processed by instance B");
    };
    assert!(taken_over.complete().await.unwrap());
    // A's late completion changes nothing; every later copy is a duplicate on both.
    assert!(
        !crashed.complete().await.unwrap(),
        "A's lease was taken over"
    );
    for instance in [&instance_a, &instance_b] {
        assert!(matches!(
            instance.receive(&headers, BODY).await.unwrap(),
            Outcome::Duplicate(_)
        ));
    }
}

/// A private server leaves nothing behind when dropped: stopped, its directory deleted, before
/// `drop` returns.
#[test]
fn a_dropped_private_redis_is_stopped_and_deleted() {
    let server = RedisServer::start();
    let (pid, dir) = (server.pid(), server.dir().to_owned());
    assert!(
        dir.is_dir() && !process_gone(pid),
        "running in {}",
        dir.display()
    );
    drop(server);
    assert!(process_gone(pid), "redis-server {pid} still runs");
    assert!(!dir.exists(), "{} is still there", dir.display());
}

/// A private server leaves nothing behind when its test process dies without a chance to clean
/// up (`kill -9`): the watchdog stops it and deletes its directory.
#[test]
fn a_private_redis_is_stopped_and_deleted_when_its_test_process_is_killed() {
    if servers::is_killed_child() {
        let server = RedisServer::start();
        servers::report_and_die(&format!("{} {}", server.pid(), server.dir().display()));
    }
    let report = servers::run_killed_child(
        "a_private_redis_is_stopped_and_deleted_when_its_test_process_is_killed",
    );
    let (pid, dir) = report.split_once(' ').expect("<pid> <dir>");
    let (pid, dir): (u32, &std::path::Path) = (pid.parse().unwrap(), dir.as_ref());
    servers::wait_until(
        Duration::from_secs(60),
        "the killed test's redis-server stopped and its directory deleted",
        || process_gone(pid) && !dir.exists(),
    );
}
