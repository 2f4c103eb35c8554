//! IP conditions: allow and deny lists of CIDR blocks, IPv4 and IPv6.
//!
//! The address checked is [`PolicyRequest::client_ip`]: the TCP peer, or, only when the peer is
//! one of the Guard's trusted proxies, the client named by `Forwarded` / `X-Forwarded-For`
//! (see `authsec_core::client_ip`). A spoofed header from anyone else changes nothing.
//!
//! The deny list wins: an address in a denied block is refused even if an allowed block also
//! holds it. An empty allow list allows every address not denied. IPv4-mapped IPv6 addresses
//! (`::ffff:192.0.2.1`, as dual-stack sockets report IPv4 peers) are matched as IPv4. A request
//! whose address is unknown is refused.
//!
//! ```toml
//! [policies.office]
//! ip = { allow = ["10.0.0.0/8", "2001:db8::/32"], deny = ["10.66.0.0/16"] }
//! ```

use std::net::IpAddr;

use async_trait::async_trait;
use authsec_core::{ConfigError, Denial, Policy, PolicyRequest};
use ipnet::IpNet;

/// Allow and deny lists of networks; see the [module documentation](self).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpCondition {
    allow: Vec<IpNet>,
    deny: Vec<IpNet>,
}

impl IpCondition {
    /// A condition that allows every known address (add blocks with the other methods).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds allowed blocks, written `10.0.0.0/8`, `2001:db8::/32` or as one address.
    pub fn allow<'a>(
        mut self,
        blocks: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, ConfigError> {
        for block in blocks {
            self.allow
                .push(parse_block(block).map_err(ConfigError::new)?);
        }
        Ok(self)
    }

    /// Adds denied blocks (same syntax as [`allow`](Self::allow)).
    pub fn deny<'a>(
        mut self,
        blocks: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, ConfigError> {
        for block in blocks {
            self.deny
                .push(parse_block(block).map_err(ConfigError::new)?);
        }
        Ok(self)
    }

    /// Adds allowed networks, already parsed.
    pub fn allow_nets(mut self, nets: impl IntoIterator<Item = IpNet>) -> Self {
        self.allow.extend(nets);
        self
    }

    /// Adds denied networks, already parsed.
    pub fn deny_nets(mut self, nets: impl IntoIterator<Item = IpNet>) -> Self {
        self.deny.extend(nets);
        self
    }

    /// Whether `ip` passes: in no denied block, and in an allowed block when there are any.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        !self.deny.iter().any(|net| net.contains(&ip))
            && (self.allow.is_empty() || self.allow.iter().any(|net| net.contains(&ip)))
    }

    /// `None` while listing tools without a known address (the call decides), else the verdict.
    pub(crate) fn check(
        &self,
        request: &PolicyRequest<'_>,
        listing: bool,
    ) -> Option<Result<(), Denial>> {
        match request.client_ip {
            None if listing => None,
            None => Some(Err(Denial::policy_denied(
                "this operation is restricted by network address and the client address is unknown",
            ))),
            Some(ip) if self.permits(ip) => Some(Ok(())),
            Some(ip) => Some(Err(Denial::policy_denied(format!(
                "this operation is not allowed from the address {}",
                canonical(ip)
            )))),
        }
    }
}

/// Used on its own as the Guard's policy, an IP condition applies to every request that
/// reaches check 5 (a server-wide allow list).
#[async_trait]
impl Policy for IpCondition {
    async fn evaluate(&self, request: &PolicyRequest<'_>) -> Result<(), Denial> {
        self.check(request, false).unwrap_or(Ok(()))
    }
}

/// Parses a CIDR block or a single address. A block with host bits set (`10.0.0.1/8`) is refused:
/// it is almost always a typo for a different block.
pub(crate) fn parse_block(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(IpNet::from(ip));
    }
    let net: IpNet = text.parse().map_err(|_| {
        format!("invalid CIDR block {text:?}: expected an address/prefix such as 10.0.0.0/8 or 2001:db8::/32")
    })?;
    if net.trunc() != net {
        return Err(format!(
            "invalid CIDR block {text:?}: host bits are set after the /{} prefix (did you mean {}?)",
            net.prefix_len(),
            net.trunc()
        ));
    }
    Ok(net)
}

/// IPv4-mapped IPv6 addresses compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn deny_wins_over_allow_for_v4_v6_and_mapped_addresses() {
        let rule = IpCondition::new()
            .allow(["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"])
            .unwrap()
            .deny(["10.66.0.0/16"])
            .unwrap();
        assert!(rule.permits(ip("10.1.2.3")));
        assert!(rule.permits(ip("::ffff:10.1.2.3")));
        assert!(rule.permits(ip("2001:db8::1")));
        assert!(rule.permits(ip("192.0.2.7")));
        assert!(!rule.permits(ip("192.0.2.8")));
        assert!(!rule.permits(ip("10.66.0.1")));
        assert!(!rule.permits(ip("::ffff:10.66.0.1")));
        assert!(!rule.permits(ip("2001:db9::1")));
        assert!(
            IpCondition::new()
                .deny(["::/0"])
                .unwrap()
                .permits(ip("127.0.0.1"))
        );
    }

    #[test]
    fn malformed_blocks_are_named() {
        assert_eq!(
            parse_block("10.0.0.0/33").unwrap_err(),
            "invalid CIDR block \"10.0.0.0/33\": expected an address/prefix such as 10.0.0.0/8 or 2001:db8::/32"
        );
        assert_eq!(
            parse_block("10.0.0.1/8").unwrap_err(),
            "invalid CIDR block \"10.0.0.1/8\": host bits are set after the /8 prefix (did you mean 10.0.0.0/8?)"
        );
        assert_eq!(
            parse_block(" ::1 ").unwrap(),
            "::1/128".parse::<IpNet>().unwrap()
        );
    }
}
