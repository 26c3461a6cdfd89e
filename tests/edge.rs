//! The edge policy without a server: client-address resolution through trusted and untrusted
//! proxy chains (IPv4 and IPv6), spoofed headers, allowlist hits and misses, and the loaders
//! of the providers' published lists — every bad input a typed error, never a panic.

use std::net::IpAddr;

use http::{HeaderMap, HeaderValue};
use webhook_receiver::ConfigError;
use webhook_receiver::edge::{ClientIpSource, EdgePolicy, IpSet, Refusal};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn set(entries: &[&str]) -> IpSet {
    IpSet::parse(entries).unwrap()
}

fn xff(trusted: &[&str]) -> ClientIpSource {
    ClientIpSource::x_forwarded_for(set(trusted)).unwrap()
}

#[test]
fn the_connection_is_the_client_by_default_whatever_the_headers_say() {
    let spoofed = headers(&[
        ("x-forwarded-for", "192.30.252.1"),
        ("forwarded", "for=192.30.252.1"),
        ("x-real-ip", "192.30.252.1"),
        ("cf-connecting-ip", "192.30.252.1"),
    ]);
    let policy = EdgePolicy::default().allow(IpSet::github_hooks()).unwrap();
    let refusal = policy.check(Some(ip("203.0.113.9")), &spoofed).unwrap_err();
    let Refusal::NotAllowed { client } = refusal else {
        panic!("expected NotAllowed, got {refusal:?}")
    };
    assert_eq!(client.ip(), ip("203.0.113.9"));
    assert!(!client.forwarded());
    assert_eq!(refusal.status(), 403);
    assert_eq!(refusal.public_message(), "forbidden");
    assert_eq!(
        refusal.to_string(),
        "client 203.0.113.9 is not in the allowlist"
    );
}

#[test]
fn x_forwarded_for_takes_the_rightmost_hop_that_is_not_a_trusted_proxy() {
    let source = xff(&["10.0.0.0/8"]);
    let lb = ip("10.0.0.2");
    for (chain, expected) in [
        // One proxy: it appended the client.
        ("198.51.100.7", "198.51.100.7"),
        // The client sent its own header: the leftmost entry is its choice, never used.
        ("192.30.252.1, 198.51.100.7", "198.51.100.7"),
        // Two proxies of ours: skip the inner one.
        ("192.30.252.1, 198.51.100.7, 10.1.2.3", "198.51.100.7"),
        // Spaces, ports and IPv6 in the list.
        ("192.30.252.1,198.51.100.7:4711", "198.51.100.7"),
        ("192.30.252.1, 2001:db8::7", "2001:db8::7"),
        ("192.30.252.1, [2001:db8::7]:443, 10.9.9.9", "2001:db8::7"),
    ] {
        let client = source.resolve(lb, &headers(&[("x-forwarded-for", chain)]));
        assert_eq!(client.ip(), ip(expected), "{chain}");
        assert_eq!(client.peer(), lb);
        assert!(client.forwarded(), "{chain}");
        assert_eq!(
            client.to_string(),
            format!("{expected} (forwarded by 10.0.0.2)")
        );
    }
    // Several header lines are one list, in order.
    let two_lines = headers(&[
        ("x-forwarded-for", "192.30.252.1"),
        ("x-forwarded-for", "198.51.100.7, 10.0.0.9"),
    ]);
    assert_eq!(source.resolve(lb, &two_lines).ip(), ip("198.51.100.7"));
}

/// A byte the client wrote that is not text (HTTP allows obs-text, 0x80–0xFF) in its part of
/// the list must not make the whole line unreadable: the proxies' hops after it still count,
/// so the client cannot become its proxy (whose address an allowlist may hold).
#[test]
fn bytes_that_are_not_text_in_the_client_s_part_do_not_hide_the_proxies_hops() {
    let lb = ip("10.0.0.2");
    for (source, name, line) in [
        (
            xff(&["10.0.0.0/8"]),
            "x-forwarded-for",
            &b"\x80, 203.0.113.9"[..],
        ),
        (
            xff(&["10.0.0.0/8"]),
            "x-forwarded-for",
            &b"192.30.252.1\xff\xfe, 203.0.113.9, 10.1.2.3"[..],
        ),
        (
            ClientIpSource::forwarded(set(&["10.0.0.0/8"])).unwrap(),
            "forwarded",
            &b"for=\"\xe9\", for=203.0.113.9"[..],
        ),
    ] {
        let mut map = HeaderMap::new();
        map.append(name, HeaderValue::from_bytes(line).unwrap());
        let client = source.resolve(lb, &map);
        assert_eq!(client.ip(), ip("203.0.113.9"), "{line:?}");
        assert!(client.forwarded());
    }
    // Not text among the proxies' own hops (it cannot be): the walk stops there, as for any
    // hop that is not an address.
    let mut map = HeaderMap::new();
    map.append(
        "x-forwarded-for",
        HeaderValue::from_bytes(b"203.0.113.9, \x80").unwrap(),
    );
    assert_eq!(xff(&["10.0.0.0/8"]).resolve(lb, &map).ip(), lb);
}

#[test]
fn a_hop_that_is_not_an_address_stops_the_walk() {
    let source = xff(&["10.0.0.0/8"]);
    let lb = ip("10.0.0.2");
    // Nothing left of `unknown` can be believed: the proxy's own address is all we know.
    for chain in [
        "192.30.252.1, unknown",
        "192.30.252.1, garbage, 10.0.0.3",
        "",
    ] {
        let client = source.resolve(lb, &headers(&[("x-forwarded-for", chain)]));
        assert_eq!(client.ip(), lb, "{chain:?}");
        assert!(!client.forwarded());
    }
    // Only trusted hops: the request started inside; no header at all: the same.
    assert_eq!(
        source
            .resolve(lb, &headers(&[("x-forwarded-for", "10.0.0.7")]))
            .ip(),
        lb
    );
    assert_eq!(source.resolve(lb, &HeaderMap::new()).ip(), lb);
}

/// A quote the client writes, or leaves open, in its part of the list must not swallow the hops
/// the proxies appended after it: the client chooses neither the address the allowlist checks
/// nor its rate-limit key.
#[test]
fn a_quote_in_the_client_s_part_cannot_hide_the_hops_appended_after_it() {
    let lb = ip("10.0.0.2");
    let sources = [
        (xff(&["10.0.0.0/8"]), "x-forwarded-for", ""),
        (
            ClientIpSource::forwarded(set(&["10.0.0.0/8"])).unwrap(),
            "forwarded",
            "for=",
        ),
    ];
    for (source, header, prefix) in sources {
        let policy = EdgePolicy::new(source)
            .allow(IpSet::github_hooks())
            .unwrap();
        for client_part in [
            r#"192.30.252.10:""#,
            r#"[192.30.252.10]:""#,
            r#"[192.30.252.10]:x""#,
            r#"""#,
            r#""192.30.252.10"#,
            r#"for="[192.30.252.10]:x"#,
            r#"192.30.252.10";x="#,
        ] {
            let value = format!("{prefix}{client_part}, {prefix}203.0.113.66");
            let refusal = policy
                .check(Some(lb), &headers(&[(header, value.as_str())]))
                .unwrap_err();
            assert!(
                matches!(refusal, Refusal::NotAllowed { client } if client.ip() == ip("203.0.113.66")),
                "{header}: {value}: {refusal:?}"
            );
        }
    }
}

#[test]
fn headers_from_an_untrusted_peer_are_ignored() {
    // The proxy is 10.0.0.0/8; this request came straight from the internet with a forged
    // header naming a GitHub address.
    let policy = EdgePolicy::new(xff(&["10.0.0.0/8"]))
        .allow(IpSet::github_hooks())
        .unwrap();
    let forged = headers(&[("x-forwarded-for", "192.30.252.1")]);
    let refusal = policy.check(Some(ip("203.0.113.9")), &forged).unwrap_err();
    assert!(
        matches!(refusal, Refusal::NotAllowed { client } if client.ip() == ip("203.0.113.9")),
        "{refusal:?}"
    );
    // Through the proxy, the same header is believed.
    let client = policy.check(Some(ip("10.0.0.2")), &forged).unwrap();
    assert_eq!(client.ip(), ip("192.30.252.1"));
}

#[test]
fn ipv6_peers_and_proxies() {
    let source = xff(&["fd00::/8"]);
    let client = source.resolve(
        ip("fd00::2"),
        &headers(&[("x-forwarded-for", "2001:db8:1::1, 2606:50c0::9")]),
    );
    assert_eq!(client.ip(), ip("2606:50c0::9"));
    // An untrusted IPv6 peer is its own client.
    let client = source.resolve(
        ip("2001:db8::5"),
        &headers(&[("x-forwarded-for", "2606:50c0::9")]),
    );
    assert_eq!(client.ip(), ip("2001:db8::5"));
    // An IPv4 client on a dual-stack listener arrives IPv4-mapped: matched as IPv4, both as
    // a proxy and against the allowlist.
    let mapped_proxy = ip("::ffff:10.0.0.2");
    let client = xff(&["10.0.0.0/8"]).resolve(
        mapped_proxy,
        &headers(&[("x-forwarded-for", "::ffff:192.30.252.1")]),
    );
    assert_eq!(client.peer(), ip("10.0.0.2"));
    assert_eq!(client.ip(), ip("192.30.252.1"));
    let policy = EdgePolicy::default().allow(IpSet::github_hooks()).unwrap();
    assert!(
        policy
            .check(Some(ip("::ffff:192.30.252.1")), &HeaderMap::new())
            .is_ok()
    );
}

#[test]
fn forwarded_takes_the_rightmost_for_that_is_not_a_trusted_proxy() {
    let source = ClientIpSource::forwarded(set(&["10.0.0.0/8"])).unwrap();
    let lb = ip("10.0.0.2");
    for (value, expected) in [
        ("for=198.51.100.7", "198.51.100.7"),
        (
            "for=192.30.252.1, for=198.51.100.7;proto=https",
            "198.51.100.7",
        ),
        (
            r#"for=192.30.252.1, for="[2001:db8::7]:4711", for=10.0.0.3"#,
            "2001:db8::7",
        ),
        // Obfuscated identifiers stop the walk.
        ("for=192.30.252.1, for=_hidden", "10.0.0.2"),
        ("for=192.30.252.1, for=unknown", "10.0.0.2"),
    ] {
        let client = source.resolve(lb, &headers(&[("forwarded", value)]));
        assert_eq!(client.ip(), ip(expected), "{value}");
    }
    // X-Forwarded-For is not read by a `Forwarded` source.
    let client = source.resolve(lb, &headers(&[("x-forwarded-for", "198.51.100.7")]));
    assert_eq!(client.ip(), lb);
}

#[test]
fn a_cdn_header_is_believed_only_from_the_cdn() {
    let source = ClientIpSource::header("CF-Connecting-IP", set(&["173.245.48.0/20"])).unwrap();
    let cf = ip("173.245.48.10");
    let h = headers(&[("cf-connecting-ip", "198.51.100.7")]);
    assert_eq!(source.resolve(cf, &h).ip(), ip("198.51.100.7"));
    assert_eq!(
        source.resolve(ip("203.0.113.9"), &h).ip(),
        ip("203.0.113.9")
    );
    // One address, optionally with a port; a list is not an address.
    let with_port = headers(&[("cf-connecting-ip", "[2001:db8::7]:443")]);
    assert_eq!(source.resolve(cf, &with_port).ip(), ip("2001:db8::7"));
    let list = headers(&[("cf-connecting-ip", "192.30.252.1, 198.51.100.7")]);
    assert_eq!(source.resolve(cf, &list).ip(), cf);
    assert_eq!(source.header_name().unwrap(), "cf-connecting-ip");
}

#[test]
fn sources_refuse_configurations_that_cannot_work() {
    let invalid = |r: Result<ClientIpSource, ConfigError>| match r {
        Err(ConfigError::Invalid { reason, .. }) => reason.into_owned(),
        other => panic!("expected ConfigError::Invalid, got {other:?}"),
    };
    let reason = invalid(ClientIpSource::x_forwarded_for(IpSet::new()));
    assert!(reason.contains("ClientIpSource::connection()"), "{reason}");
    invalid(ClientIpSource::forwarded(IpSet::new()));
    invalid(ClientIpSource::header("x-real-ip", IpSet::new()));
    let reason = invalid(ClientIpSource::header(
        "X-Forwarded-For",
        set(&["10.0.0.0/8"]),
    ));
    assert!(reason.contains("x_forwarded_for"), "{reason}");
    invalid(ClientIpSource::header("forwarded", set(&["10.0.0.0/8"])));
    invalid(ClientIpSource::header("bad header\n", set(&["10.0.0.0/8"])));
    let Err(e) = EdgePolicy::default().allow(IpSet::new()) else {
        panic!("an empty allowlist would refuse everyone")
    };
    assert!(e.to_string().contains("refuse every delivery"), "{e}");
}

#[test]
fn allowlists_add_up_and_are_matched_exactly() {
    let policy = EdgePolicy::default()
        .allow(IpSet::stripe_webhooks())
        .unwrap()
        .allow(set(&["192.0.2.0/24"]))
        .unwrap();
    let none = HeaderMap::new();
    for (addr, allowed) in [
        ("3.18.12.63", true),    // Stripe
        ("54.187.216.72", true), // Stripe
        ("3.18.12.64", false),   // next to it
        ("192.0.2.200", true),   // ours
        ("192.0.3.1", false),    // next to ours
        ("2001:db8::1", false),  // no IPv6 allowed
        ("140.82.112.1", false), // GitHub is not Stripe
    ] {
        assert_eq!(
            policy.check(Some(ip(addr)), &none).is_ok(),
            allowed,
            "{addr}"
        );
    }
    assert_eq!(policy.allowlist().unwrap().nets().count(), 16);
}

#[test]
fn a_policy_without_an_allowlist_resolves_and_allows() {
    let client = EdgePolicy::new(xff(&["127.0.0.0/8"]))
        .check(
            Some(ip("127.0.0.1")),
            &headers(&[("x-forwarded-for", "203.0.113.9")]),
        )
        .unwrap();
    assert_eq!(client.ip(), ip("203.0.113.9"));
}

#[test]
fn no_connection_address_is_refused_loudly_not_allowed() {
    for policy in [
        EdgePolicy::default(),
        EdgePolicy::default()
            .allow(set(&["0.0.0.0/0", "::/0"]))
            .unwrap(),
    ] {
        let refusal = policy.check(None, &HeaderMap::new()).unwrap_err();
        assert_eq!(refusal, Refusal::NoPeerAddress);
        assert_eq!(refusal.status(), 500);
        assert!(
            refusal
                .to_string()
                .contains("into_make_service_with_connect_info::<SocketAddr>()"),
            "{refusal}"
        );
    }
}

#[test]
fn rate_limit_keys_group_an_ipv6_64() {
    let policy = EdgePolicy::default();
    let key = |addr: &str| {
        policy
            .check(Some(ip(addr)), &HeaderMap::new())
            .unwrap()
            .limit_key()
    };
    assert_eq!(key("2001:db8:1:2:aaaa::1"), ip("2001:db8:1:2::"));
    assert_eq!(key("2001:db8:1:2:ffff::9"), key("2001:db8:1:2::1"));
    assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
    assert_eq!(key("198.51.100.7"), ip("198.51.100.7"));
    assert_eq!(key("::ffff:198.51.100.7"), ip("198.51.100.7"));
}

#[test]
fn ip_sets_refuse_what_is_not_an_address_or_range() {
    for bad in [
        "10.0.0.0/33",
        "2001:db8::/129",
        "10.0.0",
        "example.com",
        "10.0.0.0/8/8",
        "",
        " / ",
        "1.2.3.4-1.2.3.9",
    ] {
        match IpSet::parse([bad]) {
            Err(ConfigError::Invalid { reason, .. }) => {
                assert!(
                    reason.contains("is not an IP address or CIDR range"),
                    "{reason}"
                )
            }
            other => panic!("{bad:?}: expected an error, got {other:?}"),
        }
    }
    // Quoted entries are cut short in the message.
    let long = "x".repeat(10_000);
    let e = IpSet::parse([long.as_str()]).unwrap_err().to_string();
    assert!(e.len() < 200, "{}", e.len());
    // Host bits are dropped, whitespace trimmed.
    assert_eq!(
        IpSet::parse([" 10.1.2.3/8 "]).unwrap(),
        IpSet::parse(["10.0.0.0/8"]).unwrap()
    );
}

#[test]
fn github_meta_loader() {
    // The shape of `GET https://api.github.com/meta`, abridged.
    let body = br#"{
        "verifiable_password_authentication": false,
        "ssh_key_fingerprints": {"SHA256_ED25519": "+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"},
        "hooks": ["192.30.252.0/22", "185.199.108.0/22", "2a0a:a440::/29"],
        "web": ["192.30.252.0/22"],
        "domains": {"website": ["*.github.com"]}
    }"#;
    let hooks = IpSet::from_github_meta(body).unwrap();
    assert!(hooks.contains(ip("185.199.109.1")));
    assert!(hooks.contains(ip("2a0a:a447::1")));
    assert!(!hooks.contains(ip("140.82.112.1")));
    for (bad, why) in [
        (&b""[..], "not the meta API's JSON"),
        (
            b"<html>API rate limit exceeded</html>",
            "not the meta API's JSON",
        ),
        (br#"{"web": []}"#, "missing field `hooks`"),
        (
            br#"{"hooks": "192.30.252.0/22"}"#,
            "not the meta API's JSON",
        ),
        (br#"{"hooks": [1, 2]}"#, "not the meta API's JSON"),
        (br#"{"hooks": []}"#, "the list is empty"),
        (
            br#"{"hooks": ["192.30.252.0/22", "nope"]}"#,
            "`nope` is not",
        ),
        (b"\xff\xfe", "not the meta API's JSON"),
    ] {
        let e = IpSet::from_github_meta(bad).unwrap_err().to_string();
        assert!(e.contains(why), "{e}");
        assert!(
            e.starts_with("invalid configuration `GitHub meta `hooks``"),
            "{e}"
        );
    }
}

#[test]
fn stripe_list_loader_reads_both_published_formats() {
    let json = br#"{"WEBHOOKS": ["3.18.12.63", "3.130.192.231", "13.235.14.237"]}"#;
    let text = b"3.18.12.63\r\n3.130.192.231\n\n13.235.14.237\n";
    let from_json = IpSet::from_stripe_webhook_ips(json).unwrap();
    assert_eq!(from_json, IpSet::from_stripe_webhook_ips(text).unwrap());
    assert!(from_json.contains(ip("13.235.14.237")));
    // Whitespace before the JSON is fine.
    assert_eq!(
        IpSet::from_stripe_webhook_ips(&[b"\n  ", &json[..]].concat()).unwrap(),
        from_json
    );
    for (bad, why) in [
        (&b""[..], "the list is empty"),
        (b"# nothing\n", "the list is empty"),
        (
            br#"{"API": ["3.18.12.63"]}"#,
            "not Stripe's ips_webhooks.json",
        ),
        (br#"{"WEBHOOKS": []}"#, "the list is empty"),
        (
            br#"{"WEBHOOKS": ["3.18.12.63""#,
            "not Stripe's ips_webhooks.json",
        ),
        (b"3.18.12.63\n<html>", "`<html>` is not"),
        (b"3.18.12.63\xff\n", "not UTF-8"),
    ] {
        let e = IpSet::from_stripe_webhook_ips(bad).unwrap_err().to_string();
        assert!(e.contains(why), "{bad:?}: {e}");
    }
}

#[test]
fn bundled_provider_ranges_hold_known_senders() {
    let github = IpSet::github_hooks();
    for addr in [
        "192.30.252.1",
        "185.199.111.255",
        "140.82.115.1",
        "143.55.64.1",
        "9.234.98.161",
        "9.234.98.190",
        "9.234.106.50",
        "2606:50c0::1",
        "2a0a:a440::1",
    ] {
        assert!(github.contains(ip(addr)), "{addr}");
    }
    assert!(!github.contains(ip("9.234.98.159")));
    let stripe = IpSet::stripe_webhooks();
    assert!(stripe.contains(ip("3.69.109.8")));
    assert!(!stripe.contains(ip("140.82.115.1")));
    assert_eq!(stripe.nets().count(), 15);
    assert_eq!(webhook_receiver::edge::GITHUB_HOOKS_AS_OF, "2026-10-29");
    assert_eq!(webhook_receiver::edge::STRIPE_WEBHOOKS_AS_OF, "2026-10-07");
}

#[test]
fn debug_output_names_the_source_and_ranges() {
    let source = xff(&["10.0.0.0/8"]);
    let text = format!("{source:?}");
    assert!(text.contains("x-forwarded-for"), "{text}");
    assert!(text.contains("10.0.0.0/8"), "{text}");
    assert_eq!(
        format!("{:?}", ClientIpSource::connection()),
        "ClientIpSource::Connection"
    );
}

/// 256 cases per property, or `PROPTEST_CASES`; failures are saved to
/// `proptest-regressions/edge.txt` (committed) and replayed first on every run.
fn config() -> proptest::prelude::ProptestConfig {
    proptest::prelude::ProptestConfig {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::Direct("proptest-regressions/edge.txt"),
        )),
        ..proptest::prelude::ProptestConfig::default()
    }
}

proptest::proptest! {
    #![proptest_config(config())]

    /// Whatever the client writes in its part of the list (any visible ASCII: quotes, commas,
    /// brackets, `for=`), the hop the trusted proxy appended after it is the client.
    #[test]
    fn the_client_s_part_of_the_list_never_decides_the_address(client_part in "[ -~]{0,48}") {
        let lb = ip("10.0.0.2");
        let forwarded = ClientIpSource::forwarded(set(&["10.0.0.0/8"])).unwrap();
        for (source, header, prefix) in [
            (xff(&["10.0.0.0/8"]), "x-forwarded-for", ""),
            (forwarded, "forwarded", "for="),
        ] {
            let value = format!("{client_part}, {prefix}203.0.113.66");
            let resolved = source.resolve(lb, &headers(&[(header, value.as_str())]));
            proptest::prop_assert_eq!(resolved.ip(), ip("203.0.113.66"), "{}", value);
        }
    }

    /// Arbitrary header bytes, on any number of lines, resolve to some address without a panic;
    /// from an untrusted peer, always to the peer.
    #[test]
    fn arbitrary_header_bytes_never_panic(
        lines in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), 0..4),
    ) {
        let mut map = HeaderMap::new();
        for line in &lines {
            if let Ok(value) = HeaderValue::from_bytes(line) {
                map.append("x-forwarded-for", value.clone());
                map.append("forwarded", value.clone());
                map.append("cf-connecting-ip", value);
            }
        }
        let trusted = set(&["10.0.0.0/8"]);
        for source in [
            xff(&["10.0.0.0/8"]),
            ClientIpSource::forwarded(trusted.clone()).unwrap(),
            ClientIpSource::header("cf-connecting-ip", trusted).unwrap(),
        ] {
            let _ = source.resolve(ip("10.0.0.2"), &map);
            let outsider = ip("203.0.113.9");
            proptest::prop_assert_eq!(source.resolve(outsider, &map).ip(), outsider);
        }
    }
}
