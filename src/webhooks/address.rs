//! Where a webhook may go (SSRF): an endpoint URL is refused when it is not
//! HTTPS, or when its host is or resolves to a loopback, private, link-local,
//! CGNAT, unique-local, multicast, reserved or cloud-metadata address — unless
//! the deployment allows private destinations (`KEYWARD_WEBHOOK_ALLOW_PRIVATE`).
//! Checked when an endpoint is saved, and again before every attempt, when the
//! host is resolved once and the connection goes to the address just checked
//! (DNS could otherwise answer differently the second time).

use ipnet::IpNet;
use reqwest::Url;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// An endpoint's URL as the audit log keeps it: scheme, host and port only.
/// Receivers often carry a token in the path or query (docs/webhooks.md), and
/// the audit log is append-only and exported: no secret may enter it.
pub fn audited_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => {
            let port = parsed
                .port()
                .map(|port| format!(":{port}"))
                .unwrap_or_default();
            let rest = if parsed.path() != "/" || parsed.query().is_some() {
                "/…"
            } else {
                "/"
            };
            format!(
                "{}://{}{port}{rest}",
                parsed.scheme(),
                parsed.host_str().unwrap_or_default()
            )
        }
        Err(_) => "(unreadable URL)".to_owned(),
    }
}

/// The longest a destination's name may take to resolve.
pub const LOOKUP_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Longest endpoint URL accepted.
pub const MAX_URL_CHARS: usize = 2_000;

/// Why a URL is not a destination, in words an admin can act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error("Enter a full URL such as https://example.com/webhooks/keyward.")]
    NotAUrl,
    #[error("The URL is longer than {MAX_URL_CHARS} characters.")]
    TooLong,
    #[error("Webhook URLs must use https://.")]
    NotHttps,
    #[error(
        "Webhook URLs may not carry a user name or password; put a token in the path if your receiver needs one."
    )]
    Credentials,
    #[error(
        "{host} resolves to {address}, a {kind} address: webhooks go to public addresses only."
    )]
    Private {
        host: String,
        address: IpAddr,
        kind: &'static str,
    },
    #[error("{host} could not be resolved.")]
    Unresolvable { host: String },
}

/// A URL that passed the syntax checks, before its host is resolved.
#[derive(Clone, Debug)]
pub struct CheckedUrl {
    url: Url,
}

impl CheckedUrl {
    /// Reads and checks a URL (scheme, credentials, literal addresses).
    pub fn parse(text: &str, allow_private: bool) -> Result<Self, UrlRefusal> {
        let text = text.trim();
        if text.chars().count() > MAX_URL_CHARS {
            return Err(UrlRefusal::TooLong);
        }
        let url = Url::parse(text).map_err(|_| UrlRefusal::NotAUrl)?;
        match url.scheme() {
            "https" => {}
            "http" if allow_private => {}
            "http" => return Err(UrlRefusal::NotHttps),
            _ => return Err(UrlRefusal::NotAUrl),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlRefusal::Credentials);
        }
        let checked = Self { url };
        if let Some(address) = checked.literal_address() {
            check_address(&checked.host(), address, allow_private)?;
        }
        if checked.url.host_str().is_none_or(str::is_empty) {
            return Err(UrlRefusal::NotAUrl);
        }
        Ok(checked)
    }

    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The host as written (without the brackets of an IPv6 literal).
    fn host(&self) -> String {
        let host = self.url.host_str().unwrap_or_default();
        host.strip_prefix('[')
            .and_then(|inner| inner.strip_suffix(']'))
            .unwrap_or(host)
            .to_owned()
    }

    fn literal_address(&self) -> Option<IpAddr> {
        self.host().parse().ok()
    }

    /// Resolves the host once and checks every address it names; the
    /// destination connects to the first of them and to nothing else.
    pub async fn resolve(&self, allow_private: bool) -> Result<Destination, UrlRefusal> {
        let port = self.url.port_or_known_default().unwrap_or(443);
        let host = self.host();
        if let Some(address) = self.literal_address() {
            check_address(&host, address, allow_private)?;
            return Ok(Destination {
                url: self.url.clone(),
                pinned: None,
            });
        }
        let unresolvable = || UrlRefusal::Unresolvable { host: host.clone() };
        // Bounded: the delivery's lease covers the lookup, the request and its recording.
        let lookup = tokio::net::lookup_host((host.as_str(), port));
        let addresses: Vec<SocketAddr> = tokio::time::timeout(LOOKUP_LIMIT, lookup)
            .await
            .map_err(|_| unresolvable())?
            .map_err(|_| unresolvable())?
            .collect();
        for address in &addresses {
            check_address(&host, address.ip(), allow_private)?;
        }
        let first = *addresses.first().ok_or_else(unresolvable)?;
        Ok(Destination {
            url: self.url.clone(),
            pinned: Some((host, first)),
        })
    }
}

/// A URL whose host was resolved and checked: where one attempt connects.
pub struct Destination {
    pub url: Url,
    /// The host name and the checked address the client must use for it.
    pinned: Option<(String, SocketAddr)>,
}

impl Destination {
    /// A client for this one attempt: connects only to the checked address,
    /// follows no redirect, ignores proxy variables (a proxy would resolve the
    /// name again), and gives up after `timeout`.
    pub fn client(&self, timeout: std::time::Duration) -> Result<reqwest::Client, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .user_agent(concat!("Keyward-Webhooks/", env!("CARGO_PKG_VERSION")));
        if let Some((host, address)) = &self.pinned {
            builder = builder.resolve(host, *address);
        }
        builder.build()
    }
}

fn check_address(host: &str, address: IpAddr, allow_private: bool) -> Result<(), UrlRefusal> {
    match (allow_private, forbidden_kind(address)) {
        (false, Some(kind)) => Err(UrlRefusal::Private {
            host: host.to_owned(),
            address,
            kind,
        }),
        _ => Ok(()),
    }
}

/// The ranges no webhook goes to, most specific first, with what each is.
const FORBIDDEN: [(&str, &str); 27] = [
    ("169.254.169.254/32", "cloud metadata"),
    ("100.100.100.200/32", "cloud metadata"),
    ("fd00:ec2::254/128", "cloud metadata"),
    ("0.0.0.0/8", "“this network”"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "carrier-grade NAT (CGNAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"),
    ("192.0.2.0/24", "documentation"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/3", "multicast or reserved"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("fe80::/10", "link-local"),
    ("fc00::/7", "unique-local"),
    ("ff00::/8", "multicast"),
    ("2001:db8::/32", "documentation"),
    ("192.88.99.0/24", "6to4 relay"),
    // Tunnels and translators that carry an IPv4 address inside: which one is
    // hard to judge from here, so none is a webhook's destination.
    ("::/96", "IPv4-compatible (deprecated)"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("2002::/16", "6to4"),
    ("2001::/32", "Teredo"),
];

/// What kind of non-public address this is, or `None` for a public one.
/// IPv4 addresses mapped into IPv6 (`::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`)
/// are judged by the IPv4 address they carry.
pub fn forbidden_kind(address: IpAddr) -> Option<&'static str> {
    let address = match address {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(address, IpAddr::V4),
        v4 => v4,
    };
    FORBIDDEN.iter().find_map(|(range, kind)| {
        range
            .parse::<IpNet>()
            .ok()
            .filter(|net| net.contains(&address))
            .map(|_| *kind)
    })
}

fn embedded_v4(address: Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    if let Some(v4) = address.to_ipv4_mapped() {
        return Some(v4);
    }
    let segments = address.segments();
    let nat64 = segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    nat64.then(|| {
        let [a, b] = segments[6].to_be_bytes();
        let [c, d] = segments[7].to_be_bytes();
        std::net::Ipv4Addr::new(a, b, c, d)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> Option<&'static str> {
        forbidden_kind(text.parse().unwrap())
    }

    #[test]
    fn private_and_special_addresses_are_named() {
        assert_eq!(kind("127.0.0.1"), Some("loopback"));
        assert_eq!(kind("10.1.2.3"), Some("private"));
        assert_eq!(kind("172.31.255.1"), Some("private"));
        assert_eq!(kind("192.168.1.1"), Some("private"));
        assert_eq!(kind("100.64.0.1"), Some("carrier-grade NAT (CGNAT)"));
        assert_eq!(kind("169.254.169.254"), Some("cloud metadata"));
        assert_eq!(kind("169.254.1.1"), Some("link-local"));
        assert_eq!(kind("0.0.0.0"), Some("“this network”"));
        assert_eq!(kind("::1"), Some("loopback"));
        assert_eq!(kind("fe80::1"), Some("link-local"));
        assert_eq!(kind("fd12:3456::1"), Some("unique-local"));
        assert_eq!(kind("::ffff:127.0.0.1"), Some("loopback"));
        assert_eq!(kind("::127.0.0.1"), Some("IPv4-compatible (deprecated)"));
        assert_eq!(kind("2002:7f00:1::1"), Some("6to4"));
        assert_eq!(kind("2001:0:4136:e378::1"), Some("Teredo"));
        assert_eq!(kind("64:ff9b:1::a00:1"), Some("local-use NAT64"));
        assert_eq!(kind("64:ff9b::a00:1"), Some("private"));
        assert_eq!(kind("93.184.216.34"), None);
        assert_eq!(kind("2606:2800:220:1::1"), None);
    }

    #[test]
    fn urls_must_be_https_without_credentials() {
        assert_eq!(
            CheckedUrl::parse("http://example.com/hook", false).unwrap_err(),
            UrlRefusal::NotHttps
        );
        assert!(CheckedUrl::parse("http://example.com/hook", true).is_ok());
        assert_eq!(
            CheckedUrl::parse("https://u:p@example.com/", false).unwrap_err(),
            UrlRefusal::Credentials
        );
        assert_eq!(
            CheckedUrl::parse("ftp://example.com/", true).unwrap_err(),
            UrlRefusal::NotAUrl
        );
        assert_eq!(
            CheckedUrl::parse("example.com/hook", false).unwrap_err(),
            UrlRefusal::NotAUrl
        );
        assert!(matches!(
            CheckedUrl::parse("https://[::1]:8443/", false).unwrap_err(),
            UrlRefusal::Private {
                kind: "loopback",
                ..
            }
        ));
        assert!(CheckedUrl::parse("https://example.com/hook", false).is_ok());
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused() {
        let url = CheckedUrl::parse("https://localhost:9/hook", false).unwrap();
        let refusal = url.resolve(false).await.err().unwrap();
        assert!(
            matches!(
                refusal,
                UrlRefusal::Private {
                    kind: "loopback",
                    ..
                }
            ),
            "{refusal}"
        );
        assert!(url.resolve(true).await.is_ok());
    }
}
