//! A key's IP allowlist: the client addresses it works from, as IPv4/IPv6
//! addresses and CIDR ranges (issue 17). Checked by the verifier on every
//! request against the client IP the API server reports; a key with a list and
//! no reported IP is refused (fail closed, docs/restrictions.md).
//!
//! Entries are kept canonical (`203.0.113.0/24`, a single address as `/32` or
//! `/128`), and an IPv4-mapped IPv6 address (`::ffff:203.0.113.9`) counts as
//! the IPv4 address it maps: dual-stack servers report IPv4 clients that way.

use crate::error::AppError;
use ipnet::{IpNet, Ipv4Net};
use std::net::{IpAddr, Ipv6Addr};

/// Most entries one key's list may hold.
pub const MAX_ENTRIES: usize = 100;

/// The form field (and `/api/v1` property) the list comes in.
pub const FIELD: &str = "ip_allowlist";

/// A validated, non-empty allowlist, in the order given, without duplicates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpAllowlist(Vec<IpNet>);

impl IpAllowlist {
    /// The entries of a form or request: each item may itself hold several
    /// entries separated by commas, spaces or line breaks (a pasted list).
    /// `Ok(None)` when there are none: the key works from anywhere.
    pub fn parse(items: &[String]) -> Result<Option<Self>, AppError> {
        let mut nets: Vec<IpNet> = Vec::new();
        let entries = items
            .iter()
            .flat_map(|item| item.split([',', ' ', '\n', '\r', '\t']))
            .filter(|entry| !entry.is_empty());
        for entry in entries {
            let net = parse_entry(entry).map_err(|message| AppError::invalid(FIELD, message))?;
            if !nets.contains(&net) {
                nets.push(net);
            }
            if nets.len() > MAX_ENTRIES {
                return Err(AppError::invalid(
                    FIELD,
                    format!("An allowlist holds at most {MAX_ENTRIES} entries; use wider ranges."),
                ));
            }
        }
        Ok((!nets.is_empty()).then_some(Self(nets)))
    }

    /// The list as stored and shown: canonical text, one entry each.
    pub fn entries(&self) -> Vec<String> {
        self.0.iter().map(IpNet::to_string).collect()
    }

    /// The stored form: a JSON list of [`IpAllowlist::entries`].
    pub fn to_json(&self) -> String {
        serde_json::Value::from(self.entries()).to_string()
    }

    /// Reads the stored form back; `None` when it is not a list of ranges.
    pub fn from_json(text: &str) -> Option<Self> {
        let entries: Vec<String> = serde_json::from_str(text).ok()?;
        let nets = entries
            .iter()
            .map(|entry| entry.parse::<IpNet>().ok())
            .collect::<Option<Vec<_>>>()?;
        (!nets.is_empty()).then_some(Self(nets))
    }

    /// Whether `ip` is in one of the ranges.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether every address this list allows, `wider` allows too (a minted
    /// key must be no less restricted than the key that mints it).
    pub fn is_within(&self, wider: &Self) -> bool {
        self.0
            .iter()
            .all(|net| wider.0.iter().any(|outer| outer.contains(net)))
    }
}

/// One entry, or why it is not one. The message names the entry: an address
/// is not a secret, and "entry 37 is wrong" would leave the person searching.
fn parse_entry(entry: &str) -> Result<IpNet, String> {
    if entry.contains('%') {
        return Err(format!(
            "{entry}: zone ids (the part after %) name an interface of one machine; give the address without it."
        ));
    }
    let net = match entry.parse::<IpNet>() {
        Ok(net) => {
            if net.trunc() != net {
                return Err(format!(
                    "{entry}: the address has bits set past its /{} prefix; did you mean {}?",
                    net.prefix_len(),
                    net.trunc()
                ));
            }
            net
        }
        Err(_) => match entry.parse::<IpAddr>() {
            Ok(ip) => IpNet::from(ip),
            Err(_) => {
                return Err(format!(
                    "{entry} is not an IPv4 or IPv6 address or CIDR range (such as 203.0.113.0/24 or 2001:db8::/32)."
                ));
            }
        },
    };
    let net = mapped_to_ipv4(net);
    if net.prefix_len() == 0 {
        return Err(format!(
            "{entry} allows every address; leave the allowlist empty for a key that works from anywhere."
        ));
    }
    Ok(net)
}

/// `::ffff:a.b.c.d/n` (n ≥ 96) as the IPv4 range it maps, so that it matches
/// the IPv4 clients [`IpAllowlist::allows`] compares in IPv4 form.
fn mapped_to_ipv4(net: IpNet) -> IpNet {
    let IpNet::V6(v6) = net else {
        return net;
    };
    match v6.addr().to_ipv4_mapped() {
        Some(v4) if v6.prefix_len() >= 96 && is_mapped(v6.addr()) => {
            Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map(IpNet::V4)
                .unwrap_or(net)
        }
        _ => net,
    }
}

fn is_mapped(addr: Ipv6Addr) -> bool {
    addr.segments()[..6] == [0, 0, 0, 0, 0, 0xffff]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Result<Option<IpAllowlist>, AppError> {
        IpAllowlist::parse(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn message(items: &[&str]) -> String {
        let error = list(items).unwrap_err();
        assert_eq!(error.field(), Some(FIELD));
        error.to_string()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn addresses_and_ranges_of_both_families_are_kept_canonical() {
        let allowlist = list(&["203.0.113.0/24, 198.51.100.7", "2001:DB8::/32\n::1"])
            .unwrap()
            .unwrap();
        assert_eq!(
            allowlist.entries(),
            [
                "203.0.113.0/24",
                "198.51.100.7/32",
                "2001:db8::/32",
                "::1/128"
            ]
        );
        assert!(allowlist.allows(ip("203.0.113.200")));
        assert!(allowlist.allows(ip("198.51.100.7")));
        assert!(!allowlist.allows(ip("198.51.100.8")));
        assert!(allowlist.allows(ip("2001:db8:ffff::1")));
        assert!(allowlist.allows(ip("::1")));
        assert!(!allowlist.allows(ip("2001:db9::1")));
        assert_eq!(
            IpAllowlist::from_json(&allowlist.to_json()),
            Some(allowlist)
        );
    }

    #[test]
    fn ipv4_mapped_ipv6_matches_the_ipv4_it_maps_both_ways() {
        let v4 = list(&["203.0.113.0/24"]).unwrap().unwrap();
        assert!(v4.allows(ip("::ffff:203.0.113.9")));
        assert!(!v4.allows(ip("::ffff:198.51.100.1")));
        let mapped = list(&["::ffff:203.0.113.0/120", "::ffff:198.51.100.7"])
            .unwrap()
            .unwrap();
        assert_eq!(mapped.entries(), ["203.0.113.0/24", "198.51.100.7/32"]);
        assert!(mapped.allows(ip("203.0.113.9")));
        assert!(mapped.allows(ip("::ffff:198.51.100.7")));
    }

    #[test]
    fn an_empty_list_is_no_restriction_and_duplicates_collapse() {
        assert_eq!(list(&[]).unwrap(), None);
        assert_eq!(list(&["", " ,\n"]).unwrap(), None);
        let allowlist = list(&["10.0.0.1", "10.0.0.1/32", "10.0.0.1"])
            .unwrap()
            .unwrap();
        assert_eq!(allowlist.entries(), ["10.0.0.1/32"]);
    }

    #[test]
    fn each_bad_entry_is_named_with_what_is_wrong() {
        assert!(message(&["10.0.0.1", "garbage"]).contains("garbage is not an IPv4 or IPv6"));
        assert!(message(&["fe80::1%eth0"]).contains("zone ids"));
        assert!(message(&["10.0.0.1/8"]).contains("did you mean 10.0.0.0/8?"));
        assert!(message(&["0.0.0.0/0"]).contains("allows every address"));
        assert!(message(&["::/0"]).contains("allows every address"));
        assert!(message(&["::ffff:0.0.0.0/96"]).contains("allows every address"));
        assert!(message(&["10.0.0.0/33"]).contains("10.0.0.0/33 is not"));
        assert!(message(&["300.1.1.1"]).contains("300.1.1.1 is not"));
        assert!(message(&["10.0.0.0/-1"]).contains("is not"));
        let too_many: Vec<String> = (0..=MAX_ENTRIES)
            .map(|i| format!("10.0.{i}.0/24"))
            .collect();
        let refused = IpAllowlist::parse(&too_many).unwrap_err();
        assert!(refused.to_string().contains("at most 100"), "{refused}");
        let enough: Vec<String> = (0..MAX_ENTRIES).map(|i| format!("10.0.{i}.0/24")).collect();
        assert!(IpAllowlist::parse(&enough).unwrap().is_some());
    }

    #[test]
    fn a_narrower_list_is_within_a_wider_one() {
        let wide = list(&["10.0.0.0/8", "2001:db8::/32"]).unwrap().unwrap();
        let narrow = list(&["10.1.0.0/16", "2001:db8:1::1"]).unwrap().unwrap();
        let outside = list(&["10.1.0.0/16", "192.0.2.1"]).unwrap().unwrap();
        assert!(narrow.is_within(&wide));
        assert!(!wide.is_within(&narrow));
        assert!(!outside.is_within(&wide));
    }
}
