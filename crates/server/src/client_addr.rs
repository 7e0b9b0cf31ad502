//! Who is on the other end: the client address, derived once, the same way for every
//! use (login limits, the citizen rate limits, the sessions' `ip` column).
//!
//! Behind the reverse proxy the README asks for, every TCP peer is the proxy. The
//! proxy's `X-Forwarded-For` names the real client, but anyone can send that header,
//! so it is believed only when the peer is one of the configured trusted proxies
//! (`--trusted-proxies`). The client is then the right-most hop that is not itself a
//! trusted proxy: every hop to its right was appended by a proxy we trust, every hop
//! to its left is whatever the client chose to send.
//!
//! Rate limits count an IPv6 client by its /64: one subscriber usually holds a whole
//! /64 and could otherwise take a fresh address for every request.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::cidr::{Cidr, mask_v6};
use crate::error::ApiError;
use crate::state::AppState;

fn trusted(addr: IpAddr, proxies: &[Cidr]) -> bool {
    proxies.iter().any(|c| c.contains(addr))
}

/// One `X-Forwarded-For` hop: an address, possibly with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`), as some proxies write them.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    IpAddr::from_str(hop)
        .ok()
        .or_else(|| SocketAddr::from_str(hop).ok().map(|s| s.ip()))
        .map(|a| a.to_canonical())
}

/// The client's address: `peer` itself, unless `peer` is a trusted proxy; then the
/// right-most `X-Forwarded-For` hop that is not a trusted proxy. When the chain runs
/// out (or holds something unreadable) before an untrusted hop, the last hop reached
/// is used: it is an address a trusted proxy vouched for, never one a client invented.
pub fn derive(peer: IpAddr, headers: &HeaderMap, proxies: &[Cidr]) -> IpAddr {
    let mut client = peer.to_canonical();
    if !trusted(client, proxies) {
        return client;
    }
    // Several X-Forwarded-For headers count as one list, in order (RFC 9110 §5.3).
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for hop in hops.iter().rev() {
        let Some(addr) = parse_hop(hop) else { break };
        client = addr;
        if !trusted(addr, proxies) {
            break;
        }
    }
    client
}

/// The key rate limits count under: the address for IPv4, its /64 for IPv6.
pub fn bucket(addr: IpAddr) -> String {
    match addr.to_canonical() {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("{}/64", Ipv6Addr::from(mask_v6(a, 64))),
    }
}

/// The caller's address as [`derive`] finds it, for handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    pub fn from_parts(parts: &Parts, state: &AppState) -> ClientAddr {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            // Only a router served without connect info (never `crate::serve`) lacks it;
            // such callers then share one bucket rather than escaping the limits.
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        ClientAddr(derive(peer, &parts.headers, &state.config.trusted_proxies))
    }

    /// The rate-limit key of this address (see [`bucket`]).
    pub fn bucket(&self) -> String {
        bucket(self.0)
    }
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(ClientAddr::from_parts(parts, state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|c| c.parse().expect("cidr")).collect()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn cidrs_parse_and_match() {
        let c: Cidr = "10.0.0.0/8".parse().expect("cidr");
        assert!(c.contains(ip("10.200.1.2")));
        assert!(!c.contains(ip("11.0.0.1")));
        // An IPv4-mapped IPv6 peer is the IPv4 address.
        assert!(c.contains(ip("::ffff:10.1.2.3")));
        let one: Cidr = "192.168.1.7".parse().expect("cidr");
        assert!(one.contains(ip("192.168.1.7")) && !one.contains(ip("192.168.1.8")));
        let v6: Cidr = "fd00::/8".parse().expect("cidr");
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "nginx",
            "0.0.0.0/0",
            "10.0.0.0/x",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_peer() {
        let proxies = cidrs(&["10.0.0.1"]);
        let h = xff(&["203.0.113.9"]);
        assert_eq!(derive(ip("10.0.0.1"), &h, &proxies), ip("203.0.113.9"));
        // The same header from anyone else is the sender's own invention.
        assert_eq!(derive(ip("198.51.100.4"), &h, &proxies), ip("198.51.100.4"));
        // No proxies configured: never believed.
        assert_eq!(derive(ip("10.0.0.1"), &h, &[]), ip("10.0.0.1"));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let proxies = cidrs(&["10.0.0.0/8"]);
        // The client forged "1.1.1.1"; the edge proxy appended its real address; an
        // inner proxy appended the edge's.
        let h = xff(&["1.1.1.1, 203.0.113.9", "10.0.0.2"]);
        assert_eq!(derive(ip("10.0.0.3"), &h, &proxies), ip("203.0.113.9"));
        // Every hop trusted: the left-most one a proxy vouched for.
        let h = xff(&["10.0.0.7, 10.0.0.2"]);
        assert_eq!(derive(ip("10.0.0.3"), &h, &proxies), ip("10.0.0.7"));
        // Garbage stops the walk at the last address a proxy vouched for.
        let h = xff(&["1.1.1.1, unknown, 10.0.0.2"]);
        assert_eq!(derive(ip("10.0.0.3"), &h, &proxies), ip("10.0.0.2"));
        // Ports are tolerated.
        let h = xff(&["[2001:db8::5]:443"]);
        assert_eq!(derive(ip("10.0.0.3"), &h, &proxies), ip("2001:db8::5"));
        // No header: the proxy itself.
        assert_eq!(
            derive(ip("10.0.0.3"), &HeaderMap::new(), &proxies),
            ip("10.0.0.3")
        );
    }

    #[test]
    fn ipv6_is_bucketed_by_its_64() {
        assert_eq!(bucket(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(
            bucket(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            "2001:db8:1:2::/64"
        );
        assert_ne!(bucket(ip("2001:db8:1:3::1")), "2001:db8:1:2::/64");
        assert_eq!(bucket(ip("203.0.113.9")), "203.0.113.9");
        assert_eq!(bucket(ip("::ffff:203.0.113.9")), "203.0.113.9");
    }
}
