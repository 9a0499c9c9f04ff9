//! URLs that users type (an Okta domain, a Workday report, a SCIM source) must
//! not turn Muster into a way to reach the network it runs in: https only, and
//! no loopback, private, link-local or otherwise internal address, checked on
//! the URL and again on every address the name resolves to (so a name that
//! resolves to 127.0.0.1 is refused too). `MUSTER_ALLOW_INSECURE_PROVIDER_URLS`
//! lifts both rules, for tests and demos against local fakes.

use super::ConnectorError;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use url::{Host, Url};

/// Parse and check a URL typed into `field`.
pub fn check_user_url(raw: &str, allow_insecure: bool, field: &str) -> Result<Url, ConnectorError> {
    let url = Url::parse(raw.trim())
        .map_err(|_| ConnectorError::field(field, "Enter a full URL, starting with https://."))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        _ => {
            return Err(ConnectorError::field(
                field,
                "The URL must start with https:// (credentials are never sent in the clear).",
            ))
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConnectorError::field(
            field,
            "Put credentials in their own fields, not in the URL.",
        ));
    }
    let ip = match url.host() {
        None => return Err(ConnectorError::field(field, "The URL has no host name.")),
        Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(Host::Domain(_)) => None,
    };
    if let Some(ip) = ip {
        if !allow_insecure && !is_public(ip) {
            return Err(ConnectorError::field(field, refused_message(ip)));
        }
    }
    Ok(url)
}

fn refused_message(ip: IpAddr) -> String {
    format!("{ip} is a private or local address; Muster only connects to public addresses.")
}

/// Whether an address is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        // Shared address space (carrier-grade NAT), 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
        // Benchmarking, 198.18.0.0/15, and reserved, 240.0.0.0/4.
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Unique local fc00::/7 and link-local fe80::/10.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        // Documentation 2001:db8::/32.
        || (first == 0x2001 && ip.segments()[1] == 0x0db8))
}

/// The error a refused resolution carries, found again by [`refusal_in`].
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// The reason a request failed because its host resolved only to refused addresses.
pub fn refusal_in(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Refused>() {
            return Some(r.0.clone());
        }
        source = s.source();
    }
    None
}

/// Resolves names with the system resolver and drops every address that is
/// not public, unless insecure URLs are allowed.
pub struct GuardedResolver {
    pub allow_insecure: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_insecure = self.allow_insecure;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| allow_insecure || is_public(a.ip()))
                .collect();
            if allowed.is_empty() {
                let reason = match addrs.first() {
                    Some(a) => format!("{host} resolves to {}, a private or local address", a.ip()),
                    None => format!("{host} has no address"),
                };
                return Err(Box::new(Refused(reason)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_local_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "140.82.112.3", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn user_urls_must_be_https_and_public() {
        assert!(check_user_url("https://acme.okta.com", false, "domain").is_ok());
        let err = |raw: &str| check_user_url(raw, false, "f").unwrap_err().to_string();
        assert!(err("http://acme.okta.com").contains("https://"));
        assert!(err("https://127.0.0.1/scim").contains("private or local"));
        assert!(err("https://[::1]/scim").contains("private or local"));
        assert!(err("https://169.254.169.254/latest").contains("private or local"));
        assert!(err("https://user:pw@example.com/").contains("own fields"));
        assert!(err("not a url").contains("full URL"));
        assert!(check_user_url("http://127.0.0.1:8080/scim", true, "f").is_ok());
    }

    #[tokio::test]
    async fn names_resolving_to_local_addresses_are_refused() {
        let guarded = GuardedResolver {
            allow_insecure: false,
        };
        let err = guarded
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost is refused");
        assert!(refusal_in(err.as_ref())
            .unwrap()
            .contains("private or local"));
        let open = GuardedResolver {
            allow_insecure: true,
        };
        assert!(open.resolve("localhost".parse().unwrap()).await.is_ok());
    }
}
