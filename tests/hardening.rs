//! Regression tests for the defects an adversarial review found (forgery, double processing,
//! panics on configuration, leaks). Each test names the defect it pins down; each failed before
//! its fix.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use time::OffsetDateTime;
use webhook_receiver::dedup::{DedupStore, MemoryStore};
use webhook_receiver::providers::{Custom, CustomConfig, GitHub, StandardWebhooks, Stripe};
use webhook_receiver::testing::Signer;
use webhook_receiver::{
    Algorithm, ConfigError, Encoding, MAX_NAMESPACE, MAX_STORED_ID, ManualClock, Outcome, Receiver,
    Verifier, VerifyError,
};

const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const T0: i64 = 1_767_225_600;

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap()
}

fn new(outcome: Outcome<MemoryStore>) -> webhook_receiver::Delivery<MemoryStore> {
    match outcome {
        Outcome::New(delivery) => delivery,
        other => panic!("expected a new delivery, got {other:?}"),
    }
}

/// Defect 1: `{body}{timestamp}` let digits move between the body and the timestamp:
/// `amount=1000` + `<ts>` signed the same bytes as `amount=10` + `00<ts>`, and the leading zeros
/// were accepted. Such templates are refused now, and so are leading zeros.
#[test]
fn custom_templates_that_let_fields_trade_characters_are_refused() {
    let mut config = CustomConfig::new("acme", "x-sig", Encoding::Hex);
    config.timestamp_header = Some("x-ts".into());
    config.template = "{body}{timestamp}".into();
    let err = Custom::new(config.clone()).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Invalid {
                setting: "template",
                ..
            }
        ),
        "{err}"
    );

    // The forgery itself, against a template that is accepted: the shifted split is refused.
    config.template = "{body}.{timestamp}".into();
    let scheme = Custom::new(config).unwrap();
    let verifier = Verifier::builder(scheme.clone())
        .secret("s")
        .build()
        .unwrap();
    let headers = Signer::new(scheme, "s")
        .unwrap()
        .timestamp(T0)
        .sign(b"amount=1000")
        .unwrap();
    assert!(verifier.verify_at(&headers, b"amount=1000", at(T0)).is_ok());
    let mut forged = headers.clone();
    forged.insert("x-ts", HeaderValue::from_str(&format!("00{T0}")).unwrap());
    assert!(matches!(
        verifier.verify_at(&forged, b"amount=10", at(T0)),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

/// Defect 1, the id half: with `{id}{timestamp}…` the id `evt_10` could be presented as `evt_1`
/// with the `0` moved into the timestamp, giving a new dedup key for the same signed bytes.
#[test]
fn custom_ids_cannot_shed_characters_into_the_timestamp() {
    let mut config = CustomConfig::new("acme", "x-sig", Encoding::Hex);
    config.timestamp_header = Some("x-ts".into());
    config.id_header = Some("x-id".into());
    config.template = "{id}{timestamp}{body}".into();
    assert!(Custom::new(config.clone()).is_err());
    // A separated template keeps ids from containing their separator.
    config.template = "{id}.{timestamp}.{body}".into();
    let scheme = Custom::new(config).unwrap();
    let verifier = Verifier::builder(scheme.clone())
        .secret("s")
        .build()
        .unwrap();
    let headers = Signer::new(scheme, "s")
        .unwrap()
        .id("evt.1")
        .timestamp(T0)
        .sign(b"{}")
        .unwrap();
    assert!(matches!(
        verifier.verify_at(&headers, b"{}", at(T0)),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

/// Defect 1: leading zeros in timestamps are refused everywhere.
#[test]
fn timestamps_with_leading_zeros_are_malformed() {
    let verifier = Verifier::builder(StandardWebhooks::new())
        .secret(SW_SECRET)
        .build()
        .unwrap();
    let mut headers = Signer::new(StandardWebhooks::new(), SW_SECRET)
        .unwrap()
        .timestamp(T0)
        .sign(b"{}")
        .unwrap();
    headers.insert(
        "webhook-timestamp",
        HeaderValue::from_str(&format!("0{T0}")).unwrap(),
    );
    assert!(matches!(
        verifier.verify_at(&headers, b"{}", at(T0)),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

/// Defect 3: with legacy SHA-1 enabled, the dedup key was the MAC of whichever header matched, so
/// stripping `X-Hub-Signature-256` from a captured delivery processed it a second time.
#[tokio::test]
async fn one_github_delivery_has_one_key_whichever_signature_is_checked() {
    let scheme = GitHub::new().with_legacy_sha1();
    let verifier = Verifier::builder(scheme).secret("s").build().unwrap();
    let receiver = Receiver::new(verifier, MemoryStore::new());
    let body = br#"{"action":"opened"}"#;
    let signer = Signer::new(scheme, "s").unwrap();
    let mut headers = signer.clone().sign(body).unwrap();
    headers.extend(signer.algorithm(Algorithm::HmacSha1).sign(body).unwrap());
    assert_eq!(headers.len(), 2, "both signature headers: {headers:?}");

    let first = new(receiver.receive(&headers, body).await.unwrap());
    let key = first.key().to_owned();
    assert!(first.complete().await.unwrap());

    let mut stripped = headers.clone();
    stripped.remove("x-hub-signature-256");
    match receiver.receive(&stripped, body).await.unwrap() {
        Outcome::Duplicate(v) => assert_eq!(receiver.store_key(&v), key),
        other => panic!("the SHA-1-only replay must be a duplicate, got {other:?}"),
    }
}

/// Defect 4: with `retain` equal to the replay window, whole-second window checks let a
/// request pass for up to a second after its key expired from the store. The window is now
/// checked to the millisecond, and the retention must be strictly longer than the window.
#[tokio::test]
async fn no_replay_gap_at_the_end_of_the_window() {
    let window = Duration::from_secs(600);
    let clock = ManualClock::at_unix(T0 - 300);
    let verifier = || {
        Verifier::builder(StandardWebhooks::new())
            .secret(SW_SECRET)
            .clock(clock.clone())
            .build()
            .unwrap()
    };
    let store = MemoryStore::builder().clock(clock.clone()).build();
    let err = Receiver::builder(verifier(), store.clone())
        .retain(window)
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Invalid {
                setting: "retain",
                ..
            }
        ),
        "{err}"
    );

    let receiver = Receiver::builder(verifier(), store)
        .retain(window + Duration::from_millis(1))
        .build()
        .unwrap();
    let body = b"{}";
    let headers = Signer::new(StandardWebhooks::new(), SW_SECRET)
        .unwrap()
        .id("msg_gap")
        .timestamp(T0)
        .sign(body)
        .unwrap();
    // Received at the earliest instant the window allows (5 minutes early), completed at once.
    let first = new(receiver.receive(&headers, body).await.unwrap());
    assert!(first.complete().await.unwrap());
    // At every later instant the replay is either a duplicate or refused by the window.
    for offset_ms in [
        0, 299_000, 300_000, 300_999, 599_999, 600_000, 600_001, 600_999,
    ] {
        clock.set(at(T0 - 300) + Duration::from_millis(offset_ms));
        match receiver.receive(&headers, body).await {
            Ok(Outcome::Duplicate(_)) | Err(_) => {}
            Ok(other) => panic!("replay at +{offset_ms} ms processed again: {other:?}"),
        }
    }
}

/// Defect 5: `.tolerance(Duration::MAX)` overflowed (`past + future`) in the receiver builder.
/// Every duration and size setting is checked and refused with an error naming it.
#[test]
fn out_of_range_settings_are_config_errors_not_panics() {
    let setting = |result: Result<(), ConfigError>| match result {
        Err(ConfigError::Invalid { setting, .. }) => setting,
        other => panic!("expected an invalid setting, got {other:?}"),
    };
    let builder = || Verifier::builder(StandardWebhooks::new()).secret(SW_SECRET);
    assert_eq!(
        setting(builder().tolerance(Duration::MAX).build().map(drop)),
        "tolerance_past"
    );
    assert_eq!(
        setting(builder().tolerance_future(Duration::MAX).build().map(drop)),
        "tolerance_future"
    );
    assert_eq!(
        setting(builder().body_limit(0).build().map(drop)),
        "body_limit"
    );
    assert_eq!(
        setting(builder().body_limit(usize::MAX).build().map(drop)),
        "body_limit"
    );
    let receiver = |f: fn(
        webhook_receiver::ReceiverBuilder<MemoryStore>,
    ) -> webhook_receiver::ReceiverBuilder<MemoryStore>| {
        f(Receiver::builder(
            builder().build().unwrap(),
            MemoryStore::new(),
        ))
        .build()
        .map(drop)
    };
    assert_eq!(setting(receiver(|b| b.lease(Duration::MAX))), "lease");
    assert_eq!(setting(receiver(|b| b.lease(Duration::ZERO))), "lease");
    assert_eq!(setting(receiver(|b| b.retain(Duration::MAX))), "retain");
    assert_eq!(setting(receiver(|b| b.retain(Duration::ZERO))), "retain");
    assert_eq!(setting(receiver(|b| b.namespace(""))), "namespace");
    assert_eq!(
        setting(receiver(|b| b.namespace("x".repeat(MAX_NAMESPACE + 1)))),
        "namespace"
    );
    assert_eq!(setting(receiver(|b| b.namespace("a b"))), "namespace");
    // The longest settings that are allowed build.
    assert!(
        builder()
            .tolerance(webhook_receiver::MAX_TOLERANCE)
            .build()
            .map(|v| Receiver::builder(v, MemoryStore::new()).build())
            .is_ok()
    );
}

/// Defect 6: a signed id over ~2.7 KB (or with a NUL) could not be indexed by PostgreSQL, so
/// that delivery got 503 until the sender gave up. Store keys are bounded visible ASCII now.
#[tokio::test]
async fn long_and_binary_ids_get_bounded_store_keys() {
    let verifier = Verifier::builder(StandardWebhooks::new())
        .secret(SW_SECRET)
        .build()
        .unwrap();
    let receiver = Receiver::new(verifier, MemoryStore::new());
    let short = "msg_ok";
    let long = "m".repeat(5000);
    for id in [short, &long] {
        let headers = Signer::new(StandardWebhooks::new(), SW_SECRET)
            .unwrap()
            .id(id)
            .sign(b"{}")
            .unwrap();
        let delivery = new(receiver.receive(&headers, b"{}").await.unwrap());
        let key = delivery.key();
        assert!(key.len() <= MAX_NAMESPACE + MAX_STORED_ID + 12, "{key}");
        assert!(key.bytes().all(|b| b.is_ascii_graphic()), "{key}");
        if id == short {
            assert!(key.ends_with(":id:msg_ok"), "{key}");
        } else {
            assert!(key.contains(":idsha256:"), "{key}");
        }
        assert!(delivery.release().await.unwrap());
    }
}

/// Defect 7: the default namespace was the scheme's name, so two Stripe accounts sharing a store
/// shared keys, and one sender could pre-claim the other's event ids.
#[tokio::test]
async fn endpoints_with_different_keys_never_share_dedup_keys() {
    let store = MemoryStore::new();
    let receiver = |secret: &str| {
        Receiver::new(
            Verifier::builder(Stripe::new())
                .secret(secret)
                .build()
                .unwrap(),
            store.clone(),
        )
    };
    let (a, b) = (receiver("whsec_account_a"), receiver("whsec_account_b"));
    assert_ne!(a.namespace(), b.namespace());
    assert!(a.namespace().starts_with("stripe-"), "{}", a.namespace());
    let body = br#"{"id":"evt_1","type":"invoice.paid"}"#;
    let sign = |secret| {
        Signer::new(Stripe::new(), secret)
            .unwrap()
            .sign(body)
            .unwrap()
    };
    // Account A's sender claims evt_1 first…
    let first = new(a.receive(&sign("whsec_account_a"), body).await.unwrap());
    assert!(first.complete().await.unwrap());
    // …which does not make account B's evt_1 a duplicate.
    let second = new(b.receive(&sign("whsec_account_b"), body).await.unwrap());
    assert!(second.complete().await.unwrap());
    // An explicit namespace is used as given (and is what keeps dedup across rotation).
    let named = Receiver::builder(
        Verifier::builder(Stripe::new())
            .secret("whsec_new")
            .secret("whsec_account_a")
            .build()
            .unwrap(),
        store.clone(),
    )
    .namespace("stripe-billing")
    .build()
    .unwrap();
    assert_eq!(named.namespace(), "stripe-billing");
}

/// Defect 9: `Delivery`'s `Debug` printed the lease token, which completes or releases the claim.
#[tokio::test]
async fn delivery_debug_hides_the_lease_token() {
    let store = MemoryStore::new();
    let verifier = Verifier::builder(StandardWebhooks::new())
        .secret(SW_SECRET)
        .build()
        .unwrap();
    let receiver = Receiver::new(verifier, store.clone());
    let headers: HeaderMap = Signer::new(StandardWebhooks::new(), SW_SECRET)
        .unwrap()
        .sign(b"{}")
        .unwrap();
    let delivery = new(receiver.receive(&headers, b"{}").await.unwrap());
    let shown = format!("{delivery:?}");
    assert!(shown.contains("[redacted]"), "{shown}");
    assert!(!shown.contains("LeaseToken"), "{shown}");
    // The token is still what releases the claim.
    let key = delivery.key().to_owned();
    assert!(delivery.release().await.unwrap());
    assert!(matches!(
        store.claim(&key, Duration::from_secs(1)).await.unwrap(),
        webhook_receiver::dedup::Claim::Acquired(_)
    ));
}

/// Defect 1, proven for the class: under every template `Custom::new` accepts, the signed bytes
/// name one (id, timestamp, body) only. For a signed triple, every other way of cutting its signed
/// bytes into the template's fields, presented with the same signature, is refused.
mod custom_injectivity {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone, PartialEq)]
    enum Piece {
        Lit(String),
        Id,
        Ts,
        Body,
    }

    fn render(pieces: &[Piece]) -> String {
        pieces
            .iter()
            .map(|p| match p {
                Piece::Lit(l) => l.clone(),
                Piece::Id => "{id}".into(),
                Piece::Ts => "{timestamp}".into(),
                Piece::Body => "{body}".into(),
            })
            .collect()
    }

    /// Templates over a small alphabet rich in digits and separators.
    fn template() -> impl Strategy<Value = Vec<Piece>> {
        let lit = "[0-9.:|a]{0,2}".prop_map(Piece::Lit);
        (
            proptest::sample::select(vec![
                vec![Piece::Body],
                vec![Piece::Ts, Piece::Body],
                vec![Piece::Body, Piece::Ts],
                vec![Piece::Id, Piece::Body],
                vec![Piece::Body, Piece::Id],
                vec![Piece::Id, Piece::Ts, Piece::Body],
                vec![Piece::Ts, Piece::Id, Piece::Body],
                vec![Piece::Id, Piece::Body, Piece::Ts],
                vec![Piece::Ts, Piece::Body, Piece::Id],
                vec![Piece::Body, Piece::Id, Piece::Ts],
                vec![Piece::Body, Piece::Ts, Piece::Id],
            ]),
            proptest::collection::vec(lit, 4),
        )
            .prop_map(|(fields, lits)| {
                let mut out = Vec::new();
                for (field, lit) in fields.into_iter().zip(lits.iter().cloned()) {
                    out.push(lit);
                    out.push(field);
                }
                out.push(lits[3].clone());
                out.retain(|p| *p != Piece::Lit(String::new()));
                out
            })
    }

    /// Every (id, timestamp, body) whose rendering under `pieces` is `content`.
    fn cuts(
        pieces: &[Piece],
        content: &[u8],
        acc: &mut Vec<(Piece, Vec<u8>)>,
        out: &mut Vec<Vec<(Piece, Vec<u8>)>>,
    ) {
        let Some((first, rest)) = pieces.split_first() else {
            if content.is_empty() {
                out.push(acc.clone());
            }
            return;
        };
        match first {
            Piece::Lit(l) => {
                if let Some(tail) = content.strip_prefix(l.as_bytes()) {
                    cuts(rest, tail, acc, out);
                }
            }
            field => {
                for n in 0..=content.len() {
                    acc.push((field.clone(), content[..n].to_vec()));
                    cuts(rest, &content[n..], acc, out);
                    acc.pop();
                }
            }
        }
    }

    proptest! {
        // Failures are saved to `proptest-regressions/hardening.txt` (committed) and replayed
        // first; `PROPTEST_CASES` raises the count (CI runs more).
        #![proptest_config(ProptestConfig {
            cases: ProptestConfig::default().cases.max(512),
            failure_persistence: Some(Box::new(
                proptest::test_runner::FileFailurePersistence::Direct(
                    "proptest-regressions/hardening.txt",
                ),
            )),
            ..ProptestConfig::default()
        })]

        #[test]
        fn accepted_templates_are_injective(
            pieces in template(),
            id in "[a-z0-9.:|]{1,6}",
            ts in prop_oneof![Just(0i64), 1i64..10, 10i64..1000, 1_000_000_000i64..1_000_000_010],
            body in "[a-z0-9.:|]{0,6}",
        ) {
            let mut config = CustomConfig::new("p", "x-sig", Encoding::Hex);
            config.template = render(&pieces);
            config.id_header = pieces.contains(&Piece::Id).then(|| "x-id".into());
            config.timestamp_header = pieces.contains(&Piece::Ts).then(|| "x-ts".into());
            let Ok(scheme) = Custom::new(config) else {
                return Ok(()); // Refused templates are not in scope.
            };
            let verifier = Verifier::builder(scheme.clone())
                .secret("s")
                .tolerance(Duration::ZERO)
                .build()
                .unwrap();
            let headers = Signer::new(scheme, "s").unwrap().id(id.clone()).timestamp(ts).sign(body.as_bytes()).unwrap();
            let Ok(_) = verifier.verify_at(&headers, body.as_bytes(), at(ts)) else {
                return Ok(()); // The triple itself is refused (an id with its separator).
            };
            let content = render(&pieces)
                .replace("{id}", &id)
                .replace("{timestamp}", &ts.to_string())
                .replace("{body}", &body);
            let mut all = Vec::new();
            cuts(&pieces, content.as_bytes(), &mut Vec::new(), &mut all);
            prop_assert!(!all.is_empty(), "the signed triple itself is one cut");
            for cut in all {
                let field = |p: Piece| cut.iter().find(|(q, _)| *q == p).map(|(_, v)| v.clone());
                let (id2, ts2, body2) = (field(Piece::Id), field(Piece::Ts), field(Piece::Body).unwrap());
                let same = id2.as_deref().is_none_or(|v| v == id.as_bytes())
                    && ts2.as_deref().is_none_or(|v| v == ts.to_string().as_bytes())
                    && body2 == body.as_bytes();
                if same {
                    continue;
                }
                let mut forged = headers.clone();
                let mut sendable = true;
                for (name, value) in [("x-id", &id2), ("x-ts", &ts2)] {
                    if let Some(value) = value {
                        match HeaderValue::from_bytes(value) {
                            Ok(v) if !value.is_empty() => { forged.insert(name, v); }
                            _ => sendable = false,
                        }
                    }
                }
                if !sendable {
                    continue;
                }
                // Checked at the forged timestamp itself, so the window never hides a forgery.
                let now = ts2
                    .as_deref()
                    .and_then(|t| std::str::from_utf8(t).ok()?.parse::<i64>().ok())
                    .filter(|t| (0..100_000_000_000).contains(t))
                    .unwrap_or(ts);
                prop_assert!(
                    verifier.verify_at(&forged, &body2, at(now)).is_err(),
                    "template {:?}: ({:?}, {}, {:?}) verified as ({:?}, {:?}, {:?})",
                    render(&pieces), id, ts, body,
                    id2.map(|v| String::from_utf8_lossy(&v).into_owned()),
                    ts2.map(|v| String::from_utf8_lossy(&v).into_owned()),
                    String::from_utf8_lossy(&body2),
                );
            }
        }
    }
}
