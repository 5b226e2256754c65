//! Whether a builder can build a Dockerfile at all: syntax its frontend
//! lacks is refused before anything is sent, naming the line and the fix,
//! instead of failing halfway through the build (or pulling a frontend).
//!
//! What a frontend lacks is data ([`UnsupportedFeature`] tables such as
//! [`DOCKER_20_10_UNSUPPORTED`]), so a newer engine can pass a shorter table.

use super::parse::{Document, Instruction};
use super::DockerfileError;

/// A piece of Dockerfile syntax that not every builder frontend knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SyntaxFeature {
    /// A heredoc in `RUN`, `COPY` or `ADD` (`RUN <<EOF`).
    Heredoc,
    /// The `--link` flag of `COPY` or `ADD`.
    Link,
    /// A `# syntax=` directive: the build would run a frontend image.
    SyntaxDirective,
    /// A `RUN` flag (`--mount`, `--network`, `--security`): BuildKit syntax.
    RunFlag,
}

/// A feature a builder lacks, why, and what to write instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnsupportedFeature {
    /// The feature.
    pub feature: SyntaxFeature,
    /// Why it cannot be built, e.g. "is a heredoc, which ... cannot run".
    pub reason: &'static str,
    /// What to do instead.
    pub fix: &'static str,
}

const HEREDOC: UnsupportedFeature = UnsupportedFeature {
    feature: SyntaxFeature::Heredoc,
    reason: "is a heredoc, which Docker Engine 20.10's builders cannot run",
    fix: "write the script or file into the build context and COPY it, \
          or use `RUN sh -c '...'`",
};
const LINK: UnsupportedFeature = UnsupportedFeature {
    feature: SyntaxFeature::Link,
    reason: "uses `--link`, which Docker Engine 20.10's builders do not know",
    fix: "remove `--link` (the copy then depends on the layers before it)",
};
const SYNTAX_DIRECTIVE: UnsupportedFeature = UnsupportedFeature {
    feature: SyntaxFeature::SyntaxDirective,
    reason: "asks for a Dockerfile frontend image from a registry, \
             and nanoclaw-sandbox never pulls",
    fix: "remove the `# syntax=` line and use only syntax Docker Engine 20.10's \
          builders know",
};

/// What Docker Engine 20.10's BuildKit (its built-in Dockerfile frontend)
/// cannot build. nanoclaw-sandbox never pulls a frontend image.
pub const DOCKER_20_10_UNSUPPORTED: &[UnsupportedFeature] = &[HEREDOC, LINK, SYNTAX_DIRECTIVE];

/// What Docker Engine 20.10's classic builder cannot build: all of
/// [`DOCKER_20_10_UNSUPPORTED`] and the BuildKit-only `RUN` flags.
pub const CLASSIC_20_10_UNSUPPORTED: &[UnsupportedFeature] = &[
    HEREDOC,
    LINK,
    SYNTAX_DIRECTIVE,
    UnsupportedFeature {
        feature: SyntaxFeature::RunFlag,
        reason: "uses a RUN flag (`--mount`, `--network`, `--security`), which only BuildKit \
                 knows, and this build asked for the classic builder",
        fix: "build with BuildKit (`Builder::BuildKit`, or `Builder::Auto`, which picks it \
              for such a file), or remove the flag",
    },
];

/// How many characters of the instruction an error quotes.
const QUOTED_CHARS: usize = 40;

/// Checks that `dockerfile` uses none of the `unsupported` features (for
/// Docker Engine 20.10: [`DOCKER_20_10_UNSUPPORTED`]). The first use found,
/// in file order, is the error ([`DockerfileError::Unsupported`]), with its
/// line; a file that does not parse gives the parse error.
pub fn check_builder_support(
    dockerfile: &str,
    unsupported: &[UnsupportedFeature],
) -> Result<(), DockerfileError> {
    let doc = Document::parse(dockerfile)?;
    let lacks = |feature: SyntaxFeature| unsupported.iter().find(|u| u.feature == feature);
    let refuse = |line: usize, text: &str, what: &UnsupportedFeature| {
        Err(DockerfileError::Unsupported {
            line: line + 1,
            instruction: quote(text),
            feature: what.feature,
            reason: what.reason,
            fix: what.fix,
        })
    };
    if let Some(what) = lacks(SyntaxFeature::SyntaxDirective) {
        if let Some(directive) = doc.directives.iter().find(|d| d.name == "syntax") {
            let text = format!("# syntax={}", directive.value);
            return refuse(directive.line, &text, what);
        }
    }
    for instruction in &doc.instructions {
        let text = format!("{} {}", instruction.keyword, instruction.args);
        for feature in features_of(instruction) {
            if let Some(what) = lacks(feature) {
                return refuse(instruction.first_line, &text, what);
            }
        }
    }
    Ok(())
}

/// Whether `dockerfile` uses `feature` anywhere (a `# syntax=` directive
/// for [`SyntaxFeature::SyntaxDirective`]).
pub fn uses_feature(dockerfile: &str, feature: SyntaxFeature) -> Result<bool, DockerfileError> {
    let doc = Document::parse(dockerfile)?;
    if feature == SyntaxFeature::SyntaxDirective {
        return Ok(doc.directives.iter().any(|d| d.name == "syntax"));
    }
    Ok(doc
        .instructions
        .iter()
        .any(|i| features_of(i).contains(&feature)))
}

/// The features `instruction` uses.
fn features_of(instruction: &Instruction) -> Vec<SyntaxFeature> {
    let mut features = Vec::new();
    if !instruction.heredocs.is_empty() {
        features.push(SyntaxFeature::Heredoc);
    }
    let copies = matches!(instruction.keyword.as_str(), "COPY" | "ADD");
    if copies && instruction.flag("link").is_some() {
        features.push(SyntaxFeature::Link);
    }
    if instruction.keyword == "RUN" && instruction.flags().next().is_some() {
        features.push(SyntaxFeature::RunFlag);
    }
    features
}

/// The start of `text`, trimmed, at most [`QUOTED_CHARS`] characters.
fn quote(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(QUOTED_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Refused by the classic builder (which lacks everything BuildKit lacks).
    fn refused(dockerfile: &str) -> (usize, String, SyntaxFeature, String) {
        let err = match check_builder_support(dockerfile, CLASSIC_20_10_UNSUPPORTED) {
            Err(err) => err,
            Ok(()) => panic!("expected an unsupported-syntax error for {dockerfile:?}"),
        };
        let message = err.to_string();
        match err {
            DockerfileError::Unsupported {
                line,
                instruction,
                feature,
                ..
            } => (line, instruction, feature, message),
            other => panic!("expected an unsupported-syntax error, got {other:?}"),
        }
    }

    #[test]
    fn a_heredoc_run_is_refused_with_its_line() {
        let dockerfile = "FROM debian\nARG X\n\nRUN <<EOF\necho hi\nEOF\n";
        let (line, instruction, feature, message) = refused(dockerfile);
        assert_eq!((line, feature), (4, SyntaxFeature::Heredoc));
        assert_eq!(instruction, "RUN <<EOF");
        assert!(
            message.starts_with("line 4: `RUN <<EOF` is a heredoc")
                && message.contains("Docker Engine 20.10")
                && message.contains("COPY it"),
            "{message}"
        );
    }

    #[test]
    fn a_heredoc_copy_is_refused() {
        let dockerfile = "FROM debian\nCOPY <<-EOT /etc/motd\n\thello\n\tEOT\nRUN true\n";
        let (line, instruction, feature, _) = refused(dockerfile);
        assert_eq!((line, feature), (2, SyntaxFeature::Heredoc));
        assert_eq!(instruction, "COPY <<-EOT /etc/motd");
    }

    #[test]
    fn copy_and_add_link_are_refused() {
        let (line, instruction, feature, message) =
            refused("FROM debian\nRUN true\nCOPY --link --chown=1 a /a\n");
        assert_eq!((line, feature), (3, SyntaxFeature::Link));
        assert_eq!(instruction, "COPY --link --chown=1 a /a");
        assert!(message.contains("remove `--link`"), "{message}");
        let (line, _, feature, _) = refused("FROM debian\nADD --link=true a /a\n");
        assert_eq!((line, feature), (2, SyntaxFeature::Link));
    }

    #[test]
    fn run_flags_are_refused_before_any_step() {
        let (line, instruction, feature, message) =
            refused("FROM debian\nRUN true\nRUN --mount=type=cache,target=/root/.npm npm ci\n");
        assert_eq!((line, feature), (3, SyntaxFeature::RunFlag));
        assert!(
            instruction.starts_with("RUN --mount=type=cache"),
            "{instruction}"
        );
        assert!(message.contains("only BuildKit"), "{message}");
        let (_, _, feature, _) = refused("FROM debian\nRUN --network=none true\n");
        assert_eq!(feature, SyntaxFeature::RunFlag);
        // BuildKit knows them; the rest of its table is the classic one's.
        let cache = "FROM debian\nRUN --mount=type=cache,target=/c true\n";
        assert_eq!(
            check_builder_support(cache, DOCKER_20_10_UNSUPPORTED),
            Ok(())
        );
        assert_eq!(uses_feature(cache, SyntaxFeature::RunFlag), Ok(true));
        assert_eq!(
            uses_feature("FROM a\nRUN true\n", SyntaxFeature::RunFlag),
            Ok(false)
        );
        let classic_only: Vec<SyntaxFeature> = CLASSIC_20_10_UNSUPPORTED
            .iter()
            .map(|u| u.feature)
            .filter(|f| !DOCKER_20_10_UNSUPPORTED.iter().any(|u| u.feature == *f))
            .collect();
        assert_eq!(classic_only, [SyntaxFeature::RunFlag]);
    }

    #[test]
    fn a_syntax_directive_is_refused() {
        let dockerfile = "# escape=`\n# syntax=docker/dockerfile:1.7\nFROM debian\n";
        let (line, instruction, feature, message) = refused(dockerfile);
        assert_eq!((line, feature), (2, SyntaxFeature::SyntaxDirective));
        assert_eq!(instruction, "# syntax=docker/dockerfile:1.7");
        assert!(message.contains("never pulls"), "{message}");
    }

    #[test]
    fn ordinary_dockerfiles_pass() {
        let dockerfile = "# escape=`\nARG BASE=debian\nFROM ${BASE} AS build\n\
                          RUN echo a `\n  && cat <<<word && echo '<<EOF'\n\
                          COPY --from=build --chown=1:1 /a /b\n\
                          # syntax=docker/dockerfile:1 (a comment here, not a directive)\n\
                          ADD linked.tar /x\n";
        assert_eq!(
            check_builder_support(dockerfile, DOCKER_20_10_UNSUPPORTED),
            Ok(())
        );
    }

    #[test]
    fn a_newer_engine_can_allow_a_feature() {
        let dockerfile = "FROM debian\nCOPY --link a /a\nRUN <<EOF\ntrue\nEOF\n";
        let without_link: Vec<UnsupportedFeature> = DOCKER_20_10_UNSUPPORTED
            .iter()
            .copied()
            .filter(|u| u.feature != SyntaxFeature::Link)
            .collect();
        let err = check_builder_support(dockerfile, &without_link).unwrap_err();
        assert!(
            matches!(
                err,
                DockerfileError::Unsupported {
                    line: 3,
                    feature: SyntaxFeature::Heredoc,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(check_builder_support(dockerfile, &[]), Ok(()));
    }

    #[test]
    fn long_instructions_are_quoted_by_their_start() {
        let long = format!("RUN {} <<EOF", "x".repeat(60));
        assert_eq!(quote(&long).chars().count(), QUOTED_CHARS + 1);
        assert!(quote(&long).ends_with('…'));
        assert_eq!(quote("  RUN a  "), "RUN a");
    }

    #[test]
    fn parse_errors_come_through() {
        let err =
            check_builder_support("FROM a\nRUN <<EOF\n", DOCKER_20_10_UNSUPPORTED).unwrap_err();
        assert!(
            matches!(err, DockerfileError::UnterminatedHeredoc { line: 2, .. }),
            "{err}"
        );
    }
}
