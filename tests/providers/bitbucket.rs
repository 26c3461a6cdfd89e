//! Bitbucket Cloud: HMAC-SHA256 of the body in `X-Hub-Signature: sha256=…`.
//!
//! Atlassian publishes no signature example. The body is a shortened `repo:push` payload; the
//! signatures were computed with Python's `hmac` (`hmac.new(secret, body, hashlib.sha256)`, and
//! `hashlib.sha1` for the legacy-shaped one), as the Bitbucket docs describe.

use webhook_receiver::providers::{Bitbucket, GitHub, Intercom};
use webhook_receiver::testing::Signer;
use webhook_receiver::{Algorithm, DedupKey, VerifyError};

use super::body_hmac::{assert_malformed, common_checks};
use super::{headers, verifier};

const SECRET: &str = "bitbucket-webhook-secret";
const BODY: &[u8] = br#"{"push":{"changes":[{"new":{"type":"branch","name":"main","target":{"hash":"709d658dc5b6d6afcd46049c2f332ee3f515a67d"}}}]},"repository":{"full_name":"team/repo","uuid":"{2fd4a6e8-0b7c-4c2e-9d4a-1c2b3a4d5e6f}"},"actor":{"display_name":"Emma"}}"#;
const HEX: &str = "c279628d82e81f20f590fa3bd09f565fd753b909740304906c8756c49921ac8b";
const SHA1_HEX: &str = "6c9f61234cf273734eaa2e1452aaf07135122e0d";
const HEADER: &str = "x-hub-signature";

#[test]
fn computed_vector_and_common_checks() {
    let value = format!("sha256={HEX}");
    let h = headers(&[
        (HEADER, &value),
        ("x-event-key", "repo:push"),
        ("x-request-uuid", "afe5f2ac-9cb0-4a8e-8a6e-2d1f1b0c2e3d"),
    ]);
    let checker = verifier(Bitbucket::new(), SECRET);
    let ok = checker.verify(&h, BODY).unwrap();
    assert_eq!(ok.scheme(), "bitbucket");
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
    common_checks(Bitbucket::new(), SECRET, BODY, &h, HEADER);
    // The unsigned request id does not key the delivery.
    let mut other = h.clone();
    other.insert("x-request-uuid", "another".parse().unwrap());
    assert_eq!(
        verifier(Bitbucket::new(), SECRET)
            .verify(&other, BODY)
            .unwrap()
            .dedup_key(),
        ok.dedup_key()
    );
}

#[test]
fn same_header_name_as_the_sha1_senders() {
    // GitHub's legacy header, Intercom and Meta's legacy header put `sha1=` under this name.
    let sha1 = format!("sha1={SHA1_HEX}");
    assert_malformed(Bitbucket::new(), SECRET, BODY, HEADER, &sha1);
    // And the SHA-1 schemes refuse Bitbucket's value: no prefix dispatch by header name.
    let bitbucket = headers(&[(HEADER, &format!("sha256={HEX}"))]);
    assert!(matches!(
        verifier(Intercom::new(), SECRET).verify(&bitbucket, BODY),
        Err(VerifyError::MalformedHeader { .. })
    ));
    let github_legacy = verifier(GitHub::new().with_legacy_sha1(), SECRET);
    assert!(matches!(
        github_legacy.verify(&bitbucket, BODY),
        Err(VerifyError::MalformedHeader { .. })
    ));
    // Intercom's own SHA-1 over the same body is what the legacy shape carries.
    let intercom = Signer::new(Intercom::new(), SECRET)
        .unwrap()
        .algorithm(Algorithm::HmacSha1)
        .sign(BODY)
        .unwrap();
    assert_eq!(intercom[HEADER], sha1.as_str());
}

#[test]
fn malformed_signatures() {
    for value in [
        HEX.to_owned(),
        format!("SHA256={HEX}"),
        format!("sha256 = {HEX}"),
        format!("sha256={}", &HEX[..40]),
        "sha256=".to_owned(),
        format!("sha512={HEX}{HEX}"),
    ] {
        assert_malformed(Bitbucket::new(), SECRET, BODY, HEADER, &value);
    }
    // Uppercase hex is the same MAC.
    let upper = headers(&[(HEADER, &format!("sha256={}", HEX.to_uppercase()))]);
    assert!(
        verifier(Bitbucket::new(), SECRET)
            .verify(&upper, BODY)
            .is_ok()
    );
}
