//! IPv4 networks in CIDR notation, normalised so equal networks render and compare equal.

use std::fmt;
use std::net::Ipv4Addr;

/// An IPv4 network: its address with the host bits cleared, and the prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Net {
    addr: Ipv4Addr,
    prefix: u8,
}

/// Why a CIDR string was not taken as an IPv4 network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// An IPv6 network: this enforcer writes only the IPv4 table.
    #[error("{0} is IPv6; only IPv4 is enforced")]
    Ipv6(String),
    #[error("{0} is not a CIDR")]
    Invalid(String),
}

impl Ipv4Net {
    /// The network holding exactly `addr`.
    pub fn host(addr: Ipv4Addr) -> Self {
        Self { addr, prefix: 32 }
    }

    /// Parses `a.b.c.d/n`; host bits are cleared, as the API server's own parsing does.
    pub fn parse(text: &str) -> Result<Self, CidrError> {
        let (addr, prefix) = text
            .split_once('/')
            .ok_or_else(|| CidrError::Invalid(text.into()))?;
        if addr.contains(':') {
            return Err(CidrError::Ipv6(text.into()));
        }
        let addr: Ipv4Addr = addr.parse().map_err(|_| CidrError::Invalid(text.into()))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| CidrError::Invalid(text.into()))?;
        Ok(Self {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        })
    }
}

fn mask(prefix: u8) -> u32 {
    // `checked_shl` because shifting a u32 by 32 is an overflow, and /0 masks nothing.
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_clears_host_bits() {
        assert_eq!(
            Ipv4Net::parse("10.1.2.3/16").unwrap().to_string(),
            "10.1.0.0/16"
        );
        assert_eq!(
            Ipv4Net::parse("0.0.0.0/0").unwrap().to_string(),
            "0.0.0.0/0"
        );
        assert_eq!(
            Ipv4Net::parse("1.2.3.4/32").unwrap(),
            Ipv4Net::host(Ipv4Addr::new(1, 2, 3, 4))
        );
        assert_eq!(
            Ipv4Net::parse("9.9.9.9/0").unwrap().to_string(),
            "0.0.0.0/0"
        );
    }

    #[test]
    fn ipv6_is_told_apart_from_garbage() {
        assert!(matches!(
            Ipv4Net::parse("fd00::/8"),
            Err(CidrError::Ipv6(_))
        ));
        for bad in ["10.0.0.0", "10.0.0.0/33", "10.0.0/8", "x/8", "10.0.0.0/-1"] {
            assert!(
                matches!(Ipv4Net::parse(bad), Err(CidrError::Invalid(_))),
                "{bad}"
            );
        }
    }
}
