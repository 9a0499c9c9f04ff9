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
    let [a, b, c, _] = ip.octets();
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
        // IETF protocol assignments 192.0.0.0/24, and the 6to4 relay 192.88.99.0/24.
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 88 && c == 99)
        // Benchmarking, 198.18.0.0/15, and reserved, 240.0.0.0/4.
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

/// IPv6 outside the public unicast space, or a form of it that reaches IPv4
/// through a translator or tunnel (whose IPv4 end the guard cannot see).
fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // 6to4, 2002::/16: it reaches the IPv4 address in its bits 16 to 48.
    if s[0] == 0x2002 {
        let [a, b] = s[1].to_be_bytes();
        let [c, d] = s[2].to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_multicast()
        // ::/96: unspecified, loopback, and IPv4-compatible ::a.b.c.d.
        || s[..6] == [0; 6]
        // IPv4-translated ::ffff:0:a.b.c.d (the mapped ::ffff:a.b.c.d is read as IPv4 before).
        || (s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0)
        // NAT64: the well-known 64:ff9b::/96 and the local-use 64:ff9b:1::/48.
        || (s[0] == 0x64 && s[1] == 0xff9b)
        // Discard-only 100::/64.
        || (s[0] == 0x100 && s[1..4] == [0; 3])
        // Teredo 2001::/32, benchmarking 2001:2::/48, documentation 2001:db8::/32 and 3fff::/20.
        || (s[0] == 0x2001 && (s[1] == 0 || (s[1] == 2 && s[2] == 0) || s[1] == 0x0db8))
        || (s[0] == 0x3fff && s[1] < 0x1000)
        // Unique local fc00::/7, link-local fe80::/10, site-local fec0::/10.
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0)
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
            match allowed(&host, addrs, allow_insecure) {
                Ok(allowed) => Ok(Box::new(allowed.into_iter()) as Addrs),
                Err(reason) => {
                    Err(Box::new(Refused(reason)) as Box<dyn std::error::Error + Send + Sync>)
                }
            }
        })
    }
}

/// The addresses of `host` that may be connected to, or why none may (never
/// saying which address a name resolved to: that would map the network).
fn allowed(
    host: &str,
    addrs: Vec<SocketAddr>,
    allow_insecure: bool,
) -> Result<Vec<SocketAddr>, String> {
    if addrs.is_empty() {
        return Err(format!("{host} has no address"));
    }
    let allowed: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| allow_insecure || is_public(a.ip()))
        .collect();
    if allowed.is_empty() {
        return Err(format!(
            "{host} resolves to a private or local address; Muster only connects to public addresses"
        ));
    }
    Ok(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
            any::<[u16; 8]>().prop_map(|s| IpAddr::V6(Ipv6Addr::from(s))),
            // IPv6 forms that carry an IPv4 address, around the edges that matter.
            (
                any::<[u8; 4]>(),
                prop::sample::select(vec![0u16, 0xffff, 0x64, 0x2002])
            )
                .prop_map(|(o, form)| {
                    let v4 = u32::from(Ipv4Addr::from(o));
                    let (hi, lo) = ((v4 >> 16) as u16, v4 as u16);
                    IpAddr::V6(match form {
                        0x64 => Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, hi, lo),
                        0x2002 => Ipv6Addr::new(0x2002, hi, lo, 0, 0, 0, 0, 1),
                        f => Ipv6Addr::new(0, 0, 0, 0, 0, f, hi, lo),
                    })
                }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Whatever a name resolves to, only public addresses are kept, and a
        /// refusal names no address.
        #[test]
        fn any_resolution_keeps_only_public_addresses(
            ips in prop::collection::vec(any_ip(), 0..6),
        ) {
            let addrs: Vec<SocketAddr> = ips.iter().map(|ip| SocketAddr::new(*ip, 443)).collect();
            match allowed("host.example", addrs.clone(), false) {
                Ok(kept) => {
                    prop_assert!(!kept.is_empty());
                    prop_assert!(kept.iter().all(|a| is_public(a.ip())));
                    prop_assert_eq!(kept.len(), ips.iter().filter(|ip| is_public(**ip)).count());
                }
                Err(reason) => {
                    prop_assert!(ips.iter().all(|ip| !is_public(*ip)));
                    for ip in &ips {
                        prop_assert!(!reason.contains(&ip.to_string()), "{}", reason);
                    }
                }
            }
            prop_assert_eq!(allowed("h", addrs.clone(), true).map(|a| a.len()).unwrap_or(0), addrs.len());
        }

        /// An IPv4 address is as public in any IPv6 form that reaches it as it is itself.
        #[test]
        fn ipv4_in_ipv6_clothing_is_no_more_public(o in any::<[u8; 4]>()) {
            let v4 = Ipv4Addr::from(o);
            prop_assert_eq!(is_public(IpAddr::V6(v4.to_ipv6_mapped())), is_public(IpAddr::V4(v4)));
            let [a, b, c, d] = o;
            let six_to_four = Ipv6Addr::new(0x2002, u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]), 0, 0, 0, 0, 1);
            prop_assert_eq!(is_public(IpAddr::V6(six_to_four)), is_public(IpAddr::V4(v4)));
            prop_assert!(!is_public(IpAddr::V6(v4.to_ipv6_compatible())));
        }

        /// Any text typed as a URL is either refused with a message or is an
        /// https URL to a host that is not a refused address.
        #[test]
        fn any_typed_url_is_refused_or_safe(raw in prop_oneof![
            any::<String>(),
            "https?://[a-z0-9.:@\\[\\]%-]{0,30}(/[a-z]{0,5})?",
        ]) {
            match check_user_url(&raw, false, "f") {
                Ok(url) => {
                    prop_assert_eq!(url.scheme(), "https");
                    prop_assert!(url.username().is_empty() && url.password().is_none());
                    match url.host() {
                        Some(Host::Ipv4(ip)) => prop_assert!(is_public(IpAddr::V4(ip))),
                        Some(Host::Ipv6(ip)) => prop_assert!(is_public(IpAddr::V6(ip))),
                        Some(Host::Domain(_)) => {}
                        None => prop_assert!(false, "no host: {}", raw),
                    }
                }
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }
    }

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
            "192.0.0.8",
            "192.88.99.1",
            // NAT64, well-known and local-use, even to a public IPv4 address.
            "64:ff9b::8.8.8.8",
            "64:ff9b::127.0.0.1",
            "64:ff9b:1::a00:1",
            // IPv4-compatible and IPv4-translated.
            "::127.0.0.1",
            "::8.8.8.8",
            "::ffff:0:10.0.0.1",
            // 6to4 of a private or loopback address.
            "2002:7f00:1::",
            "2002:a00:1::1",
            "2002:c0a8:101::",
            // Teredo, site-local, unique local, multicast, discard, documentation.
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "fec0::1",
            "feff::1",
            "fc00::1",
            "fdff:ffff::1",
            "ff02::1",
            "ff0e::1",
            "100::1",
            "2001:db8::1",
            "3fff::1",
            "2001:2::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "140.82.112.3",
            "2606:4700::1111",
            "2a00:1450:4009:81f::200e",
            // 6to4 of a public address reaches that address.
            "2002:808:808::1",
            "2001:4860::8888",
            "3fff:1000::1",
        ] {
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
        let reason = refusal_in(err.as_ref()).unwrap();
        assert!(reason.contains("private or local"), "{reason}");
        // Which address it resolved to is not said: that would map the network.
        assert!(
            !reason.contains("127.0.0.1") && !reason.contains("::1"),
            "{reason}"
        );
        let open = GuardedResolver {
            allow_insecure: true,
        };
        assert!(open.resolve("localhost".parse().unwrap()).await.is_ok());
    }
}
