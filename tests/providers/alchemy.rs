//! Alchemy Notify: HMAC-SHA256 of the body in `X-Alchemy-Signature`, a `whsec_`-looking key used
//! verbatim, dedup by the body `id`.
//!
//! Alchemy publishes no fixed signature. The key is the Notify quickstart's placeholder
//! `whsec_test`; the body has the shape of the official examples' `AlchemyWebhookEvent`
//! (`alchemyplatform/webhook-examples` `node-express/src/webhooksUtil.ts` @28a2888) with the
//! ids of Alchemy's ADDRESS_ACTIVITY example; the MACs were computed with Python's `hmac`
//! (`hmac.new(b"whsec_test", body, hashlib.sha256).hexdigest()`), exactly as the examples'
//! `isValidSignatureForStringBody` computes them.

use webhook_receiver::providers::{Alchemy, StandardWebhooks};
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, Key, KeyFormat, Verifier, VerifyError};

use super::body_hmac::{assert_malformed, common_checks};
use super::{headers, verifier};

const KEY: &str = "whsec_test";
const BODY: &[u8] = br#"{"webhookId":"wh_octjglnywaupz6th","id":"whevt_ogrc5v64myey69ux","createdAt":"2021-12-07T03:52:45.899Z","type":"ADDRESS_ACTIVITY","event":{"network":"ETH_MAINNET","activity":[{"fromAddress":"0x503828976d22510aad0201ac7ec88293211d23da","toAddress":"0xbe3f4b43db5eb49d1f48f53443b9abce45da3b79","blockNum":"0xdf34a3","hash":"0x7a4a39da2a3fa1fc2ef88fd1eaea070286ed2aba21e0419dcfb6d5c5d9f02a72","category":"token","value":293.092129}]}}"#;
const SIG: &str = "dc8a16ec3cb74f76cce7888bf6f4afb5a8caa4568c887dce67c7de24f5a87ff6";
const HEADER: &str = "x-alchemy-signature";

#[test]
fn computed_vector_and_common_checks() {
    let h = headers(&[(HEADER, SIG)]);
    let checker = verifier(Alchemy::new(), KEY);
    let ok = checker.verify(&h, BODY).unwrap();
    assert_eq!(ok.scheme(), "alchemy");
    // The event id, not the webhook id.
    assert_eq!(
        ok.dedup_key(),
        DedupKey::EventId("whevt_ogrc5v64myey69ux".into())
    );
    common_checks(Alchemy::new(), KEY, BODY, &h, HEADER);
}

#[test]
fn whsec_prefix_is_not_decoded() {
    let h = headers(&[(HEADER, SIG)]);
    // Decoding `whsec_test` the Svix way gives the 3 bytes of base64 `test`: another key.
    let svix_style = Key::parse(KeyFormat::Whsec, KEY).unwrap();
    let v = Verifier::builder(Alchemy::new())
        .key(None, svix_style)
        .build()
        .unwrap();
    assert_eq!(
        v.verify(&h, BODY).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // And a Standard Webhooks verifier with the same text cannot verify Alchemy at all.
    assert!(matches!(
        verifier(StandardWebhooks::new(), KEY).verify(&h, BODY),
        Err(VerifyError::MissingHeader { .. })
    ));
    // Keys without the prefix are raw too.
    let plain = Signer::new(Alchemy::new(), "whsk_notakey")
        .unwrap()
        .sign(BODY)
        .unwrap();
    assert!(
        verifier(Alchemy::new(), "whsk_notakey")
            .verify(&plain, BODY)
            .is_ok()
    );
}

#[test]
fn events_without_id_use_the_mac() {
    let body = br#"{"webhookId":"wh_octjglnywaupz6th","type":"MINED_TRANSACTION"}"#;
    let h = Signer::new(Alchemy::new(), KEY)
        .unwrap()
        .sign(body)
        .unwrap();
    let checker = verifier(Alchemy::new(), KEY);
    let ok = checker.verify(&h, body).unwrap();
    assert!(matches!(ok.dedup_key(), DedupKey::Digest(_)));
}

#[test]
fn malformed_signatures() {
    for value in [
        "sha256=dc8a16ec3cb74f76cce7888bf6f4afb5a8caa4568c887dce67c7de24f5a87ff6",
        "v1,3IoW7Dy3T3bM54iL9vSvtajKpFaMiH3OZ8feJPWofvY=",
        "dc8a16ec",
    ] {
        assert_malformed(Alchemy::new(), KEY, BODY, HEADER, value);
    }
}
