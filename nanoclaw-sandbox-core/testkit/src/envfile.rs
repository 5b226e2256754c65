//! Env files: `NAME=VALUE` lines, as the stand-in writes them (`proxy
//! --env-file`) and as `doctor --env-file`, `host --env-file` and a
//! sandbox's environment read them. Lines without `=` (blank ones) are
//! skipped; the value is everything after the first `=`, as written.

use std::collections::BTreeMap;
use std::path::Path;

/// The variables of env-file text, by name (a later line wins).
pub fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

/// The variables of the env file at `path`; panics (naming the path) when
/// it cannot be read.
pub fn read(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading the env file {}: {e}", path.display()));
    parse(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_their_equals_signs_and_blank_lines_are_skipped() {
        let vars = parse("HTTPS_PROXY=http://127.0.0.1:3128\n\nPROXY_CA_CERT_B64=YQ==\n");
        assert_eq!(vars.len(), 2);
        assert_eq!(vars["HTTPS_PROXY"], "http://127.0.0.1:3128");
        assert_eq!(vars["PROXY_CA_CERT_B64"], "YQ==");
    }
}
