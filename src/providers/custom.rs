//! A scheme configured without code.

use http::{HeaderMap, HeaderName};
use serde::{Deserialize, Serialize};

use super::{Parsed, Scheme, Timestamp, header_str, insert_header, parse_unix_seconds};
use crate::encoding::{Algorithm, Encoding};
use crate::error::{ConfigError, VerifyError};
use crate::secret::SecretFormat;

/// The description of a custom scheme. Deserializable, so it can come from a configuration file.
///
/// ```
/// use webhook_receiver::providers::{Custom, CustomConfig};
///
/// // A PagerDuty-v3-like sender: `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]` over the body.
/// let config: CustomConfig = serde_json::from_str(r#"{
///     "name": "pagerduty",
///     "signature_header": "x-pagerduty-signature",
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
/// assert!(Custom::new(config).is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CustomConfig {
    /// Scheme name, reported in `Verified` and used in dedup keys.
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
    /// MAC algorithm. Default: HMAC-SHA256.
    #[serde(default = "default_algorithm")]
    pub algorithm: Algorithm,
    /// Header carrying a Unix-seconds timestamp; required when the template has `{timestamp}`.
    #[serde(default)]
    pub timestamp_header: Option<String>,
    /// Header carrying the event id; required when the template has `{id}`.
    #[serde(default)]
    pub id_header: Option<String>,
    /// The signed content: literal text with the placeholders `{id}`, `{timestamp}` and `{body}`
    /// (exactly once). Default: `{body}`.
    #[serde(default = "default_template")]
    pub template: String,
    /// How the secret is written. Default: raw text.
    #[serde(default = "default_secret_format")]
    pub secret_format: SecretFormat,
}

fn default_algorithm() -> Algorithm {
    Algorithm::HmacSha256
}
fn default_template() -> String {
    "{body}".to_owned()
}
fn default_secret_format() -> SecretFormat {
    SecretFormat::Raw
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
            id_header: None,
            template: default_template(),
            secret_format: default_secret_format(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(Box<[u8]>),
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
    id_header: Option<HeaderName>,
    template: Box<[Piece]>,
    secret_format: SecretFormat,
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
            pieces.push(Piece::Literal(rest.as_bytes().into()));
            break;
        };
        if open > 0 {
            pieces.push(Piece::Literal(rest.as_bytes()[..open].into()));
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
    if pieces.iter().filter(|p| **p == Piece::Body).count() != 1 {
        return Err(err("must contain {body} exactly once"));
    }
    Ok(pieces.into())
}

impl Custom {
    /// Validates `config`: header names, the template, and that every placeholder has its header
    /// and every configured header is signed (an unsigned timestamp or id would be trusted
    /// without being authenticated).
    pub fn new(config: CustomConfig) -> Result<Self, ConfigError> {
        if config.name.trim().is_empty() {
            return Err(ConfigError::invalid("name", "empty"));
        }
        let template = parse_template(&config.template)?;
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
        Ok(Self {
            name: config.name.trim().into(),
            signature_header: header_name("signature_header", &config.signature_header)?,
            prefix: config.signature_prefix.into(),
            separator: config.signature_separator,
            encoding: config.encoding,
            algorithm: [config.algorithm],
            timestamp_header,
            id_header,
            template,
            secret_format: config.secret_format,
        })
    }
}

impl Scheme for Custom {
    fn name(&self) -> &str {
        &self.name
    }

    fn secret_format(&self) -> SecretFormat {
        self.secret_format
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

    fn parse<'r>(&'r self, headers: &'r HeaderMap) -> Result<Parsed<'r>, VerifyError> {
        let required = |name: &HeaderName| -> Result<&'r str, VerifyError> {
            header_str(headers, name)?.ok_or_else(|| VerifyError::missing(name))
        };
        let mut parsed =
            Parsed::new(self.algorithm[0]).with_signature_header(&self.signature_header);
        if let Some(name) = &self.id_header {
            parsed = parsed.with_id(required(name)?);
        }
        if let Some(name) = &self.timestamp_header {
            parsed = parsed.with_timestamp(parse_unix_seconds(name, required(name)?)?);
        }
        let name = &self.signature_header;
        let value = required(name)?;
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
                if parsed.signatures().is_empty() {
                    return Err(VerifyError::malformed(name, "no signature with the prefix"));
                }
            }
        }
        Ok(parsed)
    }

    fn signed_content(&self, parsed: &Parsed<'_>, body: &[u8], feed: &mut dyn FnMut(&[u8])) {
        for piece in &*self.template {
            match piece {
                Piece::Literal(bytes) => feed(bytes),
                Piece::Id => feed(parsed.id.unwrap_or_default().as_bytes()),
                Piece::Timestamp => feed(
                    parsed
                        .timestamp
                        .map(|t: Timestamp<'_>| t.text)
                        .unwrap_or_default()
                        .as_bytes(),
                ),
                Piece::Body => feed(body),
            }
        }
    }

    fn write_headers(
        &self,
        parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        if let (Some(name), Some(id)) = (&self.id_header, parsed.id) {
            insert_header(headers, name.clone(), id)?;
        }
        if let (Some(name), Some(t)) = (&self.timestamp_header, parsed.timestamp) {
            insert_header(headers, name.clone(), t.text)?;
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
        ] {
            assert!(parse_template(bad).is_err(), "{bad:?}");
        }
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
    }
}
