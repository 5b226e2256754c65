//! Which images a Dockerfile needs from the engine before it can build.
//!
//! Docker's builder pulls a missing `FROM` image on its own; nanoclaw-sandbox
//! never pulls, so builders check these images exist first and fail with
//! [`RuntimeError::ImageNotFound`] instead of letting the engine reach a registry.

use std::collections::{BTreeMap, HashSet};

use super::RuntimeError;

/// The external images `dockerfile` refers to (`FROM` and `COPY --from=`),
/// in order of appearance, without `scratch` and without references to its
/// own earlier stages. Variables are resolved from global `ARG` defaults and
/// `build_args`; a reference that still holds a variable is refused, since its
/// existence cannot be checked.
pub fn required_base_images(
    dockerfile: &str,
    build_args: &BTreeMap<String, String>,
) -> Result<Vec<String>, RuntimeError> {
    let mut global_args: BTreeMap<String, String> = BTreeMap::new();
    let mut stages: HashSet<String> = HashSet::new();
    let mut seen_from = false;
    let mut images: Vec<String> = Vec::new();

    for instruction in logical_lines(dockerfile) {
        let mut words = instruction.split_whitespace();
        let Some(keyword) = words.next() else {
            continue;
        };
        match keyword.to_ascii_uppercase().as_str() {
            "ARG" if !seen_from => {
                for declaration in words {
                    let (name, default) = declaration.split_once('=').unwrap_or((declaration, ""));
                    let value = build_args
                        .get(name)
                        .cloned()
                        .unwrap_or_else(|| unquote(default).to_string());
                    global_args.insert(name.to_string(), value);
                }
            }
            "FROM" => {
                seen_from = true;
                let rest: Vec<&str> = words.filter(|w| !w.starts_with("--")).collect();
                let Some(written) = rest.first() else {
                    continue;
                };
                let reference = substitute(written, &global_args)?;
                if let [_, as_word, name, ..] = rest.as_slice() {
                    if as_word.eq_ignore_ascii_case("as") {
                        stages.insert(name.to_ascii_lowercase());
                    }
                }
                if !is_internal(&reference, &stages) {
                    push_unique(&mut images, reference);
                }
            }
            "COPY" => {
                for word in words {
                    let Some(from) = word.strip_prefix("--from=") else {
                        continue;
                    };
                    let reference = substitute(from, &global_args)?;
                    let is_stage_index = reference.chars().all(|c| c.is_ascii_digit());
                    if !is_stage_index && !is_internal(&reference, &stages) {
                        push_unique(&mut images, reference);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(images)
}

fn push_unique(images: &mut Vec<String>, reference: String) {
    if !images.contains(&reference) {
        images.push(reference);
    }
}

/// `scratch`, or an earlier stage's name.
fn is_internal(reference: &str, stages: &HashSet<String>) -> bool {
    reference.eq_ignore_ascii_case("scratch") || stages.contains(&reference.to_ascii_lowercase())
}

/// Instructions with comments dropped and `\` continuations joined.
fn logical_lines(dockerfile: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for raw in dockerfile.lines() {
        let line = raw.trim();
        if line.starts_with('#') {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(continued) => {
                current.push_str(continued);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.trim().is_empty() {
        lines.push(current);
    }
    lines
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// Resolves `$NAME`, `${NAME}` and `${NAME:-default}`.
fn substitute(text: &str, args: &BTreeMap<String, String>) -> Result<String, RuntimeError> {
    let unverifiable = |reason: String| RuntimeError::UnverifiableBaseImage {
        reference: text.to_string(),
        reason,
    };
    let mut out = String::new();
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let (expression, remainder) = match after.strip_prefix('{') {
            Some(braced) => {
                let end = braced
                    .find('}')
                    .ok_or_else(|| unverifiable("an unclosed `${`".to_string()))?;
                (&braced[..end], &braced[end + 1..])
            }
            None => {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        let (name, default) = match expression.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (expression, None),
        };
        let value = match (args.get(name).filter(|v| !v.is_empty()), default) {
            (Some(value), _) => value.as_str(),
            (None, Some(default)) => default,
            (None, None) => {
                return Err(unverifiable(format!("`{name}` has no value")));
            }
        };
        out.push_str(value);
        rest = remainder;
    }
    out.push_str(rest);
    Ok(out)
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
    fn unresolvable_references_are_refused() {
        let err = required_base_images("FROM ${NOPE}\n", &BTreeMap::new()).unwrap_err();
        assert!(
            matches!(&err, RuntimeError::UnverifiableBaseImage { reference, .. } if reference == "${NOPE}"),
            "{err}"
        );
        assert!(err.to_string().contains("`NOPE` has no value"), "{err}");
    }
}
