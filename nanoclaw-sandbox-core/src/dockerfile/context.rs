//! Build contexts (uncompressed tar archives): reading the Dockerfile out of
//! one, and rewriting one with another Dockerfile and extra files — how the
//! CA steps reach a build without touching the caller's files on disk.

use std::io::Read;
use std::path::PathBuf;

use super::ContextFile;

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

/// `context` with the Dockerfile at `dockerfile_path` replaced by
/// `dockerfile` (its mode kept) and `files` added at the root, replacing
/// entries of the same name. Every other entry is copied as it was (long
/// names and link targets included; PAX extras such as xattrs are dropped,
/// which the classic builder ignores anyway).
pub fn rewrite_context(
    context: &[u8],
    dockerfile_path: &str,
    dockerfile: &str,
    files: &[ContextFile],
) -> Result<Vec<u8>, BuildContextError> {
    let wanted = normalize(dockerfile_path);
    let mut out = tar::Builder::new(Vec::new());
    let mut replaced = false;
    walk(context, dockerfile_path, |path, entry| {
        let name = path.to_string_lossy().into_owned();
        let copied = |e: std::io::Error| {
            invalid(dockerfile_path, format!("cannot copy entry `{name}`: {e}"))
        };
        if normalize(&name) == wanted {
            let mode = entry.header().mode().unwrap_or(0o644);
            append_file(&mut out, wanted, mode, dockerfile.as_bytes()).map_err(copied)?;
            replaced = true;
        } else if !files.iter().any(|f| normalize(&f.name) == normalize(&name)) {
            let mut header = entry.header().clone();
            match entry.link_name().map_err(copied)?.map(|l| l.into_owned()) {
                Some(target) => out.append_link(&mut header, &path, target),
                None => out.append_data(&mut header, &path, &mut *entry),
            }
            .map_err(copied)?;
        }
        Ok(false)
    })?;
    if !replaced {
        return Err(invalid(
            dockerfile_path,
            "no Dockerfile at that path".to_string(),
        ));
    }
    for file in files {
        append_file(&mut out, normalize(&file.name), file.mode, &file.bytes)
            .map_err(|e| invalid(dockerfile_path, format!("cannot add `{}`: {e}", file.name)))?;
    }
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
            ("nanoclaw-proxy-ca.crt", 0o644, &b"stale"[..]),
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
    fn a_rewrite_replaces_the_dockerfile_and_adds_files_keeping_the_rest() {
        let ca = ContextFile {
            name: "nanoclaw-proxy-ca.crt".into(),
            bytes: b"CA".to_vec(),
            mode: 0o644,
        };
        let out =
            rewrite_context(&context(), "build/Dockerfile", "FROM x\nRUN y\n", &[ca]).unwrap();
        let got = entries(&out);
        let find = |p: &str| got.iter().find(|(path, ..)| path == p).unwrap();
        assert_eq!(find("build/Dockerfile").2, b"FROM x\nRUN y\n");
        assert_eq!(find("build/Dockerfile").1, 0o600, "mode kept");
        assert_eq!(find("app/main.js").2, b"console.log(1)");
        assert_eq!(find("app/main.js").1, 0o755);
        assert_eq!(find(&format!("{}/file.txt", "d".repeat(120))).2, b"long");
        let cas: Vec<_> = got
            .iter()
            .filter(|(p, ..)| p == "nanoclaw-proxy-ca.crt")
            .collect();
        assert_eq!(cas.len(), 1, "the stale entry is replaced, not duplicated");
        assert_eq!(cas[0].2, b"CA");
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
    fn a_rewrite_without_the_dockerfile_is_refused() {
        let err = rewrite_context(&context(), "Dockerfile", "FROM x\n", &[]).unwrap_err();
        assert_eq!(err.reason, "no Dockerfile at that path");
    }
}
