//! `dockerfile-args`: every build stage declares the proxy build args, so
//! `RUN` steps reach the network through the proxy and trust its CA.

use std::path::Path;

use super::check::Check;
use super::CheckId;
use crate::dockerfile::{patch_dockerfile, PROXY_BUILD_ARGS};

/// `dockerfile-args` for the file at `path` holding `text` (`None`: no
/// Dockerfile given).
pub(crate) fn dockerfile_args(dockerfile: Option<(&Path, &str)>) -> Check {
    let id = CheckId::DockerfileArgs;
    let Some((path, text)) = dockerfile else {
        return Check::skip(
            id,
            "no Dockerfile given: pass --dockerfile FILE to check it",
        );
    };
    let shown = path.display();
    match patch_dockerfile(text) {
        Err(error) => Check::fail(
            id,
            format!("{shown} cannot be read as a Dockerfile: {error}"),
            "fix the file, then run `nanoclaw-sandbox patch-dockerfile --check` on it",
        ),
        Ok(patch) if patch.changed() => Check::fail(
            id,
            format!(
                "{shown}: {} of {} stage(s) do not declare all of {}: their RUN steps get no \
                 NODE_EXTRA_CA_CERTS (and no explicit proxy), so builds fail with proxy or \
                 certificate errors (\"npm install fails with SELF_SIGNED_CERT_IN_CHAIN\")",
                patch.stages_changed,
                patch.stages,
                PROXY_BUILD_ARGS.join(" ")
            ),
            format!(
                "`nanoclaw-sandbox patch-dockerfile --in-place {shown}`, and build with \
                 `nanoclaw-sandbox build`, which passes the proxy build args and installs the \
                 CA for RUN steps (never `npm config set strict-ssl false`)"
            ),
        ),
        Ok(patch) => Check::pass(
            id,
            format!(
                "{shown}: all {} stage(s) declare the proxy build args",
                patch.stages
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::check::Status;

    #[test]
    fn unpatched_files_fail_patched_ones_pass() {
        let path = Path::new("Dockerfile");
        let plain = "FROM node:22\nRUN npm ci\n";
        let check = dockerfile_args(Some((path, plain)));
        assert_eq!(check.status, Status::Fail, "{check}");
        assert!(check.detail.contains("1 of 1 stage(s)"), "{check}");
        let patched = patch_dockerfile(plain).unwrap().text;
        assert_eq!(dockerfile_args(Some((path, &patched))).status, Status::Pass);
        assert_eq!(
            dockerfile_args(Some((path, "# nothing\n"))).status,
            Status::Fail
        );
        assert_eq!(dockerfile_args(None).status, Status::Skip);
    }
}
