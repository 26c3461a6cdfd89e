//! A scheme configured without code.

use http::{HeaderMap, HeaderName};
use serde::{Deserialize, Serialize};

use super::{
    Parsed, Request, Scheme, Timestamp, format_rfc3339, insert_header, parse_rfc3339,
    parse_unix_millis, parse_unix_seconds, required_header,
};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};
use crate::secret::KeyFormat;

/// The description of a custom scheme. Deserializable, so it can come from a configuration file.
///
/// ```
/// use webhook_receiver::providers::{Custom, CustomConfig};
///
/// // `X-Acme-Signature: v1=<hex>[,v1=<hex>…]` over the body.
/// let config: CustomConfig = serde_json::from_str(r#"{
///     "name": "acme",
///     "signature_header": "x-acme-signature",
///     "signature_prefix": "v1=",
///     "signature_separator": ",",
///     "encoding": "hex"
/// }"#).unwrap();
/// let scheme = Custom::new(config).unwrap();
///
/// // An `{id}.{timestamp}.{body}` sender with base64 signatures.
/// let mut config = CustomConfig::new("acme", "x-acme-signature", webhook_receiver::Encoding::Base64);
/// config.id_header = Some("x-acme-id".into());
/// config.timestamp_header = Some("x-acme-timestamp".into());
/// config.template = "{id}.{timestamp}.{body}".into();
/// assert!(Custom::new(config.clone()).is_ok());
///
/// // Fields run together could trade characters: refused.
/// config.template = "{id}{timestamp}{body}".into();
/// assert!(Custom::new(config).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CustomConfig {
    /// Scheme name, reported in `Verified` and used in dedup namespaces.
    pub name: String,
    /// Header carrying the signature(s).
    pub signature_header: String,
    /// Text before each signature (`sha256=`, `v1,`); entries without it are ignored when a
    /// separator is set, and refused otherwise. Default: none.
    #[serde(default)]
    pub signature_prefix: String,
    /// Separator between several signatures in the header (`' '`, `','`). Default: one signature.
    #[serde(default)]
    pub signature_separator: Option<char>,
    /// Signature encoding.
    pub encoding: Encoding,
    /// MAC algorithm: an HMAC. Default: HMAC-SHA256.
    #[serde(default = "default_algorithm")]
    pub algorithm: Algorithm,
    /// Header carrying the timestamp; required when the template has `{timestamp}`.
    #[serde(default)]
    pub timestamp_header: Option<String>,
    /// How the timestamp is written. Default: Unix seconds.
    #[serde(default)]
    pub timestamp_format: TimestampFormat,
    /// Header carrying the event id; required when the template has `{id}`.
    #[serde(default)]
    pub id_header: Option<String>,
    /// The signed content: literal text with the placeholders `{id}`, `{timestamp}` and `{body}`
    /// (`{body}` exactly once, the others at most once). Default: `{body}`.
    ///
    /// Fields must be separated so that the signed bytes name one (id, timestamp, body) only:
    /// a field before `{body}` must be followed by a literal, and one after `{body}` preceded by
    /// one; for a timestamp, that literal's adjacent character cannot occur in a timestamp;
    /// for an id, requests whose id contains it are refused as malformed.
    #[serde(default = "default_template")]
    pub template: String,
    /// How the secret is written. Default: raw text.
    #[serde(default = "default_key_format", alias = "secret_format")]
    pub key_format: KeyFormat,
}

/// How a [`Custom`] scheme's timestamp is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TimestampFormat {
    /// Unix seconds.
    #[default]
    UnixSeconds,
    /// Unix milliseconds.
    UnixMillis,
    /// An RFC 3339 date-time.
    Rfc3339,
}

impl TimestampFormat {
    /// Whether `c` can occur in a timestamp of this format.
    fn may_contain(self, c: char) -> bool {
        match self {
            Self::UnixSeconds | Self::UnixMillis => c.is_ascii_digit(),
            Self::Rfc3339 => c.is_ascii_digit() || ":-+.TZtz".contains(c),
        }
    }
}

fn default_algorithm() -> Algorithm {
    Algorithm::HmacSha256
}
fn default_template() -> String {
    "{body}".to_owned()
}
fn default_key_format() -> KeyFormat {
    KeyFormat::Raw
}

impl CustomConfig {
    /// A config signing `{body}` with HMAC-SHA256 under a raw secret; adjust the public fields.
    pub fn new(
        name: impl Into<String>,
        signature_header: impl Into<String>,
        encoding: Encoding,
    ) -> Self {
        Self {
            name: name.into(),
            signature_header: signature_header.into(),
            signature_prefix: String::new(),
            signature_separator: None,
            encoding,
            algorithm: default_algorithm(),
            timestamp_header: None,
            timestamp_format: TimestampFormat::default(),
            id_header: None,
            template: default_template(),
            key_format: default_key_format(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(Box<str>),
    Id,
    Timestamp,
    Body,
}

/// A scheme built from a [`CustomConfig`].
#[derive(Debug, Clone)]
pub struct Custom {
    name: Box<str>,
    signature_header: HeaderName,
    prefix: Box<str>,
    separator: Option<char>,
    encoding: Encoding,
    algorithm: [Algorithm; 1],
    timestamp_header: Option<HeaderName>,
    timestamp_format: TimestampFormat,
    id_header: Option<HeaderName>,
    /// A character an id may not contain, so that the id's end in the signed bytes is unique.
    id_forbidden: Option<char>,
    template: Box<[Piece]>,
    key_format: KeyFormat,
}

fn header_name(setting: &'static str, name: &str) -> Result<HeaderName, ConfigError> {
    HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| ConfigError::invalid(setting, format!("`{name}` is not a header name")))
}

fn parse_template(template: &str) -> Result<Box<[Piece]>, ConfigError> {
    let err = |reason: &str| ConfigError::invalid("template", reason.to_owned());
    let mut pieces = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        let Some(open) = rest.find(['{', '}']) else {
            pieces.push(Piece::Literal(rest.into()));
            break;
        };
        if open > 0 {
            pieces.push(Piece::Literal(rest[..open].into()));
        }
        rest = &rest[open..];
        let close = rest.find('}').filter(|_| rest.starts_with('{'));
        let Some(close) = close else {
            return Err(err("unbalanced `{` or `}`"));
        };
        pieces.push(match &rest[1..close] {
            "id" => Piece::Id,
            "timestamp" => Piece::Timestamp,
            "body" => Piece::Body,
            _ => return Err(err("placeholders are {id}, {timestamp} and {body}")),
        });
        rest = &rest[close + 1..];
    }
    let count = |piece: Piece| pieces.iter().filter(|p| **p == piece).count();
    if count(Piece::Body) != 1 {
        return Err(err("must contain {body} exactly once"));
    }
    if count(Piece::Id) > 1 || count(Piece::Timestamp) > 1 {
        return Err(err("{id} and {timestamp} may appear at most once"));
    }
    Ok(pieces.into())
}

/// Checks that each field is delimited (see [`CustomConfig::template`]); returns the character
/// ids may not contain, if the template has an id.
fn check_delimiters(
    pieces: &[Piece],
    timestamp_format: TimestampFormat,
) -> Result<Option<char>, ConfigError> {
    let err = |reason: String| ConfigError::invalid("template", reason);
    let body = pieces
        .iter()
        .position(|p| *p == Piece::Body)
        .expect("parse_template checked {body}");
    let mut id_forbidden = None;
    for (i, piece) in pieces.iter().enumerate() {
        let field = match piece {
            Piece::Id => "{id}",
            Piece::Timestamp => "{timestamp}",
            _ => continue,
        };
        // Before the body a field ends at its delimiter; after it, it starts after one.
        let (neighbour, delimiter) = if i < body {
            let next = match pieces.get(i + 1) {
                Some(Piece::Literal(l)) => l.chars().next(),
                _ => None,
            };
            (next, "followed")
        } else {
            let prev = match i.checked_sub(1).map(|j| &pieces[j]) {
                Some(Piece::Literal(l)) => l.chars().next_back(),
                _ => None,
            };
            (prev, "preceded")
        };
        let Some(c) = neighbour else {
            return Err(err(format!(
                "{field} must be {delimiter} by a literal separator, or characters could move \
                 between it and the next field"
            )));
        };
        match piece {
            Piece::Timestamp if timestamp_format.may_contain(c) => {
                return Err(err(format!(
                    "{field} is {delimiter} by `{c}`, which a timestamp may contain"
                )));
            }
            Piece::Id => id_forbidden = Some(c),
            _ => {}
        }
    }
    Ok(id_forbidden)
}

impl Custom {
    /// Validates `config`: header names, the template and its delimiters, an HMAC algorithm,
    /// and that every placeholder has its header and every configured header is signed (an
    /// unsigned timestamp or id would be trusted without being authenticated).
    pub fn new(config: CustomConfig) -> Result<Self, ConfigError> {
        if config.name.trim().is_empty() {
            return Err(ConfigError::invalid("name", "empty"));
        }
        if !config.algorithm.is_hmac() {
            return Err(ConfigError::invalid(
                "algorithm",
                "a custom scheme signs with an HMAC",
            ));
        }
        let template = parse_template(&config.template)?;
        let id_forbidden = check_delimiters(&template, config.timestamp_format)?;
        let has = |piece: Piece| template.contains(&piece);
        let timestamp_header = config
            .timestamp_header
            .as_deref()
            .map(|h| header_name("timestamp_header", h))
            .transpose()?;
        let id_header = config
            .id_header
            .as_deref()
            .map(|h| header_name("id_header", h))
            .transpose()?;
        if has(Piece::Timestamp) != timestamp_header.is_some() {
            return Err(ConfigError::invalid(
                "timestamp_header",
                "must be set exactly when the template signs {timestamp}",
            ));
        }
        if has(Piece::Id) != id_header.is_some() {
            return Err(ConfigError::invalid(
                "id_header",
                "must be set exactly when the template signs {id}",
            ));
        }
        if config
            .signature_separator
            .is_some_and(|c| config.signature_prefix.contains(c))
        {
            return Err(ConfigError::invalid(
                "signature_separator",
                "occurs in the signature prefix",
            ));
        }
        Ok(Self {
            name: config.name.trim().into(),
            signature_header: header_name("signature_header", &config.signature_header)?,
            prefix: config.signature_prefix.into(),
            separator: config.signature_separator,
            encoding: config.encoding,
            algorithm: [config.algorithm],
            timestamp_header,
            timestamp_format: config.timestamp_format,
            id_header,
            id_forbidden,
            template,
            key_format: config.key_format,
        })
    }
}

impl Scheme for Custom {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_format(&self) -> KeyFormat {
        self.key_format
    }

    fn algorithms(&self) -> &[Algorithm] {
        &self.algorithm
    }

    fn encoding(&self) -> Encoding {
        self.encoding
    }

    fn has_timestamp(&self) -> bool {
        self.timestamp_header.is_some()
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        let headers = request.headers;
        let mut parsed =
            Parsed::new(self.algorithm[0]).with_signature_header(&self.signature_header);
        if let Some(name) = &self.id_header {
            let id = required_header(headers, name)?;
            if self.id_forbidden.is_some_and(|c| id.contains(c)) {
                return Err(VerifyError::malformed(
                    name,
                    "contains the character that separates it in the signed content",
                ));
            }
            parsed = parsed.with_id(id);
        }
        if let Some(name) = &self.timestamp_header {
            let text = required_header(headers, name)?;
            let timestamp = match self.timestamp_format {
                TimestampFormat::UnixSeconds => parse_unix_seconds(name, text)?,
                TimestampFormat::UnixMillis => parse_unix_millis(name, text)?,
                TimestampFormat::Rfc3339 => parse_rfc3339(name, text)?,
            };
            parsed = parsed.with_timestamp(timestamp);
        }
        let name = &self.signature_header;
        let value = required_header(headers, name)?;
        match self.separator {
            None => {
                let Some(signature) = value.strip_prefix(&*self.prefix) else {
                    return Err(VerifyError::malformed(name, "missing the signature prefix"));
                };
                parsed.push_signature(signature);
            }
            Some(sep) => {
                for entry in value.split(sep).map(str::trim) {
                    if let Some(signature) = entry.strip_prefix(&*self.prefix)
                        && !parsed.push_signature(signature)
                    {
                        return Err(VerifyError::malformed(name, "too many signatures"));
                    }
                }
            }
        }
        if parsed.signature_count() == 0 {
            return Err(VerifyError::malformed(name, "no signature with the prefix"));
        }
        Ok(parsed)
    }

    fn signed_content(
        &self,
        parsed: &Parsed<'_>,
        request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        for piece in &*self.template {
            match piece {
                Piece::Literal(text) => feed(text.as_bytes()),
                Piece::Id => feed(parsed.id.as_deref().unwrap_or_default().as_bytes()),
                Piece::Timestamp => feed(
                    parsed
                        .timestamp
                        .as_ref()
                        .map_or("", |t: &Timestamp<'_>| &t.text)
                        .as_bytes(),
                ),
                Piece::Body => feed(request.body),
            }
        }
    }

    fn format_timestamp(&self, unix_millis: i64) -> String {
        match self.timestamp_format {
            TimestampFormat::UnixSeconds => unix_millis.div_euclid(1000).to_string(),
            TimestampFormat::UnixMillis => unix_millis.to_string(),
            TimestampFormat::Rfc3339 => format_rfc3339(unix_millis),
        }
    }

    fn write_headers(
        &self,
        parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        if let (Some(name), Some(id)) = (&self.id_header, &parsed.id) {
            insert_header(headers, name.clone(), id)?;
        }
        if let (Some(name), Some(t)) = (&self.timestamp_header, &parsed.timestamp) {
            insert_header(headers, name.clone(), &t.text)?;
        }
        insert_header(
            headers,
            self.signature_header.clone(),
            &format!("{}{signature}", self.prefix),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(template: &str) -> CustomConfig {
        let mut c = CustomConfig::new("x", "x-sig", Encoding::Hex);
        c.template = template.into();
        c.id_header = template.contains("{id}").then(|| "x-id".into());
        c.timestamp_header = template.contains("{timestamp}").then(|| "x-ts".into());
        c
    }

    #[test]
    fn templates() {
        assert_eq!(parse_template("v0:{timestamp}:{body}").unwrap().len(), 4);
        for bad in [
            "",
            "{id}",
            "{body}{body}",
            "{bod}",
            "{body",
            "body}",
            "{{body}}",
            "{}",
            "{id}.{id}.{body}",
        ] {
            assert!(parse_template(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ambiguous_templates_are_refused() {
        for ok in [
            "{body}",
            "{id}.{timestamp}.{body}",
            "v0:{timestamp}:{body}",
            "{timestamp}.{body}",
            "{body}.{timestamp}",
            "{id}:{body}:{timestamp}",
            "{body}|{id}|{timestamp}",
            "pre{id}-{body}",
            "{timestamp}x{id}.{body}",
        ] {
            assert!(Custom::new(config(ok)).is_ok(), "{ok:?}");
        }
        for bad in [
            "{id}{timestamp}{body}",
            "{body}{timestamp}",
            "{timestamp}{body}",
            "{id}{body}",
            "{timestamp}1{body}",
            "{body}2{timestamp}",
            "{timestamp}{id}.{body}",
            "{body}.{id}{timestamp}",
        ] {
            assert!(Custom::new(config(bad)).is_err(), "{bad:?}");
        }
        let mut rfc = config("{timestamp}:{body}");
        rfc.timestamp_format = TimestampFormat::Rfc3339;
        assert!(Custom::new(rfc.clone()).is_err(), "`:` occurs in RFC 3339");
        rfc.template = "{timestamp}|{body}".into();
        assert!(Custom::new(rfc).is_ok());
    }

    #[test]
    fn ids_with_the_separator_are_malformed() {
        let scheme = Custom::new(config("{id}.{timestamp}.{body}")).unwrap();
        assert_eq!(scheme.id_forbidden, Some('.'));
        let after = Custom::new(config("{body}|{id}|{timestamp}")).unwrap();
        assert_eq!(after.id_forbidden, Some('|'));
    }

    #[test]
    fn unsigned_headers_are_refused() {
        let mut c = CustomConfig::new("x", "x-sig", Encoding::Hex);
        c.timestamp_header = Some("x-ts".into());
        assert!(
            Custom::new(c.clone()).is_err(),
            "timestamp header without {{timestamp}}"
        );
        c.template = "{timestamp}.{body}".into();
        assert!(Custom::new(c.clone()).is_ok());
        c.template = "{id}.{timestamp}.{body}".into();
        assert!(Custom::new(c.clone()).is_err(), "{{id}} without id header");
        c.signature_header = "bad header".into();
        c.id_header = Some("x-id".into());
        assert!(Custom::new(c).is_err());
        let mut c = CustomConfig::new("x", "x-sig", Encoding::Hex);
        c.algorithm = Algorithm::Ed25519;
        assert!(Custom::new(c).is_err());
    }
}
