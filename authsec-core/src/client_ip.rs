//! The client's IP address: the peer, or what a trusted proxy says the peer was.
//!
//! `Forwarded` (RFC 7239) and `X-Forwarded-For` are believed only when the peer itself is a
//! configured trusted proxy; otherwise anyone could claim any address and walk past an IP rule.
//! The chain is read from the right (the hop closest to us) and trusted proxies are skipped: the
//! first untrusted address is the client.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::ConfigError;

/// The proxies whose forwarding headers are believed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    /// No proxy is trusted: the peer address is always the client.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses CIDR blocks (`10.0.0.0/8`, `::1/128`) or single addresses (`127.0.0.1`).
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, ConfigError> {
        let mut nets = Vec::new();
        for entry in entries {
            let entry = entry.trim();
            let net = match entry.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => entry.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
                    ConfigError::new(format!(
                        "trusted proxy {entry:?} is neither an IP address nor a CIDR block"
                    ))
                })?,
            };
            nets.push(net);
        }
        Ok(TrustedProxies { nets })
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

/// The client address of a request that arrived from `peer` with these forwarding headers
/// (several header lines joined with `,`). `None` when the peer is unknown or a trusted proxy
/// forwarded an unusable (`unknown`, obfuscated, malformed) address.
pub fn resolve(
    peer: Option<IpAddr>,
    forwarded: Option<&str>,
    x_forwarded_for: Option<&str>,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    let peer = canonical(peer?);
    if !trusted.contains(peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = match (forwarded, x_forwarded_for) {
        (Some(forwarded), _) => forwarded_for_values(forwarded),
        (None, Some(xff)) => xff.split(',').map(str::trim).collect(),
        (None, None) => return Some(peer),
    };
    let mut client = peer;
    for hop in hops.iter().rev() {
        let ip = canonical(parse_node(hop)?);
        client = ip;
        if !trusted.contains(ip) {
            break;
        }
    }
    Some(client)
}

/// The `for=` values of a `Forwarded` header, in order.
fn forwarded_for_values(header: &str) -> Vec<&str> {
    header
        .split(',')
        .flat_map(|element| element.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("for")
                .then(|| value.trim().trim_matches('"'))
        })
        .collect()
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:8080`, `[2001:db8::1]`,
/// `[2001:db8::1]:443`, `2001:db8::1`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (host, port) = node.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse().ok()
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn untrusted_peers_cannot_spoof_their_address() {
        let trusted = TrustedProxies::parse(["10.0.0.0/8"]).unwrap();
        assert_eq!(
            resolve(ip("203.0.113.9"), None, Some("1.2.3.4"), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            resolve(
                ip("203.0.113.9"),
                Some("for=1.2.3.4"),
                None,
                &TrustedProxies::none()
            ),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn trusted_proxies_are_skipped_from_the_right() {
        let trusted = TrustedProxies::parse(["10.0.0.0/8", "::1"]).unwrap();
        // The client forged the first entry; the proxy appended the real one.
        assert_eq!(
            resolve(
                ip("10.0.0.2"),
                None,
                Some("6.6.6.6, 198.51.100.7, 10.0.0.3"),
                &trusted
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            resolve(
                ip("::1"),
                Some("for=\"[2001:db8::7]:4711\";proto=https, for=10.1.2.3"),
                None,
                &trusted
            ),
            ip("2001:db8::7")
        );
        assert_eq!(
            resolve(ip("10.0.0.2"), None, None, &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            resolve(ip("10.0.0.2"), Some("for=unknown"), None, &trusted),
            None
        );
        assert_eq!(
            resolve(
                ip("::ffff:10.0.0.2"),
                None,
                Some("192.0.2.1:5000"),
                &trusted
            ),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn bad_entries_are_config_errors() {
        let err = TrustedProxies::parse(["10.0.0.0/33"]).unwrap_err();
        assert_eq!(
            err.message(),
            "trusted proxy \"10.0.0.0/33\" is neither an IP address nor a CIDR block"
        );
    }
}
