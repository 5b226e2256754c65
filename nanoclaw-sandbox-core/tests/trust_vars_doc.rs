//! docs/sandbox.md's variable table says what `TRUST_VARS` does.

use nanoclaw_sandbox_core::trust::TRUST_VARS;

#[test]
fn the_docs_table_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/sandbox.md");
    let docs = std::fs::read_to_string(path).unwrap();
    let rows: Vec<&str> = docs
        .lines()
        .filter(|l| l.starts_with("| `") && l.contains("/etc/nanoclaw/ca/"))
        .collect();
    assert_eq!(rows.len(), TRUST_VARS.len(), "{rows:#?}");
    for (row, var) in rows.iter().zip(TRUST_VARS) {
        let expected = format!(
            "| `{}` | {} | `{}` | {} |",
            var.name,
            var.kind,
            var.container_value(),
            var.read_by
        );
        assert_eq!(*row, expected);
    }
}
