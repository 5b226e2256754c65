//! Image builds behind the intercepting proxy, through
//! `SandboxRuntime<DockerRuntime>::build`: a Dockerfile whose `RUN` step
//! fetches `https://upstream.test/hello` through the proxy (the build on the
//! internal network, the proxy's address in the build args) succeeds with
//! the build patches (proxy build args, the CA steps added in memory, the
//! CA in the tar context) and fails without the CA (curl exit 60); the image
//! built does not keep the CA. Against mitmproxy and the stand-in:
//!
//! - `PROXY/build/patched`, `PROXY/build/ca-missing`;
//! - `PROXY/build/image-holds-the-page`, `.../image-has-no-ca-file`,
//!   `.../image-bundle-lacks-the-ca`, `.../image-does-not-trust-the-proxy`.
//!
//! Run: `NANOCLAW_REQUIRE_DOCKER=1 cargo test -p nanoclaw-sandbox-core --features full --test e2e_build -- --nocapture`
#![cfg(all(feature = "docker", feature = "standin"))]

mod support;

use std::sync::Arc;
use std::time::Instant;

use nanoclaw_sandbox_core::dockerfile::IMAGE_CA_PATH;
use nanoclaw_sandbox_core::runtime::{
    BuildRequest, ContainerRuntime, ImageBuilder, ImageId, RuntimeError,
};
use nanoclaw_sandbox_core::spec::NetworkMode;
use support::e2e::{
    self, docker, hello_body, pass_line, run_cases_with, sandbox_env, unique_name, Case, Client,
    Context, Expect, FixtureError, ImageGuard, Library, ProxyKind, Stage, BYPASS_HOST, RUN_TIMEOUT,
    TEST_LABEL, UPSTREAM_HOST,
};
use support::tar_context::tar_context;

type TestResult = e2e::Result<()>;

/// The system bundle of the Debian image.
const BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
const TRUSTED: &str = "nanoclaw-e2e: the proxy CA is trusted in this step";
const NOT_TRUSTED: &str = "nanoclaw-e2e: the proxy CA is not trusted in this step";

#[test]
fn builds_through_mitmproxy() -> TestResult {
    builds(ProxyKind::Mitmproxy)
}

#[test]
fn builds_through_the_standin() -> TestResult {
    builds(ProxyKind::Standin)
}

/// A line from the middle of the CA's PEM: it identifies this CA in a bundle.
fn ca_marker(pem: &str) -> e2e::Result<String> {
    let lines: Vec<&str> = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.trim().is_empty())
        .collect();
    lines
        .get(lines.len() / 2)
        .map(|l| l.trim().to_string())
        .ok_or_else(|| FixtureError::new(format!("the CA PEM has no body:\n{pem}")))
}

/// A Dockerfile whose first step says whether the proxy CA is in the system
/// bundle and whose second fetches the page through the proxy with curl's
/// default trust (the system bundle).
fn dockerfile(base: &str, marker: &str) -> String {
    format!(
        "FROM {base}\n\
         RUN if grep -qF '{marker}' {BUNDLE}; then echo '{TRUSTED}'; else echo '{NOT_TRUSTED}'; fi\n\
         RUN curl --silent --show-error --fail --max-time 20 https://{UPSTREAM_HOST}/hello > /hello.txt && cat /hello.txt\n"
    )
}

/// Builds `request` with `builder`, its intermediate images guarded by
/// `images`; the result and the build's output.
fn build(
    library: &Library,
    builder: &dyn ImageBuilder,
    request: BuildRequest,
    images: &mut ImageGuard,
) -> (Result<ImageId, RuntimeError>, String) {
    let mut output = Vec::new();
    let built =
        library.block_on(builder.build(request, &mut |line: &str| output.push(line.to_string())));
    images.intermediates(output.iter().map(String::as_str));
    (built, output.join("\n"))
}

fn builds(kind: ProxyKind) -> TestResult {
    let Some(prereqs) = e2e::ready() else {
        return Ok(());
    };
    let stage = Stage::start_with(&prereqs, kind)?;
    let library = Library::connect()?;
    let workspace = tempfile::tempdir().context(|| "a workspace".to_string())?;
    let p = kind.name();
    let marker = ca_marker(stage.proxy.ca_pem())?;
    let request = |tag: &str| {
        BuildRequest::new(tar_context(&[(
            "Dockerfile",
            &dockerfile(&stage.image, &marker),
        )]))
        .tag(tag)
        .label(TEST_LABEL.0, TEST_LABEL.1)
        .network(NetworkMode::Named(stage.topo.network().to_string()))
        .no_cache(true)
    };
    let mut images = ImageGuard::new();

    // With the build patches.
    let env = sandbox_env(
        &stage.proxy.proxy_url(),
        BYPASS_HOST,
        Some(stage.proxy.ca_pem()),
    )?;
    let patched = library.sandbox(env, stage.public_ca_path(), workspace.path())?;
    let tag = format!("{}:patched", unique_name("build"));
    images.tag(&tag);
    let started = Instant::now();
    let (built, log) = build(&library, &*patched, request(&tag), &mut images);
    if let Err(e) = built {
        return Err(FixtureError::new(format!(
            "{p}/build/patched failed: {e}\n{log}"
        )));
    }
    assert!(
        log.contains(TRUSTED),
        "the RUN steps should trust the proxy CA:\n{log}"
    );
    assert!(log.contains(&hello_body(UPSTREAM_HOST)), "{log}");
    println!(
        "{}",
        pass_line(
            &format!("{p}/build/patched"),
            started.elapsed().as_millis(),
            &hello_body(UPSTREAM_HOST)
        )
    );

    // The history keeps neither the proxy's address nor the CA: Docker's
    // predefined proxy args reach RUN undeclared, and the rewrite declares
    // only the others. The control: a Dockerfile that declares HTTPS_PROXY
    // itself puts the proxy's address in the history (and is warned about).
    let authority = stage
        .proxy
        .proxy_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let history = docker([
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        tag.as_str(),
    ])?;
    assert!(
        !history.contains(&authority),
        "{p}: the proxy in the history:\n{history}"
    );
    assert!(
        !history.contains("BEGIN CERTIFICATE"),
        "{p}: the CA in the history:\n{history}"
    );
    let declaring_tag = format!("{}:declaring", unique_name("build"));
    images.tag(&declaring_tag);
    let declaring = BuildRequest::new(tar_context(&[(
        "Dockerfile",
        &format!("FROM {}\nARG HTTPS_PROXY\nRUN true\n", stage.image),
    )]))
    .tag(declaring_tag.as_str())
    .label(TEST_LABEL.0, TEST_LABEL.1)
    .network(NetworkMode::Named(stage.topo.network().to_string()));
    let (built, log) = build(&library, &*patched, declaring, &mut images);
    if let Err(e) = built {
        return Err(FixtureError::new(format!(
            "{p}/build/declaring failed: {e}\n{log}"
        )));
    }
    let declared_history = docker([
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        declaring_tag.as_str(),
    ])?;
    assert!(
        declared_history.contains(&authority),
        "{p}: the control should show the declared proxy arg:\n{declared_history}"
    );
    println!(
        "{}",
        pass_line(
            &format!("{p}/build/history-holds-no-proxy-value"),
            0,
            &authority
        )
    );

    // The image keeps the page, not the CA. Its container runs unpatched
    // (plain runtime) with only the proxy variables, on the internal network.
    let cases = vec![
        Case::new(
            format!("{p}/build/image-holds-the-page"),
            vec!["cat".into(), "/hello.txt".into()],
            Expect::succeeds(hello_body(UPSTREAM_HOST)),
        ),
        Case::new(
            format!("{p}/build/image-has-no-ca-file"),
            vec![
                "sh".into(),
                "-c".into(),
                format!("test ! -e {IMAGE_CA_PATH} && echo absent"),
            ],
            Expect::succeeds("absent"),
        ),
        Case::new(
            format!("{p}/build/image-bundle-lacks-the-ca"),
            vec![
                "sh".into(),
                "-c".into(),
                format!("! grep -qF \"$0\" {BUNDLE} && echo absent"),
                marker.clone(),
            ],
            Expect::succeeds("absent"),
        ),
        Case::new(
            format!("{p}/build/image-does-not-trust-the-proxy"),
            Client::Curl.command(&format!("https://{UPSTREAM_HOST}/hello")),
            Client::Curl.certificate_error(),
        ),
    ];
    let plain: Arc<dyn ContainerRuntime> = Arc::new(library.docker().clone());
    let proxy_url = stage.proxy.proxy_url();
    let report = run_cases_with(
        &library.runner(plain),
        &format!("{p}/build/image"),
        stage
            .topo
            .container_spec(&tag)
            .env("https_proxy", &proxy_url)
            .env("HTTPS_PROXY", &proxy_url),
        cases,
        RUN_TIMEOUT,
    )?;
    report.assert_all_pass();

    // Negative control: the proxy's build args, no CA.
    let env = sandbox_env(&stage.proxy.proxy_url(), BYPASS_HOST, None)?;
    let plain_proxy = library.sandbox(env, stage.public_ca_path(), workspace.path())?;
    let tag = format!("{}:ca-missing", unique_name("build"));
    images.tag(&tag);
    let started = Instant::now();
    let (built, log) = build(&library, &*plain_proxy, request(&tag), &mut images);
    match built {
        Err(RuntimeError::BuildFailed { step_output, .. })
            if step_output.contains("curl: (60) SSL certificate problem") =>
        {
            assert!(log.contains(NOT_TRUSTED), "{log}");
            let evidence = step_output
                .lines()
                .find(|l| l.contains("curl: (60)"))
                .unwrap_or_default();
            println!(
                "{}",
                pass_line(
                    &format!("{p}/build/ca-missing"),
                    started.elapsed().as_millis(),
                    evidence
                )
            );
            Ok(())
        }
        other => Err(FixtureError::new(format!(
            "{p}/build/ca-missing: expected the RUN step to fail with curl's certificate \
             error (60), got {other:?}\n{log}"
        ))),
    }
}
