//! One home per word: the proxy variables' names, the proxy CA's variable
//! and files, the policy page's marker and the trust variables detection
//! reads are each spelled in one source file, and everything else derives
//! from it (docs/architecture.md, "One home per word").
//!
//! This test reads the non-test sources (`nanoclaw-sandbox-core/src`,
//! `nanoclaw-cli/src`, `examples`, `benches`) and fails, naming file and
//! line, on a string literal that spells one of these words outside its
//! home. Test code is left out: `#[cfg(test)]` items (the `mod tests { .. }`
//! blocks, test helpers) and files under `#![cfg(test)]`, found on the code
//! alone (braces in strings, comments and char literals do not count).
//! Comments are left out too; prose in them may name the words.
//!
//! Controls: the scanner is run on sources held here, with a second spelling
//! it must report and test code it must ignore; and every word must be found
//! in its home, so an empty or broken scan cannot pass.

use std::path::{Path, PathBuf};

/// The file that owns the proxy's shared words.
const PROXY_VARS_HOME: &str = "nanoclaw-sandbox-core/src/proxy/vars.rs";
/// The file that owns the trust variables.
const TRUST_VARS_HOME: &str = "nanoclaw-sandbox-core/src/trust/vars.rs";
/// The file that owns the host's CA bundle paths.
const ROOTS_HOME: &str = "nanoclaw-sandbox-core/src/trust/roots.rs";

/// How a literal spells a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Match {
    /// The literal is the word: names, which prose may also mention
    /// (`"NO_PROXY rule ..."` is a message, not a second spelling).
    Whole,
    /// The literal contains the word: texts and paths, which are embedded
    /// in messages.
    Within,
}

/// A word and the one file allowed to spell it.
#[derive(Debug, Clone, Copy)]
struct Word {
    text: &'static str,
    how: Match,
    home: &'static str,
}

const fn word(text: &'static str, how: Match, home: &'static str) -> Word {
    Word { text, how, home }
}

const WORDS: &[Word] = &[
    word("HTTPS_PROXY", Match::Whole, PROXY_VARS_HOME),
    word("https_proxy", Match::Whole, PROXY_VARS_HOME),
    word("HTTP_PROXY", Match::Whole, PROXY_VARS_HOME),
    word("http_proxy", Match::Whole, PROXY_VARS_HOME),
    word("NO_PROXY", Match::Whole, PROXY_VARS_HOME),
    word("no_proxy", Match::Whole, PROXY_VARS_HOME),
    word("ALL_PROXY", Match::Whole, PROXY_VARS_HOME),
    word("all_proxy", Match::Whole, PROXY_VARS_HOME),
    word("FTP_PROXY", Match::Whole, PROXY_VARS_HOME),
    word("ftp_proxy", Match::Whole, PROXY_VARS_HOME),
    word("PROXY_CA_CERT_B64", Match::Within, PROXY_VARS_HOME),
    word("Blocked by network policy", Match::Within, PROXY_VARS_HOME),
    word(
        "/usr/local/share/ca-certificates/proxy-ca.crt",
        Match::Within,
        PROXY_VARS_HOME,
    ),
    word(
        "/usr/local/share/ca-certificates/nanoclaw-proxy-ca.crt",
        Match::Within,
        PROXY_VARS_HOME,
    ),
    word("NODE_EXTRA_CA_CERTS", Match::Whole, TRUST_VARS_HOME),
    word("SSL_CERT_FILE", Match::Whole, TRUST_VARS_HOME),
    word(
        "/etc/ssl/certs/ca-certificates.crt",
        Match::Whole,
        ROOTS_HOME,
    ),
];

/// Literals that spell a word but are not a second spelling of it, each
/// with the reason: `(file, word, why)`. Each must still be found, so the
/// list cannot outlive its reasons.
const EXCEPTIONS: &[(&str, &str, &str)] = &[(
    "nanoclaw-sandbox-core/src/proxy/env.rs",
    "no_proxy",
    "the name of the struct's `no_proxy` field in its hand-written Debug, as a derived \
         Debug would print it",
)];

/// The folders scanned, relative to the workspace root.
const ROOTS: &[&str] = &[
    "nanoclaw-sandbox-core/src",
    "nanoclaw-cli/src",
    "examples",
    "benches",
];

/// A string literal: the line it starts on and its text (escapes decoded
/// as far as matching needs, line continuations joined).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Literal {
    line: usize,
    text: String,
}

/// A word spelled outside its home.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Finding {
    path: String,
    line: usize,
    word: &'static str,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let home = WORDS
            .iter()
            .find(|w| w.text == self.word)
            .map_or("?", |w| w.home);
        write!(
            f,
            "{}:{}: {:?} is spelled here; its home is {home}: use the constant from there",
            self.path, self.line, self.word
        )
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate lives in the workspace")
        .to_path_buf()
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
    out
}

/// A source file read as far as this test needs: its code with every string
/// literal replaced by one `"` and with comments and char literals left out
/// (line breaks kept, so lines still count), and the literals in order (the
/// `n`th `"` of `code` is `literals[n]`).
struct Lexed {
    code: Vec<char>,
    literals: Vec<Literal>,
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Reads `source`: string literals (normal, byte, C and raw ones, escapes
/// decoded as far as matching needs, line continuations joined), comments
/// (line, nested block), char literals and lifetimes told apart from quotes.
fn lex(source: &str) -> Lexed {
    let chars: Vec<char> = source.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let mut code = Vec::with_capacity(chars.len());
    let mut literals = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        line += 1;
                        code.push('\n');
                    }
                    i += 1;
                }
            }
        } else if c == '\'' {
            // A char literal ('x', '\n', '\'', '"', '{') or a lifetime ('a).
            if at(i + 1) == '\\' {
                i += 3;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
            }
        } else if is_ident_char(c) && i > 0 && is_ident_char(chars[i - 1]) {
            code.push(c);
            i += 1;
        } else if let Some((raw_hashes, quote)) = string_start(&chars, i) {
            let start_line = line;
            let mut text = String::new();
            i = quote + 1;
            match raw_hashes {
                Some(hashes) => {
                    let closing = |j: usize| at(j) == '"' && (1..=hashes).all(|k| at(j + k) == '#');
                    while i < chars.len() && !closing(i) {
                        if chars[i] == '\n' {
                            line += 1;
                        }
                        text.push(chars[i]);
                        i += 1;
                    }
                    i += 1 + hashes;
                }
                None => {
                    while i < chars.len() && chars[i] != '"' {
                        if chars[i] == '\\' {
                            i += 1;
                            match at(i) {
                                '\n' => {
                                    // A line continuation: the break and the
                                    // next line's indentation are not text.
                                    while at(i).is_whitespace() {
                                        if chars[i] == '\n' {
                                            line += 1;
                                        }
                                        i += 1;
                                    }
                                    continue;
                                }
                                'n' => text.push('\n'),
                                't' => text.push('\t'),
                                other => text.push(other),
                            }
                            i += 1;
                            continue;
                        }
                        if chars[i] == '\n' {
                            line += 1;
                        }
                        text.push(chars[i]);
                        i += 1;
                    }
                    i += 1;
                }
            }
            code.push('"');
            code.extend(std::iter::repeat_n('\n', line - start_line));
            literals.push(Literal {
                line: start_line,
                text,
            });
        } else {
            if c == '\n' {
                line += 1;
            }
            code.push(c);
            i += 1;
        }
    }
    Lexed { code, literals }
}

/// Which of the literals are test code: all of them in a file under
/// `#![cfg(test)]`, else those inside an item under `#[cfg(test)]` (further
/// attributes, then the item up to its `;` or its closing `}`, counted on
/// the code alone, so braces in strings, comments and char literals do not
/// count). An item that never ends is an error, never skipped.
fn test_literals(lexed: &Lexed) -> Result<Vec<bool>, String> {
    let code = &lexed.code;
    let mut in_test = vec![false; lexed.literals.len()];
    let starts_with = |i: usize, text: &str| {
        text.chars()
            .enumerate()
            .all(|(k, c)| code.get(i + k) == Some(&c))
    };
    if (0..code.len()).any(|i| starts_with(i, "#![cfg(test)]")) {
        return Ok(vec![true; lexed.literals.len()]);
    }
    const ATTRIBUTE: &str = "#[cfg(test)]";
    let mut literal = 0;
    let mut i = 0;
    while i < code.len() {
        if !starts_with(i, ATTRIBUTE) {
            literal += usize::from(code[i] == '"');
            i += 1;
            continue;
        }
        let line = 1 + code[..i].iter().filter(|&&c| c == '\n').count();
        let never_ends = || format!("the #[cfg(test)] item at line {line} never ends");
        let mut j = i + ATTRIBUTE.chars().count();
        // Further attributes.
        loop {
            while code.get(j).is_some_and(|c| c.is_whitespace()) {
                j += 1;
            }
            if !starts_with(j, "#[") {
                break;
            }
            let mut depth = 0;
            loop {
                match code.get(j) {
                    None => return Err(never_ends()),
                    Some('[') => depth += 1,
                    Some(']') => {
                        depth -= 1;
                        if depth == 0 {
                            j += 1;
                            break;
                        }
                    }
                    Some(_) => {}
                }
                j += 1;
            }
        }
        // The item.
        let mut depth = 0i32;
        let end = loop {
            match code.get(j) {
                None => return Err(never_ends()),
                Some('(' | '[' | '{') => depth += 1,
                Some(')' | ']') => depth -= 1,
                Some('}') => {
                    depth -= 1;
                    if depth == 0 {
                        break j + 1;
                    }
                }
                Some(';') if depth == 0 => break j + 1,
                Some(_) => {}
            }
            j += 1;
        };
        for c in &code[i..end] {
            if *c == '"' {
                in_test[literal] = true;
                literal += 1;
            }
        }
        i = end;
    }
    Ok(in_test)
}

/// The literals of `source` outside test code.
fn non_test_literals(source: &str) -> Result<Vec<Literal>, String> {
    let lexed = lex(source);
    let in_test = test_literals(&lexed)?;
    Ok(lexed
        .literals
        .into_iter()
        .zip(in_test)
        .filter(|(_, test)| !test)
        .map(|(literal, _)| literal)
        .collect())
}

/// Whether a string literal starts at `i`: `"`, `b"`, `c"`, `r"`, `br#"`,
/// `cr##"`, ... Gives the raw string's number of `#` (`None` when not raw)
/// and the index of the opening quote.
fn string_start(chars: &[char], i: usize) -> Option<(Option<usize>, usize)> {
    let mut j = i;
    if matches!(chars.get(j), Some('b' | 'c')) {
        j += 1;
    }
    let raw = chars.get(j) == Some(&'r');
    if raw {
        j += 1;
    }
    let mut hashes = 0;
    while raw && chars.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (chars.get(j) == Some(&'"')).then_some((raw.then_some(hashes), j))
}

fn spells(literal: &str, word: &Word) -> bool {
    match word.how {
        Match::Whole => literal == word.text,
        Match::Within => literal.contains(word.text),
    }
}

/// The words `source` (the file at `path`) spells outside their homes.
fn scan(path: &str, source: &str) -> Result<Vec<Finding>, String> {
    let mut findings = Vec::new();
    for literal in non_test_literals(source).map_err(|e| format!("{path}: {e}"))? {
        for word in WORDS.iter().filter(|w| w.home != path) {
            if spells(&literal.text, word) {
                findings.push(Finding {
                    path: path.to_string(),
                    line: literal.line,
                    word: word.text,
                });
            }
        }
    }
    Ok(findings)
}

/// Every scanned file: its path relative to the workspace root, and its text.
fn sources() -> Vec<(String, String)> {
    let root = workspace_root();
    let mut out = Vec::new();
    for dir in ROOTS {
        let files = rust_files(&root.join(dir));
        assert!(!files.is_empty(), "no .rs file under {dir}");
        for path in files {
            let relative = path
                .strip_prefix(&root)
                .expect("under the root")
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            out.push((relative, text));
        }
    }
    out
}

#[test]
fn no_word_is_spelled_outside_its_home() {
    let sources = sources();
    assert!(sources.len() > 100, "only {} files found", sources.len());
    let mut findings = Vec::new();
    for (path, text) in &sources {
        findings.extend(scan(path, text).unwrap_or_else(|e| panic!("{e}")));
    }
    let excepted = |f: &Finding| {
        EXCEPTIONS
            .iter()
            .any(|(path, word, _)| f.path == *path && f.word == *word)
    };
    for (path, word, why) in EXCEPTIONS {
        assert!(
            findings.iter().any(|f| f.path == *path && f.word == *word),
            "the exception for {word:?} in {path} ({why}) is no longer needed: remove it"
        );
    }
    let report: Vec<String> = findings
        .iter()
        .filter(|f| !excepted(f))
        .map(ToString::to_string)
        .collect();
    assert!(
        report.is_empty(),
        "second spellings:\n{}",
        report.join("\n")
    );
}

#[test]
fn every_word_is_spelled_in_its_home() {
    let sources = sources();
    for word in WORDS {
        let (_, text) = sources
            .iter()
            .find(|(path, _)| path == word.home)
            .unwrap_or_else(|| panic!("{} is not among the scanned files", word.home));
        let literals = non_test_literals(text).expect("the home's test code ends");
        assert!(
            literals.iter().any(|l| spells(&l.text, word)),
            "{:?} is not spelled in its home {} (outside its tests)",
            word.text,
            word.home
        );
    }
}

/// The control: a file that is not a home, with one second spelling of each
/// kind the scanner must see, and look-alikes it must not report.
const CONTROL: &str = r####"//! "HTTPS_PROXY" in a doc comment is prose.
use std::env;

/// A lifetime and char literals do not open a string or a block.
fn proxy<'a>(quote: char) -> &'a str {
    let url = "http://host:3128"; let name = "NO_PROXY"; // "no_proxy" here is a comment
    /* "ALL_PROXY" in a block comment */
    let raw = r#"PROXY_CA_CERT_B64="#;
    let joined = "answered \"Blocked by network \
                  policy\"";
    let prose = "HTTPS_PROXY names the proxy";
    let byte = b"/usr/local/share/ca-certificates/proxy-ca.crt";
    if quote == '"' || quote == '{' || quote == '\'' { name } else { url }
}

#[cfg(test)]
mod tests {
    const TEXT: &str = r#"
}
"SSL_CERT_FILE" }
"#;

    #[test]
    fn inside_the_tests() {
        assert_eq!(super::proxy('}'), "http_proxy");
    }
}

#[cfg(test)]
#[allow(dead_code)]
pub(crate) fn helper() -> [&'static str; 1] {
    ["FTP_PROXY"]
}

#[cfg(test)]
use self::tests::TEXT;

const AFTER_THE_TESTS: &str = "NODE_EXTRA_CA_CERTS";
"####;

#[test]
fn the_scanner_reports_a_second_spelling_and_ignores_tests_and_comments() {
    let findings = scan("nanoclaw-sandbox-core/src/elsewhere.rs", CONTROL).unwrap();
    let found: Vec<(usize, &str)> = findings.iter().map(|f| (f.line, f.word)).collect();
    assert_eq!(
        found,
        [
            (6, "NO_PROXY"),
            (8, "PROXY_CA_CERT_B64"),
            (9, "Blocked by network policy"),
            (12, "/usr/local/share/ca-certificates/proxy-ca.crt"),
            (38, "NODE_EXTRA_CA_CERTS"),
        ],
        "{findings:#?}"
    );
    assert!(findings[0]
        .to_string()
        .starts_with("nanoclaw-sandbox-core/src/elsewhere.rs:6: \"NO_PROXY\" is spelled here"));
    // The same text in the home of its words: only the trust variable is
    // foreign there.
    let at_home = scan(PROXY_VARS_HOME, CONTROL).unwrap();
    let words: Vec<&str> = at_home.iter().map(|f| f.word).collect();
    assert_eq!(words, ["NODE_EXTRA_CA_CERTS"]);
    // Without the attribute, the test module's words are second spellings.
    let untested = CONTROL.replace("#[cfg(test)]\nmod tests", "mod tests");
    let words: Vec<&str> = scan("x.rs", &untested)
        .unwrap()
        .iter()
        .map(|f| f.word)
        .collect();
    assert!(
        words.contains(&"http_proxy") && !words.contains(&"FTP_PROXY"),
        "{words:?}"
    );
}

#[test]
fn a_test_item_that_never_ends_is_an_error_not_skipped() {
    let source = "fn a() {}\n#[cfg(test)]\nmod tests {\n    fn b() {}\n";
    let error = scan("x.rs", source).unwrap_err();
    assert!(error.contains("line 2 never ends"), "{error}");
    assert_eq!(
        scan("x.rs", "#![cfg(test)]\nconst A: &str = \"HTTPS_PROXY\";\n").unwrap(),
        []
    );
}
