//! `.dockerignore`, as Docker reads it (the subset `build` supports):
//! one pattern per line, `#` comments, `!` to include again; the last
//! pattern that matches decides; a pattern matching a directory excludes
//! everything below it. In a pattern, `*` is any run of characters but `/`,
//! `?` one character but `/`, `**` any number of directories; a leading `/`
//! is ignored. Character classes (`[a-z]`) and escapes are not supported:
//! such characters match themselves.

/// The parsed patterns of one `.dockerignore`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerIgnore {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    include_again: bool,
    segments: Vec<String>,
}

impl DockerIgnore {
    /// Parses the file's text.
    pub fn parse(text: &str) -> Self {
        let rules = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .filter_map(|line| {
                let (include_again, pattern) = match line.strip_prefix('!') {
                    Some(rest) => (true, rest.trim()),
                    None => (false, line),
                };
                let segments: Vec<String> = pattern
                    .split('/')
                    .filter(|s| !s.is_empty() && *s != ".")
                    .map(str::to_string)
                    .collect();
                (!segments.is_empty()).then_some(Rule {
                    include_again,
                    segments,
                })
            })
            .collect();
        DockerIgnore { rules }
    }

    /// Whether `path` (relative to the context, `/`-separated) is left out.
    pub fn excludes(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut excluded = false;
        for rule in &self.rules {
            // The path itself or one of its parent directories.
            let hit = (1..=parts.len()).any(|len| matches(&rule.segments, &parts[..len]));
            if hit {
                excluded = !rule.include_again;
            }
        }
        excluded
    }
}

/// Whether the pattern's segments match the path's, `**` standing for any
/// number of segments.
fn matches(pattern: &[String], path: &[&str]) -> bool {
    wildcard_match(pattern, path, |p| p == "**", |p, t| segment_matches(p, t))
}

/// One segment: `*` any run, `?` one character, the rest literally.
fn segment_matches(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    wildcard_match(&pattern, &text, |&p| p == '*', |&p, &t| p == '?' || p == t)
}

/// Glob matching of `text` by `pattern`, whose items are either a star (any
/// run of text items) or match exactly one text item. Iterative, retrying
/// only from the last star: time bounded by the product of the lengths,
/// where plain recursion was exponential in the number of stars (found by
/// the fuzzer: a `.dockerignore` line of `*`s hung the build).
fn wildcard_match<P, T>(
    pattern: &[P],
    text: &[T],
    is_star: impl Fn(&P) -> bool,
    matches_one: impl Fn(&P, &T) -> bool,
) -> bool {
    let (mut p, mut t) = (0, 0);
    // After the last star seen: where the pattern resumes, and the text
    // index that resumption was tried at.
    let mut retry: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(item) if is_star(item) => {
                retry = Some((p + 1, t));
                p += 1;
            }
            Some(item) if matches_one(item, &text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match retry {
                Some((resume, tried)) => {
                    retry = Some((resume, tried + 1));
                    p = resume;
                    t = tried + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(is_star)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_docker_reads_them() {
        let ignore = DockerIgnore::parse(
            "# comment\n\nnode_modules\n/target\n*.log\n!keep.log\ndocs/**/*.md\n!docs/README.md\nsecret?.txt\n",
        );
        for (path, excluded) in [
            ("node_modules", true),
            ("node_modules/a/b.js", true),
            ("src/node_modules", false),
            ("target/debug/x", true),
            ("app.log", true),
            ("keep.log", false),
            ("logs/app.log", false),
            ("docs/a.md", true),
            ("docs/x/y/z.md", true),
            ("docs/README.md", false),
            ("docs/a.txt", false),
            ("secret1.txt", true),
            ("secret12.txt", false),
            ("src/main.rs", false),
        ] {
            assert_eq!(ignore.excludes(path), excluded, "{path}");
        }
    }

    #[test]
    fn double_star_alone_and_at_the_end() {
        let ignore = DockerIgnore::parse("**\n!src\n");
        assert!(ignore.excludes("README.md"));
        assert!(!ignore.excludes("src"));
        assert!(!ignore.excludes("src/main.rs"), "src and everything below");
        let ignore = DockerIgnore::parse("build/**\n");
        assert!(ignore.excludes("build/x"));
        assert!(ignore.excludes("build"), "** also matches nothing");
        assert!(DockerIgnore::parse("").rules.is_empty());
    }
}
