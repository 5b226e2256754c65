//! Build contexts (uncompressed tar archives): reading the Dockerfile out of
//! one, and adding the rewritten Dockerfile to one so that the builder reads
//! it but no `COPY` reaches it — how the build rewrite reaches the engine
//! without touching the caller's files on disk.

use std::io::Read;
use std::path::PathBuf;

use super::ignore::DockerIgnore;
use super::reroot::BUILDKIT_CONTEXT_DIR;
use super::BUILD_DOCKERFILE;

/// The context's ignore file, which the classic builder reads itself for one
/// purpose: to drop the Dockerfile it builds and the ignore file from the
/// context when they are listed there (everything else is left out by the
/// client that packs the context).
const IGNORE_FILE: &str = ".dockerignore";

/// A build context that cannot be read or rewritten.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the build context is unusable ({reason}): give an uncompressed tar archive \
     with the Dockerfile at `{dockerfile}`"
)]
#[non_exhaustive]
pub struct BuildContextError {
    /// The Dockerfile path that was looked for.
    pub dockerfile: String,
    /// What is wrong.
    pub reason: String,
}

/// `./a/b` and `a/b` name the same entry.
fn normalize(path: &str) -> &str {
    path.trim_start_matches("./")
}

fn invalid(dockerfile: &str, reason: String) -> BuildContextError {
    BuildContextError {
        dockerfile: dockerfile.to_string(),
        reason,
    }
}

/// Calls `visit` with each entry of `context` and its path until it returns
/// `true`. `dockerfile` only names the build in errors.
fn walk(
    context: &[u8],
    dockerfile: &str,
    mut visit: impl FnMut(PathBuf, &mut tar::Entry<'_, &[u8]>) -> Result<bool, BuildContextError>,
) -> Result<(), BuildContextError> {
    let mut archive = tar::Archive::new(context);
    let entries = archive
        .entries()
        .map_err(|e| invalid(dockerfile, format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| invalid(dockerfile, format!("a damaged tar entry: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| {
                invalid(
                    dockerfile,
                    format!("a tar entry with an unreadable path: {e}"),
                )
            })?
            .into_owned();
        if visit(path, &mut entry)? {
            break;
        }
    }
    Ok(())
}

/// The text of the Dockerfile at `dockerfile` inside the tar `context`.
pub fn read_dockerfile(context: &[u8], dockerfile: &str) -> Result<String, BuildContextError> {
    let wanted = normalize(dockerfile);
    let mut found = None;
    walk(context, dockerfile, |path, entry| {
        if normalize(&path.to_string_lossy()) != wanted {
            return Ok(false);
        }
        let mut text = String::new();
        entry
            .read_to_string(&mut text)
            .map_err(|e| invalid(dockerfile, format!("the Dockerfile is not UTF-8 text: {e}")))?;
        found = Some(text);
        Ok(true)
    })?;
    found.ok_or_else(|| invalid(dockerfile, "no Dockerfile at that path".to_string()))
}

/// `context` with `dockerfile` (the build rewrite) added as
/// [`BUILD_DOCKERFILE`], to be built instead of the caller's Dockerfile at
/// `dockerfile_path`, and hidden from the image: the context's
/// `.dockerignore` gets both that name and its own appended, so the builder
/// drops them from the context after reading them (a `COPY . .` copies
/// neither; the caller's patterns keep working, the last match deciding).
/// The caller's Dockerfile stays where it is, for a `COPY` that names it,
/// unless their `.dockerignore` leaves it out, as Docker would.
pub fn hide_build_files(
    context: &[u8],
    dockerfile_path: &str,
    dockerfile: &str,
) -> Result<Vec<u8>, BuildContextError> {
    let theirs = normalize(dockerfile_path);
    let mut ignore_text = read_ignore_file(context, dockerfile_path)?;
    let drop_theirs = DockerIgnore::parse(&ignore_text).excludes(theirs);
    if !ignore_text.is_empty() && !ignore_text.ends_with('\n') {
        ignore_text.push('\n');
    }
    ignore_text.push_str(&format!(
        "# nanoclaw-sandbox (build only): the builder reads these, no COPY sees them\n\
         {BUILD_DOCKERFILE}\n{IGNORE_FILE}\n"
    ));
    let ours = [BUILD_DOCKERFILE, IGNORE_FILE];
    let mut out = tar::Builder::new(Vec::new());
    let mut found = false;
    walk(context, dockerfile_path, |path, entry| {
        let name = path.to_string_lossy().into_owned();
        let copied = |e: std::io::Error| {
            invalid(dockerfile_path, format!("cannot copy entry `{name}`: {e}"))
        };
        let normalized = normalize(&name);
        found |= normalized == theirs;
        if ours.contains(&normalized) || (drop_theirs && normalized == theirs) {
            return Ok(false);
        }
        let mut header = entry.header().clone();
        match entry.link_name().map_err(copied)?.map(|l| l.into_owned()) {
            Some(target) => out.append_link(&mut header, &path, target),
            None => out.append_data(&mut header, &path, &mut *entry),
        }
        .map_err(copied)?;
        Ok(false)
    })?;
    if !found {
        return Err(invalid(
            dockerfile_path,
            "no Dockerfile at that path".to_string(),
        ));
    }
    for (name, bytes) in [
        (BUILD_DOCKERFILE, dockerfile.as_bytes()),
        (IGNORE_FILE, ignore_text.as_bytes()),
    ] {
        append_file(&mut out, name, 0o644, bytes)
            .map_err(|e| invalid(dockerfile_path, format!("cannot add `{name}`: {e}")))?;
    }
    out.into_inner()
        .map_err(|e| invalid(dockerfile_path, format!("cannot finish the archive: {e}")))
}

/// The text of the context's `.dockerignore` (empty when it has none).
fn read_ignore_file(context: &[u8], dockerfile_path: &str) -> Result<String, BuildContextError> {
    let mut text = String::new();
    walk(context, dockerfile_path, |path, entry| {
        if normalize(&path.to_string_lossy()) != IGNORE_FILE {
            return Ok(false);
        }
        entry.read_to_string(&mut text).map_err(|e| {
            invalid(
                dockerfile_path,
                format!("`.dockerignore` is not UTF-8 text: {e}"),
            )
        })?;
        Ok(true)
    })?;
    Ok(text)
}

/// Where a BuildKit tar context holds the Dockerfile it builds: at its root,
/// beside (never inside) [`BUILDKIT_CONTEXT_DIR`].
pub const BUILDKIT_DOCKERFILE: &str = "Dockerfile";

/// A tar body for a BuildKit build of `context`: the entries its
/// `.dockerignore` keeps, under [`BUILDKIT_CONTEXT_DIR`], and `dockerfile`
/// (already re-rooted by [`reroot_context_reads`](super::reroot_context_reads))
/// at [`BUILDKIT_DOCKERFILE`]. BuildKit applies no `.dockerignore` to a tar
/// body, so this is where it is applied, as the docker CLI applies it to a
/// local context; the Dockerfile at `dockerfile_path` must be in `context`
/// (it is left out of the directory when `.dockerignore` lists it).
pub fn buildkit_context(
    context: &[u8],
    dockerfile_path: &str,
    dockerfile: &str,
) -> Result<Vec<u8>, BuildContextError> {
    let theirs = normalize(dockerfile_path);
    let ignore = DockerIgnore::parse(&read_ignore_file(context, dockerfile_path)?);
    let mut out = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    out.append_data(
        &mut dir,
        format!("{BUILDKIT_CONTEXT_DIR}/"),
        std::io::empty(),
    )
    .map_err(|e| invalid(dockerfile_path, format!("cannot start the archive: {e}")))?;
    let mut found = false;
    walk(context, dockerfile_path, |path, entry| {
        let name = path.to_string_lossy().into_owned();
        let copied = |e: std::io::Error| {
            invalid(dockerfile_path, format!("cannot copy entry `{name}`: {e}"))
        };
        let normalized = normalize(&name).trim_end_matches('/');
        found |= normalized == theirs;
        if normalized.is_empty() || normalized == "." || ignore.excludes(normalized) {
            return Ok(false);
        }
        let under = |p: &str| format!("{BUILDKIT_CONTEXT_DIR}/{}", normalize(p));
        let mut header = entry.header().clone();
        let target = entry.link_name().map_err(copied)?.map(|l| l.into_owned());
        match target {
            // A hard link names another entry of the archive: it moves too.
            Some(target) if header.entry_type() == tar::EntryType::Link => {
                out.append_link(&mut header, under(&name), under(&target.to_string_lossy()))
            }
            Some(target) => out.append_link(&mut header, under(&name), target),
            None => out.append_data(&mut header, under(&name), &mut *entry),
        }
        .map_err(copied)?;
        Ok(false)
    })?;
    if !found {
        return Err(invalid(
            dockerfile_path,
            "no Dockerfile at that path".to_string(),
        ));
    }
    append_file(&mut out, BUILDKIT_DOCKERFILE, 0o644, dockerfile.as_bytes())
        .map_err(|e| invalid(dockerfile_path, format!("cannot add the Dockerfile: {e}")))?;
    out.into_inner()
        .map_err(|e| invalid(dockerfile_path, format!("cannot finish the archive: {e}")))
}

fn append_file(
    out: &mut tar::Builder<Vec<u8>>,
    path: &str,
    mode: u32,
    bytes: &[u8],
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(mode);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    out.append_data(&mut header, path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(context: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        let mut archive = tar::Archive::new(context);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let path = e.path().unwrap().to_string_lossy().into_owned();
                let mode = e.header().mode().unwrap();
                let mut bytes = Vec::new();
                e.read_to_end(&mut bytes).unwrap();
                (path, mode, bytes)
            })
            .collect()
    }

    fn context() -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let long = format!("{}/file.txt", "d".repeat(120));
        for (path, mode, bytes) in [
            ("./build/Dockerfile", 0o600, &b"FROM scratch\n"[..]),
            ("app/main.js", 0o755, &b"console.log(1)"[..]),
            (long.as_str(), 0o644, &b"long"[..]),
        ] {
            append_file(&mut builder, path, mode, bytes).unwrap();
        }
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        link.set_mode(0o777);
        builder
            .append_link(&mut link, "app/current", "main.js")
            .unwrap();
        builder.into_inner().unwrap()
    }

    #[test]
    fn the_dockerfile_is_read_by_its_path_with_or_without_dot_slash() {
        let context = context();
        assert_eq!(
            read_dockerfile(&context, "build/Dockerfile").unwrap(),
            "FROM scratch\n"
        );
        let err = read_dockerfile(&context, "Dockerfile").unwrap_err();
        assert!(err.to_string().contains("`Dockerfile`"), "{err}");
        assert!(read_dockerfile(b"not a tar", "Dockerfile").is_err());
    }

    #[test]
    fn the_build_dockerfile_is_added_and_hidden_and_the_rest_kept() {
        let out = hide_build_files(&context(), "build/Dockerfile", "FROM x\nRUN y\n").unwrap();
        let got = entries(&out);
        let find = |p: &str| got.iter().find(|(path, ..)| path == p).unwrap();
        assert_eq!(find(BUILD_DOCKERFILE).2, b"FROM x\nRUN y\n");
        assert_eq!(find("build/Dockerfile").2, b"FROM scratch\n", "theirs kept");
        assert_eq!(find("build/Dockerfile").1, 0o600, "mode kept");
        assert_eq!(find("app/main.js").2, b"console.log(1)");
        assert_eq!(find("app/main.js").1, 0o755);
        assert_eq!(find(&format!("{}/file.txt", "d".repeat(120))).2, b"long");
        let ignore = String::from_utf8(find(IGNORE_FILE).2.clone()).unwrap();
        let rules = DockerIgnore::parse(&ignore);
        assert!(rules.excludes(BUILD_DOCKERFILE) && rules.excludes(IGNORE_FILE));
        assert!(!rules.excludes("app/main.js"));
        // The symlink survives as a link.
        let mut archive = tar::Archive::new(out.as_slice());
        let link = archive
            .entries()
            .unwrap()
            .map(Result::unwrap)
            .find(|e| e.path().unwrap().to_string_lossy() == "app/current")
            .unwrap();
        assert_eq!(link.header().entry_type(), tar::EntryType::Symlink);
        assert_eq!(
            link.link_name().unwrap().unwrap().to_string_lossy(),
            "main.js"
        );
    }

    #[test]
    fn their_ignore_file_is_extended_and_an_ignored_dockerfile_left_out() {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, bytes) in [
            ("Dockerfile", &b"FROM a\n"[..]),
            (".dockerignore", &b"*.log\nDockerfile"[..]),
            (BUILD_DOCKERFILE, &b"stale"[..]),
            ("a.txt", &b"a"[..]),
        ] {
            append_file(&mut builder, path, 0o644, bytes).unwrap();
        }
        let out =
            hide_build_files(&builder.into_inner().unwrap(), "Dockerfile", "FROM b\n").unwrap();
        let got = entries(&out);
        let names: Vec<&str> = got.iter().map(|(p, ..)| p.as_str()).collect();
        assert_eq!(names, ["a.txt", BUILD_DOCKERFILE, ".dockerignore"]);
        let ignore = String::from_utf8(got[2].2.clone()).unwrap();
        assert!(
            ignore.starts_with("*.log\nDockerfile\n# nanoclaw-sandbox"),
            "{ignore}"
        );
        assert_eq!(
            got[1].2, b"FROM b\n",
            "the stale entry replaced, not duplicated"
        );
    }

    #[test]
    fn a_buildkit_context_keeps_what_dockerignore_keeps_under_the_context_dir() {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, bytes) in [
            ("Dockerfile", &b"FROM a\nCOPY . .\n"[..]),
            (".dockerignore", &b"*.log\nsecret/\n!secret/keep.txt\n"[..]),
            ("a.txt", &b"a"[..]),
            ("debug.log", &b"log"[..]),
            ("secret/key.pem", &b"key"[..]),
            ("secret/keep.txt", &b"kept"[..]),
        ] {
            append_file(&mut builder, path, 0o644, bytes).unwrap();
        }
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Link);
        link.set_size(0);
        link.set_mode(0o644);
        builder.append_link(&mut link, "b.txt", "a.txt").unwrap();
        let context = builder.into_inner().unwrap();
        let out = buildkit_context(&context, "Dockerfile", "FROM a\nCOPY context .\n").unwrap();
        let got = entries(&out);
        let names: Vec<&str> = got.iter().map(|(p, ..)| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "context/",
                "context/Dockerfile",
                "context/.dockerignore",
                "context/a.txt",
                "context/secret/keep.txt",
                "context/b.txt",
                BUILDKIT_DOCKERFILE,
            ]
        );
        assert_eq!(got.last().unwrap().2, b"FROM a\nCOPY context .\n");
        // The hard link names the moved entry.
        let mut archive = tar::Archive::new(out.as_slice());
        let link = archive
            .entries()
            .unwrap()
            .map(Result::unwrap)
            .find(|e| e.path().unwrap().to_string_lossy() == "context/b.txt")
            .unwrap();
        assert_eq!(
            link.link_name().unwrap().unwrap().to_string_lossy(),
            "context/a.txt"
        );
    }

    #[test]
    fn a_buildkit_context_leaves_out_a_listed_dockerfile_and_the_sandbox_rewrite() {
        // What the sandbox decorator hands the engine: their files, the
        // rewrite, and `.dockerignore` listing both of ours.
        let hidden = hide_build_files(&context(), "build/Dockerfile", "FROM x\n").unwrap();
        let out = buildkit_context(&hidden, BUILD_DOCKERFILE, "FROM x\n").unwrap();
        let names: Vec<String> = entries(&out).into_iter().map(|(p, ..)| p).collect();
        assert!(
            !names.iter().any(|n| n.starts_with("context/")
                && (n.ends_with(BUILD_DOCKERFILE) || n.ends_with(IGNORE_FILE))),
            "{names:?}"
        );
        assert!(
            names.contains(&"context/app/main.js".to_string()),
            "{names:?}"
        );
        assert!(
            names.contains(&"context/build/Dockerfile".to_string()),
            "{names:?}"
        );
        let err = buildkit_context(&context(), "Dockerfile", "FROM x\n").unwrap_err();
        assert_eq!(err.reason, "no Dockerfile at that path");
    }

    #[test]
    fn a_context_without_the_dockerfile_is_refused() {
        let err = hide_build_files(&context(), "Dockerfile", "FROM x\n").unwrap_err();
        assert_eq!(err.reason, "no Dockerfile at that path");
    }
}
