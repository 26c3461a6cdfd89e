//! Key parsing in every format, and signers built from arbitrary text: typed errors, never a
//! panic, and errors made of static text only (no key text can reach a message).

#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_receiver::providers::{StandardWebhooks, Stripe};
use webhook_receiver::testing::Signer;
use webhook_receiver::{ConfigError, Key, KeyFormat, Verifier};

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
        match Key::parse(format, text) {
            Ok(_)
            | Err(ConfigError::InvalidSecret { label: None, .. })
            | Err(ConfigError::EmptySecret { label: None }) => {}
            Err(other) => panic!("unexpected error for {format:?}: {other:?}"),
        }
    }
    let _ = Verifier::builder(StandardWebhooks::new()).secret(text).build();
    let _ = Verifier::builder(Stripe::new()).secret(text).build();
    let _ = Signer::new(StandardWebhooks::new(), text).and_then(|s| s.sign(b"{}"));
});
