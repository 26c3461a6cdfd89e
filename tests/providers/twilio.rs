//! Twilio: HMAC-SHA1 over the URL and the sorted form parameters, or the URL alone with
//! `bodySHA256` for JSON bodies.

use http::{HeaderMap, HeaderValue, StatusCode};
use webhook_receiver::providers::Twilio;
use webhook_receiver::testing::Signer;
use webhook_receiver::{DedupKey, Request, Verifier, VerifyError};

use super::{headers, verifier};

const FORM: &str = "application/x-www-form-urlencoded";

// twilio/twilio-python tests/unit/test_request_validator.py @306691e7 (`ValidationTest.setUp`),
// also twilio/twilio-node spec/validation.spec.js @45d3d65a.
const TOKEN: &str = "12345";
const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
/// The five call parameters, form-encoded (`+` in a phone number is `%2B`).
const PARAMS: &[u8] =
    b"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212";
const EXPECTED: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
const JSON_BODY: &[u8] = br#"{"property": "value", "boolean": true}"#;
const BODY_HASH: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";

fn signed(signature: &str, content_type: &str) -> HeaderMap {
    headers(&[
        ("x-twilio-signature", signature),
        ("content-type", content_type),
    ])
}

fn check(
    v: &Verifier,
    url: &str,
    h: &HeaderMap,
    body: &[u8],
) -> Result<DedupKey<'static>, VerifyError> {
    v.verify_request(&Request::new(h, body).url(url))
        .map(|ok| ok.dedup_key().into_owned())
}

#[test]
fn twilio_python_vectors() {
    let v = verifier(Twilio::new(), TOKEN);
    // `test_compute_signature`, `test_validation`.
    let key = check(&v, URL, &signed(EXPECTED, FORM), PARAMS).unwrap();
    assert!(matches!(key, DedupKey::Digest(_)), "{key:?}");
    // `test_validation_adds_port_on_https`: signed with `:443`, URL configured without it.
    assert!(
        check(
            &v,
            URL,
            &signed("kvajT1Ptam85bY51eRf/AJRuM3w=", FORM),
            PARAMS
        )
        .is_ok()
    );
    // `test_validation_removes_port_on_https`: a URL with a port checks the signature made
    // without it.
    let with_port = URL.replace(".com", ".com:1234");
    assert!(check(&v, &with_port, &signed(EXPECTED, FORM), PARAMS).is_ok());
    // `test_validation_removes_port_on_http` (the hash of the http URL with port 1234).
    let http_port = with_port.replace("https", "http");
    assert!(
        check(
            &v,
            &http_port,
            &signed("Zmvh+3yNM1Phv2jhDCwEM3q5ebU=", FORM),
            PARAMS
        )
        .is_ok()
    );
    // `test_validation_adds_port_on_http` (the hash of the http URL with port 80).
    let http = URL.replace("https", "http");
    assert!(
        check(
            &v,
            &http,
            &signed("0ZXoZLH/DfblKGATFgpif+LLRf4=", FORM),
            PARAMS
        )
        .is_ok()
    );
    // `test_compute_signature_duplicate_query_dict`: keys sorted, values sorted, duplicates once.
    let dup = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234";
    assert!(check(&v, URL, &signed("IK+Dwps556ElfBT0I3Rgjkr1wJU=", FORM), dup).is_ok());
    // `test_validation_of_body_succeeds`: JSON body, URL with `bodySHA256`.
    let url_with_body = format!("{URL}&bodySHA256={BODY_HASH}");
    let json = signed("a9nBmqA0ju/hNViExpshrM61xv4=", "application/json");
    assert!(check(&v, &url_with_body, &json, JSON_BODY).is_ok());
}

#[test]
fn twilio_node_vectors() {
    // twilio/twilio-node spec/validation.spec.js @45d3d65a.
    let v = verifier(Twilio::new(), TOKEN);
    // "should validate urls with credentials" / "with just username" / "by adding port".
    let creds = "https://user:pass@mycompany.com/myapp.php?foo=1&bar=2";
    assert!(
        check(
            &v,
            creds,
            &signed("CukzLTc1tT5dXEDIHm/tKBanW10=", FORM),
            PARAMS
        )
        .is_ok()
    );
    assert!(
        check(
            &v,
            creds,
            &signed("ZQFR1PTIZXF2MXB8ZnKCvnnA+rI=", FORM),
            PARAMS
        )
        .is_ok()
    );
    let user = "https://user@mycompany.com/myapp.php?foo=1&bar=2";
    assert!(
        check(
            &v,
            user,
            &signed("2YRLlVAflCqxaNicjMpJcSTgzSs=", FORM),
            PARAMS
        )
        .is_ok()
    );
    // "should validate urls with special characters": the signature is over the WHATWG form
    // of the URL (`'` written `%27`).
    let special = format!("{URL}&Body=It's+amazing");
    assert!(
        check(
            &v,
            &special,
            &signed("TfZzewPq8wqrGlMfyAud8+/IvJ0=", FORM),
            PARAMS
        )
        .is_ok()
    );
    // "with an array parameter" (both orders of the values).
    let sig = signed("83O6e2vORAoJHUNzJjDWN1jz+BA=", FORM);
    for body in [
        &b"MessagingBinding.Address=%2B1325xxxxxxx&MessagingBinding.Address=%2B1415xxxxxxx"[..],
        b"MessagingBinding.Address=%2B1415xxxxxxx&MessagingBinding.Address=%2B1325xxxxxxx",
    ] {
        assert!(check(&v, URL, &sig, body).is_ok());
    }
    // "should validate request body with only sha param".
    let short = format!("https://mycompany.com/myapp.php?bodySHA256={BODY_HASH}");
    let json = signed("y77kIzt2vzLz71DgmJGsen2scGs=", "application/json");
    assert!(check(&v, &short, &json, JSON_BODY).is_ok());
    // "should validate request body when empty" (`{}`, signed with `:443`).
    let empty_hash = "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
    let url = format!("{URL}&bodySHA256={empty_hash}");
    let sig = signed("Ldidvp12m26NI7eqEvxnEpkd9Hc=", "application/json");
    assert!(check(&v, &url, &sig, b"{}").is_ok());
    // "should fail validation of post body with wrong hash" (the URL's last digit cut).
    let url_with_body = format!("{URL}&bodySHA256={BODY_HASH}");
    let cut = &url_with_body[..url_with_body.len() - 1];
    let json = signed("a9nBmqA0ju/hNViExpshrM61xv4=", "application/json");
    assert_eq!(
        check(&v, cut, &json, JSON_BODY).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // "should fail when given the wrong signature" (not even base64 of a SHA-1 MAC).
    assert!(check(&v, URL, &signed("WRONG_SIGNATURE", FORM), PARAMS).is_err());
}

#[test]
fn twilio_node_url_normalisation() {
    // twilio/twilio-node spec/unit/webhooks/webhooks.spec.js @45d3d65a: each signature is made
    // by the SDK's `getExpectedTwilioSignature(authToken, serverUrl, {})`, reproduced here by
    // the signer, then checked against the target URL.
    let v = verifier(Twilio::new(), "s3cr3t");
    let signer = Signer::new(Twilio::new(), "s3cr3t").unwrap();
    for (server, target, valid) in [
        (
            "https://example.com/path?test=param",
            "https://example.com/path?test=param2",
            false,
        ),
        (
            "https://example.com:443/path?test=param",
            "https://example.com:443/path?test=param",
            true,
        ),
        (
            "https://example.com:443/path?test=param",
            "https://example.com/path?test=param",
            true,
        ),
        (
            "https://example.com/path?test=param",
            "https://example.com/path?test=param",
            true,
        ),
        (
            "https://example.com/path?test=param",
            "https://example.com:443/path?test=param",
            true,
        ),
        (
            "https://example.com/path?test=param'WithQuote",
            "https://example.com/path?test=param'WithQuote",
            true,
        ),
        (
            "https://example.com/path?test=param'WithQuote",
            "https://example.com/path?test=param%27WithQuote",
            true,
        ),
        (
            "https://example.com/path?test=param%27WithQuote",
            "https://example.com/path?test=param'WithQuote",
            true,
        ),
        (
            "https://example.com/path?test=param%27WithQuote",
            "https://example.com/path?test=param%27WithQuote",
            true,
        ),
    ] {
        let h = signer.clone().url(server).sign(b"").unwrap();
        let result = check(&v, target, &h, b"");
        assert_eq!(result.is_ok(), valid, "{server} -> {target}: {result:?}");
    }
}

#[test]
fn signer_round_trip() {
    let v = verifier(Twilio::new(), TOKEN);
    let signer = Signer::new(Twilio::new(), TOKEN).unwrap().url(URL);
    // The signer reproduces the official form signature and sets the content type.
    let signed = signer.sign_request(PARAMS).unwrap();
    assert_eq!(signed.headers["x-twilio-signature"], EXPECTED);
    assert_eq!(signed.headers["content-type"], FORM);
    assert_eq!(signed.body, PARAMS);
    assert!(check(&v, URL, &signed.headers, &signed.body).is_ok());
    // JSON: the URL carries the body's hash.
    let url_with_body = format!("{URL}&bodySHA256={BODY_HASH}");
    let json = Signer::new(Twilio::new(), TOKEN)
        .unwrap()
        .url(&url_with_body)
        .sign(JSON_BODY)
        .unwrap();
    assert_eq!(json["x-twilio-signature"], "a9nBmqA0ju/hNViExpshrM61xv4=");
    assert_eq!(json["content-type"], "application/json");
    assert!(check(&v, &url_with_body, &json, JSON_BODY).is_ok());
    // No body (GET with the parameters in the URL): the URL alone, no content type.
    let get_url = "https://example.com/sms?From=%2B14158675309&Body=hi";
    let get = signer.clone().url(get_url).sign(b"").unwrap();
    assert!(get.get("content-type").is_none());
    assert!(
        v.verify_request(&Request::new(&get, b"").method("GET").url(get_url))
            .is_ok()
    );
}

#[test]
fn signer_refuses_what_twilio_cannot_sign() {
    let signer = Signer::new(Twilio::new(), TOKEN).unwrap();
    assert!(signer.sign(PARAMS).is_err(), "no URL");
    assert!(signer.clone().url("").sign(PARAMS).is_err(), "empty URL");
    let wrong_hash = format!("{URL}&bodySHA256={}", "0".repeat(64));
    assert!(signer.clone().url(wrong_hash).sign(JSON_BODY).is_err());
    assert!(signer.clone().url(URL).sign(b"a=%FF").is_err(), "not UTF-8");
}

#[test]
fn tampered_body_and_wrong_key() {
    let v = verifier(Twilio::new(), TOKEN);
    let sig = signed(EXPECTED, FORM);
    for body in [
        &b"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1235&From=%2B14158675309&To=%2B18005551212"[..],
        b"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309",
        b"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212&Extra=1",
    ] {
        assert_eq!(
            check(&v, URL, &sig, body).unwrap_err(),
            VerifyError::SignatureMismatch
        );
    }
    // A JSON body that no longer matches `bodySHA256`.
    let url_with_body = format!("{URL}&bodySHA256={BODY_HASH}");
    let json = signed("a9nBmqA0ju/hNViExpshrM61xv4=", "application/json");
    assert_eq!(
        check(
            &v,
            &url_with_body,
            &json,
            br#"{"property": "value", "boolean": false}"#
        )
        .unwrap_err(),
        VerifyError::SignatureMismatch
    );
    let wrong = verifier(Twilio::new(), "54321");
    assert_eq!(
        check(&wrong, URL, &sig, PARAMS).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

#[test]
fn malformed_and_missing() {
    let v = verifier(Twilio::new(), TOKEN);
    assert!(matches!(
        check(&v, URL, &headers(&[("content-type", FORM)]), PARAMS),
        Err(VerifyError::MissingHeader { .. })
    ));
    let mut repeated = signed(EXPECTED, FORM);
    repeated.append("x-twilio-signature", HeaderValue::from_static(EXPECTED));
    assert!(matches!(
        check(&v, URL, &repeated, PARAMS),
        Err(VerifyError::MalformedHeader { .. })
    ));
    for bad in [
        "not*base64",
        // A SHA-256 length signature.
        "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    ] {
        assert!(
            matches!(
                check(&v, URL, &signed(bad, FORM), PARAMS),
                Err(VerifyError::MalformedHeader { .. })
            ),
            "{bad}"
        );
    }
    // No public URL: a configuration error, answered 500.
    let h = signed(EXPECTED, FORM);
    let err = v.verify(&h, PARAMS).unwrap_err();
    assert_eq!(err, VerifyError::NoPublicUrl);
    assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        check(&v, "", &h, PARAMS).unwrap_err(),
        VerifyError::NoPublicUrl
    );
    // A body the signature would not cover: another content type and no `bodySHA256`.
    for content_type in [
        "application/json",
        "text/plain",
        "multipart/form-data; boundary=x",
    ] {
        let h = signed(EXPECTED, content_type);
        assert!(
            matches!(
                check(&v, URL, &h, PARAMS),
                Err(VerifyError::MalformedBody { .. })
            ),
            "{content_type}"
        );
    }
    // Without a content type the body is read as a form.
    let h = headers(&[("x-twilio-signature", EXPECTED)]);
    assert!(check(&v, URL, &h, PARAMS).is_ok());
    // Form values that are not UTF-8 once decoded.
    assert!(matches!(
        check(&v, URL, &signed(EXPECTED, FORM), b"Body=%FF%FE"),
        Err(VerifyError::MalformedBody { .. })
    ));
    // A body of thousands of fields is refused before they are decoded and sorted (it made
    // the decoded fields take about 24 times the body's size before the signature was checked).
    let many = "a&".repeat(5000);
    match check(&v, URL, &signed(EXPECTED, FORM), many.as_bytes()) {
        Err(VerifyError::MalformedBody { reason }) => {
            assert!(reason.contains("fields"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // A content type with parameters and another case is still a form.
    let h = signed(EXPECTED, "Application/X-WWW-Form-Urlencoded; charset=UTF-8");
    assert!(check(&v, URL, &h, PARAMS).is_ok());
}

#[test]
fn rotation_reports_the_matching_token() {
    let v = Verifier::builder(Twilio::new())
        .labeled_secret("old", "old-auth-token")
        .labeled_secret("new", TOKEN)
        .build()
        .unwrap();
    let h = signed(EXPECTED, FORM);
    let ok = v
        .verify_request(&Request::new(&h, PARAMS).url(URL))
        .unwrap();
    assert_eq!(ok.key_index(), 1);
    assert_eq!(ok.key_label(), Some("new"));
    assert_eq!(ok.scheme(), "twilio");
    assert_eq!(ok.timestamp(), None);
}

#[test]
fn dedup_key_is_a_digest_of_the_signed_content() {
    let v = verifier(Twilio::new(), TOKEN);
    let key = check(&v, URL, &signed(EXPECTED, FORM), PARAMS).unwrap();
    // The unsigned idempotency header changes nothing.
    let mut h = signed(EXPECTED, FORM);
    h.insert(
        "i-twilio-idempotency-token",
        HeaderValue::from_static("a1b2c3d4-e5f6"),
    );
    assert_eq!(check(&v, URL, &h, PARAMS).unwrap(), key);
    // The same parameters in another order are the same delivery.
    let reordered =
        b"To=%2B18005551212&From=%2B14158675309&Digits=1234&Caller=%2B14158675309&CallSid=CA1234567890ABCDE";
    assert_eq!(
        check(&v, URL, &signed(EXPECTED, FORM), reordered).unwrap(),
        key
    );
    // Another delivery (another status) has another key.
    let signer = Signer::new(Twilio::new(), TOKEN).unwrap().url(URL);
    let other = b"MessageSid=SM1&MessageStatus=delivered";
    let later = b"MessageSid=SM1&MessageStatus=read";
    let k1 = check(&v, URL, &signer.sign(other).unwrap(), other).unwrap();
    let k2 = check(&v, URL, &signer.sign(later).unwrap(), later).unwrap();
    assert_ne!(k1, k2);
}

#[test]
fn twilio_traps() {
    let v = verifier(Twilio::new(), TOKEN);
    let sig = signed(EXPECTED, FORM);
    // `+` in a form is a space: phone numbers sent with a raw `+` are other values.
    let raw_plus =
        b"CallSid=CA1234567890ABCDE&Caller=+14158675309&Digits=1234&From=+14158675309&To=+18005551212";
    assert_eq!(
        check(&v, URL, &sig, raw_plus).unwrap_err(),
        VerifyError::SignatureMismatch
    );
    // The URL is signed: a trailing slash, another query or another host do not verify.
    for url in [
        "https://mycompany.com/myapp.php/?foo=1&bar=2",
        "https://mycompany.com/myapp.php?bar=2&foo=1",
        "https://mycompany.com/myapp.php?foo=1&bar=2&x=3",
        "https://othercompany.com/myapp.php?foo=1&bar=2",
        "http://mycompany.com/myapp.php?foo=1&bar=2",
    ] {
        assert_eq!(
            check(&v, url, &sig, PARAMS).unwrap_err(),
            VerifyError::SignatureMismatch,
            "{url}"
        );
    }
    // With `bodySHA256` in the URL the body's hash decides, even under a form content type.
    let url_with_body = format!("{URL}&bodySHA256={BODY_HASH}");
    let sig = signed("a9nBmqA0ju/hNViExpshrM61xv4=", FORM);
    assert!(check(&v, &url_with_body, &sig, JSON_BODY).is_ok());
    // An uppercase `bodySHA256` is not the SDKs' lowercase hex: refused, as they do.
    let upper = format!("{URL}&bodySHA256={}", BODY_HASH.to_uppercase());
    assert_eq!(
        check(&v, &upper, &sig, JSON_BODY).unwrap_err(),
        VerifyError::SignatureMismatch
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    fn any_url() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "(https?|HTTPS|ftp)://([a-zA-Z0-9.@:\\[\\]%-]{0,20})(/[ -~é]{0,20})?(\\?[ -~é]{0,30})?",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any URL, content type and body: an answer, never a panic.
        #[test]
        fn arbitrary_requests_never_panic(
            url in any_url(),
            body in proptest::collection::vec(any::<u8>(), 0..200),
            form in any::<bool>(),
        ) {
            let v = verifier(Twilio::new(), TOKEN);
            let content_type = if form { FORM } else { "application/json" };
            let _ = check(&v, &url, &signed(EXPECTED, content_type), &body);
        }

        /// Signed form parameters verify at the signed URL; changing a parameter is refused.
        #[test]
        fn signed_forms_verify_and_tampering_is_refused(
            url in "https://[a-z]{1,10}\\.example(:[0-9]{2,5})?/[a-z/]{0,10}(\\?[a-z0-9=&%']{0,20})?",
            params in proptest::collection::vec(("[A-Za-z]{1,8}", "[ -~é]{0,12}"), 1..6),
            flip in any::<prop::sample::Index>(),
        ) {
            let body = params
                .iter()
                .map(|(k, v)| format!("{k}={}", urlencode(v)))
                .collect::<Vec<_>>()
                .join("&");
            let h = Signer::new(Twilio::new(), TOKEN).unwrap().url(&url).sign(body.as_bytes()).unwrap();
            let v = verifier(Twilio::new(), TOKEN);
            prop_assert!(check(&v, &url, &h, body.as_bytes()).is_ok());
            let i = flip.index(params.len());
            let mut tampered = params.clone();
            // A key no generated parameter has: the signed set of pairs always changes.
            tampered[i].0 = "Tampered0".to_owned();
            let tampered = tampered
                .iter()
                .map(|(k, v)| format!("{k}={}", urlencode(v)))
                .collect::<Vec<_>>()
                .join("&");
            prop_assert_eq!(
                check(&v, &url, &h, tampered.as_bytes()).unwrap_err(),
                VerifyError::SignatureMismatch
            );
        }
    }

    fn urlencode(value: &str) -> String {
        let mut out = String::new();
        for b in value.bytes() {
            if b.is_ascii_alphanumeric() {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }
}
