//! Notion: HMAC-SHA256 of the body in `X-Notion-Signature: sha256=…`, dedup by the event `id`,
//! and the unauthenticated `verification_token` request.
//!
//! Notion publishes no fixed signature: `makenotion/notion-sdk-js` `test/webhooks.test.ts`
//! @9060802 signs at run time with `createHmac("sha256", token)`. The token below is that
//! test's `VERIFICATION_TOKEN`; the body is the `page.created` example of
//! developers.notion.com "Event types & delivery"; the signature was computed with Python's
//! `hmac` the same way.

use webhook_receiver::providers::Notion;
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, VerifyError};

use super::body_hmac::{assert_malformed, common_checks};
use super::{headers, verifier};

const TOKEN: &str = "secret_abc123_verification_token";
const BODY: &str = r#"{"id":"367cba44-b6f3-4c92-81e7-6a2e9659efd4","timestamp":"2024-12-05T23:55:34.285Z","workspace_id":"13950b26-c203-4f3b-b97d-93ec06319565","workspace_name":"Quantify Labs","subscription_id":"29d75c0d-5546-4414-8459-7b7a92f1fc4b","integration_id":"0ef2e755-4912-8096-91c1-00376a88a5ca","type":"page.created","authors":[{"id":"c7c11cca-1d73-471d-9b6e-bdef51470190","type":"person"}],"accessible_by":[{"id":"556a1abf-4f08-40c6-878a-75890d2a88ba","type":"person"}],"attempt_number":1,"entity":{"id":"153104cd-477e-809d-8dc4-ff2d96ae3090","type":"page"},"data":{"parent":{"id":"13950b26-c203-4f3b-b97d-93ec06319565","type":"space"}}}"#;
const HEX: &str = "c1640ad7e48231cbbef23eec03326882f537cd61165149fd2c6868323187595c";
const HEADER: &str = "x-notion-signature";

#[test]
fn computed_vector_and_common_checks() {
    let value = format!("sha256={HEX}");
    let h = headers(&[(HEADER, &value)]);
    let checker = verifier(Notion::new(), TOKEN);
    let ok = checker.verify(&h, BODY.as_bytes()).unwrap();
    assert_eq!(ok.scheme(), "notion");
    assert_eq!(
        ok.dedup_key(),
        DedupKey::EventId("367cba44-b6f3-4c92-81e7-6a2e9659efd4".into())
    );
    common_checks(Notion::new(), TOKEN, BODY.as_bytes(), &h, HEADER);
    // The SDK test's ALTERNATE_TOKEN.
    assert_eq!(
        verifier(Notion::new(), "secret_different_token_xyz")
            .verify(&h, BODY.as_bytes())
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn retries_share_the_event_id() {
    // Each retry carries a higher `attempt_number` (1 to 8): another body, the same event.
    let retry = BODY.replace(r#""attempt_number":1"#, r#""attempt_number":2"#);
    let signer = Signer::new(Notion::new(), TOKEN).unwrap();
    let v = verifier(Notion::new(), TOKEN);
    let a = v
        .verify(
            &headers(&[(HEADER, &format!("sha256={HEX}"))]),
            BODY.as_bytes(),
        )
        .unwrap()
        .dedup_key()
        .into_owned();
    let b = v
        .verify(&signer.sign(retry.as_bytes()).unwrap(), retry.as_bytes())
        .unwrap()
        .dedup_key()
        .into_owned();
    assert_eq!(a, b);
}

#[test]
fn signature_shapes() {
    // As the SDK: the prefix is required, 64 hex digits in either case.
    let v = verifier(Notion::new(), TOKEN);
    let upper = format!("sha256={}", HEX.to_uppercase());
    assert!(
        v.verify(&headers(&[(HEADER, &upper)]), BODY.as_bytes())
            .is_ok()
    );
    for value in [
        HEX.to_owned(),
        format!("SHA256={HEX}"),
        format!("sha1={HEX}"),
        "sha256=not-hex-content-here".to_owned(),
        "sha256=abcdef".to_owned(),
        format!("sha256={HEX}0"),
        format!("sha256= {HEX}"),
        "sha256=".to_owned(),
    ] {
        assert_malformed(Notion::new(), TOKEN, BODY.as_bytes(), HEADER, &value);
    }
}

#[test]
fn verification_request() {
    let token = "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl";
    let body = format!(r#"{{"verification_token":"{token}"}}"#);
    assert_eq!(
        Notion::verification_token(body.as_bytes()).as_deref(),
        Some(token)
    );
    let spaced = format!("  {{ \"verification_token\" : \"{token}\" }}\n");
    assert_eq!(
        Notion::verification_token(spaced.as_bytes()).as_deref(),
        Some(token)
    );
    // Not a verification request: events, other shapes, unusable tokens.
    let long = format!(r#"{{"verification_token":"{}"}}"#, "a".repeat(1025));
    for body in [
        BODY,
        r#"{"verification_token":"secret_x","type":"page.created"}"#,
        r#"{"verification_token":""}"#,
        r#"{"verification_token":"two words"}"#,
        r#"{"verification_token":"caf\u00e9"}"#,
        r#"{"verification_token":42}"#,
        r#"{"verification_token":"a","verification_token":"b"}"#,
        r#"[{"verification_token":"secret_x"}]"#,
        r#"{"token":"secret_x"}"#,
        "verification_token=secret_x",
        "",
        &long,
    ] {
        assert_eq!(Notion::verification_token(body.as_bytes()), None, "{body}");
    }
    // The request is unauthenticated: a verifier refuses it whatever it carries.
    let signed_with_itself = Signer::new(Notion::new(), token)
        .unwrap()
        .sign(body.as_bytes())
        .unwrap();
    assert_eq!(
        verifier(Notion::new(), TOKEN)
            .verify(&signed_with_itself, body.as_bytes())
            .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}
