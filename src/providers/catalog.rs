//! Every built-in provider by name, for services that mount receivers from configuration.

use std::fmt;

use super::*;

/// A scheme chosen at run time; implements [`Scheme`] itself.
pub type BoxScheme = Box<dyn Scheme>;

/// One entry of the catalog.
struct Entry {
    name: &'static str,
    make: fn() -> BoxScheme,
}

macro_rules! entries {
    ($($name:literal => $make:expr),* $(,)?) => {
        &[$(Entry { name: $name, make: || Box::new($make) }),*]
    };
}

/// The catalog, sorted by name. The name is the scheme's own ([`Scheme::name`]) for each
/// provider's default scheme; variants have a suffix.
static CATALOG: &[Entry] = entries![
    "adyen" => Adyen::new(),
    "adyen-hmac-header" => Adyen::signature_header(),
    "airwallex" => Airwallex::new(),
    "alchemy" => Alchemy::new(),
    "asana" => Asana::new(),
    "bitbucket" => Bitbucket::new(),
    "box" => BoxCom::new(),
    "buildkite" => Buildkite::new(),
    "buildkite-token" => Buildkite::token(),
    "calendly" => Calendly::new(),
    "checkout-com" => CheckoutCom::new(),
    "circleci" => CircleCi::new(),
    "clerk" => Clerk::new(),
    "coinbase-commerce" => CoinbaseCommerce::new(),
    "discord" => Discord::new(),
    "docusign" => DocuSign::new(),
    "dropbox" => Dropbox::new(),
    "easypost" => EasyPost::new(),
    "gitea" => Gitea::new(),
    "github" => GitHub::new(),
    "github-legacy-sha1" => GitHub::new().with_legacy_sha1(),
    "gitlab" => GitLab::new(),
    "gitlab-signing-token" => GitLab::signing_token(),
    "gocardless" => GoCardless::new(),
    "hubspot" => HubSpot::new(),
    "intercom" => Intercom::new(),
    "lemon-squeezy" => LemonSqueezy::new(),
    "line" => Line::new(),
    "linear" => Linear::new(),
    "mailgun" => Mailgun::new(),
    "mandrill" => Mandrill::new(),
    "meta" => Meta::new(),
    "meta-legacy-sha1" => Meta::new().with_legacy_sha1(),
    "notion" => Notion::new(),
    "okta" => Okta::new(),
    "openai" => OpenAi::new(),
    "paddle" => Paddle::new(),
    "pagerduty" => PagerDuty::new(),
    // Verifies only through a `KeyCache` (its keys are fetched by `kid`), or with a pinned JWK.
    "plaid" => Plaid::new(),
    "postmark" => Postmark::new(),
    "quickbooks" => QuickBooks::new(),
    "razorpay" => Razorpay::new(),
    "recurly" => Recurly::new(),
    "resend" => Resend::new(),
    "segment" => Segment::new(),
    "sendgrid" => SendGrid::new(),
    "sentry" => Sentry::new(),
    "shopify" => Shopify::new(),
    "slack" => Slack::new(),
    "square" => Square::new(),
    "standard-webhooks" => StandardWebhooks::new(),
    "stripe" => Stripe::new(),
    "svix" => Svix::new(),
    "telnyx" => Telnyx::new(),
    "twilio" => Twilio::new(),
    "twitch" => Twitch::new(),
    "typeform" => Typeform::new(),
    "veriff" => Veriff::new(),
    "webflow" => Webflow::new(),
    "woocommerce" => WooCommerce::new(),
    "xero" => Xero::new(),
    "zendesk" => Zendesk::new(),
    "zoom" => Zoom::new(),
];

/// The names [`by_name`] knows, sorted.
pub fn names() -> impl Iterator<Item = &'static str> {
    CATALOG.iter().map(|entry| entry.name)
}

/// The built-in scheme called `name` (`"stripe"`, `"github-legacy-sha1"`, `"lemon-squeezy"`),
/// as [`names`] lists them; case and surrounding spaces do not matter.
///
/// Schemes that need an argument are not here: [`Sns`] (the topics to accept), [`PayPal`] (the
/// webhook id) and [`Custom`]; build them directly, or name them in an
/// [`EndpointConfig`](crate::EndpointConfig) with their settings. `"plaid"` is here, and like
/// every scheme whose keys are fetched at run time it verifies through a
/// [`KeyCache`](crate::keysource::KeyCache) (or with a pinned key).
///
/// ```
/// use webhook_receiver::{Verifier, providers};
///
/// let scheme = providers::by_name("stripe")?;
/// let verifier = Verifier::builder(scheme).secret("whsec_test_secret").build()?;
/// assert_eq!(verifier.scheme().name(), "stripe");
///
/// let err = providers::by_name("strype").unwrap_err();
/// assert!(err.to_string().contains("stripe")); // the error lists the known names
///
/// // No key: Plaid's are fetched by `kid` through a KeyCache.
/// let plaid = Verifier::builder(providers::by_name("plaid")?).build()?;
/// assert!(plaid.fetches_keys());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn by_name(name: &str) -> Result<BoxScheme, UnknownProvider> {
    let wanted = name.trim().to_ascii_lowercase();
    CATALOG
        .binary_search_by(|entry| entry.name.cmp(wanted.as_str()))
        .map(|i| (CATALOG[i].make)())
        .map_err(|_| UnknownProvider {
            name: name.to_owned(),
        })
}

/// [`by_name`] did not know the name; the message lists the names it knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct UnknownProvider {
    /// The name asked for.
    pub name: String,
}

impl fmt::Display for UnknownProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown provider `{}`; known providers: ", self.name)?;
        for (i, name) in names().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(name)?;
        }
        f.write_str(
            " (or, in an endpoint configuration, `custom` with `custom`, `aws-sns` with \
             `topic_arns`, `paypal` with `webhook_id`)",
        )
    }
}

// Every method is forwarded, defaults included: a default here would silently replace the
// boxed scheme's own (the test below checks the ones a default would hide).
impl<S: Scheme + ?Sized> Scheme for Box<S> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn fetches_keys(&self) -> bool {
        (**self).fetches_keys()
    }
    fn parse_remote_key(
        &self,
        key: &crate::keysource::KeyRef<'_>,
        document: &[u8],
    ) -> Result<crate::keysource::RemoteKey, crate::keysource::KeyError> {
        (**self).parse_remote_key(key, document)
    }
    fn default_key_id(&self, key_digest: &[u8; 32]) -> Option<String> {
        (**self).default_key_id(key_digest)
    }
    fn key_format(&self) -> KeyFormat {
        (**self).key_format()
    }
    fn parse_key(&self, text: &str) -> Result<Key, ConfigError> {
        (**self).parse_key(text)
    }
    fn encoding(&self) -> Encoding {
        (**self).encoding()
    }
    fn algorithms(&self) -> &[Algorithm] {
        (**self).algorithms()
    }
    fn has_timestamp(&self) -> bool {
        (**self).has_timestamp()
    }
    fn default_tolerance(&self) -> Tolerance {
        (**self).default_tolerance()
    }
    fn reject_status(&self, error: &VerifyError) -> http::StatusCode {
        (**self).reject_status(error)
    }
    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        (**self).parse(request)
    }
    fn signed_content(
        &self,
        parsed: &Parsed<'_>,
        request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        (**self).signed_content(parsed, request, feed);
    }
    fn body_timestamp(&self, body: &[u8]) -> Option<i64> {
        (**self).body_timestamp(body)
    }
    fn event_id(&self) -> EventIdSource {
        (**self).event_id()
    }
    fn format_timestamp(&self, unix_millis: i64) -> String {
        (**self).format_timestamp(unix_millis)
    }
    fn write_headers(
        &self,
        parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        (**self).write_headers(parsed, signature, headers)
    }
    fn sign(
        &self,
        draft: &Draft<'_>,
        signer: &mut dyn SignContent,
        out: &mut SignedRequest,
    ) -> Result<(), ConfigError> {
        (**self).sign(draft, signer, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_is_sorted_and_names_match_the_schemes() {
        let names: Vec<_> = names().collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted, "sorted and unique, for the binary search");
        for entry in CATALOG {
            let scheme = (entry.make)();
            // The default scheme of each provider is listed under its own name.
            assert!(
                entry.name.starts_with(scheme.name()),
                "{} makes {}",
                entry.name,
                scheme.name()
            );
            assert_eq!(by_name(entry.name).unwrap().name(), scheme.name());
        }
        assert_eq!(by_name(" Stripe ").unwrap().name(), "stripe");
        // A boxed scheme answers as the scheme itself, for methods with defaults too.
        let boxed: Vec<BoxScheme> = super::names().map(|name| by_name(name).unwrap()).collect();
        let digest = [7u8; 32];
        for boxed in &boxed {
            let inner: &dyn Scheme = &**boxed;
            let name = inner.name();
            assert_eq!(Scheme::fetches_keys(boxed), inner.fetches_keys(), "{name}");
            assert_eq!(
                Scheme::has_timestamp(boxed),
                inner.has_timestamp(),
                "{name}"
            );
            assert_eq!(
                Scheme::default_tolerance(boxed),
                inner.default_tolerance(),
                "{name}"
            );
            assert_eq!(Scheme::event_id(boxed), inner.event_id(), "{name}");
            assert_eq!(Scheme::key_format(boxed), inner.key_format(), "{name}");
            assert_eq!(Scheme::algorithms(boxed), inner.algorithms(), "{name}");
            assert_eq!(
                Scheme::reject_status(boxed, &VerifyError::SignatureMismatch),
                inner.reject_status(&VerifyError::SignatureMismatch),
                "{name}"
            );
            assert_eq!(
                Scheme::default_key_id(boxed, &digest),
                inner.default_key_id(&digest),
                "{name}"
            );
            assert_eq!(
                Scheme::format_timestamp(boxed, 1_796_040_000_123),
                inner.format_timestamp(1_796_040_000_123),
                "{name}"
            );
        }
        let plaid = by_name("plaid").unwrap();
        assert!(Scheme::fetches_keys(&plaid), "Plaid fetches its keys");
        assert!(
            Scheme::default_key_id(&plaid, &digest).is_some(),
            "and names a default kid"
        );
    }
}
