//! What `NO_PROXY` holds inside containers and builds.

/// Always exempt from the proxy: a container's own loopback. The proxy
/// cannot reach it, so without these, calls to local services fail.
pub const LOOPBACK_NO_PROXY: &[&str] = &["localhost", "127.0.0.1", "::1"];

/// `base` (comma-separated rules) extended with [`LOOPBACK_NO_PROXY`] and
/// `host_names`, each rule once (compared without case), order kept.
/// Extending its own output changes nothing.
pub(crate) fn extend_no_proxy(base: &str, host_names: &[String]) -> String {
    let mut rules: Vec<&str> = Vec::new();
    let extra = LOOPBACK_NO_PROXY
        .iter()
        .copied()
        .chain(host_names.iter().map(String::as_str));
    for rule in base.split(',').map(str::trim).chain(extra) {
        if !rule.is_empty() && !rules.iter().any(|r| r.eq_ignore_ascii_case(rule)) {
            rules.push(rule);
        }
    }
    rules.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_host_names_are_added_once() {
        let hosts = vec!["myhost".to_string(), "LOCALHOST".to_string()];
        let once = extend_no_proxy(" .corp, localhost,,myhost ", &hosts);
        assert_eq!(once, ".corp,localhost,myhost,127.0.0.1,::1");
        assert_eq!(extend_no_proxy(&once, &hosts), once);
    }

    #[test]
    fn an_empty_base_gets_the_loopback_names() {
        assert_eq!(extend_no_proxy("", &[]), "localhost,127.0.0.1,::1");
    }
}
