//! Re-rooting a Dockerfile's context reads under one directory: how a
//! BuildKit build from a tar body keeps `.dockerignore`'s promise.
//!
//! Docker Engine 20.10's BuildKit takes a tar body as a *remote* context: it
//! unpacks it whole and never applies `.dockerignore` (measured: a
//! `COPY . /ctx/` copied every listed file, the Dockerfile included). The
//! docker CLI never meets this, because it sends local contexts through a
//! session instead. So the library packs a BuildKit context itself
//! ([`buildkit_context`](super::buildkit_context)): the files `.dockerignore`
//! keeps go under [`BUILDKIT_CONTEXT_DIR`], the Dockerfile to build sits at
//! the root beside it, and every instruction that reads the context reads
//! from that directory instead ([`reroot_context_reads`]):
//! - `COPY`/`ADD` without `--from`: each source path (not an `ADD` URL);
//! - `RUN --mount` of type `bind` without `from`: its `source` (the context
//!   root when it has none).
//!
//! `COPY . /app` becomes `COPY context /app`, which copies the same files
//! (a directory source copies its contents), and the Dockerfile that sits at
//! the root is out of reach of every `COPY`. Paths are cleaned first, as the
//! builder cleans them against the context root, so `../x` and `/x` still
//! name `x`.
//!
//! Not re-rooted: `ONBUILD` triggers, which run in *other* builds (and a base
//! image's own `ONBUILD COPY` would see the re-rooted layout).

use std::collections::BTreeMap;

use super::parse::{Document, Instruction};
use super::DockerfileError;

/// The directory of a BuildKit tar context that holds the caller's context.
pub const BUILDKIT_CONTEXT_DIR: &str = "context";

/// `dockerfile` with every context read (`COPY`/`ADD` sources, `RUN --mount`
/// bind sources) moved under [`BUILDKIT_CONTEXT_DIR`]. Every other line stays
/// byte for byte; a rewritten instruction becomes one line.
pub fn reroot_context_reads(dockerfile: &str) -> Result<String, DockerfileError> {
    let doc = Document::parse(dockerfile)?;
    let mut replacements = BTreeMap::new();
    for instruction in &doc.instructions {
        let rewritten = match instruction.keyword.as_str() {
            "COPY" | "ADD" => reroot_copy(instruction),
            "RUN" => reroot_run_mounts(instruction),
            _ => None,
        };
        if let Some(args) = rewritten {
            let line = format!(
                "{}{} {args}",
                doc.indent_of(instruction.first_line),
                instruction.keyword
            );
            replacements.insert(instruction.first_line, (instruction.last_own_line, line));
        }
    }
    Ok(doc.render_edits(&BTreeMap::new(), &replacements))
}

/// A `COPY`/`ADD`'s arguments with its sources re-rooted, or `None` when it
/// reads no context (`--from`, or only URLs) or has no sources at all.
fn reroot_copy(instruction: &Instruction) -> Option<String> {
    if instruction.flag("from").is_some() || !instruction.heredocs.is_empty() {
        return None;
    }
    let is_add = instruction.keyword == "ADD";
    let (flags, rest) = instruction.split_flags();
    let reroot = |source: &str| {
        if is_add && is_remote(source) {
            source.to_string()
        } else {
            context_path(source)
        }
    };
    // The exec (JSON) form, as the builder reads it: a JSON array of strings;
    // anything else is the shell form, split on whitespace.
    let args = match serde_json::from_str::<Vec<String>>(rest) {
        Ok(words) if words.len() >= 2 => {
            let (dest, sources) = words.split_last()?;
            let mut out: Vec<String> = sources.iter().map(|s| reroot(s)).collect();
            out.push(dest.clone());
            serde_json::to_string(&out).ok()?
        }
        Ok(_) => return None,
        Err(_) => {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let (dest, sources) = words.split_last()?;
            if sources.is_empty() {
                return None;
            }
            let mut out: Vec<String> = sources.iter().map(|s| reroot(s)).collect();
            out.push((*dest).to_string());
            out.join(" ")
        }
    };
    Some(join_flags(flags, &args))
}

/// A `RUN`'s arguments with each context bind mount's source re-rooted, or
/// `None` when it mounts nothing from the context.
fn reroot_run_mounts(instruction: &Instruction) -> Option<String> {
    let (flags, rest) = instruction.split_flags();
    let mut changed = false;
    let words: Vec<String> = flags
        .split_whitespace()
        .map(|word| match mount_value(word) {
            Some((prefix, value)) => match reroot_mount(value) {
                Some(value) => {
                    changed = true;
                    format!("{prefix}{value}")
                }
                None => word.to_string(),
            },
            None => word.to_string(),
        })
        .collect();
    changed.then(|| join_flags(&words.join(" "), rest))
}

/// `--mount=VALUE` (any case) → (`--mount=`, VALUE).
fn mount_value(word: &str) -> Option<(&str, &str)> {
    let (name, value) = word.split_once('=')?;
    name.eq_ignore_ascii_case("--mount")
        .then(|| (&word[..name.len() + 1], value))
}

/// A mount's `key=value,...` list with its context source re-rooted, or
/// `None` when the mount does not read the context (another type, `from=`).
fn reroot_mount(value: &str) -> Option<String> {
    let fields: Vec<(&str, Option<&str>)> = value
        .split(',')
        .map(|field| match field.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (field, None),
        })
        .collect();
    let get = |wanted: &str| {
        fields
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(wanted))
            .and_then(|(_, value)| *value)
    };
    // `bind` is the type a mount gets when it names none.
    let is_bind = get("type").is_none_or(|t| t.eq_ignore_ascii_case("bind"));
    if !is_bind || get("from").is_some() {
        return None;
    }
    let is_source =
        |key: &str| key.eq_ignore_ascii_case("source") || key.eq_ignore_ascii_case("src");
    let mut out: Vec<String> = Vec::with_capacity(fields.len() + 1);
    let mut had_source = false;
    for (key, field_value) in &fields {
        match field_value {
            Some(source) if is_source(key) => {
                had_source = true;
                out.push(format!("{key}={}", context_path(source)));
            }
            Some(v) => out.push(format!("{key}={v}")),
            None => out.push((*key).to_string()),
        }
    }
    if !had_source {
        out.push(format!("source={BUILDKIT_CONTEXT_DIR}"));
    }
    Some(out.join(","))
}

/// `flags` and `args` as one argument string.
fn join_flags(flags: &str, args: &str) -> String {
    if flags.is_empty() {
        args.to_string()
    } else {
        format!("{flags} {args}")
    }
}

/// Whether an `ADD` source is fetched rather than read from the context.
fn is_remote(source: &str) -> bool {
    source.contains("://") || source.starts_with("git@")
}

/// `source`, cleaned against the context root as the builder cleans it
/// (`/`, `.` and `..` never leave the root), under [`BUILDKIT_CONTEXT_DIR`].
/// A trailing `/` is kept (it can matter to the builder's matching).
fn context_path(source: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in source.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    let mut out = String::from(BUILDKIT_CONTEXT_DIR);
    for part in &parts {
        out.push('/');
        out.push_str(part);
    }
    if source.ends_with('/') && !parts.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rerooted(dockerfile: &str) -> String {
        reroot_context_reads(dockerfile).unwrap()
    }

    #[test]
    fn copy_sources_move_under_the_context_dir() {
        let out = rerooted(
            "FROM debian\nWORKDIR /app\nCOPY . .\nCOPY package*.json ./\nADD /etc/x ../y z/ /dst/\n",
        );
        assert_eq!(
            out,
            "FROM debian\nWORKDIR /app\nCOPY context .\nCOPY context/package*.json ./\n\
             ADD context/etc/x context/y context/z/ /dst/\n"
        );
    }

    #[test]
    fn flags_urls_and_other_stages_are_kept() {
        let dockerfile = "FROM debian AS base\n\
                          COPY --from=base /etc/hosts /h\n\
                          ADD https://example.test/a.tgz /a.tgz\n\
                          COPY --chown=1000:1000 --chmod=644 src /src\n";
        assert_eq!(
            rerooted(dockerfile),
            "FROM debian AS base\n\
             COPY --from=base /etc/hosts /h\n\
             ADD https://example.test/a.tgz /a.tgz\n\
             COPY --chown=1000:1000 --chmod=644 context/src /src\n"
        );
    }

    #[test]
    fn the_exec_form_stays_json_and_keeps_spaces() {
        let out = rerooted("FROM debian\nCOPY [\"my file.txt\", \"./other\", \"/dst dir/\"]\n");
        assert_eq!(
            out,
            "FROM debian\nCOPY [\"context/my file.txt\",\"context/other\",\"/dst dir/\"]\n"
        );
    }

    #[test]
    fn bind_mounts_of_the_context_are_rerooted_others_are_not() {
        let dockerfile = "FROM debian\n\
            RUN --mount=type=bind,source=app.js,target=/mnt/app.js cat /mnt/app.js\n\
            RUN --mount=target=/src make\n\
            RUN --mount=type=cache,target=/root/.cache --mount=type=bind,from=base,target=/b ls\n\
            RUN --mount=type=secret,id=npm cat /run/secrets/npm\n\
            RUN echo plain\n";
        assert_eq!(
            rerooted(dockerfile),
            "FROM debian\n\
             RUN --mount=type=bind,source=context/app.js,target=/mnt/app.js cat /mnt/app.js\n\
             RUN --mount=target=/src,source=context make\n\
             RUN --mount=type=cache,target=/root/.cache --mount=type=bind,from=base,target=/b ls\n\
             RUN --mount=type=secret,id=npm cat /run/secrets/npm\n\
             RUN echo plain\n"
        );
    }

    #[test]
    fn continuations_comments_and_crlf_survive() {
        let dockerfile = "# a comment\r\nFROM debian\r\n  COPY a \\\r\n    b /dst/\r\nRUN true\r\n";
        assert_eq!(
            rerooted(dockerfile),
            "# a comment\r\nFROM debian\r\n  COPY context/a context/b /dst/\r\nRUN true\r\n"
        );
    }

    #[test]
    fn paths_never_leave_the_context_dir() {
        assert_eq!(context_path("."), "context");
        assert_eq!(context_path("./"), "context");
        assert_eq!(context_path("/"), "context");
        assert_eq!(context_path("../../x"), "context/x");
        assert_eq!(context_path("a/../../b/"), "context/b/");
        assert_eq!(context_path("$SRC/x"), "context/$SRC/x");
    }

    #[test]
    fn a_file_without_context_reads_is_unchanged() {
        let dockerfile = "FROM debian\nENV A=1\nRUN echo hi\nONBUILD COPY . /x\n";
        assert_eq!(rerooted(dockerfile), dockerfile);
    }
}
