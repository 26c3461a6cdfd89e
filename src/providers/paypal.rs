//! PayPal REST webhooks, verified offline (RSA over a CRC32 of the body, certificate fetched at
//! run time).
//!
//! Source: `paypal/PayPal-Java-SDK` (archived) `rest-api-sdk/src/main/java/com/paypal/api/payments/Event.java`
//! (`validateReceivedEvent`) and `…/com/paypal/base/SSLUtil.java` (`crc32`, `validateData`,
//! `validateCertificateChain`'s `CN=messageverificationcerts…paypal.com` check) @2a34212, whose
//! `ValidateCertTest` vector (a sandbox certificate, body and signature) verifies with this
//! scheme; developer.paypal.com/api/rest/webhooks/rest (headers, retries "up to 25 times over
//! 3 days", the postback alternative).

use std::time::Duration;

use http::{HeaderMap, HeaderName};

use super::sns::check_https_url;
use super::{
    Draft, Parsed, Request, Scheme, SignContent, SignedRequest, Timestamp, Tolerance,
    insert_header, parse_rfc3339, scan_headers,
};
use crate::encoding::{Algorithm, Encoding, MAX_RSA_SIG, decode_into};
use crate::error::{ConfigError, VerifyError};
use crate::keysource::{KeyError, KeyKind, KeyRef, RemoteKey};
use crate::secret::{KeyFormat, parse_certificate};

const NAME: &str = "paypal";

static TRANSMISSION_ID: HeaderName = HeaderName::from_static("paypal-transmission-id");
static TRANSMISSION_TIME: HeaderName = HeaderName::from_static("paypal-transmission-time");
static TRANSMISSION_SIG: HeaderName = HeaderName::from_static("paypal-transmission-sig");
static CERT_URL: HeaderName = HeaderName::from_static("paypal-cert-url");
static AUTH_ALGO: HeaderName = HeaderName::from_static("paypal-auth-algo");

/// PayPal retries a delivery "up to 25 times over 3 days" with the transmission's first
/// signature; an hour of slack on top.
const PAST_TOLERANCE: Duration = Duration::from_secs(73 * 3600);

/// The hosts PayPal serves its webhook certificates from (live and sandbox API hosts).
const CERT_HOSTS: &[&str] = &[
    "api.paypal.com",
    "api-m.paypal.com",
    "api.sandbox.paypal.com",
    "api-m.sandbox.paypal.com",
];

/// [PayPal](https://developer.paypal.com/api/rest/webhooks/rest/) REST webhooks, verified
/// offline: `PAYPAL-TRANSMISSION-SIG` is the base64 **RSA-SHA256** signature
/// (`PAYPAL-AUTH-ALGO: SHA256withRSA`) over
/// `{transmission id}|{transmission time}|{webhook id}|{CRC32 of the body, in decimal}`, with the
/// key of the certificate at `PAYPAL-CERT-URL`, **fetched at run time**: verify through a
/// [`KeyCache`](crate::keysource::KeyCache), or give the [`Receiver`](crate::Receiver) one. The
/// webhook id is the one PayPal assigned when you subscribed the URL ([`PayPal::new`]).
///
/// * **Why offline**: PayPal documents two ways: this one, which its own Java SDK implements
///   (`Event.validateReceivedEvent`, whose test vector verifies here), and a postback to
///   `POST /v1/notifications/verify-webhook-signature` with OAuth credentials, one round trip
///   per delivery. Offline needs one certificate fetch per certificate and no credentials.
/// * **The body is only covered by a CRC32** — a checksum, not a cryptographic hash: anyone who
///   has seen one delivery's headers can forge a different body with the same CRC32 and send it
///   with them. Integrity of the body rests on TLS. Hence the **dedup key is the signed
///   transmission id**, never the body's event `id`: once a transmission was processed, any
///   body sent with its signature is a duplicate. A transmission that was never processed can
///   be forged within the tolerance. For what matters (a payment), read the resource back from
///   PayPal's API, or use the postback verification.
/// * **Certificate URL**: `https`, host `api.paypal.com`, `api-m.paypal.com` or their
///   `sandbox.` twins, path under `/v1/notifications/certs/`, no port, user info or query —
///   checked before anything is fetched. The certificate must be PayPal's message-verification
///   certificate (subject `CN=messageverificationcerts….paypal.com`, as the Java SDK requires)
///   and valid now; its chain is not checked — trust comes from fetching it over HTTPS from
///   PayPal's API host (the Java SDK checks the chain instead, against DigiCert). A certificate
///   may also be pinned ([`public_key`](crate::VerifierBuilder::public_key) with the PEM text).
/// * **Tolerance**: PayPal's SDKs check no time. Retries of a transmission keep its id, time and
///   signature (PayPal's transmission records keep the first attempt's timestamp), so the
///   signed `PAYPAL-TRANSMISSION-TIME` is checked against **73 hours past** (PayPal retries for
///   3 days) and 5 minutes future. The receiver remembers transmission ids as long.
/// * Only `SHA256withRSA` is accepted.
///
/// ```
/// use webhook_receiver::{Verifier, providers::PayPal};
///
/// let verifier = Verifier::builder(PayPal::new("9XL90610J3647323C")?).build()?;
/// assert!(verifier.fetches_keys());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PayPal {
    webhook_id: Box<str>,
}

impl PayPal {
    /// The scheme for the webhook `webhook_id` (letters and digits, as PayPal assigns them; at
    /// most 50).
    pub fn new(webhook_id: &str) -> Result<Self, ConfigError> {
        let id = webhook_id.trim();
        if id.is_empty() || id.len() > 50 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ConfigError::invalid(
                "webhook_id",
                "must be 1 to 50 letters and digits, as PayPal shows it",
            ));
        }
        Ok(Self {
            webhook_id: id.into(),
        })
    }

    /// The webhook id.
    pub fn webhook_id(&self) -> &str {
        &self.webhook_id
    }
}

/// The signed message, `{transmission id}|{transmission time}|{webhook id}|{CRC32 of the body}`,
/// fed in pieces: what [`PayPal::parse`] checks, [`PayPal::signed_content`] feeds and
/// [`PayPal::sign`] signs.
fn feed_message(id: &str, time: &str, webhook_id: &str, body: &[u8], feed: &mut dyn FnMut(&[u8])) {
    feed(id.as_bytes());
    feed(b"|");
    feed(time.as_bytes());
    feed(b"|");
    feed(webhook_id.as_bytes());
    feed(b"|");
    feed(itoa::Buffer::new().format(crc32fast::hash(body)).as_bytes());
}

fn cert_host(host: &str) -> bool {
    CERT_HOSTS.contains(&host)
}

fn cert_path(path: &str) -> bool {
    // One plain segment (`CERT-360caa42-…`): no `/`, `%`, `;`, and not a dot segment, which a
    // client would resolve outside the directory.
    path.strip_prefix("/v1/notifications/certs/")
        .is_some_and(|rest| {
            !rest.is_empty()
                && rest.bytes().any(|b| b != b'.')
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
}

impl Scheme for PayPal {
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
        &[Algorithm::RsaSha256]
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

    /// A PEM or DER certificate whose subject is PayPal's message-verification certificate
    /// (`CN=messageverificationcerts….paypal.com`) and whose key is RSA.
    fn parse_remote_key(&self, _key: &KeyRef<'_>, document: &[u8]) -> Result<RemoteKey, KeyError> {
        let cert = parse_certificate(document).map_err(|reason| KeyError::Invalid { reason })?;
        let paypal = cert.common_name.as_deref().is_some_and(|cn| {
            cn.starts_with("messageverificationcerts") && cn.ends_with(".paypal.com")
        });
        if !paypal {
            return Err(KeyError::Invalid {
                reason: "not PayPal's message-verification certificate",
            });
        }
        if !cert.key.fits(&[Algorithm::RsaSha256]) {
            return Err(KeyError::Invalid {
                reason: "a certificate whose key is not RSA",
            });
        }
        Ok(RemoteKey::new(cert.key).valid_between(cert.not_before, cert.not_after))
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let [id, time, signature, cert_url, algo] = scan_headers(
            request.headers,
            [
                &TRANSMISSION_ID,
                &TRANSMISSION_TIME,
                &TRANSMISSION_SIG,
                &CERT_URL,
                &AUTH_ALGO,
            ],
        )?;
        let id = id.ok_or_else(|| VerifyError::missing(&TRANSMISSION_ID))?;
        let time = time.ok_or_else(|| VerifyError::missing(&TRANSMISSION_TIME))?;
        let signature = signature.ok_or_else(|| VerifyError::missing(&TRANSMISSION_SIG))?;
        let cert_url = cert_url.ok_or_else(|| VerifyError::missing(&CERT_URL))?;
        let algo = algo.ok_or_else(|| VerifyError::missing(&AUTH_ALGO))?;
        if algo != "SHA256withRSA" {
            return Err(VerifyError::malformed(
                &AUTH_ALGO,
                "only SHA256withRSA is supported",
            ));
        }
        // `|` separates the signed fields: an id holding one would be ambiguous.
        if id.len() > 128 || id.contains('|') {
            return Err(VerifyError::malformed(
                &TRANSMISSION_ID,
                "not a PayPal transmission id",
            ));
        }
        let timestamp = parse_rfc3339(&TRANSMISSION_TIME, time)?;
        let mut scratch = [0u8; MAX_RSA_SIG];
        if !decode_into(signature, Encoding::Base64, &mut scratch)
            .is_some_and(|len| Algorithm::RsaSha256.accepts_len(len))
        {
            return Err(VerifyError::malformed(
                &TRANSMISSION_SIG,
                "not base64 of an RSA signature",
            ));
        }
        // Checked before any key is fetched.
        if !check_https_url(cert_url, cert_host, cert_path) {
            return Err(VerifyError::malformed(
                &CERT_URL,
                "not https://api.paypal.com/v1/notifications/certs/… (or api-m, or sandbox)",
            ));
        }
        let mut content = Vec::with_capacity(id.len() + time.len() + self.webhook_id.len() + 14);
        feed_message(id, time, &self.webhook_id, request.body, &mut |piece| {
            content.extend_from_slice(piece);
        });
        let mut parsed = Parsed::new(Algorithm::RsaSha256)
            .with_signature_header(&TRANSMISSION_SIG)
            .with_timestamp(timestamp)
            .with_id(id)
            .with_key_ref(KeyRef::new(NAME, KeyKind::CertificateUrl, cert_url));
        parsed.push_signature(signature);
        parsed.push_content(content);
        Ok(parsed)
    }

    fn signed_content(
        &self,
        parsed: &Parsed<'_>,
        request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        // `parse` always builds the content; this serves callers that did not parse.
        feed_message(
            parsed.id.as_deref().unwrap_or_default(),
            parsed.timestamp.as_ref().map_or("", |t| &t.text),
            &self.webhook_id,
            request.body,
            feed,
        );
    }

    /// RFC 3339 in UTC, to the second (`2026-11-30T12:00:00Z`), as PayPal writes
    /// `PAYPAL-TRANSMISSION-TIME`.
    fn format_timestamp(&self, unix_millis: i64) -> String {
        super::format_rfc3339(unix_millis.div_euclid(1000) * 1000)
    }

    /// `https://api.paypal.com/v1/notifications/certs/CERT-<8 hex>-<8 hex>-<8 hex>`, the shape
    /// of PayPal's certificate URLs.
    fn default_key_id(&self, key_digest: &[u8; 32]) -> Option<String> {
        Some(format!(
            "https://api.paypal.com/v1/notifications/certs/CERT-{}-{}-{}",
            hex::encode(&key_digest[..4]),
            hex::encode(&key_digest[4..8]),
            hex::encode(&key_digest[8..12])
        ))
    }

    /// Writes the five `PAYPAL-*` headers: the transmission id and time of `parsed`, the
    /// signature, the certificate URL of its [`key_ref`](Parsed::key_ref) and
    /// `SHA256withRSA`.
    fn write_headers(
        &self,
        parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        let cert_url = parsed.key_ref().ok_or_else(|| {
            ConfigError::invalid("key_id", "a PayPal request names its certificate URL")
        })?;
        let id = parsed.id.as_deref().unwrap_or_default();
        if id.is_empty() || id.contains('|') {
            return Err(ConfigError::invalid(
                "id",
                "a PayPal transmission id is not empty and has no `|`",
            ));
        }
        let time = parsed.timestamp.as_ref().map_or("", |t| &t.text);
        for (name, value) in [
            (&TRANSMISSION_ID, id),
            (&TRANSMISSION_TIME, time),
            (&TRANSMISSION_SIG, signature),
            (&CERT_URL, &cert_url.id),
            (&AUTH_ALGO, "SHA256withRSA"),
        ] {
            insert_header(headers, name.clone(), value)?;
        }
        Ok(())
    }

    /// Signs as PayPal does: RSA-SHA256 over the message [`parse`](Scheme::parse) checks, with
    /// the draft's id as the transmission id, its time (to the second) as the transmission
    /// time and its key id as the certificate URL.
    fn sign(
        &self,
        draft: &Draft<'_>,
        signer: &mut dyn SignContent,
        out: &mut SignedRequest,
    ) -> Result<(), ConfigError> {
        if draft.algorithm != Algorithm::RsaSha256 {
            return Err(ConfigError::invalid(
                "algorithm",
                "PayPal signs with SHA256withRSA only",
            ));
        }
        let cert_url = draft.key_id.ok_or_else(|| {
            ConfigError::invalid("key_id", "a PayPal request names its certificate URL")
        })?;
        let time = self.format_timestamp(draft.timestamp_millis);
        let parsed = Parsed::new(Algorithm::RsaSha256)
            .with_id(draft.id)
            .with_timestamp(Timestamp::new(draft.timestamp_millis, time.as_str()))
            .with_key_ref(KeyRef::new(NAME, KeyKind::CertificateUrl, cert_url));
        let headers = HeaderMap::new();
        let request = Request::new(&headers, draft.body);
        let signature = signer.sign(Algorithm::RsaSha256, &mut |feed| {
            self.signed_content(&parsed, &request, feed);
        })?;
        out.body = draft.body.to_vec();
        self.write_headers(&parsed, &signature, &mut out.headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_urls() {
        for good in [
            "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77",
            "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270",
            "https://api-m.paypal.com/v1/notifications/certs/CERT-1",
        ] {
            assert!(check_https_url(good, cert_host, cert_path), "{good}");
        }
        for bad in [
            "http://api.paypal.com/v1/notifications/certs/CERT-1",
            "https://api.paypal.com.evil.com/v1/notifications/certs/CERT-1",
            "https://evil.com/v1/notifications/certs/CERT-1",
            "https://api.paypal.com/v1/notifications/certs/",
            "https://api.paypal.com/v1/notifications/certs/../../oauth2/token",
            "https://api.paypal.com/v1/notifications/certs/a%2F..",
            "https://api.paypal.com/v1/other/CERT-1",
            "https://api.paypal.com:444/v1/notifications/certs/CERT-1",
            // Port text that is not a port is a port all the same.
            "https://api.paypal.com:65536/v1/notifications/certs/CERT-1",
            "https://api.paypal.com:9x/v1/notifications/certs/CERT-1",
            "https://api.paypal.com:/v1/notifications/certs/CERT-1",
            // Dot segments resolve outside the directory.
            "https://api.paypal.com/v1/notifications/certs/..",
            "https://api.paypal.com/v1/notifications/certs/.",
            "https://api.paypal.com/v1/notifications/certs/..;x",
            "https://api.paypal.com/v1/notifications/certs/CERT-1?x=1",
        ] {
            assert!(!check_https_url(bad, cert_host, cert_path), "{bad}");
        }
    }

    #[test]
    fn transmission_times_are_written_to_the_second() {
        let paypal = PayPal::new("W1").unwrap();
        assert_eq!(
            paypal.format_timestamp(1_796_040_000_999),
            "2026-11-30T12:00:00Z"
        );
        assert_eq!(
            paypal.format_timestamp(1_474_495_246_000),
            "2016-09-21T22:00:46Z"
        );
    }

    #[test]
    fn webhook_ids() {
        assert_eq!(
            PayPal::new(" 9XL90610J3647323C ").unwrap().webhook_id(),
            "9XL90610J3647323C"
        );
        for bad in ["", "abc|def", "a b", &"A".repeat(51)] {
            assert!(PayPal::new(bad).is_err(), "{bad:?}");
        }
    }
}
