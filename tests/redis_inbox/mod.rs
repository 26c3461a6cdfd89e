//! Helpers of the `RedisInbox` test files: engines on the test server under fresh prefixes,
//! bounded waits, raw reads.
#![allow(dead_code)] // Each test binary uses a part.

use std::time::Duration;

use webhook_receiver::dedup::LeaseToken;
use webhook_receiver::inbox::{NewRecord, RedisInbox};

use crate::servers;

/// A key prefix no other test or run uses.
pub(crate) fn unique_prefix(test: &str) -> String {
    format!("wr-inbox-test:{test}:{:032x}:", LeaseToken::random().get())
}

pub(crate) async fn within<F: std::future::Future>(secs: u64, what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {secs} s"))
}

/// An engine with its own connection on the test server, or a loud failure.
pub(crate) async fn engine(prefix: &str) -> RedisInbox {
    let url = servers::redis_url();
    match within(30, "connect to Redis", RedisInbox::connect(&url)).await {
        Ok(engine) => engine.with_prefix(prefix).unwrap(),
        Err(e) => servers::redis_unreachable(&url, &e),
    }
}

pub(crate) async fn raw(engine: &RedisInbox) -> redis::aio::ConnectionManager {
    engine.connection().clone()
}

/// `GET` of a raw key under the engine's prefix.
pub(crate) async fn get_raw<T: redis::FromRedisValue>(
    engine: &RedisInbox,
    suffix: &str,
) -> Option<T> {
    let mut conn = raw(engine).await;
    redis::cmd("GET")
        .arg(format!("{}{suffix}", engine.prefix()))
        .query_async(&mut conn)
        .await
        .unwrap()
}

pub(crate) fn record(key: &str) -> NewRecord {
    NewRecord::new(key, "test", "test-provider", &br#"{"type":"t"}"#[..])
}

/// Deletes the ready stream's consumer group by hand (what an operator may do); asserts it
/// existed.
pub(crate) async fn destroy_group(engine: &RedisInbox) {
    let mut conn = raw(engine).await;
    let destroyed: i64 = redis::cmd("XGROUP")
        .arg("DESTROY")
        .arg(engine.ready_stream())
        .arg("workers")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(destroyed, 1, "the consumer group existed");
}

/// How many entries of the ready stream the consumer group has delivered but not acknowledged.
pub(crate) async fn pending_entries(engine: &RedisInbox) -> u64 {
    let mut conn = raw(engine).await;
    let reply: redis::Value = redis::cmd("XPENDING")
        .arg(engine.ready_stream())
        .arg("workers")
        .query_async(&mut conn)
        .await
        .unwrap();
    match reply {
        redis::Value::Array(items) => match items[0] {
            redis::Value::Int(n) => u64::try_from(n).unwrap(),
            ref other => panic!("unexpected XPENDING count {other:?}"),
        },
        other => panic!("unexpected XPENDING reply {other:?}"),
    }
}

/// The keys the bound counts (the engine's `unfinished` set), sorted.
pub(crate) async fn counted(engine: &RedisInbox) -> Vec<String> {
    let mut conn = raw(engine).await;
    let mut keys: Vec<String> = redis::cmd("SMEMBERS")
        .arg(format!("{}unfinished", engine.prefix()))
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.sort();
    keys
}

/// The length of the engine's ready stream.
pub(crate) async fn xlen(engine: &RedisInbox) -> u64 {
    let mut conn = raw(engine).await;
    redis::cmd("XLEN")
        .arg(engine.ready_stream())
        .query_async(&mut conn)
        .await
        .unwrap()
}
