//! Dockerfile syntax against the real daemon's builder (Docker Engine
//! 20.10's classic frontend), through the library:
//!
//! - a heredoc Dockerfile is refused before the engine is called: its base
//!   image does not exist, yet the error is the heredoc's (with its line),
//!   not "image not found", and no build output (no step) came back;
//! - a `` # escape=` `` multi-stage Dockerfile, whose `\`-ended line would
//!   have hidden a stage alias from a line reader, builds: `FROM builder`
//!   and `COPY --from=builder` name its own stages, not outside images.
//!
//! Run: `NANOCLAW_REQUIRE_DOCKER=1 cargo test -p nanoclaw-sandbox-core --features full --test dockerfile_engine_support`

mod support;

use nanoclaw_sandbox_core::dockerfile::{DockerfileError, SyntaxFeature};
use nanoclaw_sandbox_core::runtime::{
    BuildRequest, Builder, ContainerRuntime, ImageBuilder, RuntimeError, TEST,
};
use nanoclaw_sandbox_core::sandbox::{Mode, SandboxEnv, SandboxRuntime};
use nanoclaw_sandbox_core::spec::NetworkMode;
use nanoclaw_testkit::docker::ImageGuard;
use nanoclaw_testkit::tar::tar_context;
use support::docker::{connect, scratch_image, unique_tag};

fn request(dockerfile: &str, files: &[(&str, &str)], tag: &str) -> BuildRequest {
    let mut entries = vec![("Dockerfile", dockerfile)];
    entries.extend_from_slice(files);
    BuildRequest::new(tar_context(&entries))
        .tag(tag)
        .label(TEST, "true")
        .network(NetworkMode::None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_heredoc_is_refused_before_the_engine_is_called() {
    let Some(docker) = connect().await else {
        return;
    };
    let missing = unique_tag("nanoclaw-test-missing-base");
    let tag = unique_tag("nanoclaw-test-heredoc");
    let _cleanup = ImageGuard::of([tag.clone()]);
    assert!(
        !docker.image_exists(&missing).await.unwrap(),
        "{missing} must not exist for this test"
    );

    // Control: without the heredoc, the same build stops at the missing base image.
    let plain = format!("FROM {missing}\nCOPY run.sh /run.sh\n");
    let err = docker
        .build(request(&plain, &[("run.sh", "true\n")], &tag), &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RuntimeError::ImageNotFound { image } if *image == missing),
        "{err}"
    );

    let heredoc = format!("FROM {missing}\n\nRUN <<EOF\necho from a heredoc\nEOF\n");
    // Directly and through the sandbox layer (standard Docker mode).
    let sandboxed = SandboxRuntime::builder(docker)
        .env(SandboxEnv::new(Mode::StandardDocker))
        .build()
        .unwrap();
    for (via, builder) in [
        ("DockerRuntime", sandboxed.inner() as &dyn ImageBuilder),
        ("SandboxRuntime", &sandboxed as &dyn ImageBuilder),
    ] {
        let mut output: Vec<String> = Vec::new();
        let err = builder
            .build(request(&heredoc, &[], &tag), &mut |line| {
                output.push(line.to_string())
            })
            .await
            .unwrap_err();
        assert!(
            matches!(
                &err,
                RuntimeError::Dockerfile {
                    source: DockerfileError::Unsupported {
                        line: 3,
                        feature: SyntaxFeature::Heredoc,
                        ..
                    }
                }
            ),
            "{via}: {err}"
        );
        let message = err.to_string();
        assert!(
            message.contains("line 3: `RUN <<EOF` is a heredoc")
                && message.contains("Docker Engine 20.10"),
            "{via}: {message}"
        );
        assert!(output.is_empty(), "{via}: a build step ran: {output:?}");
        assert!(!sandboxed.image_exists(&tag).await.unwrap(), "{via}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backtick_escape_multi_stage_dockerfile_builds() {
    let Some(docker) = connect().await else {
        return;
    };
    let base = unique_tag("nanoclaw-test-escape-base");
    let tag = unique_tag("nanoclaw-test-escape");
    let _cleanup = ImageGuard::of([base.clone(), tag.clone()]);
    scratch_image(&docker, &base).await;

    // With the backtick escape, `C:\` ends the LABEL; a reader that took
    // `\` for the escape would join the next line and never see `builder`.
    let dockerfile = format!(
        "# escape=`\n\
         FROM {base} AS base\n\
         LABEL windows.path=C:\\\n\
         FROM base AS builder\n\
         COPY a.txt `\n\
         \x20    /a.txt\n\
         FROM builder\n\
         COPY --from=builder /a.txt /b.txt\n\
         COPY --from=0 /marker /base-marker\n"
    );
    let mut output: Vec<String> = Vec::new();
    let built = docker
        .build(
            request(&dockerfile, &[("a.txt", "a\n")], &tag),
            &mut |line| output.push(line.to_string()),
        )
        .await;
    let id = match built {
        Ok(id) => id,
        Err(e) => panic!(
            "the build failed: {e}\n--- output ---\n{}",
            output.join("\n")
        ),
    };
    assert!(!id.as_str().is_empty());
    assert!(docker.image_exists(&tag).await.unwrap());
    assert!(
        output.iter().any(|l| l.contains("FROM builder")),
        "the engine built the aliased stage: {output:?}"
    );
}

/// BuildKit through the library: `RUN --mount` cache, bind, bare (the
/// whole context) and secret (none given: absent) mounts build, and `.dockerignore` holds for `COPY . .` and
/// for the context mount although BuildKit itself applies none to a tar
/// body. Controls: without the ignore file the same file does arrive; the
/// classic builder, asked for, refuses the flags before the engine is called.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buildkit_builds_run_mounts_and_honours_dockerignore() {
    let Some(docker) = connect().await else {
        return;
    };
    let Some(base) = support::e2e::debian_image() else {
        return;
    };
    let dockerfile = format!(
        "FROM {base}\n\
         WORKDIR /app\n\
         COPY . .\n\
         RUN --mount=type=cache,target=/cache echo cached > /cache/x && cp /cache/x /from-cache\n\
         RUN --mount=type=bind,source=app.js,target=/mnt/app.js cp /mnt/app.js /bound.js\n\
         RUN --mount=target=/ctx ls -A /ctx > /ctx-listing\n\
         RUN --mount=type=secret,id=npm test ! -e /run/secrets/npm\n"
    );
    let build = |ignore: Option<&str>, builder: Builder| {
        let tag = unique_tag("nanoclaw-test-buildkit");
        let mut files = vec![
            ("Dockerfile", dockerfile.as_str()),
            ("app.js", "console.log('bound')\n"),
            ("secret.txt", "not for the image\n"),
        ];
        if let Some(ignore) = ignore {
            files.push((".dockerignore", ignore));
        }
        (
            tag.clone(),
            request(&dockerfile, &files[1..], &tag).builder(builder),
        )
    };
    let run = |tag: &str, script: &str| {
        let out = std::process::Command::new("docker")
            .args([
                "run",
                "--rm",
                "--pull",
                "never",
                "--network",
                "none",
                tag,
                "sh",
                "-c",
                script,
            ])
            .output()
            .expect("running docker");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };

    let (tag, ignoring) = build(Some("secret.txt\n"), Builder::Auto);
    let (control_tag, keeping) = build(None, Builder::BuildKit);
    let _cleanup = ImageGuard::of([tag.clone(), control_tag.clone()]);
    let mut output: Vec<String> = Vec::new();
    if let Err(e) = docker
        .build(ignoring, &mut |line| output.push(line.to_string()))
        .await
    {
        panic!(
            "the BuildKit build failed: {e}\n--- output ---\n{}",
            output.join("\n")
        );
    }
    assert!(
        output
            .iter()
            .any(|l| l.starts_with('#') && l.contains("RUN --mount=type=cache")),
        "BuildKit's step lines: {output:?}"
    );
    assert_eq!(run(&tag, "cat /from-cache"), "cached\n");
    assert_eq!(run(&tag, "cat /bound.js"), "console.log('bound')\n");
    let listing = |tag: &str| run(tag, "ls -A /app | sort; echo --; sort /ctx-listing");
    assert_eq!(
        listing(&tag),
        ".dockerignore\nDockerfile\napp.js\n--\n.dockerignore\nDockerfile\napp.js\n"
    );
    docker
        .build(keeping, &mut |_| {})
        .await
        .expect("the control build");
    assert_eq!(
        listing(&control_tag),
        "Dockerfile\napp.js\nsecret.txt\n--\nDockerfile\napp.js\nsecret.txt\n"
    );

    let (refused_tag, classic) = build(None, Builder::Classic);
    let mut steps = 0;
    let err = docker
        .build(classic, &mut |_| steps += 1)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            RuntimeError::Dockerfile {
                source: DockerfileError::Unsupported {
                    line: 4,
                    feature: SyntaxFeature::RunFlag,
                    ..
                }
            }
        ),
        "{err}"
    );
    assert_eq!(steps, 0, "no step ran");
    assert!(!docker.image_exists(&refused_tag).await.unwrap());
}
