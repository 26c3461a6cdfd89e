//! Helpers shared by the HTTP tests of both adapters.

#![allow(dead_code)] // Each test file uses a subset.

pub(crate) mod scenarios;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::HeaderMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use webhook_receiver::dedup::{Claim, DedupStore, LeaseToken, StoreError};
use webhook_receiver::providers::StandardWebhooks;
use webhook_receiver::testing::Signer;

pub(crate) const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub(crate) const STRIPE_SECRET: &str = "whsec_test_secret";

/// Standard Webhooks headers for `body`, signed `ts_offset` seconds from now.
pub(crate) fn sw(id: &str, ts_offset: i64, body: &[u8]) -> HeaderMap {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    Signer::new(StandardWebhooks::new(), SW_SECRET)
        .unwrap()
        .id(id)
        .timestamp(now + ts_offset)
        .sign(body)
        .unwrap()
}

/// Sends raw bytes and returns the response's status code.
pub(crate) async fn raw_status(addr: SocketAddr, request: &[u8]) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The server may answer (and close) before reading everything; ignore write errors.
    let _ = stream.write_all(request).await;
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("the server answers in time")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    text.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The raw bytes of a POST of `body` to `path` with `headers`.
pub(crate) fn raw_request(path: &str, headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n{}\r\n",
        body.len(),
        raw_headers(headers)
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Connects and sends `request` without waiting for an answer; dropping the stream hangs up.
pub(crate) async fn send_and_keep_open(addr: SocketAddr, request: &[u8]) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    stream
}

/// Waits (at most about 10 s, polling) until `condition` holds; panics with `what` otherwise.
pub(crate) async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..1000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

/// A request that declares a 10 MB body, sends a few bytes and waits.
pub(crate) fn lying_content_length_request(path: &str) -> Vec<u8> {
    let body = br#"{"n":9}"#;
    let mut bytes = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: 10000000\r\n{}\r\n",
        raw_headers(&sw("msg_cl", 0, body))
    )
    .into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// A chunked request of ten 1000-byte chunks.
pub(crate) fn chunked_request(path: &str) -> Vec<u8> {
    let chunk = vec![b'a'; 1000];
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n{}\r\n",
        raw_headers(&sw("msg_chunked", 0, b"{}"))
    )
    .into_bytes();
    for _ in 0..10 {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(&chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    request
}

fn raw_headers(h: &HeaderMap) -> String {
    h.iter()
        .map(|(k, v)| format!("{k}: {}\r\n", v.to_str().unwrap()))
        .collect()
}

/// A store that is down.
#[derive(Clone)]
pub(crate) struct DownStore;

impl DedupStore for DownStore {
    async fn claim(&self, _: &str, _: Duration) -> Result<Claim, StoreError> {
        Err(StoreError::unavailable("connection refused"))
    }
    async fn complete(&self, _: &str, _: LeaseToken, _: Duration) -> Result<bool, StoreError> {
        Err(StoreError::unavailable("connection refused"))
    }
    async fn release(&self, _: &str, _: LeaseToken) -> Result<bool, StoreError> {
        Err(StoreError::unavailable("connection refused"))
    }
}

/// A store whose `complete` takes a while (a slow network round trip), counting how many
/// completions have started and finished.
#[derive(Clone)]
pub(crate) struct SlowComplete<St> {
    inner: St,
    delay: Duration,
    started: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
}

impl<St> SlowComplete<St> {
    pub(crate) fn new(inner: St, delay: Duration) -> Self {
        Self {
            inner,
            delay,
            started: Arc::default(),
            finished: Arc::default(),
        }
    }

    /// Completions that have started.
    pub(crate) fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }

    /// Completions that have reached the inner store and returned.
    pub(crate) fn finished(&self) -> usize {
        self.finished.load(Ordering::SeqCst)
    }
}

impl<St: DedupStore> DedupStore for SlowComplete<St> {
    async fn claim(&self, key: &str, lease: Duration) -> Result<Claim, StoreError> {
        self.inner.claim(key, lease).await
    }
    async fn complete(
        &self,
        key: &str,
        token: LeaseToken,
        retain: Duration,
    ) -> Result<bool, StoreError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        let done = self.inner.complete(key, token, retain).await;
        self.finished.fetch_add(1, Ordering::SeqCst);
        done
    }
    async fn release(&self, key: &str, token: LeaseToken) -> Result<bool, StoreError> {
        self.inner.release(key, token).await
    }
}
