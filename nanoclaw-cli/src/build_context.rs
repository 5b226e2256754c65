//! A directory as a build context: a tar archive of its files (minus what
//! `.dockerignore` leaves out), with the Dockerfile at a path inside it.

use std::path::{Path, PathBuf};

use anyhow::Context;

use nanoclaw_sandbox_core::dockerfile::DockerIgnore;

/// Where a Dockerfile from outside the context goes inside it (as the
/// docker CLI does, under a name no context is likely to use).
pub(crate) const OUTSIDE_DOCKERFILE: &str = ".nanoclaw-sandbox.Dockerfile";

/// A packed context.
#[derive(Debug)]
pub(crate) struct PackedContext {
    /// The uncompressed tar archive.
    pub tar: Vec<u8>,
    /// The Dockerfile's path inside it.
    pub dockerfile: String,
    /// How many files it holds.
    pub files: usize,
}

/// The default Dockerfile name, and the one the docker CLI tries next.
const DOCKERFILE: &str = "Dockerfile";
const DOCKERFILE_LOWER: &str = "dockerfile";

/// The Dockerfile a build of `dir` reads, when it exists: `dockerfile`
/// (relative to the current directory, as `docker build -f` reads it), else
/// `dir/Dockerfile`, else `dir/dockerfile` (as the docker CLI looks).
pub(crate) fn dockerfile_path(dir: &Path, dockerfile: Option<&Path>) -> Option<PathBuf> {
    match dockerfile {
        Some(path) => path.exists().then(|| path.to_path_buf()),
        None => [DOCKERFILE, DOCKERFILE_LOWER]
            .into_iter()
            .map(|name| dir.join(name))
            .find(|path| path.exists()),
    }
}

/// Packs `dir`; `dockerfile` (default `dir/Dockerfile`, else
/// `dir/dockerfile`) may lie outside it.
/// Symlinks are packed as links, not followed; sockets and the like are
/// skipped. The Dockerfile and `.dockerignore` are always packed, as the
/// engine needs them.
pub(crate) fn pack(dir: &Path, dockerfile: Option<&Path>) -> anyhow::Result<PackedContext> {
    let root = std::fs::canonicalize(dir)
        .with_context(|| format!("the build context {} cannot be read", dir.display()))?;
    if !root.is_dir() {
        anyhow::bail!("the build context {} is not a directory", dir.display());
    }
    let dockerfile_path = dockerfile_path(&root, dockerfile).unwrap_or_else(|| match dockerfile {
        Some(path) => path.to_path_buf(),
        None => root.join(DOCKERFILE),
    });
    let dockerfile_abs = std::fs::canonicalize(&dockerfile_path).with_context(|| {
        format!(
            "no Dockerfile at {}: pass its path with -f",
            dockerfile_path.display()
        )
    })?;
    let inside = dockerfile_abs
        .strip_prefix(&root)
        .ok()
        .map(slash_path)
        .filter(|rel| !rel.is_empty());
    let ignore = match std::fs::read_to_string(root.join(".dockerignore")) {
        Ok(text) => DockerIgnore::parse(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => DockerIgnore::default(),
        Err(e) => return Err(e).context("cannot read .dockerignore"),
    };
    let always: Vec<String> = [Some(".dockerignore".to_string()), inside.clone()]
        .into_iter()
        .flatten()
        .collect();

    let mut archive = tar::Builder::new(Vec::new());
    archive.follow_symlinks(false);
    let mut files = 0;
    for (path, rel) in walk(&root)? {
        if ignore.excludes(&rel) && !always.contains(&rel) {
            continue;
        }
        let kind = std::fs::symlink_metadata(&path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .file_type();
        if kind.is_dir() {
            archive.append_dir(&rel, &path)
        } else if kind.is_file() || kind.is_symlink() {
            files += 1;
            archive.append_path_with_name(&path, &rel)
        } else {
            continue;
        }
        .with_context(|| format!("cannot pack {}", path.display()))?;
    }
    let dockerfile = match inside {
        Some(rel) => rel,
        None => {
            let text = std::fs::read(&dockerfile_abs)
                .with_context(|| format!("cannot read {}", dockerfile_abs.display()))?;
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            archive
                .append_data(&mut header, OUTSIDE_DOCKERFILE, text.as_slice())
                .context("cannot pack the Dockerfile")?;
            files += 1;
            OUTSIDE_DOCKERFILE.to_string()
        }
    };
    let tar = archive
        .into_inner()
        .context("cannot finish the build context")?;
    Ok(PackedContext {
        tar,
        dockerfile,
        files,
    })
}

/// Every entry below `root` (directories before their contents), sorted
/// for a reproducible archive, with its `/`-separated relative path.
fn walk(root: &Path) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .with_context(|| format!("cannot list {}", dir.display()))?;
        entries.sort();
        // Reversed onto the stack, so directories are walked in order.
        for path in entries.into_iter().rev() {
            let rel = path.strip_prefix(root).map(slash_path).unwrap_or_default();
            let is_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
            if is_dir {
                pending.push(path.clone());
            }
            found.push((path, rel));
        }
    }
    found.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(found)
}

fn slash_path(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn entries(tar: &[u8]) -> Vec<(String, String)> {
        let mut archive = tar::Archive::new(tar);
        archive
            .entries()
            .unwrap()
            .map(|entry| {
                let mut entry = entry.unwrap();
                let path = entry.path().unwrap().to_string_lossy().into_owned();
                let mut text = String::new();
                let _ = entry.read_to_string(&mut text);
                (path.trim_end_matches('/').to_string(), text)
            })
            .collect()
    }

    #[test]
    fn packs_the_context_without_what_dockerignore_leaves_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src/deep")).unwrap();
        std::fs::create_dir_all(root.join("node_modules/x")).unwrap();
        std::fs::write(root.join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(
            root.join(".dockerignore"),
            "node_modules\n*.log\nDockerfile\n",
        )
        .unwrap();
        std::fs::write(root.join("src/deep/a.txt"), "a").unwrap();
        std::fs::write(root.join("node_modules/x/y.js"), "y").unwrap();
        std::fs::write(root.join("debug.log"), "log").unwrap();
        std::os::unix::fs::symlink("src/deep/a.txt", root.join("link")).unwrap();

        let packed = pack(root, None).unwrap();
        assert_eq!(packed.dockerfile, "Dockerfile");
        let names: Vec<String> = entries(&packed.tar).into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                ".dockerignore",
                "Dockerfile",
                "link",
                "src",
                "src/deep",
                "src/deep/a.txt"
            ],
            "the Dockerfile is packed although ignored"
        );
        assert_eq!(packed.files, 4);
    }

    #[test]
    fn a_dockerfile_outside_the_context_is_packed_under_a_name_of_its_own() {
        let context = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(context.path().join("a.txt"), "a").unwrap();
        let dockerfile = elsewhere.path().join("agent.Dockerfile");
        std::fs::write(&dockerfile, "FROM scratch\nCOPY a.txt /\n").unwrap();
        let packed = pack(context.path(), Some(&dockerfile)).unwrap();
        assert_eq!(packed.dockerfile, OUTSIDE_DOCKERFILE);
        let found = entries(&packed.tar);
        assert!(found.contains(&(
            OUTSIDE_DOCKERFILE.to_string(),
            "FROM scratch\nCOPY a.txt /\n".to_string()
        )));

        let inside = context.path().join("sub");
        std::fs::create_dir(&inside).unwrap();
        std::fs::write(inside.join("Dockerfile.dev"), "FROM scratch\n").unwrap();
        let packed = pack(context.path(), Some(&inside.join("Dockerfile.dev"))).unwrap();
        assert_eq!(packed.dockerfile, "sub/Dockerfile.dev");
    }

    #[test]
    fn a_lowercase_dockerfile_is_found_as_docker_finds_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("dockerfile"), "FROM scratch\n").unwrap();
        assert_eq!(
            dockerfile_path(dir.path(), None),
            Some(dir.path().join("dockerfile"))
        );
        assert_eq!(pack(dir.path(), None).unwrap().dockerfile, "dockerfile");
        // Control: `Dockerfile` comes first when both are there.
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        assert_eq!(pack(dir.path(), None).unwrap().dockerfile, "Dockerfile");
    }

    #[test]
    fn a_missing_dockerfile_or_context_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = pack(dir.path(), None).unwrap_err();
        assert!(err.to_string().contains("-f"), "{err}");
        let err = pack(&dir.path().join("nope"), None).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
