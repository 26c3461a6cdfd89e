//! The lazy JSON event-id reader (Stripe's body `id`, read through `Verified::event_id`) agrees
//! with serde_json on every JSON object with one top-level `id`, and never panics on anything.

#![no_main]

use std::fmt;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use time::OffsetDateTime;
use webhook_receiver::providers::Stripe;
use webhook_receiver::testing::Signer;
use webhook_receiver::Verifier;

const SECRET: &str = "whsec_test_secret";
const TS: i64 = 1_767_225_600;

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| Verifier::builder(Stripe::new()).secret(SECRET).build().expect("valid"))
}

/// How many top-level `id` keys an object has (serde_json keeps only the last of duplicates).
fn count_ids(body: &[u8]) -> Option<usize> {
    struct Count;
    impl<'de> Visitor<'de> for Count {
        type Value = usize;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
            let mut n = 0;
            while let Some(key) = map.next_key::<String>()? {
                n += usize::from(key == "id");
                map.next_value::<IgnoredAny>()?;
            }
            Ok(n)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let n = (&mut de).deserialize_map(Count).ok()?;
    de.end().ok()?;
    Some(n)
}

fuzz_target!(|body: &[u8]| {
    let headers = Signer::new(Stripe::new(), SECRET)
        .expect("valid")
        .timestamp(TS)
        .sign(body)
        .expect("signs");
    let now = OffsetDateTime::from_unix_timestamp(TS).expect("valid time");
    let verified = verifier().verify_at(&headers, body, now).expect("a signed request verifies");
    let ours = verified.event_id().map(|id| id.into_owned());
    if count_ids(body) != Some(1) {
        return;
    }
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let expected = match object.get("id") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => n.as_i64().map(|n| n.to_string()),
        _ => None,
    };
    assert_eq!(ours, expected, "body: {:?}", String::from_utf8_lossy(body));
});
