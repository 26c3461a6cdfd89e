//! Standard Webhooks presets: OpenAI, Clerk, Resend and Svix.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::{
    Clerk, OpenAi, Resend, Scheme, StandardHeaders, StandardWebhooks, Svix,
};
use webhook_receiver::testing::Signer;
use webhook_receiver::{ConfigError, DedupKey, KeyFormat, Verifier, VerifyError};

use super::{at, headers, verifier};

// ------------------------------------------------------------------------------------- OpenAI

// openai/openai-python tests/lib/test_webhooks.py @e43b422 (TEST_SECRET, TEST_PAYLOAD,
// TEST_TIMESTAMP, TEST_WEBHOOK_ID, TEST_SIGNATURE: "taken from a real webhook event"); the same
// values are in openai/openai-node tests/api-resources/webhooks.test.ts @7b7d6ca.
const OPENAI_SECRET: &str = "whsec_RdvaYFYUXuIFuEbvZHwMfYFhUf7aMYjYcmM24+Aj40c=";
const OPENAI_BODY: &[u8] = br#"{"id": "evt_685c059ae3a481909bdc86819b066fb6", "object": "event", "created_at": 1750861210, "type": "response.completed", "data": {"id": "resp_123"}}"#;
const OPENAI_TS: i64 = 1750861210;
const OPENAI_ID: &str = "wh_685c059ae39c8190af8c71ed1022a24d";
const OPENAI_SIG: &str = "v1,gUAg4R2hWouRZqRQG4uJypNS8YK885G838+EHb4nKBY=";

fn webhook(id: &str, ts: &str, sig: &str) -> HeaderMap {
    headers(&[
        ("webhook-id", id),
        ("webhook-timestamp", ts),
        ("webhook-signature", sig),
    ])
}

fn svix(id: &str, ts: &str, sig: &str) -> HeaderMap {
    headers(&[
        ("svix-id", id),
        ("svix-timestamp", ts),
        ("svix-signature", sig),
    ])
}

#[test]
fn openai_sdk_vector() {
    let v = verifier(OpenAi::new(), OPENAI_SECRET);
    let h = webhook(OPENAI_ID, "1750861210", OPENAI_SIG);
    let ok = v.verify_at(&h, OPENAI_BODY, at(OPENAI_TS)).unwrap();
    assert_eq!(ok.scheme(), "openai");
    assert_eq!(ok.unix_timestamp(), Some(OPENAI_TS));
    assert_eq!(ok.dedup_key(), DedupKey::EventId(OPENAI_ID.into()));
    let signed = Signer::new(OpenAi::new(), OPENAI_SECRET)
        .unwrap()
        .id(OPENAI_ID)
        .timestamp(OPENAI_TS)
        .sign(OPENAI_BODY)
        .unwrap();
    assert_eq!(signed["webhook-signature"], OPENAI_SIG);
    assert_eq!(signed["webhook-id"], OPENAI_ID);
    assert!(!signed.contains_key("svix-signature"));
    // The SDK tests' negative cases: another secret, a tampered body.
    assert_eq!(
        verifier(OpenAi::new(), "invalid_secret")
            .verify_at(&h, OPENAI_BODY, at(OPENAI_TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let tampered = String::from_utf8_lossy(OPENAI_BODY).replace("resp_123", "resp_124");
    assert_eq!(
        v.verify_at(&h, tampered.as_bytes(), at(OPENAI_TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // The id and the timestamp are signed.
    let other_id = webhook("wh_other", "1750861210", OPENAI_SIG);
    assert_eq!(
        v.verify_at(&other_id, OPENAI_BODY, at(OPENAI_TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let other_ts = webhook(OPENAI_ID, "1750861211", OPENAI_SIG);
    assert_eq!(
        v.verify_at(&other_ts, OPENAI_BODY, at(OPENAI_TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

// openai/openai-python tests/lib/test_webhook_signature.py @e43b422
// `test_signature_forms_and_secret_encodings`: RAW_SECRET, PREFIXED_SECRET = "whsec_" +
// base64(RAW_SECRET), NOW, PAYLOAD and WEBHOOK_ID; the signature was computed with the test's own
// `signed_headers` recipe (Python `hmac`), as the test does at run time.
const SYNTH_RAW: &str = "synthetic-webhook-secret";
const SYNTH_PREFIXED: &str = "whsec_c3ludGhldGljLXdlYmhvb2stc2VjcmV0";
const SYNTH_BODY: &str = r#"{"synthetic": "café"}"#;
const SYNTH_SIG: &str = "v1,qzuLCtHIXTcfJr8yxIcKC07cOqyNSgdmZRut6AFa+RA=";

#[test]
fn openai_raw_secret_without_prefix_is_used_verbatim() {
    let h = webhook("evt_synthetic", "1750000000", SYNTH_SIG);
    for secret in [SYNTH_RAW, SYNTH_PREFIXED] {
        let checker = verifier(OpenAi::new(), secret);
        let ok = checker
            .verify_at(&h, SYNTH_BODY.as_bytes(), at(1_750_000_000))
            .unwrap();
        assert_eq!(ok.event_id().as_deref(), Some("evt_synthetic"), "{secret}");
    }
    // The trap: the Standard Webhooks libraries base64-decode an unprefixed secret, which this
    // one is not; and a secret that happens to be valid base64 decodes to other bytes.
    assert!(matches!(
        Verifier::builder(StandardWebhooks::new())
            .secret(SYNTH_RAW)
            .build(),
        Err(ConfigError::InvalidSecret { .. })
    ));
    let b64_looking = "c3ludGhldGljLXdlYmhvb2stc2VjcmV0";
    let raw = Signer::new(OpenAi::new(), b64_looking)
        .unwrap()
        .id("evt_synthetic")
        .timestamp(1_750_000_000)
        .sign(SYNTH_BODY.as_bytes())
        .unwrap();
    assert_ne!(
        raw["webhook-signature"], SYNTH_SIG,
        "used verbatim, not decoded"
    );
    assert_eq!(
        verifier(StandardWebhooks::new(), b64_looking)
            .verify_at(&raw, SYNTH_BODY.as_bytes(), at(1_750_000_000))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // `whsec_` with a body that is not base64 is a configuration error, never a panic.
    assert!(matches!(
        Verifier::builder(OpenAi::new())
            .secret("whsec_not base64!")
            .build(),
        Err(ConfigError::InvalidSecret { .. })
    ));
    assert_eq!(OpenAi::new().key_format(), KeyFormat::WhsecOrRaw);
}

#[test]
fn openai_reads_webhook_headers_only() {
    let v = verifier(OpenAi::new(), OPENAI_SECRET);
    let sig = OPENAI_SIG;
    let only_svix = svix(OPENAI_ID, "1750861210", sig);
    assert_eq!(
        v.verify_at(&only_svix, OPENAI_BODY, at(OPENAI_TS))
            .unwrap_err(),
        VerifyError::MissingHeader {
            name: "webhook-id".into()
        }
    );
    // An svix-* header never overrides its webhook-* twin here.
    let mut both = webhook(OPENAI_ID, "1750861210", sig);
    both.insert("svix-id", HeaderValue::from_static("msg_other"));
    both.insert("svix-signature", HeaderValue::from_static("v1,AAAA"));
    let ok = v.verify_at(&both, OPENAI_BODY, at(OPENAI_TS)).unwrap();
    assert_eq!(ok.event_id().as_deref(), Some(OPENAI_ID));
}

#[test]
fn openai_sdk_leniencies_are_refused() {
    let v = verifier(OpenAi::new(), OPENAI_SECRET);
    let bare = OPENAI_SIG.trim_start_matches("v1,");
    // Both SDKs compare an entry without `v1,` too; only `v1,` entries are candidates here.
    assert!(matches!(
        v.verify_at(
            &webhook(OPENAI_ID, "1750861210", bare),
            OPENAI_BODY,
            at(OPENAI_TS)
        ),
        Err(VerifyError::MalformedHeader { .. })
    ));
    // Timestamps the SDKs' `int()` / `parseInt` take (signed as sent): not canonical seconds.
    for ts in [
        "+1750861210",
        "01750861210",
        "1750861210suffix",
        "1750861210.75",
        "",
    ] {
        let mut hm = webhook(OPENAI_ID, "1750861210", OPENAI_SIG);
        match HeaderValue::from_str(ts) {
            Ok(value) => hm.insert("webhook-timestamp", value),
            Err(_) => continue,
        };
        assert!(
            matches!(
                v.verify_at(&hm, OPENAI_BODY, at(OPENAI_TS)),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{ts:?}"
        );
    }
    // An empty id (the Node SDK would sign `{ts}.{body}`) and an id with `.` are malformed.
    for id in ["", "wh.1"] {
        let mut h = webhook("x", "1750861210", OPENAI_SIG);
        h.insert("webhook-id", HeaderValue::from_str(id).unwrap());
        assert!(
            matches!(
                v.verify_at(&h, OPENAI_BODY, at(OPENAI_TS)),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{id:?}"
        );
    }
}

#[test]
fn openai_tolerance_both_ways() {
    // openai-node tests/lib/webhook-signature.test.ts: 300 s old and new pass, 301 fail.
    let v = verifier(OpenAi::new(), OPENAI_SECRET);
    let h = webhook(OPENAI_ID, "1750861210", OPENAI_SIG);
    assert!(v.verify_at(&h, OPENAI_BODY, at(OPENAI_TS + 300)).is_ok());
    assert!(v.verify_at(&h, OPENAI_BODY, at(OPENAI_TS - 300)).is_ok());
    assert!(matches!(
        v.verify_at(&h, OPENAI_BODY, at(OPENAI_TS + 301)),
        Err(VerifyError::TimestampTooOld { .. })
    ));
    assert!(matches!(
        v.verify_at(&h, OPENAI_BODY, at(OPENAI_TS - 301)),
        Err(VerifyError::TimestampInFuture { .. })
    ));
    assert_eq!(
        OpenAi::new().default_tolerance().past,
        Duration::from_secs(300)
    );
    assert_eq!(
        OpenAi::new().default_tolerance().future,
        Duration::from_secs(300)
    );
}

#[test]
fn openai_rotation_and_several_signatures() {
    let old = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let v = Verifier::builder(OpenAi::new())
        .labeled_secret("old", old)
        .labeled_secret("new", OPENAI_SECRET)
        .build()
        .unwrap();
    let h = webhook(OPENAI_ID, "1750861210", OPENAI_SIG);
    let ok = v.verify_at(&h, OPENAI_BODY, at(OPENAI_TS)).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("new")));
    // During rotation a header may carry one entry per secret.
    let by_old = Signer::new(OpenAi::new(), old)
        .unwrap()
        .id(OPENAI_ID)
        .timestamp(OPENAI_TS)
        .sign(OPENAI_BODY)
        .unwrap();
    let two = format!(
        "{} {OPENAI_SIG}",
        by_old["webhook-signature"].to_str().unwrap()
    );
    let only_new = verifier(OpenAi::new(), OPENAI_SECRET);
    assert!(
        only_new
            .verify_at(
                &webhook(OPENAI_ID, "1750861210", &two),
                OPENAI_BODY,
                at(OPENAI_TS)
            )
            .is_ok()
    );
}

// -------------------------------------------------------------------------------------- Clerk

// clerk/javascript packages/backend/src/__tests__/webhooks.test.ts: the test's secret
// (`whsec_` + base64 of "test_signing_secret_32_chars_long"), id and body; the test signs at
// `Date.now()`, so the signature for a fixed timestamp was computed with Python's `hmac` over
// `{id}.{ts}.{body}` and is checked below against the `standardwebhooks` crate too.
const CLERK_SECRET: &str = "whsec_dGVzdF9zaWduaW5nX3NlY3JldF8zMl9jaGFyc19sb25n";
const CLERK_BODY: &[u8] = br#"{"type":"user.created","data":{"id":"user_123"}}"#;
const CLERK_TS: i64 = 1_767_225_600;
const CLERK_SIG: &str = "v1,nm/31A/PMDyhhoSayvDad0wdI6RxRPNwrrye4Mj0g3Q=";

#[test]
fn clerk_vector_and_reference_library() {
    let v = verifier(Clerk::new(), CLERK_SECRET);
    let h = svix("msg_123", "1767225600", CLERK_SIG);
    let ok = v.verify_at(&h, CLERK_BODY, at(CLERK_TS)).unwrap();
    assert_eq!(ok.scheme(), "clerk");
    assert_eq!(ok.dedup_key(), DedupKey::EventId("msg_123".into()));
    let reference = standardwebhooks::Webhook::new(CLERK_SECRET).unwrap();
    assert_eq!(
        reference.sign("msg_123", CLERK_TS, CLERK_BODY).unwrap(),
        CLERK_SIG
    );
    let signed = Signer::new(Clerk::new(), CLERK_SECRET)
        .unwrap()
        .id("msg_123")
        .timestamp(CLERK_TS)
        .sign(CLERK_BODY)
        .unwrap();
    assert_eq!(signed["svix-signature"], CLERK_SIG);
    assert_eq!(signed["svix-id"], "msg_123");
    assert!(!signed.contains_key("webhook-signature"));
    // Clerk's own test: several entries, one valid.
    let two = svix(
        "msg_123",
        "1767225600",
        &format!("v1,invalid_signature {CLERK_SIG}"),
    );
    // `invalid_signature` is not base64 of 32 bytes: skipped, and the valid entry verifies,
    // as in Clerk's test.
    assert!(v.verify_at(&two, CLERK_BODY, at(CLERK_TS)).is_ok());
    let two = svix(
        "msg_123",
        "1767225600",
        &format!("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= {CLERK_SIG}"),
    );
    assert!(v.verify_at(&two, CLERK_BODY, at(CLERK_TS)).is_ok());
    assert_eq!(
        verifier(Clerk::new(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .verify_at(&h, CLERK_BODY, at(CLERK_TS))
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    assert_eq!(
        v.verify_at(
            &h,
            br#"{"type":"user.deleted","data":{"id":"user_123"}}"#,
            at(CLERK_TS)
        )
        .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn clerk_requires_the_svix_headers() {
    // Clerk's `verifyWebhook` throws "Missing required webhook headers: svix-id, …" even when
    // webhook-* twins are present; so does this scheme.
    let v = verifier(Clerk::new(), CLERK_SECRET);
    let h = webhook("msg_123", "1767225600", CLERK_SIG);
    assert_eq!(
        v.verify_at(&h, CLERK_BODY, at(CLERK_TS)).unwrap_err(),
        VerifyError::MissingHeader {
            name: "svix-id".into()
        }
    );
    let mut partial = svix("msg_123", "1767225600", CLERK_SIG);
    partial.remove("svix-timestamp");
    partial.insert("webhook-timestamp", HeaderValue::from_static("1767225600"));
    assert_eq!(
        v.verify_at(&partial, CLERK_BODY, at(CLERK_TS)).unwrap_err(),
        VerifyError::MissingHeader {
            name: "svix-timestamp".into()
        }
    );
    // Repeated webhook-* headers are not read, so they cannot make a Clerk request malformed.
    let mut noise = svix("msg_123", "1767225600", CLERK_SIG);
    noise.append("webhook-id", HeaderValue::from_static("a"));
    noise.append("webhook-id", HeaderValue::from_static("b"));
    assert!(v.verify_at(&noise, CLERK_BODY, at(CLERK_TS)).is_ok());
    // Expired and future, 5 minutes each way.
    assert!(matches!(
        v.verify_at(
            &svix("msg_123", "1767225600", CLERK_SIG),
            CLERK_BODY,
            at(CLERK_TS + 301)
        ),
        Err(VerifyError::TimestampTooOld { .. })
    ));
    assert!(matches!(
        v.verify_at(
            &svix("msg_123", "1767225600", CLERK_SIG),
            CLERK_BODY,
            at(CLERK_TS - 301)
        ),
        Err(VerifyError::TimestampInFuture { .. })
    ));
}

// ------------------------------------------------------------------------------- Resend, Svix

// standard-webhooks/standard-webhooks libraries/python/standardwebhooks/tests.py
// `test_sign_function`, which the Svix docs use as their example (svix/svix-webhooks server
// test); resend/resend-node src/webhooks/webhooks.spec.ts @3f67459 signs with the same secret.
const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SW_TS: i64 = 1614265330;
const SW_BODY: &[u8] = br#"{"test": 2432232314}"#;
const SW_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

#[test]
fn resend_and_svix_read_both_families() {
    for scheme in [Resend::new().name(), Svix::new().name()] {
        let v = match scheme {
            "resend" => verifier(Resend::new(), SW_SECRET),
            _ => verifier(Svix::new(), SW_SECRET),
        };
        for h in [
            svix(SW_ID, "1614265330", SW_SIG),
            webhook(SW_ID, "1614265330", SW_SIG),
        ] {
            let ok = v.verify_at(&h, SW_BODY, at(SW_TS)).unwrap();
            assert_eq!(ok.scheme(), scheme);
            assert_eq!(ok.dedup_key(), DedupKey::EventId(SW_ID.into()));
        }
        // svix-* wins over its twin, as in the Svix libraries.
        let mut h = svix(SW_ID, "1614265330", SW_SIG);
        h.insert("webhook-signature", HeaderValue::from_static("v1,AAAA"));
        assert!(v.verify_at(&h, SW_BODY, at(SW_TS)).is_ok(), "{scheme}");
        assert_eq!(
            v.verify_at(&h, b"{\"test\": 1}", at(SW_TS)).unwrap_err(),
            VerifyError::SignatureMismatch
        );
    }
    // Both sign with the svix-* names, as Svix sends by default.
    for signed in [
        Signer::new(Resend::new(), SW_SECRET)
            .unwrap()
            .id(SW_ID)
            .timestamp(SW_TS)
            .sign(SW_BODY)
            .unwrap(),
        Signer::new(Svix::new(), SW_SECRET)
            .unwrap()
            .id(SW_ID)
            .timestamp(SW_TS)
            .sign(SW_BODY)
            .unwrap(),
    ] {
        assert_eq!(signed["svix-signature"], SW_SIG);
        assert_eq!(signed["svix-timestamp"], "1614265330");
        assert!(!signed.contains_key("webhook-id"));
    }
}

#[test]
fn resend_refuses_other_versions() {
    // resend-python accepts an entry of any version carrying a valid signature (`v2,…`).
    let v = verifier(Resend::new(), SW_SECRET);
    let v2 = SW_SIG.replacen("v1,", "v2,", 1);
    assert!(matches!(
        v.verify_at(&svix(SW_ID, "1614265330", &v2), SW_BODY, at(SW_TS)),
        Err(VerifyError::MalformedHeader { .. })
    ));
    // A valid v1 entry beside it still passes: other versions are ignored, not fatal.
    let both = format!("{v2} {SW_SIG}");
    assert!(
        v.verify_at(&svix(SW_ID, "1614265330", &both), SW_BODY, at(SW_TS))
            .is_ok()
    );
}

#[test]
fn svix_asymmetric_v1a() {
    // svix/svix-webhooks server/svix-server/src/worker.rs `test_asymmetric_key_signing`
    // @4fc0cfb: the first vector's id, timestamp and body signed with Ed25519.
    let v = Verifier::builder(Svix::new())
        .public_key("whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=")
        .build()
        .unwrap();
    let h = svix(
        SW_ID,
        "1614265330",
        "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==",
    );
    let ok = v.verify_at(&h, SW_BODY, at(SW_TS)).unwrap();
    assert_eq!(ok.scheme(), "svix");
    assert_eq!(
        v.verify_at(&h, b"{\"test\": 1}", at(SW_TS)).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn presets_round_trip_rotate_and_report_their_names() {
    fn check<S: Scheme + Copy>(scheme: S, name: &str, old: &str, new: &str) {
        let signer = |key: &str| Signer::new(scheme, key).unwrap().id("msg_rot");
        let v = Verifier::builder(scheme)
            .labeled_secret("old", old)
            .labeled_secret("new", new)
            .build()
            .unwrap();
        let body = br#"{"type":"x"}"#;
        let h = signer(new).sign(body).unwrap();
        let ok = v.verify(&h, body).unwrap();
        assert_eq!(ok.scheme(), name);
        assert_eq!((ok.key_index(), ok.key_label()), (1, Some("new")));
        assert_eq!(ok.event_id().as_deref(), Some("msg_rot"));
        assert!(v.has_timestamp());
        // A changed body or another key fails.
        assert_eq!(
            v.verify(&h, br#"{"type":"y"}"#).unwrap_err(),
            VerifyError::SignatureMismatch
        );
        let stranger = signer("whsec_AAECAwQFBgcICQoLDA0ODw==").sign(body).unwrap();
        assert_eq!(
            v.verify(&stranger, body).unwrap_err(),
            VerifyError::SignatureMismatch
        );
    }
    let new = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    check(OpenAi::new(), "openai", SW_SECRET, new);
    check(Clerk::new(), "clerk", SW_SECRET, new);
    check(Resend::new(), "resend", SW_SECRET, new);
    check(Svix::new(), "svix", SW_SECRET, new);
}

#[test]
fn standard_headers_builder() {
    // The builder the presets use, on the generic scheme.
    let svix_only = StandardWebhooks::new().with_header_names(StandardHeaders::Svix);
    let v = verifier(svix_only, SW_SECRET);
    assert!(
        v.verify_at(&svix(SW_ID, "1614265330", SW_SIG), SW_BODY, at(SW_TS))
            .is_ok()
    );
    assert!(matches!(
        v.verify_at(&webhook(SW_ID, "1614265330", SW_SIG), SW_BODY, at(SW_TS)),
        Err(VerifyError::MissingHeader { .. })
    ));
    let webhook_only = StandardWebhooks::new().with_header_names(StandardHeaders::Webhook);
    let v = verifier(webhook_only, SW_SECRET);
    assert!(
        v.verify_at(&webhook(SW_ID, "1614265330", SW_SIG), SW_BODY, at(SW_TS))
            .is_ok()
    );
    assert!(matches!(
        v.verify_at(&svix(SW_ID, "1614265330", SW_SIG), SW_BODY, at(SW_TS)),
        Err(VerifyError::MissingHeader { .. })
    ));
    // The default is unchanged: either family, webhook-* written.
    let signed = Signer::new(StandardWebhooks::new(), SW_SECRET)
        .unwrap()
        .sign(SW_BODY)
        .unwrap();
    assert!(signed.contains_key("webhook-signature"));
}
