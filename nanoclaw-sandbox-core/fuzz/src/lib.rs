//! The bodies of the fuzz targets, in one place: each `fuzz_targets/*.rs`
//! calls one of these, and the core's `tests/fuzz_corpus.rs` (which
//! includes this file as a module, so it runs on stable with no fuzzing
//! engine) feeds every committed corpus file to the same function.
//!
//! Each function takes arbitrary bytes, must never panic, and asserts the
//! target's property (a round trip, an error that names its input); a
//! failed assertion is a crash the fuzzer reports. Only the library's
//! public API is used.

use std::path::Path;

use nanoclaw_sandbox_core::agent::protocol::{AgentLine, HostLine, LineSplitter};
use nanoclaw_sandbox_core::dockerfile::{patch_dockerfile, DockerIgnore};
use nanoclaw_sandbox_core::proxy::{NoProxyRules, ProxyUrl, Target};
use nanoclaw_sandbox_core::trust::TrustStore;

/// A target's body: arbitrary bytes in, a panic for a failed property.
pub type Body = fn(&[u8]);

/// The targets by name: the `fuzz_targets/NAME.rs` files and the
/// `corpus/NAME/` folders.
pub const TARGETS: &[(&str, Body)] = &[
    ("proxy_url", proxy_url),
    ("pem", pem),
    ("dockerfile", dockerfile),
    ("dockerignore", dockerignore),
    ("connect_reply", connect_reply),
    ("spec_file", spec_file),
    ("agent_protocol", agent_protocol),
];

/// The input as text, lossily (the parsers of text take `&str`).
fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// A proxy URL (the first line) and a `NO_PROXY` list (the rest): a parsed
/// URL keeps its parts through `with_host` and hides its password in
/// `Display`; an error names the URL's host or says what is wrong; a rule
/// that matches is one of the list's entries.
pub fn proxy_url(data: &[u8]) {
    let text = text(data);
    let (url, no_proxy) = text.split_once('\n').unwrap_or((&text, ""));
    match ProxyUrl::parse(url) {
        Ok(parsed) => {
            let shown = parsed.to_string();
            // `Display` is the exposed URL with its userinfo (encoded: the
            // first `@` after `://` ends it) replaced by `***`, and nothing else.
            let exposed = parsed.expose();
            if parsed.has_credentials() {
                let start = exposed.find("://").map_or(0, |i| i + 3);
                let userinfo = exposed[start..].split('@').next().unwrap_or_default();
                let expected = format!(
                    "{}***{}",
                    &exposed[..start],
                    &exposed[start + userinfo.len()..]
                );
                assert_eq!(shown, expected, "Display hides the userinfo, and only it");
            }
            let again = ProxyUrl::parse(&exposed).expect("an exposed URL parses again");
            assert_eq!(again.host(), parsed.host());
            assert_eq!(again.port(), parsed.port());
            assert_eq!(again.credentials(), parsed.credentials());
            let _ = parsed.with_host("127.0.0.1");
            let _ = parsed.redacted();
            let _ = parsed.is_loopback();
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    let rules = NoProxyRules::parse(no_proxy);
    for (host, port) in [
        ("example.com", 443),
        ("10.1.2.3", 80),
        ("::1", 3128),
        (url, 1),
    ] {
        if let Some(rule) = rules.matching_rule(host, port) {
            assert!(no_proxy.contains(rule), "{rule:?} is not in {no_proxy:?}");
        }
    }
}

/// A CA bundle: loads or says why not (naming the origin); what loads
/// re-encodes to PEM that loads to the same certificates.
pub fn pem(data: &[u8]) {
    match TrustStore::from_pem(data, "fuzz input") {
        Ok(store) => {
            let again = TrustStore::from_pem(store.to_pem().as_bytes(), "re-encoded")
                .expect("the store's own PEM loads");
            assert_eq!(again.ca_certificates(), store.ca_certificates());
        }
        Err(e) => assert!(e.to_string().contains("fuzz input"), "{e}"),
    }
}

/// A Dockerfile: the patch keeps every original line, in order; the patched
/// text parses again and patching it changes nothing.
pub fn dockerfile(data: &[u8]) {
    let text = text(data);
    let Ok(patch) = patch_dockerfile(&text) else {
        return;
    };
    if !patch.changed() {
        assert_eq!(patch.text, text, "an unchanged patch is the input");
    }
    assert_lines_kept(&text, &patch.text);
    let again = patch_dockerfile(&patch.text).expect("the patched text parses again");
    assert!(!again.changed(), "patching a patched file changes nothing");
    assert_eq!(again.text, patch.text);
}

/// Every line of `original` is in `patched` byte for byte, ending
/// included, in order, with others between; only a last line without an
/// ending may have gained one (`\n` or `\r\n`) there.
pub fn assert_lines_kept(original: &str, patched: &str) {
    let mut patched_lines = patched.split_inclusive('\n');
    for line in original.split_inclusive('\n') {
        let found = patched_lines.any(|p| {
            p == line
                || (!line.ends_with('\n')
                    && (p.strip_suffix('\n') == Some(line) || p.strip_suffix("\r\n") == Some(line)))
        });
        assert!(
            found,
            "line {line:?} of the original is missing from the patched text (or out of order)"
        );
    }
}

/// A `.dockerignore` (the first line is a path to test): matching never
/// panics, an empty file excludes nothing, and `!` on the same pattern last
/// includes again.
pub fn dockerignore(data: &[u8]) {
    let text = text(data);
    let (path, patterns) = text.split_once('\n').unwrap_or(("", &text));
    let ignore = DockerIgnore::parse(patterns);
    let _ = ignore.excludes(path);
    let _ = ignore.excludes("Dockerfile");
    let _ = ignore.excludes("a/b/c");
    assert!(!DockerIgnore::parse("").excludes(path));
    // A plain path (no wildcard, no `.` segment) as a pattern matches itself.
    let pattern = path.trim();
    let plain = pattern
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/'));
    if plain && pattern.split('/').any(|s| !s.is_empty()) {
        let again = DockerIgnore::parse(&format!("{patterns}\n!{pattern}\n"));
        assert!(
            !again.excludes(pattern),
            "`!{pattern}` last includes {pattern:?} again"
        );
    }
}

/// A proxy's reply to `CONNECT`: accepted, or refused with an error that
/// names the proxy (and, for a refusal, the target).
pub fn connect_reply(data: &[u8]) {
    let proxy = ProxyUrl::parse("http://proxy.fuzz:3128").expect("a fixed proxy URL");
    let target = Target::parse("https://target.fuzz/").expect("a fixed target");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime");
    let outcome = runtime.block_on(nanoclaw_sandbox_core::http::read_connect_reply(
        data, &proxy, &target,
    ));
    if let Err(e) = outcome {
        let message = e.to_string();
        assert!(
            message.contains("proxy.fuzz"),
            "the error names the proxy: {message}"
        );
    }
}

/// A container spec file, as TOML, JSON and either: a spec that parses
/// serializes to JSON that parses to the same spec; an error names the file.
pub fn spec_file(data: &[u8]) {
    use nanoclaw_sandbox_core::spec::file;
    let text = text(data);
    for name in ["fuzz.toml", "fuzz.json", "fuzz-spec"] {
        match file::parse(&text, Path::new(name)) {
            Ok(spec) => {
                let json = serde_json::to_string(&spec).expect("a spec serializes");
                let again = file::parse(&json, Path::new("again.json")).expect("its JSON parses");
                assert_eq!(again, spec);
            }
            Err(e) => assert!(
                e.to_string().contains(name),
                "the error names the file: {e}"
            ),
        }
    }
}

/// The agent protocol's byte stream, as the host and the agent read it: the
/// splitter keeps every byte that is not a newline (or reports an overlong
/// line), and each line parses or is refused; a parsed line written back
/// parses to the same.
pub fn agent_protocol(data: &[u8]) {
    let mut splitter = LineSplitter::new();
    // Two chunks, split where the input says, as reads deliver them.
    let cut = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let mut lines = splitter.push(&data[..cut]);
    lines.extend(splitter.push(&data[cut..]));
    lines.extend(splitter.finish());
    let mut kept = 0;
    for line in lines {
        let Ok(line) = line else { continue };
        kept += line.len();
        if let Ok(parsed) = AgentLine::parse(&line) {
            let written = parsed.to_line();
            let again = AgentLine::parse(written.trim_end_matches('\n').as_bytes())
                .expect("a written agent line parses");
            assert_eq!(again, parsed);
        }
        if let Ok(parsed) = HostLine::parse(&line) {
            let written = parsed.to_line();
            let again = HostLine::parse(written.trim_end_matches('\n').as_bytes())
                .expect("a written host line parses");
            assert_eq!(again, parsed);
        }
    }
    assert!(kept <= data.len());
}
