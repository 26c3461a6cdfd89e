//! PagerDuty v3: the go-pagerduty vector, several `v1=` entries, and the unsigned
//! `X-Webhook-Id` trap.

use http::{HeaderMap, HeaderValue};
use webhook_receiver::providers::PagerDuty;
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, Verifier, VerifyError};

use super::{headers, verifier};

// PagerDuty/go-pagerduty webhookv3/webhookv3_test.go `TestVerifySignature` (secret,
// defaultBody, the "valid", "mismatch", "malformed_header" and "malformed_body" cases)
// @d34fb98c09850c92771001dd77a3609acda0ca29.
const PD_SECRET: &str = "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK";
const PD_BODY: &str = r#"{"event":{"id":"01BWDWL3NYY7LUFPZCC28QUCMK","event_type":"incident.priority_updated","resource_type":"incident","occurred_at":"2021-04-26T17:36:27.458Z","agent":{"html_url":"https://acme.pagerduty.com/users/PLH1HKV","id":"PLH1HKV","self":"https://api.pagerduty.com/users/PLH1HKV","summary":"Tenex Engineer","type":"user_reference"},"client":null,"data":{"id":"PGR0VU2","type":"incident","self":"https://api.pagerduty.com/incidents/PGR0VU2","html_url":"https://acme.pagerduty.com/incidents/PGR0VU2","number":2,"status":"triggered","title":"A little bump in the road","service":{"html_url":"https://acme.pagerduty.com/services/PF9KMXH","id":"PF9KMXH","self":"https://api.pagerduty.com/services/PF9KMXH","summary":"API Service","type":"service_reference"},"assignees":[{"html_url":"https://acme.pagerduty.com/users/PTUXL6G","id":"PTUXL6G","self":"https://api.pagerduty.com/users/PTUXL6G","summary":"User 123","type":"user_reference"}],"escalation_policy":{"html_url":"https://acme.pagerduty.com/escalation_policies/PUS0KTE","id":"PUS0KTE","self":"https://api.pagerduty.com/escalation_policies/PUS0KTE","summary":"Default","type":"escalation_policy_reference"},"teams":[{"html_url":"https://acme.pagerduty.com/teams/PFCVPS0","id":"PFCVPS0","self":"https://api.pagerduty.com/teams/PFCVPS0","summary":"Engineering","type":"team_reference"}],"priority":{"html_url":"https://acme.pagerduty.com/account/incident_priorities","id":"PSO75BM","self":"https://api.pagerduty.com/priorities/PSO75BM","summary":"P1","type":"priority_reference"},"urgency":"high","conference_bridge":{"conference_number":1000,"conference_url":"https://example.com"},"resolve_reason":null}}}"#;
const PD_SIG: &str = "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd";
const PD_MISMATCH: &str = "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5";

fn pd(value: &str) -> HeaderMap {
    headers(&[("x-pagerduty-signature", value)])
}

#[test]
fn go_pagerduty_vector() {
    let v = verifier(PagerDuty::new(), PD_SECRET);
    let h = pd(PD_SIG);
    let ok = v.verify(&h, PD_BODY.as_bytes()).unwrap();
    assert_eq!(ok.scheme(), "pagerduty");
    assert_eq!(ok.unix_timestamp(), None);
    assert_eq!(ok.event_id().as_deref(), Some("01BWDWL3NYY7LUFPZCC28QUCMK"));
    assert_eq!(
        ok.dedup_key(),
        DedupKey::EventId("01BWDWL3NYY7LUFPZCC28QUCMK".into())
    );
    // The signer reproduces it.
    let signed = Signer::new(PagerDuty::new(), PD_SECRET)
        .unwrap()
        .sign(PD_BODY.as_bytes())
        .unwrap();
    assert_eq!(signed["x-pagerduty-signature"], PD_SIG);
    // "mismatch".
    assert_eq!(
        v.verify(&pd(PD_MISMATCH), PD_BODY.as_bytes()).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // "malformed_header": no header at all, and an empty one.
    assert_eq!(
        v.verify(&HeaderMap::new(), PD_BODY.as_bytes()).unwrap_err(),
        VerifyError::MissingHeader {
            name: "x-pagerduty-signature".into()
        }
    );
    assert!(matches!(
        v.verify(&pd(" "), PD_BODY.as_bytes()),
        Err(VerifyError::MalformedHeader { .. })
    ));
    // "malformed_body": an empty body.
    assert!(matches!(
        v.verify(&pd(PD_SIG), b""),
        Err(VerifyError::MalformedBody { .. })
    ));
}

#[test]
fn docs_rotation_header_shape() {
    // PagerDuty/developer-docs docs/webhooks/04-Signatures.md: one `v1=` entry per active
    // secret, comma-separated on one line. The valid one may come in any position.
    let v = verifier(PagerDuty::new(), PD_SECRET);
    for header in [
        format!("{PD_MISMATCH},{PD_SIG}"),
        format!("{PD_SIG},{PD_MISMATCH}"),
        format!("{PD_MISMATCH}, {PD_SIG}"),
        // Other versions and undecodable entries are skipped, as go-pagerduty does.
        format!("v2=abc,{PD_SIG},v1=zz"),
        PD_SIG.to_uppercase().replace("V1=", "v1="),
    ] {
        assert!(
            v.verify(&pd(&header), PD_BODY.as_bytes()).is_ok(),
            "{header}"
        );
    }
    assert_eq!(
        v.verify(
            &pd(&format!("{PD_MISMATCH},{PD_MISMATCH}")),
            PD_BODY.as_bytes()
        )
        .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn malformed_headers() {
    let v = verifier(PagerDuty::new(), PD_SECRET);
    let hex = &PD_SIG[3..];
    for header in [
        hex.to_owned(),
        format!("sha256={hex}"),
        format!("v2={hex}"),
        "v1=".to_owned(),
        "v1=0c0b".to_owned(),
        format!("v1={hex}00"),
        ",,,".to_owned(),
        format!("{PD_SIG},").repeat(9),
    ] {
        assert!(
            matches!(
                v.verify(&pd(&header), PD_BODY.as_bytes()),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{header}"
        );
    }
    let mut h = pd(PD_SIG);
    h.append("x-pagerduty-signature", HeaderValue::from_static(PD_SIG));
    assert!(matches!(
        v.verify(&h, PD_BODY.as_bytes()),
        Err(VerifyError::MalformedHeader { .. })
    ));
}

#[test]
fn tampered_body_and_wrong_key() {
    let v = verifier(PagerDuty::new(), PD_SECRET);
    let tampered = PD_BODY.replace("\"number\":2", "\"number\":3");
    assert_ne!(tampered, PD_BODY);
    assert_eq!(
        v.verify(&pd(PD_SIG), tampered.as_bytes()).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // The secret looks like base64 but is used as text: its decoded bytes do not verify.
    assert_eq!(
        verifier(
            PagerDuty::new(),
            "lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IL"
        )
        .verify(&pd(PD_SIG), PD_BODY.as_bytes())
        .unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn rotation_second_key() {
    // HMAC-SHA256("pd-secret-2", body), computed with Python's hmac module.
    let body = br#"{"event":{"id":"01RT","event_type":"incident.triggered"}}"#;
    let sig = "v1=bc2e257bfdfaf953e334e10331999b77e5db2bc5f78df9112dd110f35bfb3d8e";
    let v = Verifier::builder(PagerDuty::new())
        .labeled_secret("current", "pd-secret-1")
        .labeled_secret("next", "pd-secret-2")
        .build()
        .unwrap();
    let h = pd(sig);
    let ok = v.verify(&h, body).unwrap();
    assert_eq!((ok.key_index(), ok.key_label()), (1, Some("next")));
    let signed = Signer::new(PagerDuty::new(), "pd-secret-2")
        .unwrap()
        .sign(body)
        .unwrap();
    assert_eq!(signed["x-pagerduty-signature"], sig);
}

#[test]
fn unsigned_webhook_id_does_not_change_the_dedup_key() {
    // PagerDuty documents `X-Webhook-Id` for deduplication, but it is not signed.
    let v = verifier(PagerDuty::new(), PD_SECRET);
    let mut a = pd(PD_SIG);
    a.insert("x-webhook-id", HeaderValue::from_static("whk-1"));
    let mut b = pd(PD_SIG);
    b.insert("x-webhook-id", HeaderValue::from_static("whk-2"));
    let ka = v
        .verify(&a, PD_BODY.as_bytes())
        .unwrap()
        .dedup_key()
        .into_owned();
    let kb = v
        .verify(&b, PD_BODY.as_bytes())
        .unwrap()
        .dedup_key()
        .into_owned();
    assert_eq!(ka, kb);
    assert_eq!(ka.to_string(), "id:01BWDWL3NYY7LUFPZCC28QUCMK");
    // A body without `event.id` falls back to the MAC.
    let body = br#"{"messages":[]}"#;
    let h = Signer::new(PagerDuty::new(), PD_SECRET)
        .unwrap()
        .sign(body)
        .unwrap();
    assert!(matches!(
        v.verify(&h, body).unwrap().dedup_key(),
        DedupKey::Digest(_)
    ));
}
