//! `application/x-www-form-urlencoded` bodies decoded strictly, for schemes that sign decoded
//! form fields (Twilio, Mandrill, Gitea's form webhooks).
//!
//! Unlike [`form_urlencoded`], which replaces invalid UTF-8 with U+FFFD (so that two different
//! bodies decode to the same signed text), a field that is not UTF-8 once decoded is refused.

use std::borrow::Cow;

/// The most fields a form body may have: far more than any provider sends (Twilio's richest
/// callbacks have a few dozen), and few enough that a body of nothing but `&`s cannot make
/// the decoded fields take tens of times its size before the signature is checked.
pub(crate) const MAX_FORM_FIELDS: usize = 4096;

/// Why a form body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FormError {
    /// A decoded key or value is not UTF-8.
    NotUtf8,
    /// More than [`MAX_FORM_FIELDS`] fields.
    TooManyFields,
}

impl FormError {
    /// What is wrong, for an error message.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::NotUtf8 => "a form field is not UTF-8 once percent-decoded",
            Self::TooManyFields => "a form body has more than 4096 fields",
        }
    }
}

/// Decoded form fields, `(key, value)`.
pub(crate) type Pairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// The decoded `(key, value)` pairs of a form body, in order: pieces split at `&`, empty pieces
/// skipped, a piece without `=` read as a key with an empty value. Refused if a decoded key or
/// value is not UTF-8, or past [`MAX_FORM_FIELDS`].
pub(crate) fn decoded_pairs(body: &[u8]) -> Result<Pairs<'_>, FormError> {
    let mut pairs = Vec::new();
    for piece in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        if pairs.len() == MAX_FORM_FIELDS {
            return Err(FormError::TooManyFields);
        }
        let (key, value) = match piece.iter().position(|&b| b == b'=') {
            Some(i) => (&piece[..i], &piece[i + 1..]),
            None => (piece, &[][..]),
        };
        let utf8 = |raw| decode(raw).ok_or(FormError::NotUtf8);
        pairs.push((utf8(key)?, utf8(value)?));
    }
    Ok(pairs)
}

/// Each pair as `key` + `value`, no separators, in the order given (sort first).
pub(crate) fn concat_pairs(pairs: &[(Cow<'_, str>, Cow<'_, str>)]) -> Vec<u8> {
    let len = pairs.iter().map(|(k, v)| k.len() + v.len()).sum();
    let mut out = Vec::with_capacity(len);
    for (key, value) in pairs {
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    out
}

/// Decodes a form component (`+` is a space, `%XX` a byte; a `%` not followed by two hex digits
/// is kept), refusing invalid UTF-8.
pub(crate) fn decode(raw: &[u8]) -> Option<Cow<'_, str>> {
    if !raw.iter().any(|&b| b == b'+' || b == b'%') {
        return std::str::from_utf8(raw).ok().map(Cow::Borrowed);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let byte = match raw[i] {
            b'+' => b' ',
            b'%' => match (hex_value(raw.get(i + 1)), hex_value(raw.get(i + 2))) {
                (Some(hi), Some(lo)) => {
                    i += 2;
                    hi << 4 | lo
                }
                _ => b'%',
            },
            b => b,
        };
        out.push(byte);
        i += 1;
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

fn hex_value(byte: Option<&u8>) -> Option<u8> {
    match byte? {
        b @ b'0'..=b'9' => Some(b - b'0'),
        b @ b'a'..=b'f' => Some(b - b'a' + 10),
        b @ b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_decoded_strictly() {
        let pairs = decoded_pairs(b"b=2&a=%2B1&&c&=v&d=100%&e=x+y%zz").unwrap();
        let flat: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(
            flat,
            [
                ("b", "2"),
                ("a", "+1"),
                ("c", ""),
                ("", "v"),
                ("d", "100%"),
                ("e", "x y%zz")
            ]
        );
        assert_eq!(concat_pairs(&pairs), b"b2a+1cvd100%ex y%zz");
        // Invalid UTF-8 is refused, not replaced.
        assert_eq!(decoded_pairs(b"a=%FF"), Err(FormError::NotUtf8));
        assert_eq!(decoded_pairs(b"%C3=1"), Err(FormError::NotUtf8));
        assert_eq!(decode(b"%C3%A9").as_deref(), Some("é"));
        assert!(decoded_pairs(b"").unwrap().is_empty());
    }

    #[test]
    fn the_number_of_fields_is_bounded() {
        let body = |fields: usize| "a=1&".repeat(fields).into_bytes();
        assert_eq!(
            decoded_pairs(&body(MAX_FORM_FIELDS)).unwrap().len(),
            MAX_FORM_FIELDS
        );
        assert_eq!(
            decoded_pairs(&body(MAX_FORM_FIELDS + 1)),
            Err(FormError::TooManyFields)
        );
        // Empty pieces are not fields.
        assert_eq!(decoded_pairs(&[b'&'; 100_000]).unwrap().len(), 0);
    }
}
