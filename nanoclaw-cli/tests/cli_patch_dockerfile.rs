//! `nanoclaw-sandbox patch-dockerfile`, as a user (or CI) types it.

mod cli_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use cli_support::{cli, text};
use nanoclaw_sandbox_core::dockerfile::patch_dockerfile;

const UNPATCHED: &str = "# syntax=docker/dockerfile:1\nFROM scratch AS base\nCOPY agent /agent\n\nFROM base\nENTRYPOINT [\"/agent\"]\n";

fn dockerfile(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("Dockerfile");
    std::fs::write(&path, text).unwrap();
    path
}

/// `patch-dockerfile --check FILE` exits with `code`.
fn check(file: &Path, code: i32) -> assert_cmd::assert::Assert {
    cli()
        .args(["patch-dockerfile", "--check"])
        .arg(file)
        .assert()
        .code(code)
}

fn patched() -> String {
    patch_dockerfile(UNPATCHED).unwrap().text
}

#[test]
fn prints_the_patched_file_and_leaves_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let file = dockerfile(dir.path(), UNPATCHED);
    let assert = cli().arg("patch-dockerfile").arg(&file).assert().code(0);
    assert_eq!(text(&assert.get_output().stdout), patched());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), UNPATCHED);
}

#[test]
fn check_exits_1_when_a_patch_is_needed_and_0_when_not() {
    let dir = tempfile::tempdir().unwrap();
    let file = dockerfile(dir.path(), UNPATCHED);
    let assert = check(&file, 1);
    let stdout = text(&assert.get_output().stdout);
    assert!(stdout.contains("2 of 2 stage(s)"), "{stdout}");
    assert!(stdout.contains("--in-place"), "it says the fix: {stdout}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), UNPATCHED);

    std::fs::write(&file, patched()).unwrap();
    check(&file, 0);
}

#[test]
fn in_place_rewrites_through_a_symlink_keeping_the_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let file = dockerfile(dir.path(), UNPATCHED);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = dir.path().join("Dockerfile.link");
    std::os::unix::fs::symlink(&file, &link).unwrap();

    cli()
        .args(["patch-dockerfile", "--in-place"])
        .arg(&link)
        .assert()
        .code(0);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), patched());
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o7777,
        0o640
    );
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "no temporary file left: {leftovers:?}");

    let assert = cli()
        .args(["patch-dockerfile", "--in-place"])
        .arg(&file)
        .assert()
        .code(0);
    assert!(text(&assert.get_output().stdout).contains("already declares"));
    check(&file, 0);
}

#[test]
fn input_errors_exit_2_with_the_librarys_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = dockerfile(dir.path(), "# only a comment\n");
    let assert = cli().arg("patch-dockerfile").arg(&file).assert().code(2);
    let stderr = text(&assert.get_output().stderr);
    let expected = patch_dockerfile("# only a comment\n")
        .unwrap_err()
        .to_string();
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");

    let missing = dir.path().join("nope");
    let assert = cli().arg("patch-dockerfile").arg(&missing).assert().code(2);
    assert!(text(&assert.get_output().stderr).contains("cannot read"));
    cli()
        .args(["patch-dockerfile", "--check", "--in-place"])
        .arg(&file)
        .assert()
        .code(2);
}

/// `| head` closes our stdout early: the command ends quietly with 0 (no
/// "Broken pipe" error). The control: the same output to a reader that
/// takes it all also exits 0, and the printed size shows it was large
/// enough to outlast the pipe buffer.
#[test]
fn a_closed_stdout_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let big = format!("FROM scratch\n{}", "COPY a /a\n".repeat(50_000));
    let file = dockerfile(dir.path(), &big);
    let exe = env!("CARGO_BIN_EXE_nanoclaw-sandbox");
    let piped = |reader: &str| {
        std::process::Command::new("bash")
            .args([
                "-c",
                &format!("set -o pipefail; \"$0\" patch-dockerfile \"$1\" | {reader}"),
                exe,
            ])
            .arg(&file)
            .output()
            .unwrap()
    };
    let all = piped("wc -c");
    assert!(all.status.success(), "{all:?}");
    let size: usize = text(&all.stdout).trim().parse().unwrap();
    assert!(size > 256 * 1024, "{size} bytes");
    let head = piped("head -c 1 >/dev/null");
    assert!(head.status.success(), "{head:?}");
    assert_eq!(text(&head.stderr), "", "nothing on stderr");
}
