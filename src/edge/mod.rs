//! Edge protections (feature `edge`): the client's IP address resolved safely, IP allowlists,
//! and what a rate limiter in front of the webhook layer keys on.
//!
//! A signature is what proves a delivery authentic; these checks come before it, so that
//! requests that cannot be authentic cost next to nothing. Verifying costs an HMAC over up to
//! the body limit, and a flood of unsigned bodies is CPU the attacker does not pay for.
//!
//! - [`ClientIpSource`] says where the client address comes from: the connection by default,
//!   or — behind proxies you run — the rightmost `X-Forwarded-For` or `Forwarded` hop that is
//!   not one of your trusted proxies, or a header that a known CDN sets. Headers are read only
//!   when the connection comes from a trusted proxy, so a client that reaches the server
//!   directly cannot choose its address.
//! - [`IpSet`] is a set of CIDR ranges: your own, or a provider's published webhook ranges —
//!   bundled ([`IpSet::github_hooks`], [`IpSet::stripe_webhooks`]) or loaded from the bytes of
//!   the provider's list, which you fetch ([`IpSet::from_github_meta`],
//!   [`IpSet::from_stripe_webhook_ips`]). The crate never uses the network.
//! - [`EdgePolicy`] puts them together; [`EdgePolicy::check`] is the whole decision, sync and
//!   framework-free. The adapters run it before anything else: `axum::EdgeLayer` (feature
//!   `axum-edge`) and `actix::EdgeMiddleware` (features `edge` and `actix-web`) answer 403
//!   before reading the body when the address is not allowed, log the address and the reason
//!   (never the body), and put the resolved [`ClientIp`] in the request extensions — where a
//!   rate limiter placed after them finds its key ([`ClientIp::limit_key`]).
//!
//! ```
//! use std::net::IpAddr;
//! use http::HeaderMap;
//! use webhook_receiver::edge::{ClientIpSource, EdgePolicy, IpSet, Refusal};
//!
//! // Behind a load balancer in 10.0.0.0/8; only GitHub's webhook ranges may deliver.
//! let proxies = IpSet::parse(["10.0.0.0/8"])?;
//! let policy = EdgePolicy::new(ClientIpSource::x_forwarded_for(proxies)?)
//!     .allow(IpSet::github_hooks())?;
//!
//! let mut headers = HeaderMap::new();
//! // The leftmost entry is whatever the client wrote; the load balancer appended the rest.
//! headers.insert("x-forwarded-for", "140.82.115.1, 192.30.252.10".parse()?);
//! let balancer: IpAddr = "10.0.0.2".parse()?;
//! let client = policy.check(Some(balancer), &headers)?;
//! assert_eq!(client.ip(), "192.30.252.10".parse::<IpAddr>()?);
//!
//! // The same header sent straight to the server is ignored: the connection is the client.
//! let direct: IpAddr = "203.0.113.9".parse()?;
//! let refusal = policy.check(Some(direct), &headers).unwrap_err();
//! assert!(matches!(refusal, Refusal::NotAllowed { .. }));
//! assert_eq!(refusal.status(), 403);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # When to use an allowlist
//!
//! Only where the provider publishes its sending addresses and you can keep up with their
//! changes. GitHub publishes them (the meta API's `hooks`) but does not recommend allowing by
//! address, and changes them from time to time: refresh with [`IpSet::from_github_meta`] and
//! keep the signature check — an allowlist narrows who can reach the verifier, it proves
//! nothing about a delivery. Stripe lists its webhook addresses and announces changes a week
//! ahead. Most providers publish none (they send from cloud ranges shared with anyone); there,
//! rely on the signature and a rate limiter.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::OnceLock;

use http::{HeaderMap, HeaderName, StatusCode};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::Deserialize;

use crate::ConfigError;

#[cfg(feature = "actix-web")]
pub(crate) mod actix;
#[cfg(feature = "axum-edge")]
pub(crate) mod axum;

/// The date of the bundled GitHub `hooks` ranges ([`IpSet::github_hooks`]).
pub const GITHUB_HOOKS_AS_OF: &str = "2026-10-29";
/// The date of the bundled Stripe webhook addresses ([`IpSet::stripe_webhooks`]).
pub const STRIPE_WEBHOOKS_AS_OF: &str = "2026-10-07";

const GITHUB_META_SNAPSHOT: &str = include_str!("ranges/github-meta-hooks.json");
const STRIPE_WEBHOOKS_SNAPSHOT: &str = include_str!("ranges/stripe-ips-webhooks.txt");

/// Longest part of a rejected entry quoted in an error message.
const QUOTED: usize = 64;

/// A set of IP networks (CIDR ranges and single addresses), IPv4 and IPv6, for allowlists and
/// trusted proxies.
///
/// Overlapping and adjacent ranges are merged; [`contains`](Self::contains) is a binary search.
/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, what a dual-stack listener reports for an
/// IPv4 client) are matched as the IPv4 address they carry.
///
/// ```
/// use webhook_receiver::edge::IpSet;
///
/// let set = IpSet::parse(["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"])?;
/// assert!(set.contains("10.1.2.3".parse()?));
/// assert!(set.contains("::ffff:192.0.2.7".parse()?));
/// assert!(!set.contains("192.0.2.8".parse()?));
/// assert!(IpSet::parse(["10.0.0.0/33"]).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct IpSet {
    /// Sorted, disjoint (after aggregation).
    v4: Vec<Ipv4Net>,
    /// Sorted, disjoint (after aggregation).
    v6: Vec<Ipv6Net>,
}

impl IpSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses addresses (`192.0.2.7`, `2001:db8::7`) and CIDR ranges (`10.0.0.0/8`,
    /// `2001:db8::/32`); surrounding whitespace is ignored. Host bits below the prefix are
    /// dropped (`10.0.0.1/8` is `10.0.0.0/8`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the first entry that is neither.
    pub fn parse<I>(entries: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        parse_entries("IpSet", entries)
    }

    /// Whether `ip` is in the set.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(ip) => {
                let i = self.v4.partition_point(|net| net.network() <= ip);
                i > 0 && self.v4[i - 1].contains(&ip)
            }
            IpAddr::V6(ip) => {
                let i = self.v6.partition_point(|net| net.network() <= ip);
                i > 0 && self.v6[i - 1].contains(&ip)
            }
        }
    }

    /// Whether the set holds no address.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// The set's networks after merging, IPv4 first, each family in address order.
    pub fn nets(&self) -> impl Iterator<Item = IpNet> + '_ {
        let v4 = self.v4.iter().copied().map(IpNet::V4);
        v4.chain(self.v6.iter().copied().map(IpNet::V6))
    }

    /// Adds every address of `other`.
    #[must_use]
    pub fn union(mut self, other: &IpSet) -> Self {
        self.extend(other.nets());
        self
    }

    /// GitHub's webhook delivery ranges — the `hooks` field of GitHub's meta API — as of
    /// [`GITHUB_HOOKS_AS_OF`], bundled with the crate.
    ///
    /// GitHub changes these ranges from time to time and does not recommend allowing by
    /// address; if you do, refresh them from the meta API with [`IpSet::from_github_meta`].
    pub fn github_hooks() -> Self {
        static SET: OnceLock<IpSet> = OnceLock::new();
        SET.get_or_init(|| {
            Self::from_github_meta(GITHUB_META_SNAPSHOT.as_bytes())
                .expect("the bundled GitHub snapshot parses (tested)")
        })
        .clone()
    }

    /// Stripe's webhook source addresses as of [`STRIPE_WEBHOOKS_AS_OF`], bundled with the
    /// crate. Stripe announces changes a week ahead; refresh with
    /// [`IpSet::from_stripe_webhook_ips`].
    pub fn stripe_webhooks() -> Self {
        static SET: OnceLock<IpSet> = OnceLock::new();
        SET.get_or_init(|| {
            Self::from_stripe_webhook_ips(STRIPE_WEBHOOKS_SNAPSHOT.as_bytes())
                .expect("the bundled Stripe snapshot parses (tested)")
        })
        .clone()
    }

    /// The `hooks` ranges from the body of GitHub's meta API (`GET https://api.github.com/meta`),
    /// which you fetch; other fields are ignored.
    ///
    /// ```
    /// use webhook_receiver::edge::IpSet;
    ///
    /// let body = br#"{"verifiable_password_authentication": false,
    ///                 "hooks": ["192.30.252.0/22", "2606:50c0::/32"], "web": []}"#;
    /// let hooks = IpSet::from_github_meta(body)?;
    /// assert!(hooks.contains("192.30.252.1".parse()?));
    /// assert!(IpSet::from_github_meta(b"<html>rate limited</html>").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] if the body is not JSON, has no `hooks` array of strings, the
    /// array is empty (an allowlist that refuses everyone), or an entry is not a range.
    pub fn from_github_meta(json: &[u8]) -> Result<Self, ConfigError> {
        const SETTING: &str = "GitHub meta `hooks`";
        #[derive(Deserialize)]
        struct Meta {
            hooks: Vec<String>,
        }
        let meta: Meta = serde_json::from_slice(json)
            .map_err(|e| ConfigError::invalid(SETTING, format!("not the meta API's JSON: {e}")))?;
        non_empty(SETTING, parse_entries(SETTING, &meta.hooks)?)
    }

    /// Stripe's webhook addresses from either of the lists Stripe publishes, which you fetch:
    /// `https://stripe.com/files/ips/ips_webhooks.json` (the `WEBHOOKS` array) or
    /// `ips_webhooks.txt` (one address per line; blank lines and `#` comments are skipped).
    ///
    /// ```
    /// use webhook_receiver::edge::IpSet;
    ///
    /// let json = IpSet::from_stripe_webhook_ips(br#"{"WEBHOOKS": ["3.18.12.63", "3.130.192.231"]}"#)?;
    /// let text = IpSet::from_stripe_webhook_ips(b"3.18.12.63\n3.130.192.231\n")?;
    /// assert_eq!(json, text);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] if the bytes are neither format, the list is empty, or an entry
    /// is not an address or range.
    pub fn from_stripe_webhook_ips(bytes: &[u8]) -> Result<Self, ConfigError> {
        const SETTING: &str = "Stripe webhook IPs";
        #[derive(Deserialize)]
        struct List {
            #[serde(rename = "WEBHOOKS")]
            webhooks: Vec<String>,
        }
        let set = if bytes.trim_ascii_start().starts_with(b"{") {
            let list: List = serde_json::from_slice(bytes).map_err(|e| {
                ConfigError::invalid(SETTING, format!("not Stripe's ips_webhooks.json: {e}"))
            })?;
            parse_entries(SETTING, &list.webhooks)?
        } else {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| ConfigError::invalid(SETTING, "the list is not UTF-8 text"))?;
            let lines = text
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'));
            parse_entries(SETTING, lines)?
        };
        non_empty(SETTING, set)
    }
}

impl Extend<IpNet> for IpSet {
    fn extend<T: IntoIterator<Item = IpNet>>(&mut self, nets: T) {
        for net in nets {
            match canonical(net.trunc()) {
                IpNet::V4(net) => self.v4.push(net),
                IpNet::V6(net) => self.v6.push(net),
            }
        }
        self.v4 = Ipv4Net::aggregate(&self.v4);
        self.v6 = Ipv6Net::aggregate(&self.v6);
    }
}

impl FromIterator<IpNet> for IpSet {
    fn from_iter<T: IntoIterator<Item = IpNet>>(nets: T) -> Self {
        let mut set = Self::new();
        set.extend(nets);
        set
    }
}

impl From<IpNet> for IpSet {
    fn from(net: IpNet) -> Self {
        Self::from_iter([net])
    }
}

impl From<IpAddr> for IpSet {
    fn from(ip: IpAddr) -> Self {
        Self::from(IpNet::from(ip))
    }
}

impl fmt::Debug for IpSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // ipnet's `Debug` for one family is the CIDR notation.
        f.debug_set().entries(&self.v4).entries(&self.v6).finish()
    }
}

/// An IPv4-mapped IPv6 network as the IPv4 network it maps.
fn canonical(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && let Some(v4) = v6.network().to_ipv4_mapped()
        && v6.prefix_len() >= 96
    {
        return IpNet::V4(Ipv4Net::new_assert(v4, v6.prefix_len() - 96));
    }
    net
}

fn parse_entries<I>(setting: &'static str, entries: I) -> Result<IpSet, ConfigError>
where
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    let nets = entries
        .into_iter()
        .map(|entry| {
            let entry = entry.as_ref().trim();
            let parsed = if entry.contains('/') {
                IpNet::from_str(entry).ok()
            } else {
                IpAddr::from_str(entry).ok().map(IpNet::from)
            };
            parsed.ok_or_else(|| {
                let quoted: String = entry.chars().take(QUOTED).collect();
                ConfigError::invalid(
                    setting,
                    format!("`{quoted}` is not an IP address or CIDR range"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(nets.into_iter().collect())
}

fn non_empty(setting: &'static str, set: IpSet) -> Result<IpSet, ConfigError> {
    if set.is_empty() {
        return Err(ConfigError::invalid(
            setting,
            "the list is empty: an allowlist built from it would refuse every delivery",
        ));
    }
    Ok(set)
}

/// Where the client's address comes from.
///
/// The default, [`connection`](Self::connection), is the only right choice when clients reach
/// the server directly. Behind proxies you run, name them: a header is read only when the
/// connection comes from one of them, and only the hops they added count — the client can
/// write anything to the left of them, and can send any header to a server it reaches
/// directly. There is deliberately no "leftmost `X-Forwarded-For`" source.
///
/// ```
/// use std::net::IpAddr;
/// use http::HeaderMap;
/// use webhook_receiver::edge::{ClientIpSource, IpSet};
///
/// // Cloudflare in front: its `CF-Connecting-IP`, believed only from Cloudflare's ranges.
/// let cloudflare = IpSet::parse(["173.245.48.0/20", "2400:cb00::/32"])?;
/// let source = ClientIpSource::header("cf-connecting-ip", cloudflare)?;
/// let mut headers = HeaderMap::new();
/// headers.insert("cf-connecting-ip", "2001:db8::7".parse()?);
///
/// let edge: IpAddr = "173.245.48.10".parse()?;
/// assert_eq!(source.resolve(edge, &headers).ip(), "2001:db8::7".parse::<IpAddr>()?);
/// // Anyone else sending the header is its own client.
/// let other: IpAddr = "198.51.100.1".parse()?;
/// assert_eq!(source.resolve(other, &headers).ip(), other);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ClientIpSource {
    kind: SourceKind,
}

#[derive(Clone)]
enum SourceKind {
    Connection,
    Header {
        name: HeaderName,
        how: &'static str,
        trusted: IpSet,
        format: Format,
    },
}

/// What a header holds.
#[derive(Clone, Copy)]
enum Format {
    /// `X-Forwarded-For`: a list of addresses, each appended by a proxy.
    XForwardedFor,
    /// RFC 7239 `Forwarded`: a list of elements, each appended by a proxy, whose `for=` is
    /// the address it received the request from.
    Forwarded,
    /// One address, set by the proxy (the last line counts).
    Single,
}

impl ClientIpSource {
    /// The connection's address (the TCP peer): right when nothing stands between the
    /// sender and the server. The default of every adapter.
    pub fn connection() -> Self {
        Self {
            kind: SourceKind::Connection,
        }
    }

    /// Behind proxies that append to `X-Forwarded-For` (nginx, HAProxy, cloud load
    /// balancers): the rightmost hop that is not in `trusted_proxies`, read only when the
    /// connection comes from a trusted proxy.
    ///
    /// The walk from the right stops at the first entry that is not an address (`unknown`,
    /// garbage): nothing to its left can be believed. When every hop is a trusted proxy, or
    /// the header is missing, the connection's address is the client. The list is split at
    /// every comma, so nothing the client writes in its part (a quote left open, say) can join
    /// it with the hops appended after it.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] if `trusted_proxies` is empty (use
    /// [`connection`](Self::connection)).
    pub fn x_forwarded_for(trusted_proxies: IpSet) -> Result<Self, ConfigError> {
        Self::with_header(
            HeaderName::from_static("x-forwarded-for"),
            "rightmost hop not a trusted proxy",
            Format::XForwardedFor,
            trusted_proxies,
        )
    }

    /// Behind proxies that append to the RFC 7239 `Forwarded` header: the rightmost `for=`
    /// that is not in `trusted_proxies`, read only when the connection comes from a trusted
    /// proxy. Obfuscated identifiers (`for=_hidden`, `for=unknown`) stop the walk, as in
    /// [`x_forwarded_for`](Self::x_forwarded_for).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] if `trusted_proxies` is empty.
    pub fn forwarded(trusted_proxies: IpSet) -> Result<Self, ConfigError> {
        Self::with_header(
            http::header::FORWARDED,
            "rightmost `for=` not a trusted proxy",
            Format::Forwarded,
            trusted_proxies,
        )
    }

    /// Behind a CDN or platform that puts the client's address in a header of its own and
    /// overwrites what the client sent: `cf-connecting-ip` (Cloudflare), `true-client-ip`
    /// (Akamai), `fly-client-ip` (Fly.io), `x-real-ip` (an nginx you configured so). Read only
    /// when the connection comes from `trusted_proxies` — the CDN's published ranges, or your
    /// own proxy — and only the last line of the header. The value is one address, optionally
    /// with a port (`192.0.2.7:443`, `[2001:db8::7]:443`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] if `trusted_proxies` is empty, `name` is not a header name, or
    /// names `X-Forwarded-For` / `Forwarded` (lists: use [`x_forwarded_for`](Self::x_forwarded_for)
    /// or [`forwarded`](Self::forwarded)).
    pub fn header(name: impl AsRef<str>, trusted_proxies: IpSet) -> Result<Self, ConfigError> {
        let name = HeaderName::from_str(name.as_ref().trim()).map_err(|_| {
            ConfigError::invalid("ClientIpSource::header", "not a valid header name")
        })?;
        if name == "x-forwarded-for" || name == http::header::FORWARDED {
            return Err(ConfigError::invalid(
                "ClientIpSource::header",
                format!(
                    "`{name}` holds a list of hops: use ClientIpSource::x_forwarded_for or ::forwarded"
                ),
            ));
        }
        Self::with_header(
            name,
            "set by a trusted proxy",
            Format::Single,
            trusted_proxies,
        )
    }

    fn with_header(
        name: HeaderName,
        how: &'static str,
        format: Format,
        trusted: IpSet,
    ) -> Result<Self, ConfigError> {
        if trusted.is_empty() {
            return Err(ConfigError::invalid(
                "trusted proxies",
                "no trusted proxy: without one the header would never be read (use \
                 ClientIpSource::connection())",
            ));
        }
        Ok(Self {
            kind: SourceKind::Header {
                name,
                how,
                trusted,
                format,
            },
        })
    }

    /// The client's address for a request that arrived from `peer` with `headers`.
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> ClientIp {
        let peer = peer.to_canonical();
        let ip = match &self.kind {
            SourceKind::Connection => peer,
            SourceKind::Header { .. } if !self.trusts(peer) => peer,
            SourceKind::Header {
                name,
                format: Format::Single,
                ..
            } => headers
                .get_all(name)
                .iter()
                .next_back()
                .and_then(|line| line.to_str().ok())
                .and_then(node)
                .map_or(peer, |ip| ip.to_canonical()),
            SourceKind::Header {
                name,
                trusted,
                format,
                ..
            } => rightmost_untrusted(headers, name, *format, trusted).unwrap_or(peer),
        };
        ClientIp { ip, peer }
    }

    fn trusts(&self, peer: IpAddr) -> bool {
        match &self.kind {
            SourceKind::Connection => false,
            SourceKind::Header { trusted, .. } => trusted.contains(peer),
        }
    }

    /// The header this source reads, if any (adapters copy only that one).
    pub fn header_name(&self) -> Option<&HeaderName> {
        match &self.kind {
            SourceKind::Connection => None,
            SourceKind::Header { name, .. } => Some(name),
        }
    }
}

/// The rightmost hop of the `name` list that is not in `trusted`, walking from the right (the
/// hops the proxies appended) and stopping at the first that is not an address: what is left
/// of it was written by someone we cannot trust, in a form we cannot read. Lines are one list,
/// in order. `None` when the walk stops, or finds only trusted proxies, or there is no header.
///
/// Elements are split at every comma, quotes or not: an address holds none, and a quote the
/// client wrote (or left open) must not join its part of the list with the hops the proxies
/// appended after it.
fn rightmost_untrusted(
    headers: &HeaderMap,
    name: &HeaderName,
    format: Format,
    trusted: &IpSet,
) -> Option<IpAddr> {
    // Bounded: each line is split once, and each element looked at once. Split as bytes, and
    // each element read as text on its own: a byte the client wrote that is not text (HTTP
    // allows obs-text) stops the walk at the client's part, after the proxies' hops.
    for line in headers.get_all(name).iter().rev() {
        for element in line.as_bytes().rsplit(|&b| b == b',') {
            let element = std::str::from_utf8(element).ok()?;
            let ip = match format {
                Format::Forwarded => forwarded_for(element),
                Format::XForwardedFor | Format::Single => node(element),
            }?
            .to_canonical();
            if !trusted.contains(ip) {
                return Some(ip);
            }
        }
    }
    None
}

/// The address of one `Forwarded` element's `for=` parameter (RFC 7239: a token, or a quoted
/// string holding `"[v6]:port"`), if it has exactly one that is an address; `for=unknown` and
/// obfuscated identifiers (`for=_hidden`) are not.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let mut found = None;
    for pair in element.split(';') {
        let (key, value) = pair.split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("for") {
            continue;
        }
        if found.is_some() {
            return None;
        }
        let value = value.trim();
        let value = match value.strip_prefix('"') {
            Some(quoted) => quoted.strip_suffix('"').filter(|v| !v.contains('"'))?,
            None if value.contains('"') => return None,
            None => value,
        };
        found = Some(node(value)?);
    }
    found
}

/// One hop's address: `192.0.2.7`, `2001:db8::7`, `[2001:db8::7]`, with a port or not
/// (`192.0.2.7:443`, `[2001:db8::7]:443`; an obfuscated `Forwarded` port such as `:_p1` too).
/// Anything else — `unknown`, a name, a zone index, a list — is not an address.
fn node(value: &str) -> Option<IpAddr> {
    let value = value.trim();
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Some(ip);
    }
    let (ip, port) = match value.strip_prefix('[') {
        Some(rest) => {
            let (ip, after) = rest.split_once(']')?;
            let ip = IpAddr::V6(ip.parse::<Ipv6Addr>().ok()?);
            if after.is_empty() {
                return Some(ip);
            }
            (ip, after.strip_prefix(':')?)
        }
        None => {
            let (ip, port) = value.rsplit_once(':')?;
            (IpAddr::V4(ip.parse::<Ipv4Addr>().ok()?), port)
        }
    };
    let port_ok = port.parse::<u16>().is_ok() && port.bytes().all(|b| b.is_ascii_digit())
        || port.strip_prefix('_').is_some_and(|obfuscated| {
            !obfuscated.is_empty()
                && obfuscated
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        });
    port_ok.then_some(ip)
}

impl Default for ClientIpSource {
    /// [`ClientIpSource::connection`].
    fn default() -> Self {
        Self::connection()
    }
}

impl fmt::Debug for ClientIpSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            SourceKind::Connection => f.write_str("ClientIpSource::Connection"),
            SourceKind::Header {
                name, how, trusted, ..
            } => f
                .debug_struct("ClientIpSource::Header")
                .field("name", name)
                .field("how", how)
                .field("trusted_proxies", trusted)
                .finish(),
        }
    }
}

/// The client's address as resolved by a [`ClientIpSource`], and the connection's.
///
/// The adapters' edge layers put it in the request extensions: axum handlers take it with
/// `axum::Extension<ClientIp>`, actix-web ones with `web::ReqData<ClientIp>`, and a rate
/// limiter placed after the layer keys on [`limit_key`](Self::limit_key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIp {
    ip: IpAddr,
    peer: IpAddr,
}

impl ClientIp {
    /// The client's address (IPv4-mapped IPv6 addresses as IPv4).
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// The connection's address: the client itself, or the trusted proxy that forwarded it.
    pub fn peer(&self) -> IpAddr {
        self.peer
    }

    /// Whether the address came from a header set by a trusted proxy rather than from the
    /// connection.
    pub fn forwarded(&self) -> bool {
        self.ip != self.peer
    }

    /// A rate-limiting key: the IPv4 address, or the IPv6 address's /64 — one subscriber or
    /// host usually holds a whole /64, so keying on the full address would let it pick a
    /// fresh key for every request.
    pub fn limit_key(&self) -> IpAddr {
        match self.ip {
            IpAddr::V4(_) => self.ip,
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !(u128::MAX >> 64))),
        }
    }
}

impl fmt::Display for ClientIp {
    /// `203.0.113.9`, or `203.0.113.9 (forwarded by 10.0.0.2)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.forwarded() {
            write!(f, "{} (forwarded by {})", self.ip, self.peer)
        } else {
            write!(f, "{}", self.ip)
        }
    }
}

/// Where the client address comes from and, optionally, which addresses may deliver: what
/// the adapters' edge layers check before anything else.
#[derive(Debug, Clone, Default)]
pub struct EdgePolicy {
    source: ClientIpSource,
    allow: Option<IpSet>,
}

impl EdgePolicy {
    /// Resolves the client address from `source`; allows every address until
    /// [`allow`](Self::allow) is called.
    pub fn new(source: ClientIpSource) -> Self {
        Self {
            source,
            allow: None,
        }
    }

    /// Refuses (403) every client address outside `set`. Called again, the sets add up
    /// (`.allow(IpSet::github_hooks())?.allow(office)?`). Default: no allowlist.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] if `set` is empty: it would refuse every delivery.
    pub fn allow(mut self, set: IpSet) -> Result<Self, ConfigError> {
        if set.is_empty() {
            return Err(ConfigError::invalid(
                "EdgePolicy::allow",
                "the allowlist is empty: it would refuse every delivery",
            ));
        }
        self.allow = Some(match self.allow.take() {
            Some(previous) => previous.union(&set),
            None => set,
        });
        Ok(self)
    }

    /// Where the client address comes from.
    pub fn source(&self) -> &ClientIpSource {
        &self.source
    }

    /// The allowlist, if any.
    pub fn allowlist(&self) -> Option<&IpSet> {
        self.allow.as_ref()
    }

    /// The decision for a request from `peer` (the connection's address, `None` when the
    /// server did not provide it) with `headers`: the resolved client address, or why it is
    /// refused.
    ///
    /// # Errors
    ///
    /// [`Refusal::NoPeerAddress`] (500: the server is not set up to provide it — with axum,
    /// serve with `into_make_service_with_connect_info::<SocketAddr>()`), or
    /// [`Refusal::NotAllowed`] (403).
    pub fn check(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Result<ClientIp, Refusal> {
        let peer = peer.ok_or(Refusal::NoPeerAddress)?;
        let client = self.source.resolve(peer, headers);
        match &self.allow {
            Some(set) if !set.contains(client.ip) => Err(Refusal::NotAllowed { client }),
            _ => Ok(client),
        }
    }
}

/// Why an [`EdgePolicy`] refused a request. The `Display` form, for logs, names the address;
/// the response body ([`public_message`](Self::public_message)) does not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The client address is outside the allowlist: 403.
    #[error("client {client} is not in the allowlist")]
    NotAllowed {
        /// The refused address.
        client: ClientIp,
    },
    /// The server did not provide the connection's address, so no address can be checked: a
    /// deployment mistake, answered 500 rather than letting everyone through. With axum,
    /// serve the app with `into_make_service_with_connect_info::<SocketAddr>()`.
    #[error(
        "the connection's address is unknown (axum: serve with \
         `into_make_service_with_connect_info::<SocketAddr>()`); refusing rather than allowing"
    )]
    NoPeerAddress,
}

impl Refusal {
    /// 403 for an address outside the allowlist, 500 when the connection's address is unknown.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotAllowed { .. } => StatusCode::FORBIDDEN,
            Self::NoPeerAddress => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short response body that says nothing about the policy.
    pub fn public_message(&self) -> &'static str {
        match self {
            Self::NotAllowed { .. } => "forbidden",
            Self::NoPeerAddress => "webhook receiver misconfigured",
        }
    }

    /// Logs the refusal (feature `tracing`): the address and the reason, never the body. A
    /// missing connection address is an error, an address outside the allowlist a warning.
    #[cfg(any(feature = "axum-edge", feature = "actix-web"))]
    pub(crate) fn log(&self) {
        #[cfg(feature = "tracing")]
        match self {
            Self::NotAllowed { client } => tracing::warn!(
                client_ip = %client.ip,
                peer = %client.peer,
                status = 403,
                reason = %self,
                "webhook request refused at the edge"
            ),
            Self::NoPeerAddress => tracing::error!(
                status = 500,
                reason = %self,
                "webhook request refused at the edge"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_snapshots_parse_and_carry_their_dates() {
        let github = IpSet::github_hooks();
        // Nine published ranges; 9.234.98.160/28 and .176/28 merge into one /27.
        assert_eq!(
            format!("{github:?}"),
            "{9.234.98.160/27, 9.234.106.48/28, 140.82.112.0/20, 143.55.64.0/20, \
             185.199.108.0/22, 192.30.252.0/22, 2606:50c0::/32, 2a0a:a440::/29}"
        );
        let stripe = IpSet::stripe_webhooks();
        assert_eq!(stripe.nets().count(), 15, "{stripe:?}");
        let meta: serde_json::Value = serde_json::from_str(GITHUB_META_SNAPSHOT).unwrap();
        assert_eq!(meta["_as_of"], GITHUB_HOOKS_AS_OF);
        assert!(STRIPE_WEBHOOKS_SNAPSHOT.contains(&format!("# As of:  {STRIPE_WEBHOOKS_AS_OF}")));
    }

    #[test]
    fn contains_finds_the_one_candidate_range() {
        let set = IpSet::parse([
            "10.0.0.0/8",
            "10.1.0.0/16", // inside the first: merged away
            "192.0.2.0/25",
            "192.0.2.128/25", // adjacent: merged into 192.0.2.0/24
            "198.51.100.7",
            "2001:db8::/48",
        ])
        .unwrap();
        assert_eq!(
            format!("{set:?}"),
            r#"{10.0.0.0/8, 192.0.2.0/24, 198.51.100.7/32, 2001:db8::/48}"#
        );
        for (ip, expected) in [
            ("9.255.255.255", false),
            ("10.0.0.0", true),
            ("10.255.255.255", true),
            ("11.0.0.0", false),
            ("192.0.2.255", true),
            ("198.51.100.7", true),
            ("198.51.100.8", false),
            ("0.0.0.0", false),
            ("255.255.255.255", false),
            ("2001:db8::1", true),
            ("2001:db8:1::1", false),
            ("::", false),
            ("::ffff:10.9.8.7", true),
        ] {
            assert_eq!(set.contains(ip.parse().unwrap()), expected, "{ip}");
        }
    }

    #[test]
    fn mapped_ranges_match_as_ipv4() {
        let set = IpSet::parse(["::ffff:192.0.2.0/120"]).unwrap();
        assert_eq!(format!("{set:?}"), "{192.0.2.0/24}");
        assert!(set.contains("192.0.2.9".parse().unwrap()));
    }
}
