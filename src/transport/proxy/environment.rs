//! The proxy the environment names, read as curl reads it: `all_proxy` (or
//! `ALL_PROXY`) is the proxy, a value without a scheme meaning `http://`;
//! `no_proxy` (or `NO_PROXY`) lists hosts reached directly. Only read when
//! the caller asks (`proxy_from_environment`).

use std::net::IpAddr;

use super::Proxy;
use crate::error::{Error, Result};

/// The proxy for `host` from the environment; `None`: connect directly.
pub(crate) fn from_environment(host: &str) -> Result<Option<Proxy>> {
    proxy_for(host, &|name| std::env::var(name).ok())
}

fn proxy_for(host: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Proxy>> {
    let first_set = |names: [&'static str; 2]| {
        names.into_iter().find_map(|n| env(n).filter(|v| !v.trim().is_empty()).map(|v| (n, v)))
    };
    let Some((variable, value)) = first_set(["all_proxy", "ALL_PROXY"]) else { return Ok(None) };
    if let Some((_, list)) = first_set(["no_proxy", "NO_PROXY"])
        && bypasses(&list, host)
    {
        return Ok(None);
    }
    let value = value.trim();
    let url = if value.contains("://") { value.to_string() } else { format!("http://{value}") };
    // The message names the variable, never its value (it may hold a
    // password).
    Proxy::parse(&url).map(Some).map_err(|e| match e {
        Error::InvalidArgument(why) => Error::InvalidArgument(format!("{variable} from the environment: {why}")),
        e => e,
    })
}

/// Whether `no_proxy`'s list names `host`: `*` names every host; a name
/// names itself and its subdomains (a leading dot changes nothing); an
/// address or CIDR range names the addresses in it.
fn bypasses(list: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host_ip = host.parse::<IpAddr>().ok();
    list.split([',', ' ']).map(str::trim).filter(|e| !e.is_empty()).any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = entry.trim_start_matches('.').trim_end_matches('.').to_ascii_lowercase();
        let entry = entry.trim_start_matches('[').replace(']', "");
        if let Some(ip) = host_ip {
            return in_range(ip, &entry);
        }
        host == entry || host.ends_with(&format!(".{entry}"))
    })
}

fn in_range(ip: IpAddr, entry: &str) -> bool {
    let (addr, bits) = match entry.split_once('/') {
        Some((a, b)) => (a, b.parse::<u32>().ok()),
        None => (entry, None),
    };
    let Ok(net) = addr.parse::<IpAddr>() else { return false };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => prefix_matches(u32::from(a).into(), u32::from(n).into(), bits, 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => prefix_matches(u128::from(a), u128::from(n), bits, 128),
        _ => false,
    }
}

fn prefix_matches(a: u128, n: u128, bits: Option<u32>, width: u32) -> bool {
    let bits = bits.unwrap_or(width).min(width);
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    (a >> shift) == (n >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::proxy::ProxyKind;

    fn with(vars: &[(&str, &str)], host: &str) -> Result<Option<Proxy>> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        proxy_for(host, &move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn all_proxy_is_read_lower_case_first_and_defaults_to_http() {
        assert_eq!(with(&[], "mail.example").unwrap(), None);
        let p = with(&[("ALL_PROXY", "socks5h://127.0.0.1:1080")], "mail.example").unwrap().unwrap();
        assert_eq!((p.kind(), p.port()), (ProxyKind::Socks5, 1080));
        let p = with(&[("all_proxy", "proxy:3128"), ("ALL_PROXY", "socks5h://x")], "m").unwrap().unwrap();
        assert_eq!((p.kind(), p.host(), p.port()), (ProxyKind::Http, "proxy", 3128));
        assert_eq!(with(&[("all_proxy", " ")], "m").unwrap(), None);
    }

    #[test]
    fn no_proxy_names_hosts_domains_and_ranges() {
        let all = [("all_proxy", "socks5h://127.0.0.1:1080")];
        let direct = |list: &str, host: &str| {
            let vars = [all[0], ("NO_PROXY", list)];
            with(&vars, host).unwrap().is_none()
        };
        assert!(direct("*", "mail.example"));
        assert!(direct("example.org, .example.com", "mail.example.com"));
        assert!(direct("example.org", "EXAMPLE.org."));
        assert!(!direct("example.org", "badexample.org"));
        assert!(direct("localhost,10.0.0.0/8", "10.1.2.3"));
        assert!(!direct("10.0.0.0/8", "11.1.2.3"));
        assert!(direct("[::1]", "::1"));
        assert!(!direct("mail.example", "127.0.0.1"));
    }

    #[test]
    fn a_bad_value_names_the_variable_not_its_secret() {
        let err = with(&[("ALL_PROXY", "gopher://user:hunter2@h")], "m").unwrap_err().to_string();
        assert!(err.contains("ALL_PROXY from the environment") && !err.contains("hunter2"), "{err}");
    }
}
