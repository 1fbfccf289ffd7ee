//! Trusted reverse proxies (`serve --trusted-proxy CIDR…`): which address a request is
//! audited under.
//!
//! Without trusted proxies (the default) the audited address is the connection's peer and
//! `X-Forwarded-For`/`Forwarded` are ignored, since any client can send them. When the peer is
//! a trusted proxy, the forwarding chain is walked from the nearest hop outwards and the
//! first address that is not a trusted proxy is the client (the nearest untrusted hop);
//! `Forwarded` (RFC 7239) is read when present, else `X-Forwarded-For`.
//!
//! The event format is unchanged: the signed `RequestContext.remote_addr` holds
//! `"CLIENT via PROXY"` (PROXY the connection's peer) when a proxy forwarded the request,
//! else the bare address as before. The field was always free text covered by the
//! signature, so old events decode and verify unchanged and the proxy's address is
//! signed as part of the same string; [`split_via`] takes it apart for readers. Failed
//! authentications are counted against the client address alone.

use axum::http::HeaderMap;
use std::net::IpAddr;
use std::str::FromStr;

/// One CIDR block (`10.0.0.0/8`, `::1/128`; a bare address is a /32 or /128).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    len: u8,
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let net: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("'{s}' is not an address or CIDR block"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) => l
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| format!("'{s}': the prefix length must be 0-{max}"))?,
        };
        Ok(Cidr { net, len })
    }
}

impl Cidr {
    /// Whether `ip` is inside the block (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - self.len as u32).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - self.len as u32).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The proxies whose forwarding headers are believed (empty: none).
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(pub Vec<Cidr>);

impl TrustedProxies {
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The audited client address and, when a trusted proxy forwarded the request, the
    /// proxy's (the connection's peer).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> (IpAddr, Option<IpAddr>) {
        if !self.trusts(peer) {
            return (peer, None);
        }
        let hops = forwarded_for(headers);
        if hops.is_empty() {
            return (peer, None);
        }
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) => {
                    client = *ip;
                    if !self.trusts(*ip) {
                        break;
                    }
                }
                // An unreadable hop: the last address known stands.
                None => break,
            }
        }
        (client, Some(peer))
    }
}

/// The hops of `Forwarded` (its `for=` parameters) or else `X-Forwarded-For`, leftmost
/// (farthest) first; `None` for an entry that is not an address (`unknown`, obfuscated).
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let joined = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",")
    };
    let fwd = joined("forwarded");
    if !fwd.trim().is_empty() {
        return fwd
            .split(',')
            .filter_map(|elem| {
                elem.split(';').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("for")
                        .then(|| parse_node(v.trim().trim_matches('"')))
                })
            })
            .collect();
    }
    joined("x-forwarded-for")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse_node)
        .collect()
}

/// An address with an optional port: `192.0.2.1`, `192.0.2.1:80`, `[2001:db8::1]:443`,
/// `2001:db8::1`.
fn parse_node(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    s.rsplit_once(':')?.0.parse().ok()
}

/// The text recorded as `remote_addr`.
pub fn audited(client: IpAddr, proxy: Option<IpAddr>) -> String {
    match proxy {
        Some(p) => format!("{client} via {p}"),
        None => client.to_string(),
    }
}

/// Splits a recorded `remote_addr` into the client and the proxy, if any.
pub fn split_via(recorded: &str) -> (&str, Option<&str>) {
    match recorded.split_once(" via ") {
        Some((c, p)) => (c, Some(p)),
        None => (recorded, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies(list.iter().map(|c| c.parse().unwrap()).collect())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_blocks_parse_and_match() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains(ip("10.1.2.3")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(c.contains(ip("::ffff:10.0.0.1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        let one: Cidr = "::1".parse().unwrap();
        assert!(one.contains(ip("::1")) && !one.contains(ip("::2")));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nope".parse::<Cidr>().is_err());
    }

    #[test]
    fn headers_count_only_from_a_trusted_peer() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("10.0.0.2"), &h), (ip("10.0.0.2"), None));
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(p.client(ip("192.0.2.1"), &h), (ip("192.0.2.1"), None));
        assert_eq!(
            p.client(ip("10.0.0.2"), &h),
            (ip("203.0.113.9"), Some(ip("10.0.0.2")))
        );
    }

    #[test]
    fn the_nearest_untrusted_hop_is_the_client() {
        let p = proxies(&["10.0.0.0/8"]);
        let mut h = HeaderMap::new();
        // A spoofed first entry, the real client, then an inner trusted proxy.
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 198.51.100.4, 10.0.0.7"),
        );
        assert_eq!(p.client(ip("10.0.0.2"), &h).0, ip("198.51.100.4"));
        let mut f = HeaderMap::new();
        f.insert(
            "forwarded",
            HeaderValue::from_static("for=1.1.1.1, for=\"[2001:db8::5]:4711\";proto=https"),
        );
        assert_eq!(p.client(ip("10.0.0.2"), &f).0, ip("2001:db8::5"));
        let mut u = HeaderMap::new();
        u.insert("x-forwarded-for", HeaderValue::from_static("unknown"));
        assert_eq!(p.client(ip("10.0.0.2"), &u).0, ip("10.0.0.2"));
    }

    #[test]
    fn recorded_text_splits_back() {
        let t = audited(ip("203.0.113.9"), Some(ip("10.0.0.2")));
        assert_eq!(t, "203.0.113.9 via 10.0.0.2");
        assert_eq!(split_via(&t), ("203.0.113.9", Some("10.0.0.2")));
        assert_eq!(split_via("127.0.0.1"), ("127.0.0.1", None));
    }
}
