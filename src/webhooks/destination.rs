//! Where webhooks may go. A storefront chooses its endpoint URL, so without a check anyone with an
//! API key could make paydesk POST to the operator's own network (a database's HTTP port, a cloud
//! metadata service) and read the outcome in the delivery log. Once paydesk talks to Innopay, only
//! public addresses are allowed: IP literals are refused when the endpoint is set, and host names
//! are resolved by `PublicOnly`, which drops every address that is not public, at every attempt (a
//! name can point somewhere else tomorrow). `PAYDESK_WEBHOOK_PRIVATE_NETWORKS` decides; its default
//! allows private addresses only while paydesk talks to the built-in sandbox, where the receiver is
//! usually on the developer's machine.
//!
//! Not covered: an HTTP proxy configured in the environment resolves names itself, so with one the
//! check applies to IP literals only.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is reachable on the public internet: not loopback, private, link-local, shared
/// (carrier-grade NAT), unspecified, broadcast, multicast, documentation or otherwise reserved.
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
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space, RFC 6598
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64, which maps to IPv4 inside
}

/// Why an endpoint URL's host may not receive webhooks, if it may not: only IP literals can be
/// judged without resolving.
pub fn refused_literal(url: &url::Url) -> Option<IpAddr> {
    let ip = match url.host()? {
        url::Host::Ipv4(v4) => IpAddr::V4(v4),
        url::Host::Ipv6(v6) => IpAddr::V6(v6),
        url::Host::Domain(_) => return None,
    };
    (!is_public(ip)).then_some(ip)
}

/// An HTTP client builder for requests to addresses someone else chose (webhook endpoints, the
/// sandbox's Noti URLs): never follows a redirect (it would send the request where no check looked),
/// and with `private_networks` off resolves names to public addresses only, directly: a proxy from
/// the environment would be resolved instead of the destination and let any address through.
pub(crate) fn outbound_client(private_networks: bool) -> reqwest::ClientBuilder {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    if private_networks {
        http
    } else {
        http.no_proxy()
            .dns_resolver(std::sync::Arc::new(PublicOnly))
    }
}

/// The webhook client's resolver when private networks are refused: the system's answer without
/// the addresses that are not public, or an error naming the host when none is left.
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> =
                all.iter().copied().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!(
                    "{host} resolves to no public address ({}); webhooks only go to public \
                     addresses (PAYDESK_WEBHOOK_PRIVATE_NETWORKS)",
                    all.iter()
                        .map(|a| a.ip().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
                .into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.10",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "211.45.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn ip_literals_are_judged_without_resolving() {
        let refused = |u: &str| refused_literal(&url::Url::parse(u).unwrap());
        assert!(refused("http://127.0.0.1:9/hooks").is_some());
        assert!(refused("http://[::1]/hooks").is_some());
        assert!(refused("https://169.254.169.254/latest/meta-data").is_some());
        assert!(refused("https://8.8.8.8/hooks").is_none());
        assert!(refused("https://shop.example/hooks").is_none());
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_of_private_addresses_only() {
        let err = match PublicOnly.resolve("localhost".parse().unwrap()).await {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains("localhost resolves to no public address"),
            "{err}"
        );
    }
}
