//! docs/troubleshooting.md lists every doctor check, in order, and maps
//! symptoms only to checks that exist.

use nanoclaw_sandbox_core::doctor::CheckId;

fn all_ids() -> Vec<&'static str> {
    CheckId::ALL.iter().map(|id| id.as_str()).collect()
}

fn docs() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/troubleshooting.md");
    std::fs::read_to_string(path).unwrap()
}

fn section<'a>(docs: &'a str, heading: &str) -> &'a str {
    let start = docs
        .find(heading)
        .unwrap_or_else(|| panic!("{heading} missing"));
    let rest = &docs[start + heading.len()..];
    rest.find("\n## ").map_or(rest, |end| &rest[..end])
}

#[test]
fn the_checks_table_lists_every_id_in_order() {
    let docs = docs();
    let rows: Vec<&str> = section(&docs, "## The checks")
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    assert_eq!(rows, all_ids());
}

#[test]
fn every_check_catches_a_symptom_and_every_named_check_exists() {
    let docs = docs();
    let symptoms = section(&docs, "## Symptoms");
    for id in all_ids() {
        assert!(
            symptoms.contains(&format!("`{id}`")),
            "no symptom names `{id}`"
        );
    }
    for line in symptoms.lines().filter(|l| l.contains("**Check")) {
        let named = line.split('`').skip(1).step_by(2);
        for token in named.filter(|t| t.chars().all(|c| c.is_ascii_lowercase() || c == '-')) {
            assert!(
                all_ids().contains(&token),
                "`{token}` is not a check: {line}"
            );
        }
    }
}
