//! WooCommerce (`X-WC-Webhook-Signature`).
//!
//! Source: `woocommerce/woocommerce` `plugins/woocommerce/includes/class-wc-webhook.php`
//! (`deliver`, `generate_signature`, `get_new_delivery_id`, `log_delivery`, `failed_delivery`,
//! `deliver_ping`) and `includes/admin/class-wc-admin-webhooks.php` (`save`: the secret through
//! `sanitize_text_field`, or a generated password); WordPress's `wp_specialchars_decode`
//! (`wp-includes/formatting.php`); developer.woocommerce.com "Webhooks".

use std::borrow::Cow;

use http::{HeaderMap, HeaderName};

use super::{EventIdSource, Parsed, Request, Scheme, insert_header, required_header};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};
use crate::secret::{Key, KeyFormat};

static SIGNATURE: HeaderName = HeaderName::from_static("x-wc-webhook-signature");

/// [WooCommerce](https://developer.woocommerce.com/docs/apis/rest-api/v3/webhooks):
/// `X-WC-Webhook-Signature: <base64>`, the HMAC of the raw body (the trimmed JSON of the
/// payload) keyed with the webhook's secret; HMAC-SHA256 unless the site changed it.
///
/// * **Key trap**: WooCommerce keys the MAC with the secret passed through WordPress's
///   `wp_specialchars_decode(…, ENT_QUOTES)`: `&amp;`, `&lt;`, `&gt;`, `&quot;`, `&#039;` and
///   their numeric forms (`&#38;`, `&#x26;`, zero-padded or not) become `&`, `<`, `>`, `"`,
///   `'`. The admin screen stores a typed `<` as `&lt;` (it sanitises the field) and shows it as
///   `<`; the REST API returns it stored. [`parse_key`](Scheme::parse_key) decodes the same way,
///   once, so either form of the secret works. Other entities (`&eacute;`) are kept, as
///   WordPress keeps them.
/// * **Algorithm**: SHA-256 by default. A site can change it with the
///   `woocommerce_webhook_hash_algorithm` filter; [`WooCommerce::with_hash`] matches a site that
///   uses SHA-1 or SHA-512 (other PHP hashes are not supported).
/// * A webhook without a secret is signed with an empty key, which proves nothing: this crate
///   refuses an empty secret. (The admin screen generates a 50-character secret when the field
///   is left empty.)
/// * **No timestamp** is signed.
/// * **Dedup key**: the MAC of the body. `X-WC-Webhook-Delivery-ID` is new on every delivery
///   and unsigned; `X-WC-Webhook-ID` and `-Topic` are unsigned too. The payload's resource `id`
///   and `date_modified` are signed (the body is), and make equal bodies rare for distinct
///   events. Two webhooks of one store sending the same body with the same secret to one
///   endpoint (`order.created` and `order.updated` for an unchanged order) count as one
///   delivery: give each webhook its own secret or endpoint.
/// * **Statuses**: WooCommerce counts **any 2xx, 301 and 302** as delivered, follows no
///   redirect, and **never retries**: a delivery answered with a redirect (an `http://` URL
///   redirected to `https://`, a missing trailing slash) is silently lost, and any other
///   failure is lost too (after more than 5 consecutive failures the webhook is disabled).
///   Point the webhook at the exact final URL, and acknowledge only what you processed or
///   stored (the inbox).
/// * When a webhook is created, WooCommerce posts an **unsigned** ping, `webhook_id=<id>`, and
///   needs a 200: route it to [`WooCommerce::ping_webhook_id`] before verification.
///
/// ```
/// use webhook_receiver::{Verifier, providers::WooCommerce, testing::Signer};
///
/// // The secret as the REST API returns it: `&amp;` is an `&` once decoded.
/// let secret = "wc&amp;secret";
/// let body = br#"{"id":7,"date_modified":"2026-01-01T00:00:00"}"#;
/// let headers = Signer::new(WooCommerce::new(), secret)?.sign(body)?;
///
/// let verifier = Verifier::builder(WooCommerce::new()).secret("wc&secret").build()?;
/// assert!(verifier.verify(&headers, body).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct WooCommerce {
    algorithm: Algorithm,
}

impl Default for WooCommerce {
    fn default() -> Self {
        Self::new()
    }
}

impl WooCommerce {
    /// The scheme, with HMAC-SHA256 (WooCommerce's default).
    pub fn new() -> Self {
        Self {
            algorithm: Algorithm::HmacSha256,
        }
    }

    /// The scheme for a site whose `woocommerce_webhook_hash_algorithm` filter picks another
    /// hash: [`Algorithm::HmacSha1`] (`sha1`), [`Algorithm::HmacSha256`] (`sha256`) or
    /// [`Algorithm::HmacSha512`] (`sha512`). Errors for anything else.
    pub fn with_hash(algorithm: Algorithm) -> Result<Self, ConfigError> {
        match algorithm {
            Algorithm::HmacSha1 | Algorithm::HmacSha256 | Algorithm::HmacSha512 => {
                Ok(Self { algorithm })
            }
            _ => Err(ConfigError::invalid(
                "algorithm",
                "WooCommerce signs with an HMAC: SHA-1, SHA-256 or SHA-512",
            )),
        }
    }

    /// The webhook id of WooCommerce's **ping**, if this request is one: no
    /// `X-WC-Webhook-Signature` header and a body of exactly `webhook_id=<digits>`. Answer it
    /// with status **200** (nothing else counts: WooCommerce refuses to activate the webhook).
    ///
    /// **Unauthenticated**: the ping is not signed, so it proves nothing; do nothing with it but
    /// answer 200.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use webhook_receiver::providers::WooCommerce;
    ///
    /// assert_eq!(WooCommerce::ping_webhook_id(&HeaderMap::new(), b"webhook_id=12"), Some(12));
    /// assert_eq!(WooCommerce::ping_webhook_id(&HeaderMap::new(), br#"{"id":12}"#), None);
    /// ```
    pub fn ping_webhook_id(headers: &HeaderMap, body: &[u8]) -> Option<u64> {
        if headers.contains_key(&SIGNATURE) {
            return None;
        }
        let digits = body.strip_prefix(b"webhook_id=")?;
        if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    }
}

/// WordPress's `wp_specialchars_decode($text, ENT_QUOTES)`, in one left-to-right pass (as its
/// zero-padding regexes followed by `strtr` amount to): `&amp;`, `&lt;`, `&gt;`, `&quot;`
/// (case-sensitive), and `&#<zeros>NN;` for 38, 34, 39, 60, 62, `&#x<zeros>NN;` (or `&#X`)
/// for 26, 22, 27. Everything else is kept; nothing is decoded twice.
fn wp_specialchars_decode(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        match entity(tail) {
            Some((ch, len)) => {
                out.push(ch);
                rest = &tail[len..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The character and length of the entity `s` starts with, among those WordPress decodes.
fn entity(s: &str) -> Option<(char, usize)> {
    for (name, ch) in [
        ("&amp;", '&'),
        ("&lt;", '<'),
        ("&gt;", '>'),
        ("&quot;", '"'),
    ] {
        if s.starts_with(name) {
            return Some((ch, name.len()));
        }
    }
    let rest = s.strip_prefix("&#")?;
    let (hex, rest) = match rest.strip_prefix(['x', 'X']) {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let digits = rest.trim_start_matches('0');
    let end = digits.find(';')?;
    let ch = match (hex, &digits[..end]) {
        (false, "38") | (true, "26") => '&',
        (false, "34") | (true, "22") => '"',
        (false, "39") | (true, "27") => '\'',
        (false, "60") => '<',
        (false, "62") => '>',
        _ => return None,
    };
    Some((ch, s.len() - digits.len() + end + 1))
}

impl Scheme for WooCommerce {
    fn name(&self) -> &str {
        "woocommerce"
    }

    /// The secret decoded as `wp_specialchars_decode` does, then used as UTF-8 bytes.
    fn parse_key(&self, text: &str) -> Result<Key, ConfigError> {
        Key::parse(KeyFormat::Raw, &wp_specialchars_decode(text))
    }

    fn encoding(&self) -> Encoding {
        Encoding::Base64
    }

    fn algorithms(&self) -> &[Algorithm] {
        match self.algorithm {
            Algorithm::HmacSha1 => &[Algorithm::HmacSha1],
            Algorithm::HmacSha512 => &[Algorithm::HmacSha512],
            _ => &[Algorithm::HmacSha256],
        }
    }

    fn has_timestamp(&self) -> bool {
        false
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let signature = required_header(request.headers, &SIGNATURE)?;
        let mut parsed = Parsed::new(self.algorithm).with_signature_header(&SIGNATURE);
        parsed.push_signature(signature);
        Ok(parsed)
    }

    fn signed_content(
        &self,
        _parsed: &Parsed<'_>,
        request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        feed(request.body);
    }

    fn event_id(&self) -> EventIdSource {
        EventIdSource::None
    }

    fn write_headers(
        &self,
        _parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        insert_header(headers, SIGNATURE.clone(), signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_wordpress() {
        for (stored, key) in [
            ("plain", "plain"),
            ("a&amp;b", "a&b"),
            ("a&lt;b&gt;c", "a<b>c"),
            ("&quot;&#039;&#39;&#0039;&#x27;&#X27;&#x0027;", "\"''''''"),
            (
                "&#34;&#034;&#x22;&#38;&#038;&#x26;&#60;&#060;&#62;&#062;",
                "\"\"\"&&&<<>>",
            ),
            // Decoded once: `&amp;lt;` is `&lt;`, not `<`.
            ("&amp;lt;", "&lt;"),
            ("&amp;amp;", "&amp;"),
            // Not decoded by WordPress.
            (
                "&AMP;&Lt;&eacute;&#x3c;&#x3C;&#97;&#;&#x;&#0;&amp",
                "&AMP;&Lt;&eacute;&#x3c;&#x3C;&#97;&#;&#x;&#0;&amp",
            ),
            ("&&amp;&", "&&&"),
            ("&#39", "&#39"),
            ("é&amp;ü", "é&ü"),
        ] {
            assert_eq!(wp_specialchars_decode(stored), key, "{stored}");
        }
    }
}
