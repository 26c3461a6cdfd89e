//! Twilio (`X-Twilio-Signature`, HMAC-SHA1 over the URL and the sorted form parameters).
//!
//! Source: `twilio/twilio-python` `twilio/request_validator.py`; `twilio/twilio-node`
//! `src/webhooks/webhooks.ts`; twilio.com/docs/usage/webhooks/webhooks-security.

use std::borrow::Cow;
use std::collections::HashMap;

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;

use super::{
    Draft, MAX_BUILT_CONTENT, Parsed, Request, Scheme, SignContent, SignedRequest, form,
    form_pairs, header_str, insert_header, required_header,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};

static SIGNATURE: HeaderName = HeaderName::from_static("x-twilio-signature");

const FORM: &str = "application/x-www-form-urlencoded";

/// [Twilio](https://www.twilio.com/docs/usage/webhooks/webhooks-security):
/// `X-Twilio-Signature: <base64>`, **HMAC-SHA1** keyed with the account's Auth Token text, over
/// the URL Twilio called followed by every form parameter, sorted, as `key` + `value`.
///
/// Exact signed bytes:
///
/// * **Form posts** (`Content-Type: application/x-www-form-urlencoded`, or no content type):
///   the URL (with its query) followed by each decoded parameter as `key` + `value`, no
///   separators, sorted by key then value (byte order, which is code-point order, as
///   twilio-python sorts), a repeated identical pair counted once — as both SDKs do
///   (`sorted(set(values))`). `+` in a form value is a space: a literal `+` (phone numbers)
///   arrives as `%2B`.
/// * **JSON bodies**: Twilio adds `bodySHA256=<hex SHA-256 of the body>` to the URL's query and
///   signs the URL alone; the body's SHA-256 must equal that parameter (compared in constant
///   time), else the request is a [`SignatureMismatch`](VerifyError::SignatureMismatch).
/// * **No body** (GET, or a POST without parameters): the URL alone. A non-empty body that is
///   neither a form nor covered by `bodySHA256` is refused as malformed: the signature would not
///   cover it.
///
/// Traps and choices:
///
/// * **The URL is signed**, so it must be the one Twilio called: configure the public URL
///   ([`PublicUrl`](crate::PublicUrl) on a [`Receiver`](crate::Receiver), [`Request::url`] by
///   hand). Behind a proxy the URI the server saw is not it. Without one, verification fails with
///   [`VerifyError::NoPublicUrl`] (a configuration error, answered 500).
/// * Like both SDKs, the URL is also tried **without its port** (any port, as both SDKs strip
///   it) and **with the scheme's default port** (`:443`, `:80`) when it has none: Twilio's own
///   signing is inconsistent about ports. Like twilio-node, it is also tried as a WHATWG URL
///   parser writes it (`'` in the query as `%27`, a lowercase host, a `/` path for an empty
///   one) and with the query re-encoded as Node's `querystring` does, both of which encode the
///   same URL differently. Every form is signed content built from the configured URL; the
///   verifier tries each.
/// * No timestamp is signed: replays are refused only by deduplication, so the receiver keeps
///   these deliveries for a long retention.
/// * Dedup key: a digest of the signed content. `I-Twilio-Idempotency-Token` is not signed and
///   is never used; `MessageSid`/`CallSid` are signed but differ by product, and status
///   callbacks repeat them with a new status, which the digest tells apart.
/// * The Auth Token is the key; after rotating it in the console, configure both tokens until
///   the old one stops matching ([`Verified::key_label`](crate::Verified::key_label)).
/// * HMAC-SHA256 signatures made for "Webhooks Rules" (`X-Twilio-Webhooks-Signature-Settings`)
///   are not accepted.
/// * Twilio's SDKs compare base64 text; this crate compares decoded bytes in constant time.
///   Form values must be UTF-8 once decoded (web frameworks replace invalid bytes; this crate
///   refuses them as a malformed body).
///
/// ```
/// use webhook_receiver::{Request, Verifier, providers::Twilio, testing::Signer};
///
/// let url = "https://example.com/sms?account=1";
/// let body = b"From=%2B14158675309&Body=Hello";
/// let signed = Signer::new(Twilio::new(), "auth_token")?.url(url).sign_request(body)?;
///
/// let verifier = Verifier::builder(Twilio::new()).secret("auth_token").build()?;
/// let request = Request::new(&signed.headers, &signed.body).url(url);
/// assert!(verifier.verify_request(&request).is_ok());
/// // The URL is part of what is signed.
/// let elsewhere = Request::new(&signed.headers, &signed.body).url("https://example.com/sms");
/// assert!(verifier.verify_request(&elsewhere).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Twilio;

impl Twilio {
    /// The scheme.
    pub fn new() -> Self {
        Self
    }
}

fn malformed(reason: &'static str) -> VerifyError {
    VerifyError::MalformedBody { reason }
}

impl Scheme for Twilio {
    fn name(&self) -> &str {
        "twilio"
    }

    fn encoding(&self) -> Encoding {
        Encoding::Base64
    }

    fn algorithms(&self) -> &[Algorithm] {
        &[Algorithm::HmacSha1]
    }

    fn has_timestamp(&self) -> bool {
        false
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let signature = required_header(request.headers, &SIGNATURE)?;
        let url = match request.require_url()? {
            "" => return Err(VerifyError::NoPublicUrl),
            url => url,
        };
        let body = request.body;
        let params = match body_sha256(url) {
            Some(expected) => {
                let actual = hex::encode(sha2::Sha256::digest(body));
                if !bool::from(actual.as_bytes().ct_eq(expected.as_bytes())) {
                    return Err(VerifyError::SignatureMismatch);
                }
                Vec::new()
            }
            None if body.is_empty() => Vec::new(),
            None if is_form(request.headers)? => {
                sorted_params(body).map_err(|e| malformed(e.reason()))?
            }
            None => {
                return Err(malformed(
                    "a Twilio body must be a form (`application/x-www-form-urlencoded`) or be \
                     covered by `bodySHA256` in the URL, else the signature does not cover it",
                ));
            }
        };
        let mut parsed = Parsed::new(Algorithm::HmacSha1).with_signature_header(&SIGNATURE);
        parsed.push_signature(signature);
        for variant in url_variants(url) {
            if variant.len() + params.len() > MAX_BUILT_CONTENT {
                return Err(malformed(
                    "the URL and form parameters are larger than the signed content limit",
                ));
            }
            let mut content = Vec::with_capacity(variant.len() + params.len());
            content.extend_from_slice(variant.as_bytes());
            content.extend_from_slice(&params);
            parsed.push_content(content);
        }
        Ok(parsed)
    }

    fn signed_content(
        &self,
        parsed: &Parsed<'_>,
        _request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        // `parse` always builds the contents; the URL as configured comes first.
        if let Some(first) = parsed.contents().first() {
            feed(first);
        }
    }

    fn write_headers(
        &self,
        _parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        insert_header(headers, SIGNATURE.clone(), signature)
    }

    /// Signs a form body, or an empty one, for the URL set with `Signer::url`; a JSON body when
    /// that URL carries the body's `bodySHA256`.
    fn sign(
        &self,
        draft: &Draft<'_>,
        signer: &mut dyn SignContent,
        out: &mut SignedRequest,
    ) -> Result<(), ConfigError> {
        let url = draft.url.filter(|u| !u.is_empty()).ok_or_else(|| {
            ConfigError::invalid("url", "Twilio signs the URL it calls: set `Signer::url`")
        })?;
        let body = draft.body;
        let (params, content_type) = match body_sha256(url) {
            Some(expected) => {
                if hex::encode(sha2::Sha256::digest(body)) != expected {
                    return Err(ConfigError::invalid(
                        "url",
                        "its `bodySHA256` is not the SHA-256 (hex) of the body",
                    ));
                }
                (Vec::new(), "application/json")
            }
            None => {
                let params = sorted_params(body).map_err(|e| match e {
                    form::FormError::NotUtf8 => ConfigError::invalid(
                        "body",
                        "Twilio signs form bodies: this one is not UTF-8 once decoded \
                         (for JSON, add `bodySHA256` to the URL)",
                    ),
                    form::FormError::TooManyFields => ConfigError::invalid("body", e.reason()),
                })?;
                (params, FORM)
            }
        };
        let signature = signer.sign(draft.algorithm, &mut |feed| {
            feed(url.as_bytes());
            feed(&params);
        })?;
        out.body = body.to_vec();
        if !body.is_empty() {
            out.headers
                .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        self.write_headers(&Parsed::new(draft.algorithm), &signature, &mut out.headers)
    }
}

/// Whether the body is read as a form: its content type says so, or it has none.
fn is_form(headers: &HeaderMap) -> Result<bool, VerifyError> {
    let Some(value) = header_str(headers, &CONTENT_TYPE)? else {
        return Ok(true);
    };
    let media = value.split(';').next().unwrap_or_default().trim_ascii();
    Ok(media.eq_ignore_ascii_case(FORM))
}

/// The first `bodySHA256` parameter of the URL's query, decoded, as both SDKs read it.
fn body_sha256(url: &str) -> Option<Cow<'_, str>> {
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    form_pairs(query.as_bytes())
        .find(|(key, _)| key == "bodySHA256")
        .map(|(_, value)| value)
}

/// The form parameters as Twilio signs them: sorted by key then value, identical pairs once,
/// each as `key` + `value`.
fn sorted_params(body: &[u8]) -> Result<Vec<u8>, form::FormError> {
    let mut pairs = form::decoded_pairs(body)?;
    pairs.sort_unstable();
    pairs.dedup();
    Ok(form::concat_pairs(&pairs))
}

/// The forms of `url` the SDKs accept, the URL as given first, each once: as given, as a WHATWG
/// parser serialises it, and with its query re-encoded by Node's `querystring`; each without its
/// port and with one.
fn url_variants(url: &str) -> Vec<String> {
    let mut forms = vec![url.to_owned()];
    if let Some(whatwg) = whatwg_form(url) {
        if let Some(legacy) = legacy_query_form(&whatwg) {
            forms.push(legacy);
        }
        forms.push(whatwg);
    }
    let mut out: Vec<String> = Vec::with_capacity(forms.len() * 2);
    let mut add = |candidate: String| {
        if !out.contains(&candidate) {
            out.push(candidate);
        }
    };
    for form in forms {
        let ports = UrlParts::split(&form).map(|p| (p.without_port(), p.with_port()));
        add(form);
        if let Some((without, with)) = ports {
            add(without);
            add(with);
        }
    }
    out
}

/// An `http` or `https` URL cut around its port: `{scheme}://{userinfo@}{host}{:port}{rest}`.
struct UrlParts<'a> {
    scheme: &'a str,
    userinfo: &'a str,
    host: &'a str,
    port: Option<&'a str>,
    rest: &'a str,
}

impl<'a> UrlParts<'a> {
    fn split(url: &'a str) -> Option<Self> {
        let (scheme, after) = url.split_once("://")?;
        default_port(scheme)?;
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let (authority, rest) = after.split_at(end);
        let (userinfo, host_port) = match authority.rfind('@') {
            Some(i) => authority.split_at(i + 1),
            None => ("", authority),
        };
        let (host, port) = if host_port.starts_with('[') {
            let close = host_port.find(']')?;
            let (host, port) = host_port.split_at(close + 1);
            match port {
                "" => (host, None),
                port => (host, Some(port.strip_prefix(':')?)),
            }
        } else {
            match host_port.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            }
        };
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if host.is_empty() || port.is_some_and(|p| !digits(p)) {
            return None;
        }
        Some(Self {
            scheme,
            userinfo,
            host,
            port,
            rest,
        })
    }

    fn without_port(&self) -> String {
        format!(
            "{}://{}{}{}",
            self.scheme, self.userinfo, self.host, self.rest
        )
    }

    fn with_port(&self) -> String {
        let port = self
            .port
            .unwrap_or_else(|| default_port(self.scheme).unwrap_or("80"));
        format!(
            "{}://{}{}:{port}{}",
            self.scheme, self.userinfo, self.host, self.rest
        )
    }
}

/// The default port of `http` and `https`; `None` for other schemes.
fn default_port(scheme: &str) -> Option<&'static str> {
    if scheme.eq_ignore_ascii_case("https") {
        Some("443")
    } else if scheme.eq_ignore_ascii_case("http") {
        Some("80")
    } else {
        None
    }
}

/// `url` as a WHATWG URL parser (twilio-node's `new URL(url).toString()`) writes it, for the
/// plain URLs webhooks use: lowercase scheme and host, default port dropped, `/` for an empty
/// path, and the characters WHATWG percent-encodes in the path and query of `http(s)` URLs
/// encoded. `None` (no extra form) for anything this does not reproduce exactly: fragments,
/// tabs or newlines, backslashes, dot segments, `^`, non-ASCII or IP hosts, unusual user info.
fn whatwg_form(url: &str) -> Option<String> {
    if url
        .bytes()
        .any(|b| matches!(b, b'\t' | b'\n' | b'\r' | b'\\' | b'#' | b'^'))
    {
        return None;
    }
    let parts = UrlParts::split(url)?;
    let scheme = parts.scheme.to_ascii_lowercase();
    let host = parts.host.to_ascii_lowercase();
    let ip_like = host
        .rsplit('.')
        .next()
        .is_some_and(|label| label.bytes().next().is_some_and(|b| b.is_ascii_digit()));
    if ip_like
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return None;
    }
    let mut out = format!("{scheme}://");
    if let Some(info) = parts.userinfo.strip_suffix('@') {
        let allowed = |b: u8| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.'
                        | b'_'
                        | b'~'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b'%'
                )
        };
        let (user, pass) = info.split_once(':').unwrap_or((info, ""));
        if !user.bytes().all(allowed) || !pass.bytes().all(allowed) {
            return None;
        }
        if !user.is_empty() || !pass.is_empty() {
            out.push_str(user);
            if !pass.is_empty() {
                out.push(':');
                out.push_str(pass);
            }
            out.push('@');
        }
    }
    out.push_str(&host);
    if let Some(port) = parts.port {
        let port: u16 = port.parse().ok()?;
        if Some(port.to_string().as_str()) != default_port(&scheme) {
            out.push(':');
            out.push_str(&port.to_string());
        }
    }
    let (path, query) = match parts.rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (parts.rest, None),
    };
    if path
        .split('/')
        .any(|seg| seg == "." || seg == ".." || seg.to_ascii_lowercase().contains("%2e"))
    {
        return None;
    }
    if path.is_empty() {
        out.push('/');
    }
    percent_encode_into(&mut out, path, |b| {
        matches!(b, b' ' | b'"' | b'<' | b'>' | b'`' | b'{' | b'}')
    });
    if let Some(query) = query {
        out.push('?');
        percent_encode_into(&mut out, query, |b| {
            matches!(b, b' ' | b'"' | b'<' | b'>' | b'\'')
        });
    }
    Some(out)
}

/// Appends `text`, percent-encoding controls, non-ASCII bytes and the bytes `special` names.
fn percent_encode_into(out: &mut String, text: &str, special: impl Fn(u8) -> bool) {
    for &b in text.as_bytes() {
        if !(0x20..0x7f).contains(&b) || special(b) {
            push_percent(out, b);
        } else {
            out.push(char::from(b));
        }
    }
}

fn push_percent(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0xf)]));
}

/// `url` (WHATWG form, no fragment) with its query parsed and re-written by Node's
/// `querystring` (twilio-node's `withLegacyQuerystring`): values decoded, repeated keys grouped
/// where the key first appears (integer-like keys first, as JavaScript orders object keys), and
/// re-encoded keeping `!'()*` as they are. `None` when that changes nothing or cannot be
/// reproduced.
fn legacy_query_form(url: &str) -> Option<String> {
    /// Node's `querystring.parse` reads at most this many pairs.
    const MAX_KEYS: usize = 1000;
    let (base, query) = url.split_once('?')?;
    if query.is_empty() {
        return None;
    }
    let mut keys: Vec<(Cow<'_, str>, Vec<Cow<'_, str>>)> = Vec::new();
    let mut index: HashMap<Cow<'_, str>, usize> = HashMap::new();
    for (n, (key, value)) in form_pairs(query.as_bytes()).enumerate() {
        if n == MAX_KEYS {
            return None;
        }
        match index.get(&key) {
            Some(&i) => keys[i].1.push(value),
            None => {
                index.insert(key.clone(), keys.len());
                keys.push((key, vec![value]));
            }
        }
    }
    // JavaScript lists array-index keys first, in numeric order, then the rest as inserted.
    let array_index = |key: &str| {
        (key == "0" || !key.starts_with('0'))
            .then(|| key.parse::<u32>().ok())
            .flatten()
            .filter(|&n| n < u32::MAX && key.bytes().all(|b| b.is_ascii_digit()))
    };
    keys.sort_by_key(|(key, _)| array_index(key).map_or((1, 0), |n| (0, n)));
    let mut out = format!("{base}?");
    let mut first = true;
    for (key, values) in &keys {
        for value in values {
            if !first {
                out.push('&');
            }
            first = false;
            querystring_escape(&mut out, key);
            out.push('=');
            querystring_escape(&mut out, value);
        }
    }
    (out != url).then_some(out)
}

/// Node's `querystring.escape`: everything but ASCII letters, digits and `-_.!~*'()`
/// percent-encoded as UTF-8.
fn querystring_escape(out: &mut String, text: &str) {
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            )
        {
            out.push(char::from(b));
        } else {
            push_percent(out, b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_variants() {
        assert_eq!(
            url_variants("https://mycompany.com/myapp.php?foo=1&bar=2"),
            [
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                "https://mycompany.com:443/myapp.php?foo=1&bar=2"
            ]
        );
        assert_eq!(
            url_variants("http://user:pw@a.example:8080"),
            [
                "http://user:pw@a.example:8080",
                "http://user:pw@a.example",
                "http://user:pw@a.example:8080/",
                "http://user:pw@a.example/",
            ]
        );
        assert_eq!(
            url_variants("https://[::1]:443/x"),
            ["https://[::1]:443/x", "https://[::1]/x"]
        );
        // Not http(s), or a port that is not a number: only the URL as given.
        assert_eq!(url_variants("ftp://a/b"), ["ftp://a/b"]);
        assert_eq!(url_variants("https://a:b/c"), ["https://a:b/c"]);
        assert_eq!(url_variants("https://a:/c"), ["https://a:/c"]);
    }

    #[test]
    fn whatwg_and_legacy_forms() {
        assert_eq!(
            whatwg_form("HTTPS://Example.COM:443?q=it's a \"test\"&é=1").as_deref(),
            Some("https://example.com/?q=it%27s%20a%20%22test%22&%C3%A9=1")
        );
        assert_eq!(
            whatwg_form("https://example.com/a b/{c}`?x").as_deref(),
            Some("https://example.com/a%20b/%7Bc%7D%60?x")
        );
        for bail in [
            "https://example.com/a#frag",
            "https://example.com/a/../b",
            "https://example.com/%2E/b",
            "https://127.0.0.1/x",
            "https://exämple.com/x",
            "https://u@v@example.com/x",
            "https://example.com/a^b",
        ] {
            assert_eq!(whatwg_form(bail), None, "{bail}");
        }
        assert_eq!(
            legacy_query_form("https://e.com/p?b=2&a=x%27y+z&b=1&10=t&2=s").as_deref(),
            Some("https://e.com/p?2=s&10=t&b=2&b=1&a=x'y%20z")
        );
        assert_eq!(legacy_query_form("https://e.com/p?a=1"), None);
        assert_eq!(legacy_query_form("https://e.com/p?"), None);
        assert_eq!(
            legacy_query_form("https://e.com/p?&&").as_deref(),
            Some("https://e.com/p?")
        );
    }

    #[test]
    fn params_sorted_and_decoded() {
        let params = sorted_params(b"b=2&a=%2B1&a=x+y&b=2&c&=v&&d=100%").unwrap();
        assert_eq!(params, b"va+1ax yb2cd100%");
        assert_eq!(sorted_params(b"a=%FF"), Err(form::FormError::NotUtf8));
        assert_eq!(sorted_params(b"").unwrap(), b"");
    }

    #[test]
    fn body_hash_parameter() {
        assert_eq!(
            body_sha256("https://a/b?x=1&bodySHA256=ab%63&bodySHA256=zz").as_deref(),
            Some("abc")
        );
        assert_eq!(body_sha256("https://a/b?bodySHA256x=1"), None);
        assert_eq!(body_sha256("https://a/b"), None);
    }
}
