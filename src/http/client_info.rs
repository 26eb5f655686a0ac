//! Where a request came from: the client's IP and user agent, as throttling,
//! the audit log and sessions record it. One place decides, so that every
//! caller believes the same proxies.
//!
//! The client IP is the socket peer, unless the peer is one of
//! `KEYWARD_TRUSTED_PROXIES`: then it is the right-most `X-Forwarded-For` hop
//! that is not itself a trusted proxy (each proxy appends the address it saw,
//! so everything left of the last untrusted hop was written by the client and
//! proves nothing). With no trusted proxies the header is ignored.

use crate::audit::store::ClientInfo;
use crate::config::Config;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use ipnet::IpNet;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

const FORWARDED_FOR: &str = "x-forwarded-for";

/// The client's IP for this request, or `None` when the socket peer is unknown
/// (a request built in-process, without `ConnectInfo`).
pub fn client_ip(parts: &Parts, config: &Config) -> Option<IpAddr> {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    Some(resolve(peer, &parts.headers, &config.trusted_proxies))
}

/// The client IP and user agent of this request.
pub fn client_info(parts: &Parts, config: &Config) -> ClientInfo {
    ClientInfo {
        ip: client_ip(parts, config).map(|ip| ip.to_string()),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|agent| agent.to_str().ok())
            .map(str::to_owned),
    }
}

/// Handlers take `client: ClientInfo` to learn where the request came from.
impl<S> FromRequestParts<S> for ClientInfo
where
    S: Send + Sync,
    Arc<Config>: FromRef<S>,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(client_info(parts, &Arc::<Config>::from_ref(state)))
    }
}

/// The standard right-to-left walk: skip trusted hops; the first untrusted one
/// is the client. If every hop is trusted, the left-most one is. A hop that is
/// not an address ends the walk at the trusted proxy that passed it on.
fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let peer = peer.to_canonical();
    if !is_trusted(&peer) {
        return peer;
    }
    // Split the raw bytes: a client's non-ASCII junk on the left must not hide
    // the hops our own proxies appended on the right.
    let hops: Vec<&[u8]> = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .flat_map(|value| value.as_bytes().split(|byte| *byte == b','))
        .collect();
    let mut nearest = peer;
    for hop in hops.into_iter().rev() {
        match parse_hop(hop) {
            Some(ip) if is_trusted(&ip) => nearest = ip,
            Some(ip) => return ip,
            None => break,
        }
    }
    nearest
}

/// `203.0.113.9`, `2001:db8::1`, or either with a port (`[2001:db8::1]:443`).
fn parse_hop(hop: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(hop).ok()?.trim();
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn walk(peer: &str, forwarded: &[&[u8]], trusted: &[&str]) -> String {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append(FORWARDED_FOR, HeaderValue::from_bytes(value).unwrap());
        }
        let trusted: Vec<IpNet> = trusted.iter().map(|net| net.parse().unwrap()).collect();
        resolve(peer.parse().unwrap(), &headers, &trusted).to_string()
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        assert_eq!(walk("198.51.100.7", &[b"203.0.113.9"], &[]), "198.51.100.7");
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let trusted = ["10.0.0.0/8"];
        assert_eq!(
            walk("198.51.100.7", &[b"203.0.113.9"], &trusted),
            "198.51.100.7"
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = ["10.0.0.0/8", "127.0.0.1/32"];
        // The client forged the first hop; our two proxies appended the rest.
        let forwarded: &[&[u8]] = &[b"1.1.1.1, 203.0.113.9", b"10.0.0.5"];
        assert_eq!(walk("127.0.0.1", forwarded, &trusted), "203.0.113.9");
        assert_eq!(
            walk("127.0.0.1", &[b"\xff junk, 203.0.113.9"], &trusted),
            "203.0.113.9"
        );
        assert_eq!(
            walk("127.0.0.1", &[b"[2001:db8::1]:443"], &trusted),
            "2001:db8::1"
        );
    }

    #[test]
    fn all_trusted_hops_give_the_left_most_and_junk_stops_the_walk() {
        let trusted = ["10.0.0.0/8"];
        assert_eq!(
            walk("10.0.0.1", &[b"10.0.0.3, 10.0.0.2"], &trusted),
            "10.0.0.3"
        );
        assert_eq!(
            walk("10.0.0.1", &[b"unknown, 10.0.0.2"], &trusted),
            "10.0.0.2"
        );
        assert_eq!(walk("10.0.0.1", &[], &trusted), "10.0.0.1");
        assert_eq!(
            walk("::ffff:10.0.0.1", &[b"203.0.113.9"], &trusted),
            "203.0.113.9"
        );
    }
}
