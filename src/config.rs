//! Endpoints described by configuration: a provider by name, its keys, tolerances and public URL.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::dedup::DedupStore;
use crate::error::ConfigError;
use crate::providers::{BoxScheme, Custom, CustomConfig, by_name};
use crate::receiver::{PublicUrl, Receiver};
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
    /// The keys, as the provider shows them, in the order they are tried.
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
/// holds it, with an optional label. A bare string is a key without a label.
#[derive(Clone, Deserialize)]
#[serde(untagged)]
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
    /// An unknown provider (the message lists the known ones), or a `custom` provider without a
    /// valid `custom` scheme.
    pub fn scheme(&self) -> Result<BoxScheme, ConfigError> {
        if self.provider.trim().eq_ignore_ascii_case("custom") {
            let custom = self.custom.clone().ok_or_else(|| {
                ConfigError::invalid("custom", "a `custom` provider needs a `custom` scheme")
            })?;
            return Ok(Box::new(Custom::new(custom)?));
        }
        if self.custom.is_some() {
            return Err(ConfigError::invalid(
                "custom",
                "only a `custom` provider takes a custom scheme",
            ));
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
    /// As [`verifier`](Self::verifier), or an invalid namespace, retention or lease.
    pub fn receiver<St: DedupStore>(&self, store: St) -> Result<Receiver<St>, ConfigError> {
        let mut builder = Receiver::builder(self.verifier()?, store);
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
        builder.build()
    }

    /// An endpoint of `inbox` for this configuration: its verifier, namespace, retention and
    /// public URL (a lease belongs to the inbox's workers, so `lease_secs` is not used). Add a
    /// key cache or an ordering key with [`inbox_endpoint_builder`](Self::inbox_endpoint_builder).
    ///
    /// # Errors
    ///
    /// As [`verifier`](Self::verifier), and a retention out of range.
    #[cfg(feature = "inbox")]
    #[cfg_attr(docsrs, doc(cfg(feature = "inbox")))]
    pub fn inbox_endpoint<E: crate::inbox::InboxEngine>(
        &self,
        inbox: &crate::inbox::Inbox<E>,
    ) -> Result<crate::inbox::InboxEndpoint<E>, ConfigError> {
        self.inbox_endpoint_builder(inbox)?.build()
    }

    /// The builder behind [`inbox_endpoint`](Self::inbox_endpoint), configured from this
    /// configuration, for the settings a file cannot hold.
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
        let mut builder = inbox.endpoint(self.verifier()?);
        if let Some(namespace) = &self.namespace {
            builder = builder.namespace(namespace.clone());
        }
        if let Some(secs) = self.retain_secs {
            builder = builder.retain(Duration::from_secs(secs));
        }
        if let Some(url) = &self.public_url {
            builder = builder.public_url(self::public_url(url));
        }
        Ok(builder)
    }
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
        inbox.engine().close().await;
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
