//! An endpoint of the inbox: verify a request, keep the safe headers, accept a record.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, StatusCode};

use super::{Accepted, Inbox, InboxEngine, InboxError, NewRecord, telemetry};
use crate::error::{ConfigError, VerifyError};
use crate::keysource::{KeyCache, KeyError, KeyVerifyError};
use crate::receiver::PublicUrl;
use crate::telemetry::verify_reason;
use crate::verify::{Verified, Verifier};

/// Headers an [`InboxEndpoint`] keeps by default: the body's type and the providers' event
/// metadata (event type, delivery id, shop, retry count) — none of them a credential.
pub const DEFAULT_KEPT_HEADERS: &[&str] = &[
    "content-type",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "svix-id",
    "svix-timestamp",
    "x-github-event",
    "x-github-delivery",
    "x-github-hook-id",
    "x-github-hook-installation-target-id",
    "x-github-hook-installation-target-type",
    "x-shopify-topic",
    "x-shopify-shop-domain",
    "x-shopify-api-version",
    "x-shopify-webhook-id",
    "x-shopify-event-id",
    "x-shopify-triggered-at",
    "x-slack-retry-num",
    "x-slack-retry-reason",
    "x-gitlab-event",
    "x-gitlab-event-uuid",
    "x-gitlab-webhook-uuid",
];

/// Words that mark a header as a credential or a signature: a header whose name contains one
/// is never kept, whatever the configuration says.
pub const NEVER_KEPT_HEADER_WORDS: &[&str] = &[
    "signature",
    "hmac",
    "token",
    "secret",
    "auth",
    "cookie",
    "api-key",
    "apikey",
    "password",
    "credential",
];

/// Words that mark a header as a credential or a signature when they are a whole part of its
/// name between `-`, `_` or `.` (`x-functions-key`, `ocp-apim-subscription-key`,
/// `paypal-transmission-sig`, `plaid-verification`): such a header is never kept either. Whole
/// parts only, as names like `x-keyword` or `x-design` are harmless.
pub const NEVER_KEPT_HEADER_PARTS: &[&str] = &["key", "sig", "jwt", "verification"];

fn never_kept(name: &str) -> bool {
    NEVER_KEPT_HEADER_WORDS
        .iter()
        .any(|word| name.contains(word))
        || name
            .split(['-', '_', '.'])
            .any(|part| NEVER_KEPT_HEADER_PARTS.contains(&part))
}

type OrderingFn = dyn Fn(&Verified<'_>, &HeaderMap, &[u8]) -> Option<String> + Send + Sync;

/// One webhook endpoint feeding an [`Inbox`]: verifies each request with its [`Verifier`],
/// then stores it durably, once per dedup key — the whole request path of an inbox route.
///
/// * **Key**: `{namespace}:{dedup key}`, the dedup key being bound to signed content (the
///   signed event id, else the MAC), like [`Receiver`](crate::Receiver)'s. Endpoints sharing an
///   inbox need distinct namespaces (the default is the scheme's name).
/// * **Headers kept**: those named in [`DEFAULT_KEPT_HEADERS`] plus the ones you add with
///   [`keep_header`](InboxEndpointBuilder::keep_header) — never the header the scheme read
///   its signature from, and never one whose name contains a word of
///   [`NEVER_KEPT_HEADER_WORDS`] (`signature`, `token`, `secret`, …) or has a part of
///   [`NEVER_KEPT_HEADER_PARTS`] (`key`, `sig`, …).
/// * **Retention** of done records, for deduplication and audit: the replay window plus
///   [`RETENTION_MARGIN`](crate::RETENTION_MARGIN) for timestamped schemes, [`UNTIMESTAMPED_RETENTION`](crate::UNTIMESTAMPED_RETENTION) for the others,
///   as for the `Receiver`. Pending and dead records are kept until processed or purged.
///
/// Cheap to clone.
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use webhook_receiver::{Verifier, providers::Stripe, testing::Signer};
/// use webhook_receiver::inbox::{Inbox, SqliteInbox};
///
/// # let dir = std::env::temp_dir().join(format!("inbox-endpoint-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let inbox = Inbox::new(SqliteInbox::open(dir.join("inbox.db")).await?);
/// let verifier = Verifier::builder(Stripe::new()).secret("whsec_test").build()?;
/// let endpoint = inbox.endpoint(verifier).namespace("billing").build()?;
///
/// let body = br#"{"id":"evt_1","type":"invoice.paid"}"#;
/// let headers = Signer::new(Stripe::new(), "whsec_test")?.sign(body)?;
/// let receipt = endpoint.receive(&headers, body.to_vec().into()).await?;
/// assert_eq!(receipt.key(), "billing:id:evt_1");
/// assert!(!receipt.is_duplicate()); // answer 200 now; a worker processes it
///
/// let stored = inbox.inspect("billing:id:evt_1").await?.expect("stored");
/// assert!(stored.headers.get("stripe-signature").is_none());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct InboxEndpoint<E> {
    inner: Arc<EndpointInner<E>>,
}

struct EndpointInner<E> {
    inbox: Inbox<E>,
    verifier: Verifier,
    namespace: String,
    retain: Duration,
    kept: Box<[HeaderName]>,
    ordering: Option<Box<OrderingFn>>,
    public_url: Option<PublicUrl>,
    keys: Option<KeyCache>,
}

impl<E> Clone for InboxEndpoint<E> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<E> fmt::Debug for InboxEndpoint<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxEndpoint")
            .field("verifier", &self.inner.verifier)
            .field("namespace", &self.inner.namespace)
            .field("retain", &self.inner.retain)
            .field("kept_headers", &self.inner.kept)
            .field("ordering", &self.inner.ordering.is_some())
            .field("public_url", &self.inner.public_url)
            .finish_non_exhaustive()
    }
}

/// Configures an [`InboxEndpoint`]. Every setter documents its default.
pub struct InboxEndpointBuilder<E> {
    inbox: Inbox<E>,
    verifier: Verifier,
    namespace: Option<String>,
    retain: Option<Duration>,
    kept: Vec<HeaderName>,
    errors: Vec<ConfigError>,
    ordering: Option<Box<OrderingFn>>,
    public_url: Option<PublicUrl>,
    keys: Option<KeyCache>,
}

impl<E> fmt::Debug for InboxEndpointBuilder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxEndpointBuilder")
            .field("verifier", &self.verifier)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl<E: InboxEngine> Inbox<E> {
    /// Configures an endpoint that verifies requests with `verifier` and accepts them into this
    /// inbox.
    pub fn endpoint(&self, verifier: Verifier) -> InboxEndpointBuilder<E> {
        InboxEndpointBuilder {
            inbox: self.clone(),
            verifier,
            namespace: None,
            retain: None,
            kept: DEFAULT_KEPT_HEADERS
                .iter()
                .map(|name| HeaderName::from_static(name))
                .collect(),
            errors: Vec::new(),
            ordering: None,
            public_url: None,
            keys: None,
        }
    }
}

impl<E: InboxEngine> InboxEndpointBuilder<E> {
    /// Prefix of every key, so endpoints sharing an inbox do not collide: 1 to 64 visible ASCII
    /// characters other than `:`. Default: the scheme's name and a fingerprint of the first key,
    /// as for a [`Receiver`](crate::Receiver) (see
    /// [`ReceiverBuilder::namespace`](crate::ReceiverBuilder::namespace)); set one per endpoint
    /// to keep deduplicating across a key rotation.
    #[must_use]
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// How long done records are kept (deduplication and audit). Default: the replay window
    /// plus [`RETENTION_MARGIN`](crate::RETENTION_MARGIN), or [`UNTIMESTAMPED_RETENTION`](crate::UNTIMESTAMPED_RETENTION) for schemes without a
    /// timestamp. A retention not longer than the replay window, or over ten years, is refused
    /// at build time.
    #[must_use]
    pub fn retain(mut self, retain: Duration) -> Self {
        self.retain = Some(retain);
        self
    }

    /// Also keeps the header `name` with the record (in addition to
    /// [`DEFAULT_KEPT_HEADERS`]). Refused at build time if it is not a valid header name,
    /// contains a word of [`NEVER_KEPT_HEADER_WORDS`] or has a part of
    /// [`NEVER_KEPT_HEADER_PARTS`].
    #[must_use]
    pub fn keep_header(mut self, name: &str) -> Self {
        match HeaderName::from_bytes(name.as_bytes()) {
            Ok(header) if never_kept(header.as_str()) => {
                self.errors.push(ConfigError::invalid(
                    "keep_header",
                    format!("`{header}` looks like a credential or signature header"),
                ));
            }
            Ok(header) => self.kept.push(header),
            Err(_) => self.errors.push(ConfigError::invalid(
                "keep_header",
                "not a valid header name",
            )),
        }
        self
    }

    /// Keeps only the headers you add with [`keep_header`](Self::keep_header), none of the
    /// defaults.
    #[must_use]
    pub fn no_default_headers(mut self) -> Self {
        self.kept.clear();
        self
    }

    /// Derives an ordering key from each verified delivery: records with the same key run one
    /// at a time, in received order (a failing record holds the later ones back until it is
    /// done or dead). `None`: no ordering for that delivery. Default: none.
    ///
    /// ```
    /// # fn f<E: webhook_receiver::inbox::InboxEngine>(b: webhook_receiver::inbox::InboxEndpointBuilder<E>) -> webhook_receiver::inbox::InboxEndpointBuilder<E> {
    /// // One customer's events in order; customers in parallel.
    /// b.ordering_key(|_verified, _headers, body| {
    ///     let event: serde_json::Value = serde_json::from_slice(body).ok()?;
    ///     Some(event["data"]["object"]["customer"].as_str()?.to_owned())
    /// })
    /// # }
    /// ```
    #[must_use]
    pub fn ordering_key(
        mut self,
        derive: impl Fn(&Verified<'_>, &HeaderMap, &[u8]) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.ordering = Some(Box::new(derive));
        self
    }

    /// The URL the sender calls, for schemes that sign it (Twilio, Square): the HTTP routes
    /// (`axum::InboxService`, `actix::InboxHandler`) resolve each request's URL with it, as the
    /// adapters do for a [`Receiver`](crate::Receiver)'s
    /// ([`ReceiverBuilder::public_url`](crate::ReceiverBuilder::public_url)). Default: none,
    /// and such schemes answer 500 (a configuration mistake).
    #[must_use]
    pub fn public_url(mut self, public_url: PublicUrl) -> Self {
        self.public_url = Some(public_url);
        self
    }

    /// Where keys fetched at run time come from, for schemes that name one per request (AWS
    /// SNS, PayPal, Plaid; see [`keysource`](crate::keysource)), as
    /// [`ReceiverBuilder::key_cache`](crate::ReceiverBuilder::key_cache) for inline receivers.
    /// A key that cannot be fetched is answered 503 + `Retry-After` (nothing stored); an
    /// unknown or unusable one 401. Default: none, and such schemes answer 500 until it is set
    /// (unless their verifier pins a key). Other schemes ignore it.
    #[must_use]
    pub fn key_cache(mut self, cache: KeyCache) -> Self {
        self.keys = Some(cache);
        self
    }

    /// Builds the endpoint.
    ///
    /// # Errors
    ///
    /// A refused [`keep_header`](Self::keep_header), an empty namespace or one containing
    /// `:`, a zero retention, or one shorter than the replay window, or a public URL that is
    /// not an absolute `http(s)` URL.
    pub fn build(self) -> Result<InboxEndpoint<E>, ConfigError> {
        if let Some(error) = self.errors.into_iter().next() {
            return Err(error);
        }
        let (namespace, retain) =
            crate::receiver::endpoint_settings(&self.verifier, self.namespace, self.retain)?;
        if let Some(url) = &self.public_url {
            url.validate()?;
        }
        let mut kept = self.kept;
        kept.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        kept.dedup();
        Ok(InboxEndpoint {
            inner: Arc::new(EndpointInner {
                inbox: self.inbox,
                verifier: self.verifier,
                namespace,
                retain,
                kept: kept.into(),
                ordering: self.ordering,
                public_url: self.public_url,
                keys: self.keys,
            }),
        })
    }
}

impl<E: InboxEngine> InboxEndpoint<E> {
    /// The inbox.
    pub fn inbox(&self) -> &Inbox<E> {
        &self.inner.inbox
    }

    /// The verifier.
    pub fn verifier(&self) -> &Verifier {
        &self.inner.verifier
    }

    /// The key namespace.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// The retention of done records.
    pub fn retain(&self) -> Duration {
        self.inner.retain
    }

    /// The header names kept (sorted).
    pub fn kept_headers(&self) -> &[HeaderName] {
        &self.inner.kept
    }

    /// How the public URL is found, if configured
    /// ([`InboxEndpointBuilder::public_url`]).
    pub fn public_url(&self) -> Option<&PublicUrl> {
        self.inner.public_url.as_ref()
    }

    /// The public URL of a request to `path_and_query` with this `Host` header, if a
    /// [`PublicUrl`] is configured: pass it to [`receive_request`](Self::receive_request).
    pub fn request_url(&self, host: Option<&str>, path_and_query: &str) -> Option<String> {
        self.inner
            .public_url
            .as_ref()?
            .resolve(host, path_and_query)
    }

    /// Verifies the request and stores it durably, once per key. On `Ok` answer 200 at once
    /// (a duplicate too: it is stored already); on `Err` answer
    /// [`InboxReceiveError::status`] with its `Retry-After`.
    ///
    /// # Errors
    ///
    /// [`InboxReceiveError::Verify`] when the request is not authentic or fresh (nothing is
    /// stored); [`InboxReceiveError::Inbox`] when the inbox is full or its engine fails.
    pub async fn receive(
        &self,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Receipt, InboxReceiveError> {
        self.receive_request("POST", None, headers, body).await
    }

    /// Like [`receive`](Self::receive), for a request with this method and public URL (for
    /// schemes that sign them, as Twilio and Square do).
    ///
    /// # Errors
    ///
    /// As [`receive`](Self::receive).
    pub async fn receive_request(
        &self,
        method: &str,
        url: Option<&str>,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Receipt, InboxReceiveError> {
        let inner = &*self.inner;
        let scheme = inner.verifier.scheme();
        let mut request = crate::providers::Request::new(headers, &body).method(method);
        request.url = url;
        let verified = if inner.verifier.fetches_keys() {
            match &inner.keys {
                Some(keys) => keys.verify_request(&inner.verifier, &request).await,
                None => Err(KeyVerifyError::Key(KeyError::NoSource)),
            }
        } else {
            inner.verifier.verify_request(&request).map_err(Into::into)
        };
        let verified = match verified {
            Ok(verified) => verified,
            Err(KeyVerifyError::Verify(error)) => {
                let error = crate::receiver::url_error(error, inner.public_url.as_ref(), headers);
                telemetry::rejected(&inner.namespace, scheme.name(), verify_reason(&error));
                return Err(error.into());
            }
            Err(KeyVerifyError::Key(error)) => {
                let reason = match error {
                    KeyError::Unavailable(_) => "key_unavailable",
                    KeyError::NoSource => "no_key_source",
                    _ => "key",
                };
                telemetry::rejected(&inner.namespace, scheme.name(), reason);
                return Err(error.into());
            }
        };
        let key = crate::receiver::store_key(&inner.namespace, &verified);
        let ordering_key = inner
            .ordering
            .as_ref()
            .and_then(|derive| derive(&verified, headers, &body));
        let mut record = NewRecord::new(key, inner.namespace.as_str(), scheme.name(), Bytes::new());
        record.event_id = verified.event_id().map(|id| id.into_owned());
        record.signed_at = verified.unix_timestamp();
        record.key_label = verified.key_label().map(str::to_owned);
        record.ordering_key = ordering_key;
        record.headers = self.kept(&request);
        record.retain = inner.retain;
        drop(verified);
        record.body = body;
        match inner.inbox.accept(&record).await {
            Ok(accepted) => Ok(Receipt {
                key: record.key,
                event_id: record.event_id,
                accepted,
            }),
            Err(error) => {
                let reason = match error {
                    InboxError::Full { .. } => "full",
                    InboxError::Unavailable(_) => "unavailable",
                    _ => "engine_error",
                };
                telemetry::rejected(&inner.namespace, scheme.name(), reason);
                Err(error.into())
            }
        }
    }

    /// Counts a request refused before it reached [`receive_request`](Self::receive_request)
    /// (an HTTP route that found its body over the limit), like the refusals it counts itself.
    #[cfg(any(feature = "axum", feature = "actix-web"))]
    pub(crate) fn rejected_unread(&self, error: &VerifyError) {
        let scheme = self.inner.verifier.scheme();
        telemetry::rejected(&self.inner.namespace, scheme.name(), verify_reason(error));
    }

    /// The kept headers of a request: the allow-list, minus the signature header the scheme
    /// reads and anything that looks like a credential.
    fn kept(&self, request: &crate::providers::Request<'_>) -> HeaderMap {
        let headers = request.headers;
        let signature = self
            .inner
            .verifier
            .scheme()
            .parse(request)
            .ok()
            .and_then(|parsed| parsed.signature_header.cloned());
        let mut kept = HeaderMap::new();
        for name in self.inner.kept.iter() {
            if Some(name) == signature.as_ref() || never_kept(name.as_str()) {
                continue;
            }
            for value in headers.get_all(name) {
                kept.append(name.clone(), value.clone());
            }
        }
        kept
    }
}

/// A delivery the inbox holds: answer 200.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Receipt {
    key: String,
    event_id: Option<String>,
    accepted: Accepted,
}

impl Receipt {
    /// The record's key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The provider's event id, when the scheme carries one.
    pub fn event_id(&self) -> Option<&str> {
        self.event_id.as_deref()
    }

    /// Stored now, or a duplicate of a retained record.
    pub fn accepted(&self) -> Accepted {
        self.accepted
    }

    /// Whether it was a duplicate.
    pub fn is_duplicate(&self) -> bool {
        self.accepted == Accepted::Duplicate
    }
}

/// A request could not be accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InboxReceiveError {
    /// The request failed verification; nothing was stored.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The inbox is full or its engine failed; nothing was acknowledged.
    #[error(transparent)]
    Inbox(#[from] InboxError),
    /// The key the request names could not be had (schemes that fetch their keys, with
    /// [`InboxEndpointBuilder::key_cache`]); nothing was stored.
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl InboxReceiveError {
    /// The HTTP status to answer: [`VerifyError::status`] (400, 401, 413), or
    /// [`InboxError::status`] (503 when full or unavailable, else 500).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Verify(error) => error.status(),
            Self::Inbox(error) => error.status(),
            Self::Key(error) => error.status(),
        }
    }

    /// The `Retry-After` to send with the status, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Verify(_) => None,
            Self::Inbox(error) => error.retry_after(),
            Self::Key(error) => error.retry_after(),
        }
    }
}
