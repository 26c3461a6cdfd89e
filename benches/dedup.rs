//! MemoryStore: claim+complete cost with a million live keys, scaling to two threads, and memory
//! per live key.
//!
//! Run: `cargo bench --bench dedup`. Prints:
//! * ns per claim+complete pair on one thread, with 1 M live keys already in the store (the
//!   claimed keys replace expired entries, as at steady state, so table growth is not timed);
//! * pairs per second on one thread and on two, and the ratio;
//! * heap bytes per live key, measured by a counting allocator (`allocation-counter`) as the
//!   bytes the store holds after one million claims, divided by one million.

use std::hint::black_box;
use std::time::{Duration, Instant};

use webhook_receiver::dedup::{Claim, DedupStore, MemoryStore};

const LIVE: usize = 1_000_000;
const OPS: usize = 1_000_000;
const LEASE: Duration = Duration::from_secs(30);
const RETAIN: Duration = Duration::from_secs(660);

/// Every future of MemoryStore is ready at once; poll it once.
fn now<F: Future>(f: F) -> F::Output {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(f).poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => unreachable!("MemoryStore futures are ready at once"),
    }
}

fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}:id:evt_{i:024}")).collect()
}

fn pairs(store: &MemoryStore, keys: &[String]) {
    for key in keys {
        let Ok(Claim::Acquired(token)) = now(store.claim(black_box(key), LEASE)) else {
            panic!("fresh key must be acquired");
        };
        assert!(now(store.complete(key, token, RETAIN)).unwrap());
    }
}

/// A store holding `LIVE` completed keys, plus the keys of `batches` claimed with a lease that
/// has already run out: the timed claims then replace expired entries, as in a long-running
/// store at steady size, instead of growing the table (whose page faults would be measured).
fn filled_store(batches: &[&[String]]) -> MemoryStore {
    let store = MemoryStore::with_capacity(4 * LIVE);
    pairs(&store, &keys("fill", LIVE));
    for batch in batches {
        for key in batch.iter() {
            assert!(matches!(
                now(store.claim(key, Duration::from_millis(1))),
                Ok(Claim::Acquired(_))
            ));
        }
    }
    std::thread::sleep(Duration::from_millis(20));
    store
}

fn main() {
    // 1. One thread, 1 M live keys.
    let mut best = f64::MAX;
    for round in 0..3 {
        let batch = keys(&format!("one{round}"), OPS);
        let store = filled_store(&[&batch]);
        let start = Instant::now();
        pairs(&store, &batch);
        let ns = start.elapsed().as_nanos() as f64 / OPS as f64;
        best = best.min(ns);
        println!(
            "round {round}: {ns:.0} ns per claim+complete pair ({} live keys after)",
            store.len()
        );
    }
    println!(
        "one thread, 1 M live keys: best {best:.0} ns per claim+complete pair (target <= 300)"
    );

    // 2. Throughput on one thread vs two, same store size, distinct keys per thread.
    let throughput = |threads: usize| -> f64 {
        let batches: Vec<Vec<String>> = (0..threads)
            .map(|t| keys(&format!("t{threads}-{t}"), OPS / 2))
            .collect();
        let refs: Vec<&[String]> = batches.iter().map(Vec::as_slice).collect();
        let store = filled_store(&refs);
        let start = Instant::now();
        std::thread::scope(|s| {
            for batch in &batches {
                let store = &store;
                s.spawn(move || pairs(store, batch));
            }
        });
        (threads * OPS / 2) as f64 / start.elapsed().as_secs_f64()
    };
    let mut one = 0.0f64;
    let mut two = 0.0f64;
    for _ in 0..3 {
        one = one.max(throughput(1));
        two = two.max(throughput(2));
    }
    println!(
        "throughput: 1 thread {:.2} M pairs/s, 2 threads {:.2} M pairs/s, ratio {:.2} (target >= 1.6)",
        one / 1e6,
        two / 1e6,
        two / one
    );

    // 3. Memory per live key.
    let batch = keys("mem", LIVE);
    let mut store = None;
    let info = allocation_counter::measure(|| {
        let s = MemoryStore::with_capacity(4 * LIVE);
        pairs(&s, &batch);
        store = Some(s);
    });
    let store = store.expect("built");
    println!(
        "memory: {} live keys hold {:.1} MiB of heap = {:.1} bytes per live key (target <= 128; peak {:.1} bytes/key during growth)",
        store.len(),
        info.bytes_current as f64 / (1 << 20) as f64,
        info.bytes_current as f64 / LIVE as f64,
        info.bytes_max as f64 / LIVE as f64,
    );
}
