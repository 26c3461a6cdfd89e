//! The key cache: expiry, bound, failures, sources. No network: sources serve local test
//! certificates (tests/fixtures/keys).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use futures_util::future::join_all;
use http::HeaderMap;
use time::OffsetDateTime;
use webhook_receiver::keysource::{
    self, DynKeySource, KeyCache, KeyError, KeyKind, KeyRef, KeySource, KeyVerifyError, RemoteKey,
};
use webhook_receiver::providers::{Plaid, Sns, Stripe};
use webhook_receiver::testing::Signer;
use webhook_receiver::{ConfigError, Request, Scheme, Verifier};

const CERT: &str = include_str!("fixtures/keys/sns-a.cert.pem");
const URL_1: &str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem";
const URL_2: &str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-2.pem";
const URL_3: &str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-3.pem";
/// 2030-01-01T00:00:00Z, inside the test certificate's validity (2020 to 2040).
const T: i64 = 1_893_456_000;
/// 2040-01-01T00:00:00Z, the certificate's `notAfter`.
const NOT_AFTER: i64 = 2_208_988_800;

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap()
}

/// Serves `CERT` for every URL, or fails while `down` is set; counts fetches.
#[derive(Clone, Default)]
struct Source {
    fetches: Arc<AtomicUsize>,
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl Source {
    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl KeySource for Source {
    async fn fetch(&self, _key: &KeyRef<'_>) -> Result<Vec<u8>, KeyError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(KeyError::unavailable("down"));
        }
        Ok(CERT.as_bytes().to_vec())
    }
}

fn sns() -> Sns {
    Sns::new("arn:aws:sns:us-east-1:123456789012:orders").unwrap()
}

/// A cache keeping keys for one minute.
fn one_minute(source: impl KeySource) -> keysource::KeyCacheBuilder {
    KeyCache::builder(source).ttl(Duration::from_secs(60))
}

/// A generated SNS key signing at `base` (now): its signer, a source serving its certificate
/// at the signer's own URL and at each of `also`, and a verifier of the topic.
fn generated(also: &[&str]) -> (i64, Signer, webhook_receiver::testing::LocalKeys, Verifier) {
    let base = OffsetDateTime::now_utc().unix_timestamp();
    let (signer, certificate) = Signer::generate(sns()).unwrap();
    let mut keys = webhook_receiver::testing::LocalKeys::new()
        .with(signer.remote_key_id().unwrap(), &certificate);
    for url in also {
        keys = keys.with(*url, &certificate);
    }
    let verifier = Verifier::builder(sns()).build().unwrap();
    (base, signer.timestamp(base), keys, verifier)
}

fn cert_ref(url: &str) -> KeyRef<'_> {
    KeyRef::new("aws-sns", KeyKind::CertificateUrl, url)
}

#[tokio::test]
async fn keys_are_kept_for_the_ttl_then_fetched_again() {
    let source = Source::default();
    let cache = one_minute(source.clone()).build().unwrap();
    let scheme = sns();
    let first = cache
        .resolve(&scheme, &cert_ref(URL_1), at(T))
        .await
        .unwrap();
    let again = cache
        .resolve(&scheme, &cert_ref(URL_1), at(T + 59))
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&first, &again), "served from the cache");
    assert_eq!(source.fetches(), 1);
    cache
        .resolve(&scheme, &cert_ref(URL_1), at(T + 61))
        .await
        .unwrap();
    assert_eq!(source.fetches(), 2, "fetched again after the TTL");
    // Keys are per scheme and id: another URL is another key.
    cache
        .resolve(&scheme, &cert_ref(URL_2), at(T + 61))
        .await
        .unwrap();
    assert_eq!(source.fetches(), 3);
    assert_eq!(cache.len(), 2);
    cache.clear();
    assert!(cache.is_empty());
}

#[tokio::test]
async fn the_cache_is_bounded() {
    let source = Source::default();
    let cache = KeyCache::builder(source.clone())
        .capacity(2)
        .ttl(Duration::from_secs(3600))
        .build()
        .unwrap();
    let scheme = sns();
    cache
        .resolve(&scheme, &cert_ref(URL_1), at(T))
        .await
        .unwrap();
    cache
        .resolve(&scheme, &cert_ref(URL_2), at(T + 10))
        .await
        .unwrap();
    cache
        .resolve(&scheme, &cert_ref(URL_3), at(T + 20))
        .await
        .unwrap();
    assert_eq!(cache.len(), 2);
    // The one that would have expired first (URL_1) made room: it is fetched again, the
    // others are not.
    let before = source.fetches();
    cache
        .resolve(&scheme, &cert_ref(URL_3), at(T + 30))
        .await
        .unwrap();
    assert_eq!(source.fetches(), before);
    cache
        .resolve(&scheme, &cert_ref(URL_1), at(T + 30))
        .await
        .unwrap();
    assert_eq!(source.fetches(), before + 1);
    assert_eq!(cache.len(), 2);
}

#[tokio::test]
async fn a_certificate_is_never_kept_past_its_validity() {
    let source = Source::default();
    let cache = KeyCache::builder(source.clone())
        .ttl(Duration::from_secs(7 * 24 * 3600))
        .build()
        .unwrap();
    let scheme = sns();
    cache
        .resolve(&scheme, &cert_ref(URL_1), at(NOT_AFTER - 60))
        .await
        .unwrap();
    assert_eq!(source.fetches(), 1);
    // Past `notAfter`, well inside the TTL: refused, and looked up again (the provider may
    // have put a new certificate at the URL).
    let result = cache
        .resolve(&scheme, &cert_ref(URL_1), at(NOT_AFTER + 2))
        .await;
    assert!(matches!(result, Err(KeyError::Expired)), "{result:?}");
    assert_eq!(source.fetches(), 2);
    // Before `notBefore` (2020-01-01).
    let result = cache
        .resolve(&scheme, &cert_ref(URL_2), at(1_500_000_000))
        .await;
    assert!(matches!(result, Err(KeyError::Expired)), "{result:?}");
}

#[tokio::test]
async fn failures_are_not_cached() {
    let source = Source::default();
    source.down.store(true, Ordering::SeqCst);
    let cache = KeyCache::new(source.clone());
    let scheme = sns();
    let err = cache
        .resolve(&scheme, &cert_ref(URL_1), at(T))
        .await
        .unwrap_err();
    assert!(matches!(err, KeyError::Unavailable(_)));
    assert_eq!(err.status(), 503);
    assert_eq!(err.retry_after(), Some(keysource::KEY_RETRY_AFTER));
    assert!(cache.is_empty());
    source.down.store(false, Ordering::SeqCst);
    assert!(
        cache
            .resolve(&scheme, &cert_ref(URL_1), at(T))
            .await
            .is_ok()
    );
    assert_eq!(source.fetches(), 2);
}

#[tokio::test]
async fn documents_the_scheme_refuses_are_errors_not_keys() {
    let big = keysource::from_fn(|_key: KeyRef<'static>| async {
        Ok::<_, KeyError>(vec![b'-'; 65 * 1024])
    });
    let cache = KeyCache::new(big);
    let result = cache.resolve(&sns(), &cert_ref(URL_1), at(T)).await;
    assert!(
        matches!(result, Err(KeyError::Invalid { .. })),
        "{result:?}"
    );
    // A certificate where a JWK is expected.
    let cache = KeyCache::new(Source::default());
    let result = cache
        .resolve(
            &Plaid::new(),
            &KeyRef::new("plaid", KeyKind::KeyId, "kid"),
            at(T),
        )
        .await;
    assert!(
        matches!(result, Err(KeyError::Invalid { .. })),
        "{result:?}"
    );
    assert!(cache.is_empty());
}

#[tokio::test]
async fn closures_and_dyn_sources() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let source = keysource::from_fn(move |key: KeyRef<'static>| {
        seen.fetch_add(1, Ordering::SeqCst);
        async move {
            assert_eq!(key.kind, KeyKind::CertificateUrl);
            assert_eq!(key.scheme, "aws-sns");
            Ok::<_, KeyError>(CERT.as_bytes().to_vec())
        }
    });
    let shared: Arc<dyn DynKeySource> = Arc::new(source);
    let cache = KeyCache::new(shared);
    assert!(cache.resolve(&sns(), &cert_ref(URL_1), at(T)).await.is_ok());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let shown = format!("{cache:?}");
    assert!(
        shown.contains("KeyCache") && shown.contains("len: 1"),
        "{shown}"
    );
}

#[test]
fn builder_limits() {
    let bad = [
        KeyCache::builder(Source::default())
            .ttl(Duration::ZERO)
            .build(),
        KeyCache::builder(Source::default())
            .ttl(Duration::from_secs(8 * 24 * 3600))
            .build(),
        KeyCache::builder(Source::default()).capacity(0).build(),
        KeyCache::builder(Source::default())
            .capacity(10_001)
            .build(),
        KeyCache::builder(Source::default())
            .miss_ttl(Duration::from_secs(3601))
            .build(),
        KeyCache::builder(Source::default())
            .fetches_per_minute(0)
            .build(),
        KeyCache::builder(Source::default())
            .stale_if_error(Duration::from_secs(7 * 24 * 3600 + 1))
            .build(),
    ];
    for result in bad {
        assert!(matches!(result, Err(ConfigError::Invalid { .. })));
    }
}

#[tokio::test]
async fn other_schemes_pass_through_without_fetching() {
    let source = Source::default();
    let cache = KeyCache::new(source.clone());
    let verifier = Verifier::builder(Stripe::new())
        .secret("whsec_test_secret")
        .build()
        .unwrap();
    let body = br#"{"id":"evt_1"}"#;
    let headers = Signer::new(Stripe::new(), "whsec_test_secret")
        .unwrap()
        .sign(body)
        .unwrap();
    let verified = cache
        .verify_request(&verifier, &Request::new(&headers, body))
        .await
        .unwrap();
    assert_eq!(verified.event_id().as_deref(), Some("evt_1"));
    assert_eq!(source.fetches(), 0);
    assert_eq!(
        verifier
            .remote_key_ref(&Request::new(&headers, body))
            .unwrap(),
        None
    );
    // A bad request is a verification error, not a key error.
    let err = cache
        .verify_request(&verifier, &Request::new(&HeaderMap::new(), body))
        .await
        .unwrap_err();
    assert!(matches!(err, KeyVerifyError::Verify(_)));
    assert_eq!(err.status(), 400);
    assert_eq!(err.retry_after(), None);
}

#[test]
fn remote_keys_and_verifiers_without_keys() {
    // Schemes that fetch their keys build with none; others still need one.
    assert!(Verifier::builder(sns()).build().is_ok());
    assert!(Verifier::builder(Plaid::new()).build().is_ok());
    assert_eq!(
        Verifier::builder(Stripe::new()).build().unwrap_err(),
        ConfigError::NoSecret
    );
    assert!(sns().fetches_keys() && !Stripe::new().fetches_keys());
    let key = RemoteKey::from_certificate(CERT.as_bytes()).unwrap();
    assert!(key.is_valid_at(T) && !key.is_valid_at(NOT_AFTER + 1));
    assert_eq!(format!("{key:?}").matches("redacted").count(), 1);
    let always = RemoteKey::new(key.key().clone());
    assert!(always.is_valid_at(i64::MAX));
    assert!(RemoteKey::from_certificate(b"garbage").is_err());
    assert!(RemoteKey::from_jwk(b"{}").is_err());
    let owned = cert_ref(URL_1).into_owned();
    assert_eq!(owned.id, URL_1);
}

#[test]
fn key_error_statuses() {
    for (error, status) in [
        (KeyError::unavailable("x"), 503),
        (KeyError::NotFound, 401),
        (KeyError::Invalid { reason: "x" }, 401),
        (KeyError::Expired, 401),
        (KeyError::NoSource, 500),
    ] {
        assert_eq!(error.status(), status, "{error}");
        assert_eq!(error.retry_after().is_some(), status == 503);
    }
}

/// The public test source: fixed documents by id, `NotFound` for others, counted fetches,
/// shared by its clones.
#[tokio::test]
async fn local_keys_serve_by_id_and_count() {
    use webhook_receiver::testing::LocalKeys;
    let keys = LocalKeys::new().with(URL_1, CERT);
    let cache = KeyCache::new(keys.clone());
    let scheme = sns();
    assert!(
        cache
            .resolve(&scheme, &cert_ref(URL_1), at(T))
            .await
            .is_ok()
    );
    assert!(matches!(
        cache.resolve(&scheme, &cert_ref(URL_2), at(T)).await,
        Err(KeyError::NotFound)
    ));
    assert_eq!(keys.fetches(), 2);
    // Changed through a clone: seen by the cache's copy (once the miss is forgotten).
    keys.unavailable(URL_2);
    let later = T + 61;
    let err = cache
        .resolve(&scheme, &cert_ref(URL_2), at(later))
        .await
        .unwrap_err();
    assert!(matches!(err, KeyError::Unavailable(_)), "{err:?}");
    assert_eq!(err.status(), 503);
    keys.serve(URL_2, CERT);
    assert!(
        cache
            .resolve(&scheme, &cert_ref(URL_2), at(later))
            .await
            .is_ok()
    );
    keys.remove(URL_3);
    keys.serve(URL_3, CERT);
    keys.remove(URL_3);
    assert!(matches!(
        cache.resolve(&scheme, &cert_ref(URL_3), at(later)).await,
        Err(KeyError::NotFound)
    ));
    assert_eq!(keys.fetches(), 5);
    // Served from the cache: no fetch.
    assert!(
        cache
            .resolve(&scheme, &cert_ref(URL_1), at(later))
            .await
            .is_ok()
    );
    assert_eq!(keys.fetches(), 5);
    // Its Debug names the ids, not the documents.
    let shown = format!("{keys:?}");
    assert!(
        shown.contains(URL_1) && !shown.contains("BEGIN CERTIFICATE"),
        "{shown}"
    );
}

/// A forged request naming a key the provider does not know, sent again and again, costs one
/// fetch per miss TTL, not one per request; an expired key is remembered the same way; a
/// failed fetch is not remembered; `miss_ttl(0)` fetches every time.
#[tokio::test]
async fn misses_are_remembered_for_the_miss_ttl() {
    use webhook_receiver::testing::LocalKeys;
    let keys = LocalKeys::new().with(URL_1, CERT);
    let cache = KeyCache::new(keys.clone());
    let scheme = sns();
    for _ in 0..100 {
        assert!(matches!(
            cache.resolve(&scheme, &cert_ref(URL_2), at(T)).await,
            Err(KeyError::NotFound)
        ));
    }
    assert_eq!(
        keys.fetches(),
        1,
        "one fetch for 100 requests naming one unknown key"
    );
    assert!(matches!(
        cache.resolve(&scheme, &cert_ref(URL_2), at(T + 59)).await,
        Err(KeyError::NotFound)
    ));
    assert_eq!(keys.fetches(), 1);
    // Published meanwhile: seen once the miss is forgotten.
    keys.serve(URL_2, CERT);
    assert!(
        cache
            .resolve(&scheme, &cert_ref(URL_2), at(T + 61))
            .await
            .is_ok()
    );
    assert_eq!(keys.fetches(), 2);

    // A certificate past its validity, named again and again.
    for _ in 0..10 {
        assert!(matches!(
            cache
                .resolve(&scheme, &cert_ref(URL_1), at(NOT_AFTER + 10))
                .await,
            Err(KeyError::Expired)
        ));
    }
    assert_eq!(keys.fetches(), 3);

    // Failures are tried again at once.
    keys.unavailable(URL_3);
    for _ in 0..3 {
        assert!(matches!(
            cache.resolve(&scheme, &cert_ref(URL_3), at(T)).await,
            Err(KeyError::Unavailable(_))
        ));
    }
    assert_eq!(keys.fetches(), 6);

    let keys = LocalKeys::new();
    let cache = KeyCache::builder(keys.clone())
        .miss_ttl(Duration::ZERO)
        .build()
        .unwrap();
    for _ in 0..3 {
        assert!(
            cache
                .resolve(&scheme, &cert_ref(URL_2), at(T))
                .await
                .is_err()
        );
    }
    assert_eq!(keys.fetches(), 3);
}

/// Forged requests naming ever new keys make at most `fetches_per_minute` fetches a minute;
/// past that they are answered 503 with `Retry-After` without a fetch, and a key already held
/// is still served. The next minute the ration is whole again.
#[tokio::test]
async fn fetches_are_rationed_per_minute() {
    use webhook_receiver::testing::LocalKeys;
    let keys = LocalKeys::new().with(URL_1, CERT);
    let cache = KeyCache::builder(keys.clone())
        .fetches_per_minute(10)
        .build()
        .unwrap();
    let scheme = sns();
    assert!(
        cache
            .resolve(&scheme, &cert_ref(URL_1), at(T))
            .await
            .is_ok()
    );
    let mut refused = 0;
    for i in 0..200 {
        let url = format!("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x{i}.pem");
        match cache.resolve(&scheme, &cert_ref(&url), at(T + 1)).await {
            Err(KeyError::NotFound) => {}
            Err(error @ KeyError::Unavailable(_)) => {
                assert_eq!(error.status(), 503);
                assert_eq!(error.retry_after(), Some(keysource::KEY_RETRY_AFTER));
                refused += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(keys.fetches(), 10, "one for URL_1, nine forged");
    assert_eq!(refused, 191);
    assert!(
        cache
            .resolve(&scheme, &cert_ref(URL_1), at(T + 2))
            .await
            .is_ok(),
        "a key held is served whatever the ration"
    );
    keys.serve(URL_2, CERT);
    assert!(
        cache
            .resolve(&scheme, &cert_ref(URL_2), at(T + 61))
            .await
            .is_ok()
    );
    assert_eq!(keys.fetches(), 11);
}

/// Forged requests spending the ration do not lock out a key real deliveries use: a held key
/// a request was verified with is fetched again outside the ration once its TTL has passed (it
/// used to be answered 503 until the minute ended, for as long as the forged requests kept
/// coming). A held key only forged requests named takes from the ration, as a new one does.
#[tokio::test]
async fn a_held_key_is_refreshed_outside_the_ration() {
    let (base, signer, keys, verifier) = generated(&[URL_1]);
    let cache = one_minute(keys.clone())
        .fetches_per_minute(10)
        .build()
        .unwrap();
    let signed = signer
        .sign_request(br#"{"Type":"Notification","Message":"m"}"#)
        .unwrap();
    let request = Request::new(&signed.headers, &signed.body);
    let verify = |t: i64| cache.verify_request_at(&verifier, &request, at(t));
    verify(base).await.unwrap();
    let forged_held = cache
        .resolve(&sns(), &cert_ref(URL_1), at(base))
        .await
        .unwrap();
    for i in 0..20 {
        let url = format!("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x{i}.pem");
        let _ = cache.resolve(&sns(), &cert_ref(&url), at(base + 61)).await;
    }
    assert_eq!(
        keys.fetches(),
        12,
        "two held keys, then the next minute's ration spent"
    );
    verify(base + 62).await.unwrap();
    assert_eq!(keys.fetches(), 13, "fetched again, outside the ration");
    // The key only a forged request named waits for the ration (its held copy still answers).
    let again = cache
        .resolve(&sns(), &cert_ref(URL_1), at(base + 62))
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&again, &forged_held));
    assert_eq!(keys.fetches(), 13);
    // A key not held waits for the next minute too.
    let url = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-new.pem";
    let refused = cache.resolve(&sns(), &cert_ref(url), at(base + 63)).await;
    assert!(
        matches!(refused, Err(KeyError::Unavailable(_))),
        "{refused:?}"
    );
    assert_eq!(keys.fetches(), 13);
}

/// While the provider cannot serve a held key, requests are verified with the key held: its
/// fetch is tried again at most every `KEY_REFRESH_INTERVAL`, for up to `stale_if_error` past
/// the TTL; then 503. When the provider is back, the fetched key replaces it.
#[tokio::test]
async fn a_held_key_is_used_while_the_provider_cannot_serve_it() {
    let source = Source::default();
    let cache = one_minute(source.clone())
        .stale_if_error(Duration::from_secs(3600))
        .build()
        .unwrap();
    let scheme = sns();
    let key_ref = cert_ref(URL_1);
    let resolve = |t: i64| cache.resolve(&scheme, &key_ref, at(T + t));
    let held = resolve(0).await.unwrap();
    source.down.store(true, Ordering::SeqCst);
    let interval = i64::try_from(keysource::KEY_REFRESH_INTERVAL.as_secs()).unwrap();
    for (t, fetches) in [
        (61, 2),
        (62, 2),
        (60 + interval, 2),
        (61 + interval, 3),
        (60 + 3599, 4),
    ] {
        let key = resolve(t)
            .await
            .unwrap_or_else(|e| panic!("at T + {t}: {e}"));
        assert!(Arc::ptr_eq(&key, &held), "at T + {t}");
        assert_eq!(source.fetches(), fetches, "at T + {t}");
    }
    let past = resolve(60 + 3600 + interval).await;
    assert!(matches!(past, Err(KeyError::Unavailable(_))), "{past:?}");
    assert_eq!(source.fetches(), 5);
    source.down.store(false, Ordering::SeqCst);
    let fetched = resolve(60 + 3600 + 2 * interval).await.unwrap();
    assert!(!Arc::ptr_eq(&fetched, &held));
    assert_eq!(source.fetches(), 6);

    // With no grace, a failed refresh is a 503 at once.
    let strict = one_minute(source.clone())
        .stale_if_error(Duration::ZERO)
        .build()
        .unwrap();
    strict
        .resolve(&scheme, &cert_ref(URL_1), at(T))
        .await
        .unwrap();
    source.down.store(true, Ordering::SeqCst);
    let refused = strict.resolve(&scheme, &cert_ref(URL_1), at(T + 61)).await;
    assert!(
        matches!(refused, Err(KeyError::Unavailable(_))),
        "{refused:?}"
    );
    // A key past its certificate's validity is never used, whatever the grace.
    let cache = KeyCache::builder(source.clone()).build().unwrap();
    source.down.store(false, Ordering::SeqCst);
    cache
        .resolve(&scheme, &cert_ref(URL_1), at(NOT_AFTER - 10))
        .await
        .unwrap();
    source.down.store(true, Ordering::SeqCst);
    let expired = cache
        .resolve(&scheme, &cert_ref(URL_1), at(NOT_AFTER + 2))
        .await;
    assert!(
        matches!(expired, Err(KeyError::Unavailable(_))),
        "{expired:?}"
    );
}

/// A held key the provider no longer serves is dropped at once, and the miss remembered.
#[tokio::test]
async fn a_held_key_the_provider_drops_is_dropped() {
    use webhook_receiver::testing::LocalKeys;
    let keys = LocalKeys::new().with(URL_1, CERT);
    let cache = one_minute(keys.clone()).build().unwrap();
    let scheme = sns();
    cache
        .resolve(&scheme, &cert_ref(URL_1), at(T))
        .await
        .unwrap();
    keys.remove(URL_1);
    let gone = cache.resolve(&scheme, &cert_ref(URL_1), at(T + 61)).await;
    assert!(matches!(gone, Err(KeyError::NotFound)), "{gone:?}");
    assert!(cache.is_empty());
    let again = cache.resolve(&scheme, &cert_ref(URL_1), at(T + 62)).await;
    assert!(matches!(again, Err(KeyError::NotFound)), "{again:?}");
    assert_eq!(keys.fetches(), 2, "the miss is remembered");
}

/// A burst of deliveries when a key's TTL ends makes one fetch: the others are verified with
/// the key held meanwhile, without waiting for it.
#[tokio::test]
async fn one_request_refreshes_a_held_key_the_others_use_it_meanwhile() {
    let source = Gate::serving(|| Ok(CERT.as_bytes().to_vec()));
    source.gate.add_permits(1);
    let cache = one_minute(source.clone()).build().unwrap();
    let held = cache
        .resolve(&sns(), &cert_ref(URL_1), at(T))
        .await
        .unwrap();
    let refresh = tokio::spawn({
        let cache = cache.clone();
        async move { cache.resolve(&sns(), &cert_ref(URL_1), at(T + 61)).await }
    });
    for _ in 0..500 {
        if source.fetches.load(Ordering::SeqCst) == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        source.fetches.load(Ordering::SeqCst),
        2,
        "the refresh started"
    );
    let (scheme, key_ref) = (sns(), cert_ref(URL_1));
    for t in [61, 62, 65] {
        let resolve = cache.resolve(&scheme, &key_ref, at(T + t));
        let key = tokio::time::timeout(Duration::from_secs(5), resolve)
            .await
            .expect("served without waiting for the refresh")
            .unwrap();
        assert!(Arc::ptr_eq(&key, &held));
    }
    assert_eq!(
        source.fetches.load(Ordering::SeqCst),
        2,
        "one fetch for the burst"
    );
    source.gate.add_permits(1);
    let fetched = refresh.await.unwrap().unwrap();
    assert!(!Arc::ptr_eq(&fetched, &held));
    let after = cache
        .resolve(&sns(), &cert_ref(URL_1), at(T + 66))
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&after, &fetched), "the fetched key is kept");
}

/// A held key whose refresh answers an unusable document is still used (the provider's
/// trouble); one whose refresh answers it is expired, or gone, is dropped at once.
#[tokio::test]
async fn a_refresh_answering_invalid_keeps_the_key_expired_drops_it() {
    use webhook_receiver::testing::LocalKeys;
    const EXPIRED: &str = include_str!("fixtures/keys/sns-a-expired.cert.pem");
    let keys = LocalKeys::new().with(URL_1, CERT);
    let cache = one_minute(keys.clone()).build().unwrap();
    let scheme = sns();
    let held = cache
        .resolve(&scheme, &cert_ref(URL_1), at(T))
        .await
        .unwrap();
    keys.serve(URL_1, "not a certificate");
    let key = cache
        .resolve(&scheme, &cert_ref(URL_1), at(T + 61))
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&key, &held));
    assert_eq!(keys.fetches(), 2);
    keys.serve(URL_1, EXPIRED);
    let interval = i64::try_from(keysource::KEY_REFRESH_INTERVAL.as_secs()).unwrap();
    let expired = cache
        .resolve(&scheme, &cert_ref(URL_1), at(T + 61 + interval))
        .await;
    assert!(matches!(expired, Err(KeyError::Expired)), "{expired:?}");
    assert!(cache.is_empty(), "dropped");
    assert_eq!(keys.fetches(), 3);
}

/// A refresh tried while the clock was far ahead does not hold back the next one once the
/// clock is set right: the wait is never longer than `KEY_REFRESH_INTERVAL`.
#[tokio::test]
async fn a_clock_set_back_does_not_hold_back_refreshes() {
    let source = Source::default();
    let cache = one_minute(source.clone())
        .stale_if_error(Duration::ZERO)
        .build()
        .unwrap();
    let scheme = sns();
    cache
        .resolve(&scheme, &cert_ref(URL_1), at(T))
        .await
        .unwrap();
    source.down.store(true, Ordering::SeqCst);
    let ahead = cache
        .resolve(&scheme, &cert_ref(URL_1), at(T + 100_000))
        .await;
    assert!(matches!(ahead, Err(KeyError::Unavailable(_))), "{ahead:?}");
    source.down.store(false, Ordering::SeqCst);
    cache
        .resolve(&scheme, &cert_ref(URL_1), at(T + 100))
        .await
        .unwrap();
    assert_eq!(source.fetches(), 3);
}

/// Forged requests naming other real certificates make the cache fetch them (they pass every
/// check that can be made before the key) — also ones whose signature then fails; when it is
/// full, they evict one another, never the key real requests were verified with, though its
/// TTL ends first.
#[tokio::test]
async fn keys_no_request_was_verified_with_are_evicted_first() {
    let (base, signer, keys, verifier) = generated(&[URL_1, URL_2, URL_3]);
    let cache = KeyCache::builder(keys.clone()).capacity(2).build().unwrap();
    let body = br#"{"Type":"Notification","Message":"m"}"#;
    let signed = signer.sign_request(body).unwrap();
    let genuine = Request::new(&signed.headers, &signed.body);
    cache
        .verify_request_at(&verifier, &genuine, at(base))
        .await
        .unwrap();
    assert_eq!(keys.fetches(), 1);
    // Another key's signature naming URL_1: fetched, not verified, so not proven.
    let (other, _) = Signer::generate(sns()).unwrap();
    let forged = other
        .timestamp(base)
        .key_id(URL_1)
        .sign_request(body)
        .unwrap();
    let refused = cache
        .verify_request_at(
            &verifier,
            &Request::new(&forged.headers, &forged.body),
            at(base + 1),
        )
        .await;
    assert!(refused.is_err());
    for (i, url) in [URL_2, URL_3].into_iter().enumerate() {
        let t = base + 2 + i64::try_from(i).unwrap();
        cache.resolve(&sns(), &cert_ref(url), at(t)).await.unwrap();
    }
    assert_eq!(keys.fetches(), 4);
    assert_eq!(cache.len(), 2);
    cache
        .verify_request_at(&verifier, &genuine, at(base + 5))
        .await
        .unwrap();
    assert_eq!(keys.fetches(), 4, "the proven key was kept");
}

/// Serves `CERT` (or `answer`'s error) once `gate` lets it; counts fetches.
#[derive(Clone)]
struct Gate {
    fetches: Arc<AtomicUsize>,
    gate: Arc<tokio::sync::Semaphore>,
    answer: Arc<dyn Fn() -> Result<Vec<u8>, KeyError> + Send + Sync>,
}

impl Gate {
    fn serving(answer: impl Fn() -> Result<Vec<u8>, KeyError> + Send + Sync + 'static) -> Self {
        Self {
            fetches: Arc::default(),
            gate: Arc::new(tokio::sync::Semaphore::new(0)),
            answer: Arc::new(answer),
        }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Waits until `n` fetches have started.
    async fn started(&self, n: usize) {
        for _ in 0..500 {
            if self.fetches() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{n} fetches never started ({} did)", self.fetches());
    }
}

impl KeySource for Gate {
    async fn fetch(&self, _key: &KeyRef<'_>) -> Result<Vec<u8>, KeyError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        // One permit per fetch, kept: `add_permits(n)` lets exactly `n` fetches through.
        self.gate.acquire().await.unwrap().forget();
        (self.answer)()
    }
}

/// `n` resolves of `URL_1` at `t`, not started.
fn resolves(
    cache: &KeyCache,
    n: usize,
    t: i64,
) -> Vec<impl Future<Output = Result<Arc<RemoteKey>, KeyError>> + use<>> {
    (0..n)
        .map(|_| {
            let cache = cache.clone();
            async move { cache.resolve(&sns(), &cert_ref(URL_1), at(t)).await }
        })
        .collect()
}

/// Runs `requests` together, opening `source`'s gate once every one of them has been polled
/// (so has started or joined a fetch) and the first fetch has started.
async fn through_the_gate<F: Future>(source: &Gate, requests: Vec<F>) -> Vec<F::Output> {
    let (results, ()) = futures_util::future::join(join_all(requests), async {
        source.started(1).await;
        source.gate.add_permits(100);
    })
    .await;
    results
}

/// A burst of first deliveries naming a key not held yet (a deploy, a rotation) makes one
/// fetch, from one place of the ration: every request gets the same key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_for_a_new_key_share_one_fetch() {
    let source = Gate::serving(|| Ok(CERT.as_bytes().to_vec()));
    let cache = one_minute(source.clone())
        .fetches_per_minute(1)
        .build()
        .unwrap();
    let keys: Vec<_> = through_the_gate(&source, resolves(&cache, 32, T))
        .await
        .into_iter()
        .map(|key| key.expect("served by the shared fetch"))
        .collect();
    assert_eq!(source.fetches(), 1, "one fetch for the burst");
    assert!(keys.iter().all(|key| Arc::ptr_eq(key, &keys[0])));
    assert_eq!(cache.len(), 1);
}

/// The request that started a fetch may go away (its client disconnected): the requests
/// that joined it still get the key, from that one fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_fetch_outlives_the_request_that_started_it() {
    let source = Gate::serving(|| Ok(CERT.as_bytes().to_vec()));
    let cache = one_minute(source.clone()).build().unwrap();
    let first = tokio::spawn(resolves(&cache, 1, T).remove(0));
    source.started(1).await;
    let (results, ()) = futures_util::future::join(join_all(resolves(&cache, 4, T + 1)), async {
        first.abort();
        assert!(first.await.unwrap_err().is_cancelled());
        source.gate.add_permits(100);
    })
    .await;
    for result in results {
        result.expect("served by the fetch its starter left");
    }
    assert_eq!(source.fetches(), 1);
}

/// A shared fetch's failure reaches every request that waited for it, as the source's own
/// error; a key the provider does not know is remembered as a miss, once; a source that
/// panics fails the requests, never leaves them waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_fetch_s_failure_reaches_every_request() {
    let down = Gate::serving(|| Err(KeyError::unavailable("the provider answered 502")));
    let cache = one_minute(down.clone()).build().unwrap();
    for result in through_the_gate(&down, resolves(&cache, 8, T)).await {
        let error = result.unwrap_err();
        assert!(matches!(error, KeyError::Unavailable(_)), "{error:?}");
        let source = std::error::Error::source(&error).expect("the cause");
        assert_eq!(source.to_string(), "the provider answered 502");
        assert!(error.retry_after().is_some());
    }
    assert_eq!(down.fetches(), 1);

    let unknown = Gate::serving(|| Err(KeyError::NotFound));
    let cache = one_minute(unknown.clone()).build().unwrap();
    for result in through_the_gate(&unknown, resolves(&cache, 8, T)).await {
        let error = result.unwrap_err();
        assert!(matches!(error, KeyError::NotFound), "{error:?}");
    }
    let again = cache.resolve(&sns(), &cert_ref(URL_1), at(T + 1)).await;
    assert!(matches!(again, Err(KeyError::NotFound)), "{again:?}");
    assert_eq!(unknown.fetches(), 1, "the miss is remembered");

    let panics = Gate::serving(|| panic!("a source bug"));
    let cache = one_minute(panics.clone()).build().unwrap();
    let results = tokio::time::timeout(
        Duration::from_secs(10),
        through_the_gate(&panics, resolves(&cache, 8, T)),
    )
    .await
    .expect("a panicking source leaves nobody waiting");
    for result in results {
        let error = result.unwrap_err();
        assert!(matches!(error, KeyError::Unavailable(_)), "{error:?}");
    }
}

/// A fetch that hangs is joined for 30 s; a request after that starts its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_fetch_is_not_joined_forever() {
    let source = Gate::serving(|| Ok(CERT.as_bytes().to_vec()));
    let cache = one_minute(source.clone()).build().unwrap();
    let hung = tokio::spawn(resolves(&cache, 1, T).remove(0));
    source.started(1).await;
    let mut joined = std::pin::pin!(resolves(&cache, 1, T + 29).remove(0));
    let polled = std::future::poll_fn(|cx| Poll::Ready(joined.as_mut().poll(cx))).await;
    assert!(polled.is_pending());
    assert_eq!(source.fetches(), 1, "joined within 30 s");
    let own = tokio::spawn(resolves(&cache, 1, T + 31).remove(0));
    source.started(2).await;
    source.gate.add_permits(100);
    joined.await.unwrap();
    hung.await.unwrap().unwrap();
    own.await.unwrap().unwrap();
    assert_eq!(source.fetches(), 2);
}

/// A held key past its usable time that one request is fetching again: the others wait for
/// that fetch instead of failing at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_for_an_unusable_held_key_wait_for_its_refresh() {
    let source = Gate::serving(|| Ok(CERT.as_bytes().to_vec()));
    source.gate.add_permits(1);
    let cache = one_minute(source.clone())
        .stale_if_error(Duration::ZERO)
        .build()
        .unwrap();
    let held = cache
        .resolve(&sns(), &cert_ref(URL_1), at(T))
        .await
        .unwrap();
    let refresh = tokio::spawn(resolves(&cache, 1, T + 61).remove(0));
    source.started(2).await;
    let waited = through_the_gate(&source, resolves(&cache, 3, T + 62)).await;
    let fetched = refresh.await.unwrap().unwrap();
    assert!(!Arc::ptr_eq(&fetched, &held));
    for key in waited {
        let key = key.expect("served by the refresh");
        assert!(Arc::ptr_eq(&key, &fetched));
    }
    assert_eq!(source.fetches(), 2);
}
