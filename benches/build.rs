//! How much slower an image build is through the sandbox layer than through
//! plain Docker: the same Dockerfile built with `no_cache` by
//! `SandboxRuntime<DockerRuntime>` (an intercepting proxy with a CA, so each
//! `RUN` step runs inside the wrapper and the CA travels as the predefined
//! build arg `FTP_PROXY`) and by the `DockerRuntime` underneath, interleaved
//! (plain, patched, plain, patched, ...) after one untimed warm-up pair.
//! Prints each pair's wall times, both means and the ratio patched / plain.
//!
//! `cargo bench --bench build`; `NANOCLAW_BENCH_BUILD_PAIRS` sets the number
//! of timed pairs (default 3, so that the whole `cargo bench` stays under 10
//! minutes here). Needs a Docker daemon and the Debian test image
//! (`.ci/debian-agent-image.sh`); without them it says so and exits.
//! Nothing is pulled.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nanoclaw_sandbox_core::dockerfile::{BUILD_DOCKERFILE, CA_BUILD_ARG};
use nanoclaw_sandbox_core::proxy::ProxyVar;
use nanoclaw_sandbox_core::runtime::docker::{DockerOptions, DockerRuntime};
use nanoclaw_sandbox_core::runtime::{BuildRequest, ImageBuilder, InstallId, TEST};
use nanoclaw_sandbox_core::sandbox::{DetectOptions, SandboxEnv, SandboxRuntime};
use nanoclaw_sandbox_core::trust::SystemRoots;
// The workspace's test kit: the test CA and the tar context builder.
use nanoclaw_testkit::ca::TestCa;
use nanoclaw_testkit::tar::tar_context;

/// The Dockerfile built on both sides; `{base}` is the Debian test image.
const DOCKERFILE: &str = "FROM {base}
COPY app.js /app/app.js
RUN node --version > /app/node-version
RUN ls /etc/ssl/certs | wc -l > /app/certs
ENV NODE_ENV=production
CMD [\"node\", \"/app/app.js\"]
";

/// The one other file of the build context.
const APP_JS: &str = "console.log(`node ${process.version}, ${process.env.NODE_ENV}`);\n";

/// How many `RUN` steps the Dockerfile has: the patched build must wrap each.
const RUN_STEPS: usize = 2;

/// The name the wrapper runs under (`$0`), visible in the build's step lines
/// and in `docker history`.
const WRAPPER_NAME: &str = "nanoclaw-sandbox-run";

/// The script that prints the Debian test image's tag (last stdout line).
/// By absolute path: `cargo bench` over the whole workspace does not run
/// every bench from the root package's folder.
const DEBIAN_IMAGE_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/debian-agent-image.sh");
/// Its exit code when a prerequisite is missing.
const PREREQUISITE_MISSING: i32 = 3;

const PAIRS_VAR: &str = "NANOCLAW_BENCH_BUILD_PAIRS";
const DEFAULT_PAIRS: usize = 3;

/// The repository of the images this bench builds (and removes).
const REPO: &str = "nanoclaw-bench-build";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Plain,
    Patched,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Plain => "plain",
            Side::Patched => "patched",
        }
    }
}

fn main() {
    let pairs = match std::env::var(PAIRS_VAR) {
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => panic!("{PAIRS_VAR}={text:?}: expected a whole number of pairs, at least 1"),
        },
        Err(_) => DEFAULT_PAIRS,
    };
    let root = workspace_root();
    let Some(base) = debian_image(&root) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    rt.block_on(run(&root, &base, pairs));
}

async fn run(root: &Path, base: &str, pairs: usize) {
    let docker =
        match DockerRuntime::connect(DockerOptions::new(InstallId::from_workspace(root))).await {
            Ok(docker) => docker,
            Err(e) => {
                eprintln!("skipping the build benchmark: {e}");
                return;
            }
        };

    // An intercepting proxy with an explicit CA file: the sandbox layer then
    // wraps every RUN step and passes the CA as a build arg.
    let workspace = tempfile::tempdir().expect("a temporary directory");
    let ca_path = workspace.path().join("proxy-ca.crt");
    std::fs::write(&ca_path, TestCa::new("Bench Build Proxy CA").pem())
        .expect("writing the CA file");
    let vars = |name: &str| {
        (name == ProxyVar::HTTPS_PROXY.upper).then(|| "http://proxy.invalid:3128".into())
    };
    let env = SandboxEnv::detect_from(vars, &DetectOptions::default().with_explicit_ca(&ca_path))
        .expect("an intercepting sandbox environment");
    let sandbox = SandboxRuntime::builder(docker)
        .env(env)
        .workspace_root(workspace.path())
        .system_roots(SystemRoots::Builtin)
        .build()
        .expect("a sandbox runtime");

    let dockerfile = DOCKERFILE.replace("{base}", base);
    let context = tar_context(&[("Dockerfile", &dockerfile), ("app.js", APP_JS)]);
    check_prepared_build(&sandbox, &context);

    println!(
        "build benchmark: {pairs} interleaved pair(s) (plain, patched) after one warm-up pair, \
         no cache, base {base}"
    );
    let tag = |side: Side, i: &str| format!("{REPO}:{}-{}-{i}", side.name(), std::process::id());
    let mut totals = [Duration::ZERO; 2];
    for i in 0..=pairs {
        let label = if i == 0 {
            "warm-up".to_string()
        } else {
            i.to_string()
        };
        let mut times = [Duration::ZERO; 2];
        for (slot, side) in [Side::Plain, Side::Patched].into_iter().enumerate() {
            let tag = tag(side, &label);
            let request = BuildRequest::new(context.clone())
                .tag(&tag)
                .label(TEST, "true")
                .no_cache(true);
            let mut output = Vec::new();
            let mut on_output = |line: &str| output.push(line.to_string());
            let started = Instant::now();
            let built = match side {
                Side::Plain => sandbox.inner().build(request, &mut on_output).await,
                Side::Patched => sandbox.build(request, &mut on_output).await,
            };
            times[slot] = started.elapsed();
            if let Err(e) = built {
                let _ = sandbox.remove_image(&tag, true).await;
                panic!(
                    "the {} build failed: {e}\n{}",
                    side.name(),
                    output.join("\n")
                );
            }
            let checked = check_wrapped(side, &output).and_then(|()| {
                // Once, on the warm-up's image: the history says the same.
                if i == 0 && side == Side::Patched {
                    check_history(&tag)
                } else {
                    Ok(())
                }
            });
            sandbox
                .remove_image(&tag, true)
                .await
                .unwrap_or_else(|e| panic!("removing {tag}: {e}"));
            if let Err(why) = checked {
                panic!(
                    "{why}: this would measure an unpatched build\n{}",
                    output.join("\n")
                );
            }
        }
        println!(
            "pair {label:>7}: plain {:6.2} s, patched {:6.2} s ({:.2}x)",
            times[0].as_secs_f64(),
            times[1].as_secs_f64(),
            times[1].as_secs_f64() / times[0].as_secs_f64()
        );
        if i > 0 {
            totals[0] += times[0];
            totals[1] += times[1];
        }
    }
    let n = u32::try_from(pairs).expect("a sensible number of pairs");
    let (plain, patched) = (totals[0] / n, totals[1] / n);
    println!(
        "mean build: plain {:.2} s, patched {:.2} s: patched / plain = {:.2} (target <= 1.3)",
        plain.as_secs_f64(),
        patched.as_secs_f64(),
        patched.as_secs_f64() / plain.as_secs_f64()
    );
}

/// The dry run of the patched build: the rewritten Dockerfile is the one
/// built and the CA goes along in the build arg. Panics otherwise.
fn check_prepared_build<R: ImageBuilder>(sandbox: &SandboxRuntime<R>, context: &[u8]) {
    let (prepared, _report) = sandbox
        .prepare_build(BuildRequest::new(context.to_vec()))
        .expect("preparing the patched build");
    assert_eq!(
        prepared.dockerfile_path(),
        BUILD_DOCKERFILE,
        "the sandbox layer did not rewrite the Dockerfile: this would measure an unpatched build"
    );
    // The arg holds the CA's PEM (alone, or inside the step wrapper).
    let ca_arg = prepared.build_args().get(CA_BUILD_ARG);
    assert!(
        ca_arg.is_some_and(|value| value.contains("-----BEGIN CERTIFICATE-----")),
        "the patched build does not pass the proxy CA in {CA_BUILD_ARG} (build args: {:?})",
        prepared.build_args().keys().collect::<Vec<_>>()
    );
}

/// The classic builder prints each step as `Step N/M : INSTRUCTION`: the
/// patched build must show every `RUN` step inside the wrapper, the plain
/// one none.
fn check_wrapped(side: Side, output: &[String]) -> Result<(), String> {
    let steps: Vec<&String> = output
        .iter()
        .filter(|line| line.starts_with("Step ") && line.contains(" : RUN "))
        .collect();
    let wrapped = steps
        .iter()
        .filter(|line| line.contains(WRAPPER_NAME))
        .count();
    let expected = match side {
        Side::Plain => 0,
        Side::Patched => RUN_STEPS,
    };
    if steps.len() == RUN_STEPS && wrapped == expected {
        Ok(())
    } else {
        Err(format!(
            "the {} build ran {} RUN step(s), {wrapped} of them in {WRAPPER_NAME} \
             (expected {RUN_STEPS}, {expected} wrapped)",
            side.name(),
            steps.len()
        ))
    }
}

/// `docker history` of the patched image names the wrapper in its RUN
/// layers (skipped, with a note, without the `docker` CLI).
fn check_history(tag: &str) -> Result<(), String> {
    let out = match Command::new("docker")
        .args(["history", "--no-trunc", "--format", "{{.CreatedBy}}", tag])
        .output()
    {
        Ok(out) if out.status.success() => out,
        Ok(out) => {
            return Err(format!(
                "docker history {tag} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
        Err(e) => {
            eprintln!("no `docker` CLI ({e}): the image history is not checked");
            return Ok(());
        }
    };
    let history = String::from_utf8_lossy(&out.stdout);
    let wrapped = history
        .lines()
        .filter(|line| line.contains(WRAPPER_NAME))
        .count();
    if wrapped == RUN_STEPS {
        Ok(())
    } else {
        Err(format!(
            "docker history of {tag} shows {wrapped} layer(s) made by {WRAPPER_NAME}, \
             expected {RUN_STEPS}"
        ))
    }
}

/// The workspace root (where `.ci/` is), whatever directory cargo runs the
/// bench from.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// The Debian test image's tag, or `None` with the reason printed.
fn debian_image(root: &Path) -> Option<String> {
    let out = match Command::new("bash")
        .arg(DEBIAN_IMAGE_SCRIPT)
        .current_dir(root)
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            eprintln!("skipping the build benchmark: cannot run {DEBIAN_IMAGE_SCRIPT}: {e}");
            return None;
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            match stdout.lines().last().map(str::trim) {
                Some(tag) if !tag.is_empty() => Some(tag.to_string()),
                _ => panic!("{DEBIAN_IMAGE_SCRIPT} printed no image tag; stderr:\n{stderr}"),
            }
        }
        Some(PREREQUISITE_MISSING) => {
            eprintln!("skipping the build benchmark: {}", stderr.trim());
            None
        }
        _ => panic!("{DEBIAN_IMAGE_SCRIPT} failed ({}):\n{stderr}", out.status),
    }
}
