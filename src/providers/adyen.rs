//! Adyen: the HMAC signature of each `NotificationRequestItem` inside the body (Standard
//! webhooks), and the `HmacSignature` header over the raw body (Balance Platform, Management
//! and other newer webhooks).
//!
//! Source: `Adyen/adyen-node-api-library` `src/utils/hmacValidator.ts` (`validateHMAC`,
//! `getDataToSign`, `calculateHmacSignature`, `validateHMACSignature`) and its tests;
//! `Adyen/adyen-python-api-library` `Adyen/util.py` (`generate_notification_sig`,
//! `is_valid_hmac_notification`, `is_valid_hmac_payload`) and `test/UtilTest.py`;
//! `Adyen/adyen-java-api-library` `src/main/java/com/adyen/util/HMACValidator.java`;
//! docs.adyen.com "Verify HMAC signatures", "Webhook types", "Handle webhook events".

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{
    Draft, EventIdSource, MAX_BUILT_CONTENT, Parsed, Request, Scheme, SignContent, SignedRequest,
    insert_header, is_json_object, required_header,
};
use crate::encoding::{Algorithm, BASE64_LENIENT, Encoding};
use crate::error::{ConfigError, VerifyError};
use crate::secret::KeyFormat;

static HMAC_SIGNATURE: HeaderName = HeaderName::from_static("hmacsignature");

/// [Adyen](https://docs.adyen.com/development-resources/webhooks/secure-webhooks/verify-hmac-signatures):
/// HMAC-SHA256, base64, keyed with the webhook's **hex** HMAC key.
///
/// # Standard webhooks ([`Adyen::new`])
///
/// The signature is **inside the JSON body**, in each item's
/// `notificationItems[].NotificationRequestItem.additionalData.hmacSignature`, and covers eight
/// fields of that item, not the body: `pspReference`, `originalReference`,
/// `merchantAccountCode`, `merchantReference`, `amount.value`, `amount.currency`, `eventCode`,
/// `success`, joined by `:` (`7914073381342284::TestMerchant:TestPayment-1:1130:EUR:AUTHORISATION:true`).
///
/// * A missing (or `null`) field is the empty string; a string is signed as decoded from the
///   JSON, an integer (`amount.value`) in decimal, a boolean as `true`/`false`; any other value
///   is a malformed body. Values are joined **without escaping**, as Adyen does: a `:` inside
///   one (a `merchantReference` of yours) could in principle move text between neighbouring
///   fields, which is Adyen's design; the fields Adyen generates hold no `:`.
/// * **Every item of a batch must verify**, under one key. Adyen's Python library checks only
///   the first item; this crate does not copy that. An item without `hmacSignature`, or with one
///   that is not base64 of 32 bytes, makes the body malformed (enable HMAC on the webhook in
///   the Customer Area).
/// * The body must be a JSON object with a non-empty `notificationItems` array of objects; a
///   repeated key among those the scheme reads is refused (parsers disagree on which copy
///   counts). Everything else in the body — `eventDate`, `reason`, `operations`, the rest of
///   `additionalData` — is **not signed**: trust only the eight fields above.
/// * **Dedup key**: for a single item, `{pspReference}:{eventCode}:{success}`, all three
///   signed; together they identify the event (a later `success` of the same event is another
///   key, as it must be). None of the three may hold a `:` (Adyen's never do): one moved there
///   from a neighbouring field would sign the same bytes under another key. A batch of several
///   items, or an item without `pspReference`, is deduplicated as one delivery by a digest of
///   every item's MAC.
///
/// # Header-signed webhooks ([`Adyen::signature_header`])
///
/// Balance Platform (Banking), Management and the other newer webhooks send
/// `HmacSignature: <base64>`, the HMAC-SHA256 of the **raw body**, with the same hex key.
/// Dedup key: the MAC of the body (those payloads carry no event id common to all types).
///
/// # Both
///
/// * **Key trap**: the HMAC key shown in the Customer Area is **hex**, and is hex-decoded
///   ([`KeyFormat::Hex`]); used as text it never matches. One key per webhook endpoint, and a
///   new one when going from test to live. After generating a new key, keep the previous one
///   configured for a while: Adyen may still sign with it while the new one propagates, and
///   retried messages keep the signature they were made with.
/// * **No timestamp** is signed (`eventDate` is not covered).
/// * Adyen counts a 2xx answered within 10 seconds as accepted. Otherwise it retries 3 times
///   within a minute, then from a retry queue for **up to 30 days**: set the
///   [`Receiver`](crate::Receiver)'s retention to 30 days (and the inbox's) so that late retries
///   stay duplicates.
/// * Adyen's libraries compare in constant time; so does this crate, over the decoded bytes.
///
/// ```
/// use webhook_receiver::{Verifier, providers::Adyen, testing::Signer};
///
/// // The Customer Area shows the HMAC key in hex.
/// let key = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056";
/// let notification = br#"{"live":"false","notificationItems":[{"NotificationRequestItem":{
///     "pspReference":"7914073381342284","merchantAccountCode":"TestMerchant",
///     "merchantReference":"TestPayment-1407325143704","amount":{"currency":"EUR","value":1130},
///     "eventCode":"AUTHORISATION","success":"true"}}]}"#;
/// // The signer adds each item's `additionalData.hmacSignature`.
/// let signed = Signer::new(Adyen::new(), key)?.sign_request(notification)?;
///
/// let verifier = Verifier::builder(Adyen::new()).secret(key).build()?;
/// let verified = verifier.verify(&signed.headers, &signed.body)?;
/// assert_eq!(verified.event_id().as_deref(), Some("7914073381342284:AUTHORISATION:true"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Adyen {
    header: bool,
}

impl Adyen {
    /// Standard webhooks: each item's `additionalData.hmacSignature`, over its eight signed
    /// fields.
    pub fn new() -> Self {
        Self { header: false }
    }

    /// Balance Platform, Management and other newer webhooks: the `HmacSignature` header, over
    /// the raw body.
    ///
    /// ```
    /// use webhook_receiver::{Verifier, providers::Adyen, testing::Signer};
    ///
    /// let key = "11223344D785FBAE710E7F943F307971BB61B21281C98C9129B3D4018A57B2EB";
    /// let body = br#"{"type":"balancePlatform.accountHolder.created","data":{}}"#;
    /// let headers = Signer::new(Adyen::signature_header(), key)?.sign(body)?;
    /// let verifier = Verifier::builder(Adyen::signature_header()).secret(key).build()?;
    /// assert!(verifier.verify(&headers, body).is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn signature_header() -> Self {
        Self { header: true }
    }
}

fn malformed(reason: &'static str) -> VerifyError {
    VerifyError::MalformedBody { reason }
}

impl Scheme for Adyen {
    fn name(&self) -> &str {
        "adyen"
    }

    fn key_format(&self) -> KeyFormat {
        KeyFormat::Hex
    }

    fn encoding(&self) -> Encoding {
        Encoding::Base64
    }

    fn has_timestamp(&self) -> bool {
        false
    }

    fn parse<'r>(&'r self, request: &Request<'r>) -> Result<Parsed<'r>, VerifyError> {
        if self.header {
            let signature = required_header(request.headers, &HMAC_SIGNATURE)?;
            let mut parsed =
                Parsed::new(Algorithm::HmacSha256).with_signature_header(&HMAC_SIGNATURE);
            parsed.push_signature(signature);
            return Ok(parsed);
        }
        let items = read_items(request.body)?;
        let mut parsed = Parsed::new(Algorithm::HmacSha256);
        let mut built = 0;
        for item in &items {
            let signature =
                item.signature
                    .as_deref()
                    .filter(|s| !s.is_empty())
                    .ok_or(malformed(
                        "an Adyen notification item has no `additionalData.hmacSignature`",
                    ))?;
            let mut decoded = [0u8; 33];
            if BASE64_LENIENT.decode_slice(signature, &mut decoded) != Ok(32) {
                return Err(malformed(
                    "an Adyen `hmacSignature` is not base64 of an HMAC-SHA256",
                ));
            }
            let content = item.signed_content();
            built += content.len();
            if built > MAX_BUILT_CONTENT {
                return Err(malformed(
                    "the Adyen notification items are larger than the signed content limit",
                ));
            }
            parsed.push_signed_part(content, signature.to_owned());
        }
        // The dedup key's fields must be the signed string's first, seventh and eighth
        // `:`-separated pieces, or a `:` moved between fields under the same MAC would make
        // another key for the same signed bytes.
        if items
            .iter()
            .any(|item| [0, 6, 7].iter().any(|&i| item.fields[i].contains(':')))
        {
            return Err(malformed(
                "an Adyen `pspReference`, `eventCode` or `success` holds a `:`",
            ));
        }
        if let [item] = items.as_slice()
            && !item.fields[0].is_empty()
        {
            parsed = parsed.with_id(format!(
                "{}:{}:{}",
                item.fields[0], item.fields[6], item.fields[7]
            ));
        }
        Ok(parsed)
    }

    fn signed_content(
        &self,
        _parsed: &Parsed<'_>,
        request: &Request<'_>,
        feed: &mut dyn FnMut(&[u8]),
    ) {
        // Standard webhooks sign parts built in `parse`; this is the header scheme's content.
        feed(request.body);
    }

    fn event_id(&self) -> EventIdSource {
        if self.header {
            EventIdSource::None
        } else {
            EventIdSource::Parsed
        }
    }

    fn write_headers(
        &self,
        _parsed: &Parsed<'_>,
        signature: &str,
        headers: &mut HeaderMap,
    ) -> Result<(), ConfigError> {
        if self.header {
            insert_header(headers, HMAC_SIGNATURE.clone(), signature)?;
        }
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(())
    }

    /// Standard webhooks: signs every item of the draft's notification (a JSON object with
    /// `notificationItems`) and writes its `additionalData.hmacSignature`; the body is
    /// re-serialised, keys in sorted order. Header-signed webhooks: signs the body as is.
    fn sign(
        &self,
        draft: &Draft<'_>,
        signer: &mut dyn SignContent,
        out: &mut SignedRequest,
    ) -> Result<(), ConfigError> {
        let invalid = |reason| ConfigError::invalid("body", reason);
        if self.header {
            let signature = signer.sign(draft.algorithm, &mut |feed| feed(draft.body))?;
            out.body = draft.body.to_vec();
            return self.write_headers(&Parsed::new(draft.algorithm), &signature, &mut out.headers);
        }
        let items = read_items(draft.body).map_err(|e| match e {
            VerifyError::MalformedBody { reason } => invalid(reason),
            _ => invalid("not an Adyen notification"),
        })?;
        let mut signatures = Vec::with_capacity(items.len());
        for item in &items {
            let content = item.signed_content();
            signatures.push(signer.sign(draft.algorithm, &mut |feed| feed(&content))?);
        }
        let mut value: serde_json::Value =
            serde_json::from_slice(draft.body).map_err(|_| invalid("not JSON"))?;
        let wrappers = value
            .get_mut("notificationItems")
            .and_then(serde_json::Value::as_array_mut)
            .ok_or_else(|| invalid("no `notificationItems` array"))?;
        for (wrapper, signature) in wrappers.iter_mut().zip(signatures) {
            let item = wrapper
                .get_mut("NotificationRequestItem")
                .and_then(serde_json::Value::as_object_mut)
                .ok_or_else(|| invalid("an item is not a `NotificationRequestItem` object"))?;
            let additional = item
                .entry("additionalData")
                .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
            if additional.is_null() {
                *additional = serde_json::Value::Object(serde_json::Map::new());
            }
            additional
                .as_object_mut()
                .ok_or_else(|| invalid("`additionalData` is not an object"))?
                .insert("hmacSignature".into(), signature.into());
        }
        out.body = serde_json::to_vec(&value).map_err(|_| invalid("not JSON"))?;
        self.write_headers(&Parsed::new(draft.algorithm), "", &mut out.headers)
    }
}

/// The signed fields of one `NotificationRequestItem`, in signing order, and its signature.
#[derive(Debug, Default)]
struct Item<'a> {
    fields: [Cow<'a, str>; 8],
    signature: Option<Cow<'a, str>>,
}

impl Item<'_> {
    /// The eight fields joined by `:`.
    fn signed_content(&self) -> Vec<u8> {
        let len = self.fields.iter().map(|f| f.len() + 1).sum();
        let mut out = Vec::with_capacity(len);
        for (i, field) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(b':');
            }
            out.extend_from_slice(field.as_bytes());
        }
        out
    }
}

/// The items of a Standard webhook body.
fn read_items(body: &[u8]) -> Result<Vec<Item<'_>>, VerifyError> {
    if !is_json_object(body) {
        return Err(malformed("an Adyen notification is a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let items = de
        .deserialize_map(Notification)
        .and_then(|items| de.end().map(|()| items))
        .map_err(|_| {
            malformed(
                "not an Adyen notification: `notificationItems` must be an array of \
                 `NotificationRequestItem` objects whose signed fields are strings or integers, \
                 each key once",
            )
        })?;
    if items.is_empty() {
        return Err(malformed("the Adyen notification has no items"));
    }
    Ok(items)
}

/// Where a field of an item goes: its position among the signed fields, or the signature.
fn field_slot(key: &str) -> Option<usize> {
    Some(match key {
        "pspReference" => 0,
        "originalReference" => 1,
        "merchantAccountCode" => 2,
        "merchantReference" => 3,
        "eventCode" => 6,
        "success" => 7,
        _ => return None,
    })
}

fn duplicate<E: de::Error>(key: &str) -> E {
    E::custom(format_args!("duplicate field `{key}`"))
}

/// The top-level object: its `notificationItems`.
struct Notification;

impl<'de> Visitor<'de> for Notification {
    type Value = Vec<Item<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an Adyen notification object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut items = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "notificationItems" {
                if items.is_some() {
                    return Err(duplicate(&key));
                }
                items = Some(map.next_value_seed(Items)?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        items.ok_or_else(|| de::Error::missing_field("notificationItems"))
    }
}

/// The `notificationItems` array.
struct Items;

impl<'de> DeserializeSeed<'de> for Items {
    type Value = Vec<Item<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Items {
    type Value = Vec<Item<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of notification items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Wrapper)? {
            items.push(item);
        }
        Ok(items)
    }
}

/// `{"NotificationRequestItem": {…}}`.
struct Wrapper;

impl<'de> DeserializeSeed<'de> for Wrapper {
    type Value = Item<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Wrapper {
    type Value = Item<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object holding a NotificationRequestItem")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut item = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "NotificationRequestItem" {
                if item.is_some() {
                    return Err(duplicate(&key));
                }
                item = Some(map.next_value_seed(ItemSeed)?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        item.ok_or_else(|| de::Error::missing_field("NotificationRequestItem"))
    }
}

/// One `NotificationRequestItem` object.
struct ItemSeed;

impl<'de> DeserializeSeed<'de> for ItemSeed {
    type Value = Item<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ItemSeed {
    type Value = Item<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a NotificationRequestItem object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut item = Item::default();
        let mut seen = [false; 10];
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let slot = match (&*key, field_slot(&key)) {
                (_, Some(slot)) => slot,
                ("amount", _) => 8,
                ("additionalData", _) => 9,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if std::mem::replace(&mut seen[slot], true) {
                return Err(duplicate(&key));
            }
            match slot {
                8 => {
                    if let Some([value, currency]) = map.next_value_seed(Object(AMOUNT))? {
                        item.fields[4] = value.unwrap_or_default();
                        item.fields[5] = currency.unwrap_or_default();
                    }
                }
                9 => {
                    if let Some([signature]) = map.next_value_seed(Object(ADDITIONAL_DATA))? {
                        item.signature = signature;
                    }
                }
                _ => item.fields[slot] = map.next_value::<Field<'de>>()?.0,
            }
        }
        Ok(item)
    }
}

const AMOUNT: [&str; 2] = ["value", "currency"];
const ADDITIONAL_DATA: [&str; 1] = ["hmacSignature"];

/// An object (or `null`) of which only the fields `self.0` names are read, as [`Field`]s.
struct Object<const N: usize>([&'static str; N]);

impl<'de, const N: usize> DeserializeSeed<'de> for Object<N> {
    type Value = Option<[Option<Cow<'de, str>>; N]>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for Object<N> {
    type Value = Option<[Option<Cow<'de, str>>; N]>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out: [Option<Cow<'de, str>>; N] = std::array::from_fn(|_| None);
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match self.0.iter().position(|name| *name == key) {
                Some(i) => {
                    if out[i].is_some() {
                        return Err(duplicate(&key));
                    }
                    out[i] = Some(map.next_value::<Field<'de>>()?.0);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(out))
    }
}

/// A signed field's text: a string as decoded, an integer in decimal, a boolean as
/// `true`/`false`, `null` as empty; anything else is refused.
struct Field<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, an integer, a boolean or null")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field(Cow::Owned(v.to_owned())))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Field(Cow::Owned(v.to_string())))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Field(Cow::Owned(v.to_string())))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Field(Cow::Borrowed(if v { "true" } else { "false" })))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field(Cow::Borrowed("")))
    }
}
