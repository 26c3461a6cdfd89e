//! Endpoints described by configuration: a provider by name, its keys, tolerances and public URL.

use std::fmt;
use std::time::Duration;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::dedup::DedupStore;
use crate::error::ConfigError;
use crate::providers::{BoxScheme, Custom, CustomConfig, PayPal, Sns, by_name};
use crate::receiver::{PublicUrl, Receiver, ReceiverBuilder};
use crate::verify::{Verifier, VerifierBuilder};

/// One webhook endpoint, as a configuration file describes it: which provider signs its
/// requests, with which keys, and how strictly to check them — the way hosted gateways create a
/// "source" by type. Deserializable (JSON, TOML, YAML…); `Debug` never shows a key.
///
/// ```
/// use webhook_receiver::{EndpointConfig, dedup::MemoryStore};
///
/// let config: EndpointConfig = serde_json::from_str(r#"{
///     "provider": "stripe",
///     "keys": [
///         { "label": "2026-11", "value": "whsec_new" },
///         { "label": "2026-05", "value": "whsec_old" }
///     ],
///     "tolerance_past_secs": 600,
///     "namespace": "stripe-billing"
/// }"#)?;
/// let receiver = config.receiver(MemoryStore::new())?;
/// assert_eq!(receiver.namespace(), "stripe-billing");
/// assert!(!format!("{config:?}").contains("whsec_new"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A key may come from the environment instead of the file: `{ "env": "STRIPE_WEBHOOK_SECRET" }`
/// (optionally with a `label`). A provider the catalog does not know fails with the list of known
/// names; `"provider": "custom"` takes a [`CustomConfig`] under `custom`.
///
/// Three providers name, in each request, a key fetched at run time: `"aws-sns"` (also
/// `"sns"`), which needs the topics it accepts in `topic_arns`; `"paypal"`, which needs its
/// `webhook_id`; and `"plaid"`. They need no `keys` (a key given is pinned instead), but a
/// [`KeyCache`](crate::keysource::KeyCache): build them with
/// [`receiver_builder`](Self::receiver_builder) or
/// [`inbox_endpoint_builder`](Self::inbox_endpoint_builder) and add one —
/// [`receiver`](Self::receiver) and [`inbox_endpoint`](Self::inbox_endpoint) refuse them, as
/// such an endpoint could only answer 500.
///
/// ```
/// use webhook_receiver::{EndpointConfig, dedup::MemoryStore, keysource};
///
/// let config: EndpointConfig = serde_json::from_str(r#"{
///     "provider": "aws-sns",
///     "topic_arns": ["arn:aws:sns:us-east-1:123456789012:orders"]
/// }"#)?;
/// assert!(config.receiver(MemoryStore::new()).is_err()); // no key cache
/// # let my_key_source = keysource::from_fn(|_key: keysource::KeyRef<'static>| async {
/// #     Err::<Vec<u8>, _>(keysource::KeyError::NotFound)
/// # });
/// let receiver = config
///     .receiver_builder(MemoryStore::new())?
///     .key_cache(keysource::KeyCache::new(my_key_source)) // your HTTP client
///     .build()?;
/// assert_eq!(receiver.verifier().scheme().name(), "aws-sns");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct EndpointConfig {
    /// The provider's name in the catalog ([`providers::names`](crate::providers::names)), or
    /// `"custom"`.
    pub provider: String,
    /// The scheme of a `"custom"` provider.
    #[serde(default)]
    pub custom: Option<CustomConfig>,
    /// The SNS topics the endpoint accepts (`arn:aws:sns:<region>:<account>:<topic>`), for
    /// provider `"aws-sns"`, which needs at least one; refused for any other provider.
    #[serde(default)]
    pub topic_arns: Vec<String>,
    /// The id PayPal assigned to the webhook, for provider `"paypal"`, which needs it; refused
    /// for any other provider.
    #[serde(default)]
    pub webhook_id: Option<String>,
    /// The keys, as the provider shows them, in the order they are tried. Default: none, which
    /// only providers whose keys are fetched at run time accept.
    #[serde(default, deserialize_with = "key_list")]
    pub keys: Vec<KeyConfig>,
    /// How old a signed timestamp may be, in seconds. Default: the provider's.
    #[serde(default)]
    pub tolerance_past_secs: Option<u64>,
    /// How far in the future a signed timestamp may be, in seconds. Default: the provider's.
    #[serde(default)]
    pub tolerance_future_secs: Option<u64>,
    /// The largest body accepted, in bytes. Default: 1 MiB.
    #[serde(default)]
    pub body_limit: Option<usize>,
    /// The URL the sender calls, for providers that sign it.
    #[serde(default)]
    pub public_url: Option<PublicUrlConfig>,
    /// The dedup namespace. Default: the scheme's name and a fingerprint of the first key.
    #[serde(default)]
    pub namespace: Option<String>,
    /// How long completed deliveries are remembered, in seconds. Default: the receiver's.
    #[serde(default)]
    pub retain_secs: Option<u64>,
    /// How long a delivery may run before a retry may take it over, in seconds. Default: 30.
    #[serde(default)]
    pub lease_secs: Option<u64>,
}

impl fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointConfig")
            .field("provider", &self.provider)
            .field("topic_arns", &self.topic_arns)
            .field("webhook_id", &self.webhook_id)
            .field("keys", &self.keys)
            .field("tolerance_past_secs", &self.tolerance_past_secs)
            .field("tolerance_future_secs", &self.tolerance_future_secs)
            .field("body_limit", &self.body_limit)
            .field("public_url", &self.public_url)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// A key in an [`EndpointConfig`]: the text itself, or the name of an environment variable that
/// holds it, with an optional label. A bare string is a key without a label; an object takes
/// `label` and exactly one of `value` and `env`, nothing else.
#[derive(Clone)]
#[non_exhaustive]
pub enum KeyConfig {
    /// The key as the provider shows it.
    Plain(String),
    /// The key with a label.
    Value {
        /// Reported in `Verified::key_label` when this key matches.
        label: Option<String>,
        /// The key as the provider shows it.
        value: String,
    },
    /// The key read from an environment variable when the endpoint is built.
    Env {
        /// Reported in `Verified::key_label` when this key matches.
        label: Option<String>,
        /// The variable's name.
        env: String,
    },
}

impl<'de> Deserialize<'de> for KeyConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeyVisitor)
    }
}

/// The error for a key (or a list of keys) that is not text: a number, `true`, `null`… The
/// message never quotes it — serde's own would, and an unquoted secret of digits in YAML or
/// TOML reads as a number.
const NOT_TEXT: &str = "a key must be a string (quote it), not a number, a boolean or null";

/// Refuses every value but strings, maps and lists with [`NOT_TEXT`], never quoting it.
macro_rules! refuse_what_is_not_text {
    ($($method:ident($($ty:ty)?)),* $(,)?) => {
        $(fn $method<E: de::Error>(self $(, _: $ty)?) -> Result<Self::Value, E> {
            Err(E::custom(NOT_TEXT))
        })*
    };
}

/// The visitor methods [`refuse_what_is_not_text`] overrides (`null` too, unless `null`).
macro_rules! refuse_non_text {
    () => {
        refuse_non_text!(null);
        refuse_what_is_not_text!(visit_unit());
    };
    (null) => {
        refuse_what_is_not_text!(
            visit_bool(bool),
            visit_i64(i64),
            visit_u64(u64),
            visit_i128(i128),
            visit_u128(u128),
            visit_f64(f64),
            visit_bytes(&[u8]),
        );
    };
}

/// A key entry: a string, or an object. Its errors never quote a value (it may be a secret).
struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = KeyConfig;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key: a string, or an object with `value` or `env` and an optional `label`")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<KeyConfig, E> {
        Ok(KeyConfig::Plain(key.to_owned()))
    }

    fn visit_string<E: de::Error>(self, key: String) -> Result<KeyConfig, E> {
        Ok(KeyConfig::Plain(key))
    }

    refuse_non_text!();

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<KeyConfig, A::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Entry {
            label: Option<String>,
            #[serde(default, deserialize_with = "secret_text")]
            value: Option<String>,
            env: Option<String>,
        }
        let Entry { label, value, env } =
            Entry::deserialize(de::value::MapAccessDeserializer::new(map))?;
        match (value, env) {
            (Some(value), None) => Ok(KeyConfig::Value { label, value }),
            (None, Some(env)) => Ok(KeyConfig::Env { label, env }),
            (Some(_), Some(_)) => Err(de::Error::custom("a key takes `value` or `env`, not both")),
            (None, None) => Err(de::Error::custom("a key needs `value` or `env`")),
        }
    }
}

/// A key's `value`: a string, or `null` for none (as a missing `value`); anything else is
/// refused without quoting it.
fn secret_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    struct Text;

    impl Visitor<'_> for Text {
        type Value = Option<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a key: a string")
        }

        fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
            Ok(Some(key.to_owned()))
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        refuse_non_text!(null);
    }

    deserializer.deserialize_any(Text)
}

/// `keys`: a list. A lone string is refused without quoting it (it is likely a secret).
fn key_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<KeyConfig>, D::Error> {
    struct Keys;

    impl<'de> Visitor<'de> for Keys {
        type Value = Vec<KeyConfig>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of keys")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut keys = Vec::new();
            // Bounded by the input.
            while let Some(key) = seq.next_element()? {
                keys.push(key);
            }
            Ok(keys)
        }

        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Err(E::custom(
                "`keys` must be a list of keys, not a string: write `[\"…\"]`",
            ))
        }

        refuse_non_text!();
    }

    deserializer.deserialize_any(Keys)
}

impl fmt::Debug for KeyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plain(_) => f.write_str("[redacted]"),
            Self::Value { label, .. } => write!(f, "{label:?}: [redacted]"),
            Self::Env { label, env } => write!(f, "{label:?}: ${env}"),
        }
    }
}

/// [`PublicUrl`] in configuration: `{ "base": "https://hooks.example.com" }` or
/// `{ "exact": "https://hooks.example.com/square" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum PublicUrlConfig {
    /// [`PublicUrl::Base`].
    Base(String),
    /// [`PublicUrl::Exact`].
    Exact(String),
}

impl EndpointConfig {
    /// The scheme this configuration names.
    ///
    /// # Errors
    ///
    /// An unknown provider (the message lists the known ones); a `custom` provider without a
    /// valid `custom` scheme; `aws-sns` without valid `topic_arns`; `paypal` without a valid
    /// `webhook_id`; `custom`, `topic_arns` or `webhook_id` given for a provider that does not
    /// take it.
    pub fn scheme(&self) -> Result<BoxScheme, ConfigError> {
        let provider = self.provider.trim().to_ascii_lowercase();
        let (custom, sns, paypal) = (
            provider == "custom",
            provider == "aws-sns" || provider == "sns",
            provider == "paypal",
        );
        if self.custom.is_some() && !custom {
            return Err(ConfigError::invalid(
                "custom",
                "only a `custom` provider takes a custom scheme",
            ));
        }
        if !self.topic_arns.is_empty() && !sns {
            return Err(ConfigError::invalid(
                "topic_arns",
                "only provider `aws-sns` takes `topic_arns`",
            ));
        }
        if self.webhook_id.is_some() && !paypal {
            return Err(ConfigError::invalid(
                "webhook_id",
                "only provider `paypal` takes `webhook_id`",
            ));
        }
        if custom {
            let custom = self.custom.clone().ok_or_else(|| {
                ConfigError::invalid("custom", "a `custom` provider needs a `custom` scheme")
            })?;
            return Ok(Box::new(Custom::new(custom)?));
        }
        if sns {
            let (first, rest) = self.topic_arns.split_first().ok_or_else(|| {
                ConfigError::invalid(
                    "topic_arns",
                    "provider `aws-sns` needs `topic_arns`, the SNS topics this endpoint accepts \
                     (`arn:aws:sns:<region>:<account>:<topic>`)",
                )
            })?;
            let topic = |e: ConfigError| match e {
                ConfigError::Invalid { reason, .. } => ConfigError::Invalid {
                    setting: "topic_arns",
                    reason,
                },
                other => other,
            };
            let mut scheme = Sns::new(first).map_err(topic)?;
            for arn in rest {
                scheme = scheme.topic(arn).map_err(topic)?;
            }
            return Ok(Box::new(scheme));
        }
        if paypal {
            let id = self.webhook_id.as_deref().ok_or_else(|| {
                ConfigError::invalid(
                    "webhook_id",
                    "provider `paypal` needs `webhook_id`, the id PayPal assigned to the webhook",
                )
            })?;
            return Ok(Box::new(PayPal::new(id)?));
        }
        by_name(&self.provider).map_err(|e| ConfigError::invalid("provider", e.to_string()))
    }

    /// A verifier for this endpoint.
    ///
    /// # Errors
    ///
    /// As [`scheme`](Self::scheme); no key; a key that does not parse, or whose environment
    /// variable is unset (the error names the variable, never a value); an out-of-range setting.
    pub fn verifier(&self) -> Result<Verifier, ConfigError> {
        let mut builder: VerifierBuilder = Verifier::builder(self.scheme()?);
        for key in &self.keys {
            builder = match key {
                KeyConfig::Plain(value) => builder.secret(value),
                KeyConfig::Value { label, value } => match label {
                    Some(label) => builder.labeled_secret(label.clone(), value),
                    None => builder.secret(value),
                },
                KeyConfig::Env { label, env } => {
                    let value = std::env::var(env).map_err(|_| {
                        ConfigError::invalid(
                            "keys",
                            format!("environment variable `{env}` is not set"),
                        )
                    })?;
                    match label {
                        Some(label) => builder.labeled_secret(label.clone(), &value),
                        None => builder.secret(&value),
                    }
                }
            };
        }
        if let Some(secs) = self.tolerance_past_secs {
            builder = builder.tolerance_past(Duration::from_secs(secs));
        }
        if let Some(secs) = self.tolerance_future_secs {
            builder = builder.tolerance_future(Duration::from_secs(secs));
        }
        if let Some(limit) = self.body_limit {
            builder = builder.body_limit(limit);
        }
        builder.build()
    }

    /// A receiver for this endpoint over `store`.
    ///
    /// # Errors
    ///
    /// As [`verifier`](Self::verifier), or an invalid namespace, retention or lease; a provider
    /// whose keys are fetched at run time with no key pinned, which needs a key cache (use
    /// [`receiver_builder`](Self::receiver_builder)).
    pub fn receiver<St: DedupStore>(&self, store: St) -> Result<Receiver<St>, ConfigError> {
        let verifier = self.verifier()?;
        if verifier.fetches_keys() {
            return Err(needs_key_cache(&verifier, "receiver_builder"));
        }
        self.configure_receiver(Receiver::builder(verifier, store))
            .build()
    }

    /// The builder behind [`receiver`](Self::receiver), configured from this configuration,
    /// for the settings a file cannot hold: the
    /// [`key_cache`](crate::ReceiverBuilder::key_cache) of a provider whose keys are fetched at
    /// run time (`aws-sns`, `paypal`, `plaid`).
    ///
    /// # Errors
    ///
    /// As [`verifier`](Self::verifier).
    pub fn receiver_builder<St: DedupStore>(
        &self,
        store: St,
    ) -> Result<ReceiverBuilder<St>, ConfigError> {
        Ok(self.configure_receiver(Receiver::builder(self.verifier()?, store)))
    }

    fn configure_receiver<St: DedupStore>(
        &self,
        mut builder: ReceiverBuilder<St>,
    ) -> ReceiverBuilder<St> {
        if let Some(namespace) = &self.namespace {
            builder = builder.namespace(namespace.clone());
        }
        if let Some(secs) = self.retain_secs {
            builder = builder.retain(Duration::from_secs(secs));
        }
        if let Some(secs) = self.lease_secs {
            builder = builder.lease(Duration::from_secs(secs));
        }
        if let Some(url) = &self.public_url {
            builder = builder.public_url(public_url(url));
        }
        builder
    }

    /// An endpoint of `inbox` for this configuration: its verifier, namespace, retention and
    /// public URL (a lease belongs to the inbox's workers, so `lease_secs` is not used). Add a
    /// key cache or an ordering key with [`inbox_endpoint_builder`](Self::inbox_endpoint_builder).
    ///
    /// # Errors
    ///
    /// As [`verifier`](Self::verifier), and a retention out of range; a provider whose keys are
    /// fetched at run time with no key pinned, which needs a key cache (use
    /// [`inbox_endpoint_builder`](Self::inbox_endpoint_builder)).
    #[cfg(feature = "inbox")]
    #[cfg_attr(docsrs, doc(cfg(feature = "inbox")))]
    pub fn inbox_endpoint<E: crate::inbox::InboxEngine>(
        &self,
        inbox: &crate::inbox::Inbox<E>,
    ) -> Result<crate::inbox::InboxEndpoint<E>, ConfigError> {
        let verifier = self.verifier()?;
        if verifier.fetches_keys() {
            return Err(needs_key_cache(&verifier, "inbox_endpoint_builder"));
        }
        self.configure_inbox_endpoint(inbox.endpoint(verifier))
            .build()
    }

    /// The builder behind [`inbox_endpoint`](Self::inbox_endpoint), configured from this
    /// configuration, for the settings a file cannot hold: an ordering key, the
    /// [`key_cache`](crate::inbox::InboxEndpointBuilder::key_cache) of a provider whose keys are
    /// fetched at run time (`aws-sns`, `paypal`, `plaid`).
    ///
    /// # Errors
    ///
    /// As [`verifier`](Self::verifier).
    #[cfg(feature = "inbox")]
    #[cfg_attr(docsrs, doc(cfg(feature = "inbox")))]
    pub fn inbox_endpoint_builder<E: crate::inbox::InboxEngine>(
        &self,
        inbox: &crate::inbox::Inbox<E>,
    ) -> Result<crate::inbox::InboxEndpointBuilder<E>, ConfigError> {
        Ok(self.configure_inbox_endpoint(inbox.endpoint(self.verifier()?)))
    }

    #[cfg(feature = "inbox")]
    fn configure_inbox_endpoint<E: crate::inbox::InboxEngine>(
        &self,
        mut builder: crate::inbox::InboxEndpointBuilder<E>,
    ) -> crate::inbox::InboxEndpointBuilder<E> {
        if let Some(namespace) = &self.namespace {
            builder = builder.namespace(namespace.clone());
        }
        if let Some(secs) = self.retain_secs {
            builder = builder.retain(Duration::from_secs(secs));
        }
        if let Some(url) = &self.public_url {
            builder = builder.public_url(self::public_url(url));
        }
        builder
    }
}

/// The error of a convenience constructor given a provider whose keys are fetched at run time
/// and no key cache: `builder` names the method that takes one.
fn needs_key_cache(verifier: &Verifier, builder: &str) -> ConfigError {
    ConfigError::invalid(
        "provider",
        format!(
            "`{}` verifies with keys fetched at run time: build with `{builder}` and add a \
             `key_cache`, or pin the provider's key in `keys`",
            verifier.scheme().name()
        ),
    )
}

fn public_url(url: &PublicUrlConfig) -> PublicUrl {
    match url {
        PublicUrlConfig::Base(base) => PublicUrl::Base(base.clone()),
        PublicUrlConfig::Exact(url) => PublicUrl::Exact(url.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::MemoryStore;

    fn parse(json: &str) -> EndpointConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn unknown_providers_list_the_known_ones() {
        let err = parse(r#"{"provider":"strpe","keys":["k"]}"#)
            .verifier()
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("strpe") && text.contains("stripe"), "{text}");
    }

    #[test]
    fn keys_are_never_shown_and_environment_keys_name_the_variable() {
        let config = parse(
            r#"{"provider":"github","keys":["hunter2-secret",{"label":"old","value":"older-secret"},{"env":"WR_TEST_UNSET_VARIABLE"}]}"#,
        );
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("older-secret"),
            "{shown}"
        );
        let err = config.verifier().unwrap_err().to_string();
        assert!(err.contains("WR_TEST_UNSET_VARIABLE"), "{err}");
    }

    #[test]
    fn settings_reach_the_receiver() {
        let config = parse(
            r#"{"provider":"square","keys":["k"],"public_url":{"exact":"https://x.example/sq"},
                "namespace":"sq","retain_secs":86400,"lease_secs":5,"body_limit":2048}"#,
        );
        let receiver = config.receiver(MemoryStore::new()).unwrap();
        assert_eq!(receiver.namespace(), "sq");
        assert_eq!(receiver.retain(), Duration::from_secs(86400));
        assert_eq!(receiver.lease(), Duration::from_secs(5));
        assert_eq!(receiver.verifier().body_limit(), 2048);
        assert_eq!(
            receiver.public_url(),
            Some(&PublicUrl::Exact("https://x.example/sq".into()))
        );
        let custom = parse(
            r#"{"provider":"custom","keys":["k"],"custom":{"name":"acme","signature_header":"x-sig","encoding":"hex"}}"#,
        );
        assert_eq!(custom.verifier().unwrap().scheme().name(), "acme");
        assert!(
            parse(r#"{"provider":"custom","keys":["k"]}"#)
                .verifier()
                .is_err()
        );
        assert!(
            serde_json::from_str::<EndpointConfig>(r#"{"provider":"x","keys":[],"typo":1}"#)
                .is_err()
        );
        assert!(matches!(
            parse(r#"{"provider":"stripe","keys":[]}"#).verifier(),
            Err(ConfigError::NoSecret)
        ));
    }

    #[test]
    fn malformed_keys_and_urls_are_refused_without_quoting_a_key() {
        const SECRET: &str = "whsec_Sup3rS3cr3tValue42";
        let refused = |json: String| match serde_json::from_str::<EndpointConfig>(&json) {
            Ok(config) => panic!("accepted: {config:?}"),
            Err(error) => {
                assert!(!error.to_string().contains(SECRET), "{error}");
                error.to_string()
            }
        };
        // A key where a list belongs.
        let error = refused(format!(r#"{{"provider":"stripe","keys":"{SECRET}"}}"#));
        assert!(error.contains("list"), "{error}");
        // A misspelt field, and both or neither of `value` and `env`.
        let error = refused(format!(
            r#"{{"provider":"stripe","keys":[{{"lable":"2026-11","value":"{SECRET}"}}]}}"#
        ));
        assert!(error.contains("lable"), "{error}");
        refused(format!(
            r#"{{"provider":"stripe","keys":[{{"label":"k","value":"{SECRET}","env":"VAR"}}]}}"#
        ));
        refused(r#"{"provider":"stripe","keys":[{"label":"k"}]}"#.to_owned());
        // A secret of digits left unquoted (as YAML or TOML read it): a number, never quoted.
        for number in [
            "982451653",
            "-982451653",
            "98245165398245165398245",
            "9.82451653e8",
        ] {
            for json in [
                format!(r#"{{"provider":"stripe","keys":{number}}}"#),
                format!(r#"{{"provider":"stripe","keys":[{number}]}}"#),
                format!(r#"{{"provider":"stripe","keys":[{{"label":"k","value":{number}}}]}}"#),
            ] {
                let error = refused(json);
                assert!(!error.contains("98245165"), "{error}");
                assert!(error.contains("a key must be a string"), "{error}");
            }
        }
        for other in ["true", "null"] {
            refused(format!(r#"{{"provider":"stripe","keys":[{other}]}}"#));
        }
        // A `null` value is no value, as before (YAML's `value: ~` beside an `env`).
        let config = parse(r#"{"provider":"stripe","keys":[{"value":null,"env":"VAR"}]}"#);
        assert_eq!(format!("{:?}", config.keys), r#"[None: $VAR]"#);
        // Public URLs that no request could match are refused when the endpoint is built.
        for url in [
            r#"{"base":""}"#,
            r#"{"base":"hooks.example.com"}"#,
            r#"{"base":"https://hooks.example.com?x=1"}"#,
            r#"{"exact":"ftp://hooks.example.com/sq"}"#,
            r#"{"exact":"https://hooks.example.com/sq#frag"}"#,
        ] {
            let config = parse(&format!(
                r#"{{"provider":"square","keys":["k"],"public_url":{url}}}"#
            ));
            assert!(
                matches!(
                    config.receiver(MemoryStore::new()),
                    Err(ConfigError::Invalid { .. })
                ),
                "{url}"
            );
        }
    }

    #[test]
    fn a_custom_scheme_name_never_breaks_the_default_namespace() {
        let config = parse(
            r#"{"provider":"custom","keys":["k"],"custom":{"name":"acme:id:x y","signature_header":"x-sig","encoding":"hex"}}"#,
        );
        let receiver = config.receiver(MemoryStore::new()).unwrap();
        let namespace = receiver.namespace();
        assert!(namespace.starts_with("acme_id_x_y-"), "{namespace}");
        assert!(namespace.bytes().all(|b| b.is_ascii_graphic() && b != b':'));
        let long = format!(
            r#"{{"provider":"custom","keys":["k"],"custom":{{"name":"{}","signature_header":"x-sig","encoding":"hex"}}}}"#,
            "n".repeat(200)
        );
        let receiver = parse(&long).receiver(MemoryStore::new()).unwrap();
        assert!(receiver.namespace().len() <= crate::receiver::MAX_NAMESPACE);
    }

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:orders";
    const RSA_KEY: &str = include_str!("../tests/fixtures/keys/rsa-a.key.pem");

    fn setting_of(result: Result<Verifier, ConfigError>) -> &'static str {
        match result {
            Err(ConfigError::Invalid { setting, .. }) => setting,
            other => panic!("expected an invalid setting, got {other:?}"),
        }
    }

    #[test]
    fn sns_and_paypal_take_their_own_settings() {
        for provider in ["aws-sns", "sns", " SNS "] {
            let config = parse(&format!(
                r#"{{"provider":"{provider}","topic_arns":["{TOPIC}","arn:aws:sns:eu-west-1:123456789012:orders"]}}"#
            ));
            let verifier = config.verifier().unwrap();
            assert_eq!(verifier.scheme().name(), "aws-sns");
            assert!(verifier.fetches_keys(), "no key: fetched at run time");
        }
        // Never a silent "any topic": SNS needs its topics, each one valid.
        for config in [
            r#"{"provider":"aws-sns"}"#,
            r#"{"provider":"sns","topic_arns":[]}"#,
            r#"{"provider":"aws-sns","topic_arns":["orders"]}"#,
            &format!(r#"{{"provider":"aws-sns","topic_arns":["{TOPIC}","arn:aws:sqs:x:1:y"]}}"#),
        ] {
            assert_eq!(
                setting_of(parse(config).verifier()),
                "topic_arns",
                "{config}"
            );
        }
        let err = parse(r#"{"provider":"aws-sns"}"#).verifier().unwrap_err();
        assert!(err.to_string().contains("topic_arns"), "{err}");

        let paypal = parse(r#"{"provider":"paypal","webhook_id":"9XL90610J3647323C"}"#);
        let verifier = paypal.verifier().unwrap();
        assert_eq!(verifier.scheme().name(), "paypal");
        assert!(verifier.fetches_keys());
        for config in [
            r#"{"provider":"paypal"}"#,
            r#"{"provider":"paypal","webhook_id":"not an id!"}"#,
        ] {
            assert_eq!(
                setting_of(parse(config).verifier()),
                "webhook_id",
                "{config}"
            );
        }

        // A setting given to a provider that does not take it.
        for (config, setting) in [
            (
                format!(r#"{{"provider":"stripe","keys":["k"],"topic_arns":["{TOPIC}"]}}"#),
                "topic_arns",
            ),
            (
                format!(
                    r#"{{"provider":"paypal","webhook_id":"W1","topic_arns":["{TOPIC}"]}}"#
                ),
                "topic_arns",
            ),
            (
                format!(r#"{{"provider":"aws-sns","topic_arns":["{TOPIC}"],"webhook_id":"W1"}}"#),
                "webhook_id",
            ),
            (
                r#"{"provider":"github","keys":["k"],"webhook_id":"W1"}"#.to_owned(),
                "webhook_id",
            ),
            (
                r#"{"provider":"custom","keys":["k"],"webhook_id":"W1","custom":{"name":"acme","signature_header":"x-sig","encoding":"hex"}}"#.to_owned(),
                "webhook_id",
            ),
        ] {
            assert_eq!(setting_of(parse(&config).verifier()), setting, "{config}");
        }

        // Plaid is in the catalog and needs no key either; other providers still do.
        assert!(
            parse(r#"{"provider":"plaid"}"#)
                .verifier()
                .unwrap()
                .fetches_keys()
        );
        assert!(matches!(
            parse(r#"{"provider":"stripe"}"#).verifier(),
            Err(ConfigError::NoSecret)
        ));
        // The unknown-name error says how to name the providers that take a setting.
        let err = parse(r#"{"provider":"sns-typo"}"#).verifier().unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("plaid") && text.contains("`aws-sns` with `topic_arns`"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn fetched_keys_need_a_key_cache_or_a_pinned_key() {
        use crate::keysource::KeyCache;
        use crate::providers::{PayPal, Sns};
        use crate::receiver::Outcome;
        use crate::testing::{LocalKeys, Signer};

        let config = parse(&format!(r#"{{"provider":"sns","topic_arns":["{TOPIC}"]}}"#));
        let err = config.receiver(MemoryStore::new()).unwrap_err().to_string();
        assert!(
            err.contains("receiver_builder") && err.contains("key_cache"),
            "{err}"
        );
        let signer = Signer::new(Sns::new(TOPIC).unwrap(), RSA_KEY).unwrap();
        let keys = LocalKeys::new().with(
            signer.remote_key_id().unwrap(),
            signer.public_key().unwrap(),
        );
        let receiver = config
            .receiver_builder(MemoryStore::new())
            .unwrap()
            .key_cache(KeyCache::new(keys.clone()))
            .build()
            .unwrap();
        let signed = signer.sign_request(br#"{"Message":"hello"}"#).unwrap();
        let outcome = receiver
            .receive(&signed.headers, &signed.body)
            .await
            .unwrap();
        assert!(matches!(outcome, Outcome::New(_)));
        assert_eq!(keys.fetches(), 1);

        // A pinned certificate needs no cache: `receiver` builds.
        let signer = Signer::new(PayPal::new("W1").unwrap(), RSA_KEY).unwrap();
        let config: EndpointConfig = serde_json::from_value(serde_json::json!({
            "provider": "paypal",
            "webhook_id": "W1",
            "keys": [{ "label": "paypal-2026", "value": signer.public_key().unwrap() }],
        }))
        .unwrap();
        let receiver = config.receiver(MemoryStore::new()).unwrap();
        assert!(!receiver.verifier().fetches_keys());
        let headers = signer.sign(b"{}").unwrap();
        let Outcome::New(delivery) = receiver.receive(&headers, b"{}").await.unwrap() else {
            panic!("a new delivery");
        };
        assert_eq!(delivery.verified().key_label(), Some("paypal-2026"));
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn inbox_endpoints_take_the_configured_settings() {
        use crate::inbox::{Inbox, SqliteInbox};
        let dir = std::env::temp_dir().join(format!(
            "webhook-config-inbox-{}-{:x}",
            std::process::id(),
            crate::dedup::LeaseToken::random().get() as u64
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let inbox = Inbox::new(SqliteInbox::open(dir.join("inbox.db")).await.unwrap());
        let config = parse(
            r#"{"provider":"square","keys":["k"],"public_url":{"exact":"https://x.example/sq"},
                "namespace":"sq","retain_secs":86400,"body_limit":2048}"#,
        );
        let endpoint = config.inbox_endpoint(&inbox).unwrap();
        assert_eq!(endpoint.namespace(), "sq");
        assert_eq!(endpoint.retain(), Duration::from_secs(86400));
        assert_eq!(endpoint.verifier().body_limit(), 2048);
        assert_eq!(
            endpoint.public_url(),
            Some(&PublicUrl::Exact("https://x.example/sq".into()))
        );
        // Without the optional settings: the endpoint's defaults, as a receiver's.
        let plain = parse(r#"{"provider":"stripe","keys":["whsec_k"]}"#);
        let endpoint = plain.inbox_endpoint(&inbox).unwrap();
        let receiver = plain.receiver(crate::dedup::MemoryStore::new()).unwrap();
        assert_eq!(endpoint.namespace(), receiver.namespace());
        assert!(endpoint.public_url().is_none());
        // A retention no longer than the replay window is refused, as for a receiver.
        let short = parse(r#"{"provider":"stripe","keys":["whsec_k"],"retain_secs":60}"#);
        assert!(short.inbox_endpoint(&inbox).is_err());
        // Keys fetched at run time: only through the builder, with a key cache.
        let plaid = parse(r#"{"provider":"plaid","namespace":"plaid"}"#);
        let err = plaid.inbox_endpoint(&inbox).unwrap_err().to_string();
        assert!(err.contains("inbox_endpoint_builder"), "{err}");
        let endpoint = plaid
            .inbox_endpoint_builder(&inbox)
            .unwrap()
            .key_cache(crate::keysource::KeyCache::new(
                crate::testing::LocalKeys::new(),
            ))
            .build()
            .unwrap();
        assert_eq!(endpoint.namespace(), "plaid");
        inbox.engine().close().await;
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
