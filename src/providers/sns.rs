//! AWS SNS HTTP/S subscriptions (RSA signatures inside the JSON body, certificate fetched at run
//! time).
//!
//! Source: docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html,
//! `…/sns-verify-signature-of-message-verify-message-signature.html`,
//! `…/http-subscription-confirmation-json.html` and `…/sns-message-delivery-retries.html`;
//! `aws/aws-js-sns-message-validator` `index.js` @a6ba4d6 (`validateUrl`, `validateSignature`,
//! the default host pattern).

use std::borrow::Cow;
use std::time::Duration;

use http::HeaderMap;

use super::{Draft, Parsed, Request, Scheme, SignContent, SignedRequest, Timestamp, Tolerance};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};
use crate::keysource::{KeyKind, KeyRef};
use crate::secret::KeyFormat;

/// The scheme's name, also in its [`KeyRef`]s.
const NAME: &str = "aws-sns";

/// How old an SNS `Timestamp` may be by default: SNS retries an HTTP/S delivery for at most
/// 3 600 s (a hard limit of every delivery policy), re-sending the message as first signed, plus
/// 5 minutes for the first attempt and clock skew.
const PAST_TOLERANCE: Duration = Duration::from_secs(3600 + 300);

/// The longest `TopicArn` accepted in the allow-list (AWS: 256-character topic names).
const MAX_ARN: usize = 512;

/// The kinds of SNS messages an HTTP/S endpoint receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnsMessageType {
    /// A message published to the topic.
    Notification,
    /// The endpoint was subscribed: visit [`Sns::subscribe_url`] to confirm, or nothing is
    /// delivered.
    SubscriptionConfirmation,
    /// The endpoint was unsubscribed.
    UnsubscribeConfirmation,
}

impl SnsMessageType {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "Notification" => Some(Self::Notification),
            "SubscriptionConfirmation" => Some(Self::SubscriptionConfirmation),
            "UnsubscribeConfirmation" => Some(Self::UnsubscribeConfirmation),
            _ => None,
        }
    }

    /// The fields signed for this type, in order, each as `name\nvalue\n` when present.
    /// Confirmations sign `SubscribeURL` and `Token`; notifications sign `Subject` when present
    /// (AWS's docs; the `sns-validator` package checks an `UnsubscribeConfirmation` with the
    /// notification list and so misses its `Token`).
    fn signed_fields(self) -> &'static [Field] {
        match self {
            Self::Notification => &[
                Field::Message,
                Field::MessageId,
                Field::Subject,
                Field::Timestamp,
                Field::TopicArn,
                Field::Type,
            ],
            Self::SubscriptionConfirmation | Self::UnsubscribeConfirmation => &[
                Field::Message,
                Field::MessageId,
                Field::SubscribeUrl,
                Field::Timestamp,
                Field::Token,
                Field::TopicArn,
                Field::Type,
            ],
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Message,
    MessageId,
    Subject,
    SubscribeUrl,
    Timestamp,
    Token,
    TopicArn,
    Type,
}

/// The fields of an SNS message this scheme reads; others (`UnsubscribeURL`,
/// `MessageAttributes`) are not signed and not read. A repeated field is refused.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "Type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(rename = "MessageId", borrow)]
    message_id: Option<Cow<'a, str>>,
    #[serde(rename = "Message", borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(rename = "Subject", borrow, default)]
    subject: Option<Cow<'a, str>>,
    #[serde(rename = "SubscribeURL", borrow)]
    subscribe_url: Option<Cow<'a, str>>,
    #[serde(rename = "Timestamp", borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "Token", borrow)]
    token: Option<Cow<'a, str>>,
    #[serde(rename = "TopicArn", borrow)]
    topic_arn: Option<Cow<'a, str>>,
    #[serde(rename = "SignatureVersion", borrow)]
    signature_version: Option<Cow<'a, str>>,
    #[serde(rename = "Signature", borrow)]
    signature: Option<Cow<'a, str>>,
    #[serde(rename = "SigningCertURL", borrow)]
    signing_cert_url: Option<Cow<'a, str>>,
}

impl<'a> Envelope<'a> {
    fn read(body: &'a [u8]) -> Result<Self, VerifyError> {
        if !super::is_json_object(body) {
            return Err(malformed(
                "not an SNS message: the body is not a JSON object",
            ));
        }
        serde_json::from_slice(body).map_err(|_| {
            malformed("not an SNS message: invalid JSON, a repeated field or a field that is not a string")
        })
    }

    fn field(&self, field: Field) -> Option<&str> {
        match field {
            Field::Message => self.message.as_deref(),
            Field::MessageId => self.message_id.as_deref(),
            Field::Subject => self.subject.as_deref(),
            Field::SubscribeUrl => self.subscribe_url.as_deref(),
            Field::Timestamp => self.timestamp.as_deref(),
            Field::Token => self.token.as_deref(),
            Field::TopicArn => self.topic_arn.as_deref(),
            Field::Type => self.kind.as_deref(),
        }
    }

    /// The string AWS signs for this message: `name\nvalue\n` for each signed field present.
    fn string_to_sign(&self, kind: SnsMessageType) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.message.as_deref().map_or(0, str::len) + 256);
        for &field in kind.signed_fields() {
            if let Some(value) = self.field(field) {
                out.extend_from_slice(field_name(field).as_bytes());
                out.push(b'\n');
                out.extend_from_slice(value.as_bytes());
                out.push(b'\n');
            }
        }
        out
    }
}

/// Every field the scheme reads as a string.
const STRING_FIELDS: &[&str] = &[
    "Type",
    "MessageId",
    "Message",
    "Subject",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "SignatureVersion",
    "Signature",
    "SigningCertURL",
];

/// The first field a message of `kind` needs and `envelope` lacks: `Message`, `MessageId`,
/// `Timestamp` and `TopicArn`, and for confirmations `SubscribeURL` and `Token`.
fn missing_field(envelope: &Envelope<'_>, kind: SnsMessageType) -> Option<Field> {
    let required = [
        Field::Message,
        Field::MessageId,
        Field::Timestamp,
        Field::TopicArn,
    ];
    let confirmation = [Field::SubscribeUrl, Field::Token];
    let needed: &[Field] = if kind == SnsMessageType::Notification {
        &[]
    } else {
        &confirmation
    };
    required
        .iter()
        .chain(needed)
        .copied()
        .find(|&f| envelope.field(f).is_none())
}

fn field_name(field: Field) -> &'static str {
    match field {
        Field::Message => "Message",
        Field::MessageId => "MessageId",
        Field::Subject => "Subject",
        Field::SubscribeUrl => "SubscribeURL",
        Field::Timestamp => "Timestamp",
        Field::Token => "Token",
        Field::TopicArn => "TopicArn",
        Field::Type => "Type",
    }
}

fn malformed(reason: &'static str) -> VerifyError {
    VerifyError::MalformedBody { reason }
}

/// Whether `url` is an `https` URL without user info, port, query or fragment whose host and
/// path pass the checks: the shape of every certificate URL a provider sends.
pub(super) fn check_https_url(
    url: &str,
    host_ok: impl Fn(&str) -> bool,
    path_ok: impl Fn(&str) -> bool,
) -> bool {
    check_url(url, false, host_ok, path_ok)
}

/// [`check_https_url`], with a query allowed when `query` is true.
fn check_url(
    url: &str,
    query: bool,
    host_ok: impl Fn(&str) -> bool,
    path_ok: impl Fn(&str) -> bool,
) -> bool {
    if url.len() > 2048 || url.contains(['#', '@', '\\']) {
        return false;
    }
    let Ok(uri) = url.parse::<http::Uri>() else {
        return false;
    };
    let Some(authority) = uri.authority() else {
        return false;
    };
    // No port text at all: `port()` is also `None` for one that is not a number (`:x`, `:`).
    uri.scheme_str() == Some("https")
        && authority.as_str() == authority.host()
        && (query || uri.query().is_none())
        && host_ok(authority.host())
        && path_ok(uri.path())
}

/// Whether `url` may be a `SigningCertURL`: `https://sns.<region>.amazonaws.com/….pem`.
fn cert_url_ok(url: &str) -> bool {
    check_https_url(url, sns_host, |path| path.ends_with(".pem"))
}

/// `SignatureVersion` 1: RSA with SHA-1.
const SIGNATURE_VERSION_1: &str = "1";
/// `SignatureVersion` 2: RSA with SHA-256.
const SIGNATURE_VERSION_2: &str = "2";

/// `sns.<region>.amazonaws.com` or `sns.<region>.amazonaws.com.cn`, the region being at least
/// three letters, digits or dashes (`sns-validator`'s default host pattern).
fn sns_host(host: &str) -> bool {
    let Some(rest) = host.strip_prefix("sns.") else {
        return false;
    };
    rest.strip_suffix(".amazonaws.com.cn")
        .or_else(|| rest.strip_suffix(".amazonaws.com"))
        .is_some_and(|region| {
            region.len() >= 3
                && region
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// [AWS SNS](https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html)
/// messages to an HTTP/S subscription: the signature is **inside the JSON body** —
/// `Signature` (base64), `SignatureVersion` (`1` = RSA-SHA1, `2` = RSA-SHA256) and
/// `SigningCertURL` — over `name\nvalue\n` for each signed field of the message's `Type`, in a
/// fixed order. The key is that of the X.509 certificate at `SigningCertURL`, **fetched at run
/// time**: verify through a [`KeyCache`](crate::keysource::KeyCache), or give the
/// [`Receiver`](crate::Receiver) one ([`ReceiverBuilder::key_cache`](crate::ReceiverBuilder::key_cache)).
///
/// * **Topic allow-list**: a valid signature only proves the message came through SNS — anyone
///   can create a topic and subscribe your URL to it. Only the topics given to [`Sns::new`] /
///   [`Sns::topic`] are accepted (checked before any fetch);
///   [`Sns::insecure_any_topic`] accepts every topic, for those who check `TopicArn`
///   themselves.
/// * **Certificate URL**: `https`, host `sns.<region>.amazonaws.com` (or `.com.cn`), a path
///   ending in `.pem`, no port, user info, query or fragment — checked before anything is
///   fetched, as AWS's validator does. The certificate's RSA key verifies; its validity dates
///   are checked against the verifier's clock. A certificate may also be pinned
///   ([`public_key`](crate::VerifierBuilder::public_key) with the PEM text): then only it is
///   used and nothing is fetched.
/// * **Signed fields**: `Notification`: `Message`, `MessageId`, `Subject` (when present),
///   `Timestamp`, `TopicArn`, `Type`. `SubscriptionConfirmation` and
///   `UnsubscribeConfirmation`: `Message`, `MessageId`, `SubscribeURL`, `Timestamp`, `Token`,
///   `TopicArn`, `Type` — each type with its own list (the `sns-validator` package checks an
///   `UnsubscribeConfirmation` with the notification list, leaving its `Token` unchecked).
///   `UnsubscribeURL` and message attributes are **not signed**. Values are the decoded JSON
///   strings; raw message delivery (no JSON envelope) carries no signature and is refused.
/// * **Tolerance**: AWS's validator checks no time; the signed `Timestamp` (the publish time)
///   is checked here against **65 minutes past** — SNS retries a delivery for at most an hour,
///   re-sending the message as first signed — and 5 minutes future, as policy.
/// * **Dedup key**: the signed `MessageId`, the same on every retry. It is also the same for
///   every subscription of a topic: endpoints sharing a store need a namespace each
///   ([`ReceiverBuilder::namespace`](crate::ReceiverBuilder::namespace)) — they have no key of
///   their own to derive one from.
/// * **Subscribing**: a `SubscriptionConfirmation` is verified and delivered like any message;
///   confirm it by visiting [`Sns::subscribe_url`] with your own HTTP client (this crate never
///   fetches it).
///
/// ```
/// use webhook_receiver::{Verifier, providers::Sns};
///
/// let verifier = Verifier::builder(
///     Sns::new("arn:aws:sns:us-east-1:123456789012:orders")?
///         .topic("arn:aws:sns:eu-west-1:123456789012:orders")?,
/// )
/// .build()?; // no key: certificates are fetched per message through a KeyCache
/// assert!(verifier.fetches_keys());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Sns {
    /// The accepted topics; `None` accepts any.
    topics: Option<Vec<Box<str>>>,
}

fn checked_arn(topic_arn: &str) -> Result<Box<str>, ConfigError> {
    let arn = topic_arn.trim();
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let valid = arn.len() <= MAX_ARN
        && parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "sns"
        && parts.iter().all(|p| !p.is_empty())
        && arn.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(arn.into())
    } else {
        Err(ConfigError::invalid(
            "topic_arn",
            "not an SNS topic ARN (`arn:aws:sns:<region>:<account>:<topic>`)",
        ))
    }
}

impl Sns {
    /// Accepts messages of `topic_arn` (`arn:aws:sns:us-east-1:123456789012:orders`) only.
    pub fn new(topic_arn: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            topics: Some(vec![checked_arn(topic_arn)?]),
        })
    }

    /// Also accepts messages of `topic_arn`.
    pub fn topic(mut self, topic_arn: &str) -> Result<Self, ConfigError> {
        let arn = checked_arn(topic_arn)?;
        if let Some(topics) = &mut self.topics {
            topics.push(arn);
        }
        Ok(self)
    }

    /// **Insecure**: accepts messages of any topic. Anyone can create a topic and subscribe
    /// your URL to it, and its messages are signed by SNS all the same: check `TopicArn`
    /// yourself before acting on a message.
    pub fn insecure_any_topic() -> Self {
        Self { topics: None }
    }

    /// The `Type` of a (verified) SNS message body.
    pub fn message_type(body: &[u8]) -> Option<SnsMessageType> {
        let envelope = Envelope::read(body).ok()?;
        SnsMessageType::parse(envelope.kind.as_deref()?)
    }

    /// The `SubscribeURL` of a verified `SubscriptionConfirmation`, if it is an `https` URL on
    /// an SNS host (`sns.<region>.amazonaws.com`): visit it (an HTTP `GET`) with your own client
    /// to confirm the subscription. `None` for any other message. This crate never fetches it.
    ///
    /// Call it only with a body that passed verification: the URL is signed, so it is AWS's.
    pub fn subscribe_url(body: &[u8]) -> Option<String> {
        let envelope = Envelope::read(body).ok()?;
        if SnsMessageType::parse(envelope.kind.as_deref()?)?
            != SnsMessageType::SubscriptionConfirmation
        {
            return None;
        }
        let url = envelope.subscribe_url?;
        check_url(&url, true, sns_host, |_| true).then(|| url.into_owned())
    }

    fn accepts(&self, topic_arn: &str) -> bool {
        self.topics
            .as_ref()
            .is_none_or(|topics| topics.iter().any(|t| **t == *topic_arn))
    }
}

impl Scheme for Sns {
    fn name(&self) -> &str {
        NAME
    }

    /// A pinned certificate, in PEM.
    fn key_format(&self) -> KeyFormat {
        KeyFormat::Certificate
    }

    fn encoding(&self) -> Encoding {
        Encoding::Base64
    }

    fn algorithms(&self) -> &[Algorithm] {
        // Version 2 first, as AWS recommends: a signer signs with it unless told otherwise.
        &[Algorithm::RsaSha256, Algorithm::RsaSha1]
    }

    fn has_timestamp(&self) -> bool {
        true
    }

    fn default_tolerance(&self) -> Tolerance {
        Tolerance::new(PAST_TOLERANCE, Duration::from_secs(300))
    }

    fn fetches_keys(&self) -> bool {
        true
    }

    /// `https://sns.us-east-1.amazonaws.com/SimpleNotificationService-<32 hex digits>.pem`, the
    /// shape of AWS's certificate URLs.
    fn default_key_id(&self, key_digest: &[u8; 32]) -> Option<String> {
        Some(format!(
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-{}.pem",
            hex::encode(&key_digest[..16])
        ))
    }

    /// ISO 8601 in UTC with milliseconds (`2012-04-26T20:45:04.751Z`), as SNS writes
    /// `Timestamp`.
    fn format_timestamp(&self, unix_millis: i64) -> String {
        format_time(unix_millis).unwrap_or_default()
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let envelope = Envelope::read(request.body)?;
        let kind = envelope
            .kind
            .as_deref()
            .ok_or(malformed("the SNS message has no `Type`"))?;
        let kind = SnsMessageType::parse(kind).ok_or(malformed(
            "the SNS `Type` is not Notification, SubscriptionConfirmation or UnsubscribeConfirmation",
        ))?;
        if missing_field(&envelope, kind).is_some() {
            return Err(malformed(
                "the SNS message lacks a signed field of its type (Message, MessageId, Timestamp, TopicArn; SubscribeURL and Token for confirmations)",
            ));
        }
        // The signed string joins `name\nvalue\n` without escaping: a `MessageId` holding
        // `\nSubject\n…` (the `Subject` removed) signs the same bytes under another id, which
        // is the dedup key. AWS's ids are UUIDs, and its subjects may hold no line break or
        // control character: with neither in them, the signed fields read back one way only.
        let control = |text: &str| text.chars().any(char::is_control);
        if envelope
            .message_id
            .as_deref()
            .is_some_and(|id| id.is_empty() || control(id))
        {
            return Err(malformed(
                "the SNS `MessageId` is empty or holds a control character",
            ));
        }
        if envelope.subject.as_deref().is_some_and(control) {
            return Err(malformed(
                "the SNS `Subject` holds a line break or control character",
            ));
        }
        // Checked before any key is fetched: an unexpected topic, an unexpected host.
        let topic = envelope.topic_arn.as_deref().unwrap_or_default();
        if !self.accepts(topic) {
            return Err(malformed(
                "the SNS `TopicArn` is not one this endpoint accepts",
            ));
        }
        let algorithm = match envelope.signature_version.as_deref() {
            Some(SIGNATURE_VERSION_1) => Algorithm::RsaSha1,
            Some(SIGNATURE_VERSION_2) => Algorithm::RsaSha256,
            _ => return Err(malformed("the SNS `SignatureVersion` is not 1 or 2")),
        };
        let signature = envelope
            .signature
            .clone()
            .ok_or(malformed("the SNS message has no `Signature`"))?;
        let mut scratch = [0u8; crate::encoding::MAX_RSA_SIG];
        let len = crate::encoding::decode_into(&signature, Encoding::Base64, &mut scratch).ok_or(
            malformed("the SNS `Signature` is not base64 of an RSA signature"),
        )?;
        if !algorithm.accepts_len(len) {
            return Err(malformed(
                "the SNS `Signature` is not base64 of an RSA signature",
            ));
        }
        let cert_url = envelope
            .signing_cert_url
            .clone()
            .ok_or(malformed("the SNS message has no `SigningCertURL`"))?;
        if !cert_url_ok(&cert_url) {
            return Err(malformed(
                "the SNS `SigningCertURL` is not https://sns.<region>.amazonaws.com/….pem",
            ));
        }
        let text = envelope.timestamp.clone().unwrap_or_default();
        let at = parse_time(&text)?;
        let content = envelope.string_to_sign(kind);
        let mut parsed = Parsed::new(algorithm)
            .with_timestamp(Timestamp::new(at, text))
            .with_id(envelope.message_id.clone().unwrap_or_default())
            .with_key_ref(KeyRef::new(NAME, KeyKind::CertificateUrl, cert_url));
        parsed.push_signature(signature);
        parsed.push_content(content);
        Ok(parsed)
    }

    fn signed_content(
        &self,
        _parsed: &Parsed<'_>,
        request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        // `parse` always builds the content; this serves callers that did not parse.
        if let Ok(envelope) = Envelope::read(request.body)
            && let Some(kind) = envelope.kind.as_deref().and_then(SnsMessageType::parse)
        {
            feed(&envelope.string_to_sign(kind));
        }
    }

    /// Not used: SNS signs inside the body, which [`sign`](Scheme::sign) writes.
    fn write_headers(
        &self,
        _parsed: &Parsed<'_>,
        _signature: &str,
        _headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        Err(ConfigError::invalid(
            "scheme",
            "AWS SNS signs inside the JSON body: sign with `Scheme::sign` (testing::Signer)",
        ))
    }

    /// Signs an SNS message as AWS does. The draft's body is the message as a JSON object of
    /// strings: `Type` (default `Notification`), `TopicArn` (default: the first topic this
    /// scheme accepts), `Message`, and for confirmations `SubscribeURL` and `Token`;
    /// `Subject`, `UnsubscribeURL` and `MessageAttributes` may be added. `MessageId` and
    /// `Timestamp` are the draft's id and time unless given. `SignatureVersion` (`1` for
    /// RSA-SHA1, `2` for RSA-SHA256, from the draft's algorithm), `SigningCertURL` (the draft's
    /// key id) and `Signature` are set, replacing any given. The string to sign is the one
    /// [`parse`](Scheme::parse) checks. The headers are SNS's `x-amz-sns-message-type`,
    /// `x-amz-sns-message-id`, `x-amz-sns-topic-arn` and `content-type`.
    fn sign(
        &self,
        draft: &Draft<'_>,
        signer: &mut dyn SignContent,
        out: &mut SignedRequest,
    ) -> Result<(), ConfigError> {
        use serde_json::Value;
        let invalid = |reason: &'static str| ConfigError::invalid("body", reason);
        let Ok(Value::Object(mut message)) = serde_json::from_slice::<Value>(draft.body) else {
            return Err(invalid(
                "an SNS message to sign is a JSON object (`TopicArn`, `Message`, …)",
            ));
        };
        let version = match draft.algorithm {
            Algorithm::RsaSha1 => SIGNATURE_VERSION_1,
            Algorithm::RsaSha256 => SIGNATURE_VERSION_2,
            _ => {
                return Err(ConfigError::invalid(
                    "algorithm",
                    "AWS SNS signs with RSA-SHA1 (version 1) or RSA-SHA256 (version 2)",
                ));
            }
        };
        let cert_url = draft.key_id.ok_or_else(|| {
            ConfigError::invalid("key_id", "an SNS message names its `SigningCertURL`")
        })?;
        let text = |t: &str| Value::String(t.to_owned());
        message
            .entry("Type")
            .or_insert_with(|| text("Notification"));
        message.entry("MessageId").or_insert_with(|| text(draft.id));
        if !message.contains_key("Timestamp") {
            let at = format_time(draft.timestamp_millis)
                .ok_or_else(|| ConfigError::invalid("timestamp", "outside the years 0 to 9999"))?;
            message.insert("Timestamp".to_owned(), Value::String(at));
        }
        if !message.contains_key("TopicArn") {
            let topic = self
                .topics
                .as_ref()
                .and_then(|topics| topics.first())
                .ok_or_else(|| {
                    ConfigError::invalid(
                        "body",
                        "the SNS message has no `TopicArn`, and this scheme accepts any topic",
                    )
                })?;
            message.insert("TopicArn".to_owned(), text(topic));
        }
        message.insert("SignatureVersion".to_owned(), text(version));
        message.insert("SigningCertURL".to_owned(), text(cert_url));
        message.remove("Signature");
        for name in STRING_FIELDS {
            let absent = |v: &Value| v.is_null() && *name == "Subject";
            if message
                .get(*name)
                .is_some_and(|v| !v.is_string() && !absent(v))
            {
                return Err(ConfigError::invalid(
                    "body",
                    format!(
                        "the SNS field `{name}` is not a string (a JSON message is sent as a string of JSON)"
                    ),
                ));
            }
        }
        let unsigned = serde_json::to_vec(&message)
            .map_err(|_| invalid("the SNS message cannot be written as JSON"))?;
        let envelope = Envelope::read(&unsigned)
            .map_err(|_| invalid("not an SNS message: a field is repeated or not a string"))?;
        let kind = envelope
            .kind
            .as_deref()
            .and_then(SnsMessageType::parse)
            .ok_or(invalid(
                "the SNS `Type` is not Notification, SubscriptionConfirmation or UnsubscribeConfirmation",
            ))?;
        if let Some(field) = missing_field(&envelope, kind) {
            return Err(ConfigError::invalid(
                "body",
                format!(
                    "the SNS message lacks `{}`, which its `Type` signs",
                    field_name(field)
                ),
            ));
        }
        if envelope.message_id.as_deref().is_some_and(str::is_empty) {
            return Err(invalid("the SNS `MessageId` is empty"));
        }
        let content = envelope.string_to_sign(kind);
        let signature = signer.sign(draft.algorithm, &mut |feed| feed(&content))?;
        // `envelope` borrows `unsigned`, not `message`: its fields name the headers below.
        message.insert("Signature".to_owned(), Value::String(signature));
        out.body = serde_json::to_vec(&message)
            .map_err(|_| invalid("the SNS message cannot be written as JSON"))?;
        for (name, value) in [
            ("x-amz-sns-message-type", envelope.kind.as_deref()),
            ("x-amz-sns-message-id", envelope.message_id.as_deref()),
            ("x-amz-sns-topic-arn", envelope.topic_arn.as_deref()),
            ("content-type", Some("text/plain; charset=UTF-8")),
        ] {
            let value = value.unwrap_or_default();
            super::insert_header(&mut out.headers, http::HeaderName::from_static(name), value)?;
        }
        Ok(())
    }
}

/// `unix_millis` as SNS writes a `Timestamp`: `2012-04-26T20:45:04.751Z`; `None` outside years
/// 0 to 9999.
fn format_time(unix_millis: i64) -> Option<String> {
    let at = time::OffsetDateTime::from_unix_timestamp(unix_millis.div_euclid(1000)).ok()?;
    if !(0..=9999).contains(&at.year()) {
        return None;
    }
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        unix_millis.rem_euclid(1000)
    ))
}

/// An SNS `Timestamp` (ISO 8601 in UTC with milliseconds, `2012-04-26T20:45:04.751Z`) in
/// milliseconds.
fn parse_time(text: &str) -> Result<i64, VerifyError> {
    let invalid = || malformed("the SNS `Timestamp` is not an RFC 3339 date-time");
    if text.len() > 64 {
        return Err(invalid());
    }
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|_| invalid())?;
    i64::try_from(at.unix_timestamp_nanos().div_euclid(1_000_000)).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_urls() {
        for good in [
            "sns.us-east-1.amazonaws.com",
            "sns.cn-north-1.amazonaws.com.cn",
            "sns.us-gov-west-1.amazonaws.com",
        ] {
            assert!(sns_host(good), "{good}");
        }
        for bad in [
            "sns.amazonaws.com",
            "sns.us.amazonaws.com",
            "sqs.us-east-1.amazonaws.com",
            "sns.us-east-1.amazonaws.com.evil.com",
            "sns.us_east.amazonaws.com",
            "evil.com",
            "sns.us-east-1.amazonaws.co",
        ] {
            assert!(!sns_host(bad), "{bad}");
        }
        let pem = |p: &str| p.ends_with(".pem");
        assert!(check_https_url(
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            sns_host,
            pem
        ));
        for bad in [
            "http://sns.us-east-1.amazonaws.com/a.pem",
            "https://sns.us-east-1.amazonaws.com/a.pem?x=.pem",
            "https://sns.us-east-1.amazonaws.com:8443/a.pem",
            "https://sns.us-east-1.amazonaws.com:65536/a.pem",
            "https://sns.us-east-1.amazonaws.com:44x/a.pem",
            "https://sns.us-east-1.amazonaws.com:/a.pem",
            "https://sns.us-east-1.amazonaws.com:443/a.pem",
            "https://user@sns.us-east-1.amazonaws.com/a.pem",
            "https://evil.com@sns.us-east-1.amazonaws.com/a.pem",
            "https://sns.us-east-1.amazonaws.com/a.pem#x",
            "https://sns.us-east-1.amazonaws.com/a.txt",
            "https://sns.us-east-1.amazonaws.com\\@evil.com/a.pem",
            "//sns.us-east-1.amazonaws.com/a.pem",
            "not a url",
            "",
        ] {
            assert!(!check_https_url(bad, sns_host, pem), "{bad}");
        }
    }

    #[test]
    fn timestamps_are_written_as_sns_writes_them() {
        for (millis, text) in [
            (1_796_040_000_000, "2026-11-30T12:00:00.000Z"),
            (1_335_473_104_751, "2012-04-26T20:45:04.751Z"),
            (5, "1970-01-01T00:00:00.005Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
        ] {
            assert_eq!(format_time(millis).as_deref(), Some(text));
            assert_eq!(parse_time(text).unwrap(), millis, "{text}");
        }
        assert_eq!(format_time(i64::MAX), None);
        assert_eq!(format_time(-62_167_219_200_001), None, "before year 0");
        assert_eq!(
            Sns::insecure_any_topic().format_timestamp(1_335_473_104_751),
            "2012-04-26T20:45:04.751Z"
        );
    }

    #[test]
    fn topic_arns() {
        assert!(Sns::new("arn:aws:sns:us-east-1:123456789012:orders").is_ok());
        assert!(Sns::new("arn:aws-cn:sns:cn-north-1:123456789012:orders").is_ok());
        assert!(Sns::new("arn:aws:sns:us-east-1:123456789012:orders.fifo").is_ok());
        for bad in [
            "",
            "orders",
            "arn:aws:sqs:us-east-1:123456789012:orders",
            "arn:aws:sns:us-east-1:123456789012:",
            "arn:aws:sns:us-east-1::orders",
            "arn:gcp:sns:us-east-1:123456789012:orders",
            "arn:aws:sns:us-east-1:123456789012:or ders",
        ] {
            assert!(Sns::new(bad).is_err(), "{bad:?}");
        }
    }
}
