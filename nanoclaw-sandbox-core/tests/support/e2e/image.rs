//! The Debian agent image (node, curl, python3, git, ca-certificates, plus
//! Node 24 at `/opt/node24/bin/node` and Deno at `/usr/local/bin/deno` from
//! their PyPI wheels), built by `.ci/debian-agent-image.sh` once per machine
//! and reused after.

use std::process::Command;
use std::sync::OnceLock;

use nanoclaw_testkit::prereq::missing;

/// The script that builds (or finds) the image and prints its tag.
pub const DEBIAN_IMAGE_SCRIPT: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../.ci/debian-agent-image.sh");

/// The script's exit code for "a prerequisite is missing" (not root, no
/// debootstrap, no daemon): the one case a test may skip on.
const PREREQUISITE_MISSING: i32 = 3;

#[derive(Debug, Clone)]
enum Outcome {
    Tag(String),
    Unavailable(String),
}

/// The image's tag, built on first use. `None` after [`missing`] said why
/// (which fails the test under `NANOCLAW_REQUIRE_DOCKER=1`); a build that
/// fails for any other reason panics with the script's log.
///
/// The script is run once per test binary; it returns at once when the image
/// is present, and serialises concurrent builds with a lock.
pub fn debian_image() -> Option<String> {
    static OUTCOME: OnceLock<Outcome> = OnceLock::new();
    match OUTCOME.get_or_init(build_or_find) {
        Outcome::Tag(tag) => Some(tag.clone()),
        Outcome::Unavailable(why) => {
            missing("the Debian agent image", why);
            None
        }
    }
}

fn build_or_find() -> Outcome {
    let out = match Command::new("bash").arg(DEBIAN_IMAGE_SCRIPT).output() {
        Ok(out) => out,
        Err(e) => return Outcome::Unavailable(format!("cannot run {DEBIAN_IMAGE_SCRIPT}: {e}")),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            match stdout.lines().last().map(str::trim) {
                Some(tag) if !tag.is_empty() => Outcome::Tag(tag.to_string()),
                _ => panic!("{DEBIAN_IMAGE_SCRIPT} printed no image tag; stderr:\n{stderr}"),
            }
        }
        Some(PREREQUISITE_MISSING) => Outcome::Unavailable(stderr.trim().to_string()),
        _ => panic!("{DEBIAN_IMAGE_SCRIPT} failed ({}):\n{stderr}", out.status),
    }
}
