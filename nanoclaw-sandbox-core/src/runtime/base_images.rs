//! Which images a Dockerfile needs from the engine before it can build.
//!
//! Docker's builder pulls a missing `FROM` image on its own; nanoclaw-sandbox
//! never pulls, so builders check these images exist first and fail with
//! [`RuntimeError::ImageNotFound`] instead of letting the engine reach a registry.

use std::collections::BTreeMap;

use super::RuntimeError;
use crate::dockerfile::parse::{BaseRef, Document, Unresolved};

/// The external images `dockerfile` refers to (`FROM` and `COPY --from=`),
/// in order of appearance, without `scratch` and without references to its
/// own earlier stages. The file is read by the same parser as the build
/// rewrite ([`crate::dockerfile`]), so heredoc bodies, comments, the
/// `# escape=` directive and continuations are understood. Variables are
/// resolved from global `ARG` defaults and `build_args`; a reference that
/// still holds a variable is refused, since its existence cannot be checked.
pub fn required_base_images(
    dockerfile: &str,
    build_args: &BTreeMap<String, String>,
) -> Result<Vec<String>, RuntimeError> {
    let doc = Document::parse(dockerfile).map_err(|source| RuntimeError::Dockerfile { source })?;
    let mut images: Vec<String> = Vec::new();
    for stage in doc.resolved_stages(build_args) {
        for reference in std::iter::once(stage.base).chain(stage.copy_from) {
            if let BaseRef::Image(image) = reference.map_err(unverifiable)? {
                if !images.contains(&image) {
                    images.push(image);
                }
            }
        }
    }
    Ok(images)
}

fn unverifiable(unresolved: Unresolved) -> RuntimeError {
    RuntimeError::UnverifiableBaseImage {
        reference: unresolved.reference,
        reason: unresolved.reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(dockerfile: &str) -> Vec<String> {
        required_base_images(dockerfile, &BTreeMap::new()).unwrap()
    }

    #[test]
    fn scratch_and_own_stages_need_nothing() {
        assert!(images("FROM scratch\nCOPY a /a\n").is_empty());
        let multi = "FROM --platform=linux/amd64 node:20 AS build\nRUN x\n\
                     FROM build as second\nFROM scratch\nCOPY --from=build /a /a\nCOPY --from=0 /b /b\n";
        assert_eq!(images(multi), ["node:20"]);
    }

    #[test]
    fn copy_from_an_image_counts() {
        assert_eq!(
            images("FROM scratch\nCOPY --from=busybox:1 /bin/sh /sh\n"),
            ["busybox:1"]
        );
    }

    #[test]
    fn args_and_continuations_resolve() {
        let dockerfile = "# comment\nARG BASE=debian\nARG TAG\nFROM ${BASE}:${TAG:-bookworm} \\\n  AS x\nFROM $BASE\n";
        assert_eq!(images(dockerfile), ["debian:bookworm", "debian"]);
        let args = BTreeMap::from([("TAG".to_string(), "12".to_string())]);
        assert_eq!(
            required_base_images(dockerfile, &args).unwrap(),
            ["debian:12", "debian"]
        );
    }

    #[test]
    fn a_heredoc_body_line_starting_with_from_is_no_base_image() {
        let dockerfile = "FROM nanoclaw-base:1\nRUN <<EOF\nFROM nanoclaw-not-an-image:9\nEOF\n\
                          COPY <<-EOT /notes\n\tFROM other:1 AS x\n\tEOT\n";
        assert_eq!(images(dockerfile), ["nanoclaw-base:1"]);
    }

    #[test]
    fn a_backtick_escape_keeps_aliases_internal() {
        // `\` is no escape here: the LABEL line does not swallow the next FROM.
        let dockerfile = "# escape=`\nFROM nanoclaw-base:1 AS base\nLABEL path=C:\\\n\
                          FROM base AS builder\nRUN echo a `\n  b\n\
                          FROM builder AS second\nCOPY --from=BUILDER C:\\a C:\\b\n\
                          FROM second\n";
        assert_eq!(images(dockerfile), ["nanoclaw-base:1"]);
        // With the default escape, the backtick line does not continue.
        let doc = "FROM a AS builder\nRUN echo `\nFROM builder\n";
        assert_eq!(images(doc), ["a"]);
    }

    #[test]
    fn continuation_lines_join_the_from() {
        let dockerfile = "FROM \\\n  # a comment inside\n  --platform=linux/amd64 \\\n\n  nanoclaw-base:2 \\\n  AS b\nFROM b\n";
        assert_eq!(images(dockerfile), ["nanoclaw-base:2"]);
    }

    #[test]
    fn an_arg_default_or_a_given_build_arg_names_the_base() {
        let dockerfile = "ARG BASE=debian:bookworm\nFROM ${BASE}\nRUN true\n";
        assert_eq!(images(dockerfile), ["debian:bookworm"]);
        let args = BTreeMap::from([("BASE".to_string(), "nanoclaw-base:3".to_string())]);
        assert_eq!(
            required_base_images(dockerfile, &args).unwrap(),
            ["nanoclaw-base:3"]
        );
        // An ARG inside a stage does not reach a later FROM; undeclared build
        // args are not used either, as in Docker.
        let late = "FROM a\nARG LATE=x\nFROM ${LATE}\n";
        assert!(required_base_images(late, &args).is_err());
        let quoted = "ARG BASE='debian:12'\nFROM $BASE\n";
        assert_eq!(images(quoted), ["debian:12"]);
    }

    #[test]
    fn platform_flags_and_own_alias() {
        let dockerfile = "FROM --platform=$BUILDPLATFORM nanoclaw-x:1 AS y\nFROM y\n";
        assert_eq!(images(dockerfile), ["nanoclaw-x:1"]);
        // A stage's own alias is not an earlier stage: this is the image.
        assert_eq!(images("FROM node AS node\nFROM node\n"), ["node"]);
    }

    #[test]
    fn copy_from_an_outside_image_is_needed() {
        let dockerfile = "FROM scratch AS s\nCOPY --chown=1 --from=nanoclaw-other:1 /a /a\n\
                          FROM scratch\nCOPY --from=S /a /b\nCOPY --from=0 /a /c\n";
        assert_eq!(images(dockerfile), ["nanoclaw-other:1"]);
    }

    #[test]
    fn a_dockerfile_that_does_not_parse_is_refused() {
        let err = required_base_images("FROM a\nRUN <<EOF\n", &BTreeMap::new()).unwrap_err();
        assert!(
            matches!(
                &err,
                RuntimeError::Dockerfile {
                    source: crate::dockerfile::DockerfileError::UnterminatedHeredoc { line: 2, .. }
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn unresolvable_references_are_refused() {
        let err = required_base_images("FROM ${NOPE}\n", &BTreeMap::new()).unwrap_err();
        assert!(
            matches!(&err, RuntimeError::UnverifiableBaseImage { reference, .. } if reference == "${NOPE}"),
            "{err}"
        );
        assert!(err.to_string().contains("`NOPE` has no value"), "{err}");
    }
}
