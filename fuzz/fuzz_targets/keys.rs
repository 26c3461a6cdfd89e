//! Key parsing in every format, and signers built from arbitrary text: typed errors, never a
//! panic, and no key text in an error message.

#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_receiver::providers::{StandardWebhooks, Stripe};
use webhook_receiver::testing::Signer;
use webhook_receiver::{Key, KeyFormat, Verifier};

const FORMATS: [KeyFormat; 9] = [
    KeyFormat::Raw,
    KeyFormat::Whsec,
    KeyFormat::WhsecOrRaw,
    KeyFormat::Base64,
    KeyFormat::Hex,
    KeyFormat::Ed25519Hex,
    KeyFormat::Ed25519Base64,
    KeyFormat::P256,
    KeyFormat::Raw,
];

fuzz_target!(|text: &str| {
    for format in FORMATS {
        if let Err(e) = Key::parse(format, text) {
            let shown = e.to_string();
            assert!(
                text.len() < 8 || !shown.contains(text),
                "the key text leaked into {shown:?}"
            );
        }
    }
    let _ = Verifier::builder(StandardWebhooks::new()).secret(text).build();
    let _ = Verifier::builder(Stripe::new()).secret(text).build();
    let _ = Signer::new(StandardWebhooks::new(), text).and_then(|s| s.sign(b"{}"));
});
