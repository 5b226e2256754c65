//! Where things live: the project and the mount sources inside the
//! workspace root (in Docker Sandboxes only workspace paths can be
//! bind-mounted), and the workspace's file system.

use std::path::{Path, PathBuf};

use super::check::Check;
use super::CheckId;
use crate::spec::{ContainerSpec, Mount};

const DEV_NULL: &str = "/dev/null";

/// Why a workspace check did not run.
const NO_WORKSPACE: &str =
    "no workspace root given: pass --workspace DIR (the directory the sandbox shares)";

/// Where the kernel lists this process's mounts (Linux).
pub(crate) const MOUNTINFO: &str = "/proc/self/mountinfo";

// One home for resolving mount sources: the mount allowlist's.
pub(crate) use crate::mount_policy::{is_inside, resolve};

/// What every workspace finding's fix starts from.
fn workspace_missing(id: CheckId, root: &Path) -> Option<Check> {
    (!root.is_dir()).then(|| {
        Check::fail(
            id,
            format!("the workspace root {} is not a directory", root.display()),
            "pass the directory the sandbox shares with --workspace DIR (the sandbox's \
             workspace, mounted at the same path as on the host)",
        )
    })
}

/// `workspace-project`: the host's project lives inside the workspace.
pub(crate) fn workspace_project(project: Option<&Path>, workspace: Option<&Path>) -> Check {
    let id = CheckId::WorkspaceProject;
    let (Some(project), Some(root)) = (project, workspace) else {
        return Check::skip(id, NO_WORKSPACE);
    };
    if let Some(missing) = workspace_missing(id, root) {
        return missing;
    }
    let (project, root) = (resolve(project), resolve(root));
    if project.starts_with(&root) {
        Check::pass(
            id,
            format!(
                "the project {} is inside the workspace {}",
                project.display(),
                root.display()
            ),
        )
    } else {
        Check::fail(
            id,
            format!(
                "the project {} is outside the workspace {}: inside Docker Sandboxes only \
                 workspace paths can be bind-mounted, so agent containers fail with \
                 \"path not shared\"",
                project.display(),
                root.display()
            ),
            format!(
                "move the project (NanoClaw) under {} and run it from there",
                root.display()
            ),
        )
    }
}

/// `workspace-mounts`: every bind source of the spec is inside the workspace.
pub(crate) fn workspace_mounts(spec: Option<&ContainerSpec>, workspace: Option<&Path>) -> Check {
    let id = CheckId::WorkspaceMounts;
    let Some(spec) = spec else {
        return Check::skip(
            id,
            "no container spec given: pass --spec FILE to check its mounts",
        );
    };
    let Some(root) = workspace else {
        return Check::skip(id, NO_WORKSPACE);
    };
    if let Some(missing) = workspace_missing(id, root) {
        return missing;
    }
    let mut outside = Vec::new();
    let mut dev_null = Vec::new();
    let mut inside = 0usize;
    for mount in spec.mounts() {
        let Mount::Bind { source, target, .. } = mount else {
            continue;
        };
        if source == Path::new(DEV_NULL) {
            dev_null.push(target.clone());
        } else if is_inside(source, root) {
            inside += 1;
        } else {
            outside.push(format!("{} (-> {target})", source.display()));
        }
    }
    let root_shown = resolve(root);
    if !outside.is_empty() {
        return Check::fail(
            id,
            format!(
                "bind mount source(s) outside the workspace {}: {}; the sandbox's engine \
                 refuses them (\"path not shared\")",
                root_shown.display(),
                outside.join(", ")
            ),
            format!(
                "move or copy those files under {} and mount them from there (the sandbox \
                 layer already puts its CA directory and empty file there)",
                root_shown.display()
            ),
        );
    }
    if !dev_null.is_empty() {
        return Check::warn(
            id,
            format!(
                "{DEV_NULL} bind-mounted at {}: the sandbox rejects /dev/null bind mounts; the \
                 patcher replaces them",
                dev_null.join(", ")
            ),
            "create agent containers through the sandbox layer (SandboxRuntime, or \
             `nanoclaw-sandbox run`), which mounts an empty file from the workspace instead; \
             never pass such a spec to the engine directly",
        );
    }
    Check::pass(
        id,
        format!(
            "{inside} bind mount source(s), all inside the workspace {}",
            root_shown.display()
        ),
    )
}

/// `workspace-fs`: `git clone` into a virtiofs workspace fails.
pub(crate) fn workspace_fs(dir: Option<&Path>, mountinfo: Option<&str>) -> Check {
    let id = CheckId::WorkspaceFs;
    let Some(dir) = dir else {
        return Check::skip(id, "no workspace root or project directory to look at");
    };
    let resolved = resolve(dir);
    let Some(mountinfo) = mountinfo else {
        return Check::skip(id, format!("cannot read {MOUNTINFO} (not Linux?)"));
    };
    let Some((mount_point, fs_type)) = file_system_of(&resolved, mountinfo) else {
        return Check::skip(
            id,
            format!("no mount in {MOUNTINFO} holds {}", resolved.display()),
        );
    };
    let on = format!(
        "{} is on {fs_type} (mounted at {})",
        resolved.display(),
        mount_point.display()
    );
    if fs_type == "virtiofs" {
        Check::warn(
            id,
            format!("{on}: `git clone` inside it can fail with \"inflate: data stream error\""),
            format!(
                "clone outside the workspace and move the result in: `git clone URL /tmp/repo \
                 && mv /tmp/repo {}/`",
                resolved.display()
            ),
        )
    } else {
        Check::pass(id, on)
    }
}

/// The mount point and file system type holding `path`, from the text of
/// `/proc/self/mountinfo`: the longest mount point above it, the last one
/// listed when several are stacked.
pub(crate) fn file_system_of(path: &Path, mountinfo: &str) -> Option<(PathBuf, String)> {
    let mut best: Option<(PathBuf, String)> = None;
    for line in mountinfo.lines() {
        let Some((mount_point, fs_type)) = parse_mountinfo_line(line) else {
            continue;
        };
        if !path.starts_with(&mount_point) {
            continue;
        }
        let longer = best
            .as_ref()
            .is_none_or(|(current, _)| mount_point.as_os_str().len() >= current.as_os_str().len());
        if longer {
            best = Some((mount_point, fs_type));
        }
    }
    best
}

/// `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER`.
fn parse_mountinfo_line(line: &str) -> Option<(PathBuf, String)> {
    let (before, after) = line.split_once(" - ")?;
    let mount_point = before.split(' ').nth(4)?;
    let fs_type = after.split(' ').next()?;
    Some((
        PathBuf::from(unescape_octal(mount_point)),
        fs_type.to_string(),
    ))
}

/// The kernel writes space, tab, newline and backslash as `\040` etc.
fn unescape_octal(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)))
            .and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok());
        match octal {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::check::Status;

    const MOUNTINFO_TEXT: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:35 / /Users/me/work rw,relatime shared:9 - virtiofs workspace rw
41 40 0:36 / /Users/me/work/with\\040space rw - tmpfs tmpfs rw
42 22 0:37 / /tmp rw - tmpfs tmpfs rw
43 22 0:38 / /tmp rw - overlay overlay rw
";

    #[test]
    fn the_longest_and_last_mount_point_wins() {
        let fs = |p: &str| file_system_of(Path::new(p), MOUNTINFO_TEXT);
        assert_eq!(fs("/Users/me/work/repo").unwrap().1, "virtiofs");
        assert_eq!(fs("/Users/me/workshop").unwrap().1, "ext4");
        assert_eq!(
            fs("/Users/me/work/with space/x").unwrap(),
            (
                PathBuf::from("/Users/me/work/with space"),
                "tmpfs".to_string()
            )
        );
        assert_eq!(fs("/tmp/x").unwrap().1, "overlay");
        assert_eq!(file_system_of(Path::new("/x"), "garbage\n"), None);
    }

    #[test]
    fn a_virtiofs_workspace_warns_about_git_and_others_pass() {
        let dir = tempfile::tempdir().unwrap();
        let real = resolve(dir.path());
        let virtiofs = format!(
            "1 0 0:1 / / rw - ext4 r rw\n2 1 0:2 / {} rw - virtiofs w rw\n",
            real.display()
        );
        let check = workspace_fs(Some(dir.path()), Some(&virtiofs));
        assert_eq!(check.status, Status::Warn, "{check}");
        assert!(
            check.detail.contains("inflate: data stream error"),
            "{check}"
        );
        assert!(check.fix.unwrap().contains("git clone URL /tmp/repo"));
        let plain = "1 0 0:1 / / rw - ext4 r rw\n";
        assert_eq!(
            workspace_fs(Some(dir.path()), Some(plain)).status,
            Status::Pass
        );
        assert_eq!(workspace_fs(Some(dir.path()), None).status, Status::Skip);
        assert_eq!(workspace_fs(None, Some(plain)).status, Status::Skip);
    }

    #[test]
    fn paths_resolve_through_symlinks_and_dotdot() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let ws = root.path();
        std::fs::create_dir(ws.join("sub")).unwrap();
        std::os::unix::fs::symlink(outside.path(), ws.join("escape")).unwrap();
        assert!(is_inside(&ws.join("sub"), ws));
        assert!(is_inside(&ws.join("sub/not-yet/created"), ws));
        assert!(is_inside(ws, ws));
        assert!(!is_inside(&ws.join("sub/../../elsewhere"), ws));
        assert!(!is_inside(&ws.join("escape/file"), ws));
        assert!(!is_inside(outside.path(), ws));
    }

    fn spec_with(mounts: Vec<Mount>) -> ContainerSpec {
        ContainerSpec::builder("agent:1")
            .mounts(mounts)
            .build()
            .unwrap()
    }

    #[test]
    fn mounts_outside_fail_dev_null_warns_inside_passes() {
        let ws = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let inside = spec_with(vec![
            Mount::bind(ws.path().join("data"), "/data", false),
            Mount::tmpfs("/tmp", None),
        ]);
        let check = workspace_mounts(Some(&inside), Some(ws.path()));
        assert_eq!(check.status, Status::Pass, "{check}");
        assert!(
            check.detail.starts_with("1 bind mount source(s)"),
            "{check}"
        );

        let dev_null = spec_with(vec![Mount::bind("/dev/null", "/app/.env", true)]);
        let check = workspace_mounts(Some(&dev_null), Some(ws.path()));
        assert_eq!(check.status, Status::Warn, "{check}");
        assert!(check
            .detail
            .contains("the sandbox rejects /dev/null bind mounts; the patcher replaces them"));

        let out = spec_with(vec![
            Mount::bind("/dev/null", "/app/.env", true),
            Mount::bind(outside.path(), "/outside", true),
        ]);
        let check = workspace_mounts(Some(&out), Some(ws.path()));
        assert_eq!(check.status, Status::Fail, "{check}");
        assert!(check.detail.contains("-> /outside"), "{check}");
        assert!(check.detail.contains("path not shared"), "{check}");

        assert_eq!(workspace_mounts(None, Some(ws.path())).status, Status::Skip);
        assert_eq!(workspace_mounts(Some(&inside), None).status, Status::Skip);
        let gone = ws.path().join("missing");
        assert_eq!(
            workspace_mounts(Some(&inside), Some(&gone)).status,
            Status::Fail
        );
    }

    #[test]
    fn the_project_must_be_inside_the_workspace() {
        let ws = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let project = ws.path().join("nanoclaw");
        std::fs::create_dir(&project).unwrap();
        assert_eq!(
            workspace_project(Some(&project), Some(ws.path())).status,
            Status::Pass
        );
        let check = workspace_project(Some(outside.path()), Some(ws.path()));
        assert_eq!(check.status, Status::Fail);
        assert!(check.detail.contains("path not shared"), "{check}");
        assert_eq!(workspace_project(Some(&project), None).status, Status::Skip);
    }
}
