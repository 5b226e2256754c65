//! Image builds behind the intercepting proxy, through
//! `SandboxRuntime<DockerRuntime>::build`: a two-stage Dockerfile that copies
//! its whole context (`COPY . .`, `ADD . /added`, `COPY --from` of a stage)
//! and whose `RUN` steps fetch `https://upstream.test/hello` through the
//! proxy — as root, after refreshing the CA store, and as `nobody` — succeeds
//! with the build patches (the proxy args and the CA as Docker's predefined
//! args, every `RUN` wrapped) and fails without the CA (curl exit 60). What
//! the build leaves behind is searched for: every layer the build added to
//! the base image (from `docker save`) for the CA's bytes (PEM and DER) and
//! the names of our files,
//! and the history for the CA and the proxy's address; the search is shown to
//! work on an image that does copy the CA. Against mitmproxy and the stand-in:
//!
//! - `PROXY/build/patched`, `PROXY/build/ca-missing`;
//! - `PROXY/build/layers-hold-nothing-of-ours` (and its control),
//!   `PROXY/build/history-holds-no-proxy-value` (and its control);
//! - `PROXY/build/image-holds-the-page`, `.../image-has-no-file-of-ours`,
//!   `.../image-bundle-lacks-the-ca`, `.../image-bundle-keeps-their-append`,
//!   `.../image-does-not-trust-the-proxy`.
//!
//! The same build runs once more through the stand-in with BuildKit
//! (`PROXY/buildkit/...`), on the default network (BuildKit takes no named
//! network), with a `RUN --mount=type=cache` step fetching through the proxy.
//!
//! Run: `NANOCLAW_REQUIRE_DOCKER=1 cargo test -p nanoclaw-sandbox-core --features full --test e2e_build -- --nocapture`

mod support;

use std::sync::Arc;
use std::time::Instant;

use nanoclaw_sandbox_core::dockerfile::BUILD_DOCKERFILE;
use nanoclaw_sandbox_core::runtime::{
    BuildRequest, Builder, ContainerRuntime, ImageBuilder, ImageId, RuntimeError,
};
use nanoclaw_sandbox_core::spec::NetworkMode;
use nanoclaw_testkit::ca::TestCa;
use nanoclaw_testkit::docker::{docker, unique_name, ImageGuard, RUN_TIMEOUT, TEST_LABEL};
use nanoclaw_testkit::layers::{ca_marker, der_of, found_in_layers};
use nanoclaw_testkit::tar::tar_context;
use nanoclaw_testkit::{Context, FixtureError};
use support::e2e::{
    self, hello_body, pass_line, run_cases_with, sandbox_env, Case, Client, Expect, Library,
    ProxyKind, Stage, BYPASS_HOST, UPSTREAM_HOST,
};

type TestResult = nanoclaw_testkit::Result<()>;

/// The system bundle of the Debian image.
const BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
const TRUSTED: &str = "nanoclaw-e2e: the system bundle trusts the proxy in this step";
const REFRESHED: &str = "nanoclaw-e2e: trusted after refreshing the store";
const APPENDED: &str = "nanoclaw-e2e: their CA appended to the bundle";
const NON_ROOT: &str = "nanoclaw-e2e: trusted as nobody";
const CACHE_MOUNT: &str = "nanoclaw-e2e: trusted in a cache-mount step";
/// Names only our build files carry: the rewritten Dockerfile, the wrapper's
/// `$0`, the CA file it places and the symlink a store refresh makes of it.
const OUR_NAMES: &[&str] = &[
    BUILD_DOCKERFILE,
    "nanoclaw-sandbox-run",
    "nanoclaw-proxy-ca",
];

#[test]
fn builds_through_mitmproxy() -> TestResult {
    builds(ProxyKind::Mitmproxy, Builder::Classic)
}

#[test]
fn builds_through_the_standin() -> TestResult {
    builds(ProxyKind::Standin, Builder::Classic)
}

#[test]
fn builds_with_buildkit_through_the_standin() -> TestResult {
    builds(ProxyKind::Standin, Builder::BuildKit)
}

/// The build stage fetches the page with curl told to use the system bundle
/// alone (so the proxy CA must be in it); the final stage copies the whole
/// context twice and the build stage's files, refreshes the CA store and
/// fetches again, appends a CA of its own to the bundle, and fetches as
/// `nobody` (who cannot write the bundle). Nothing in it names the CA: the
/// layers and the history are searched for it. For BuildKit, one more step
/// fetches with a cache mount.
fn dockerfile(base: &str, builder: Builder) -> String {
    let fetch =
        format!("curl --silent --show-error --fail --max-time 20 https://{UPSTREAM_HOST}/hello");
    let cache_step = if builder == Builder::BuildKit {
        format!(
            "RUN --mount=type=cache,target=/var/cache/e2e-build-cache {fetch} > /var/cache/e2e-build-cache/page && echo '{CACHE_MOUNT}'\n"
        )
    } else {
        String::new()
    };
    format!(
        "FROM {base} AS build\n\
         WORKDIR /app\n\
         COPY . .\n\
         RUN env -u CURL_CA_BUNDLE -u SSL_CERT_FILE {fetch} --cacert {BUNDLE} > /hello.txt && cat /hello.txt && echo && echo '{TRUSTED}'\n\
         FROM {base}\n\
         COPY --from=build /hello.txt /hello.txt\n\
         COPY --from=build /app /from-stage\n\
         ADD . /added\n\
         RUN update-ca-certificates >/dev/null 2>&1 && {fetch} >/dev/null && echo '{REFRESHED}'\n\
         RUN cat /added/their-ca.pem >> {BUNDLE} && echo '{APPENDED}'\n\
         USER nobody\n\
         RUN {fetch} >/dev/null && echo '{NON_ROOT}'\n\
         USER root\n{cache_step}"
    )
}

/// Whether a step printed `line` (a whole output line of the build log).
fn printed(log: &str, line: &str) -> bool {
    log.lines().any(|l| l.trim() == line)
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

fn builds(kind: ProxyKind, builder: Builder) -> TestResult {
    let Some(prereqs) = e2e::ready() else {
        return Ok(());
    };
    let stage = Stage::start_with(&prereqs, kind)?;
    let library = Library::connect()?;
    let workspace = tempfile::tempdir().context(|| "a workspace".to_string())?;
    let p = match builder {
        Builder::BuildKit => format!("{}/buildkit", kind.name()),
        _ => kind.name().to_string(),
    };
    // BuildKit's steps get the default network: from it, the proxy on the
    // internal network's gateway (an address of this host) is reachable too.
    let network = match builder {
        Builder::BuildKit => NetworkMode::Default,
        _ => NetworkMode::Named(stage.topo.network().to_string()),
    };
    let ca_pem = stage.proxy.ca_pem().to_string();
    let marker = ca_marker(&ca_pem)?;
    let theirs = TestCa::new("The Dockerfile's own CA").pem().to_string();
    let their_marker = ca_marker(&theirs)?;
    let text = dockerfile(&stage.image, builder);
    let request = |tag: &str| {
        BuildRequest::new(tar_context(&[
            ("Dockerfile", text.as_str()),
            ("their-ca.pem", theirs.as_str()),
            ("app.js", "console.log('hello')\n"),
        ]))
        .tag(tag)
        .label(TEST_LABEL.0, TEST_LABEL.1)
        .network(network.clone())
        .builder(builder)
        .no_cache(true)
    };
    let mut images = ImageGuard::new();

    // With the build patches.
    let env = sandbox_env(&stage.proxy.proxy_url(), BYPASS_HOST, Some(&ca_pem))?;
    let patched = library.sandbox(env, stage.public_ca_path(), workspace.path())?;
    let tag = format!("{}:patched", unique_name("nanoclaw-e2e-build"));
    images.tag(&tag);
    let started = Instant::now();
    let (built, log) = build(&library, &*patched, request(&tag), &mut images);
    if let Err(e) = built {
        return Err(FixtureError::new(format!(
            "{p}/build/patched failed: {e}\n{log}"
        )));
    }
    // Whole output lines: the step lines (`Step 4/14 : RUN ...`) quote them too.
    let cache_line = (builder == Builder::BuildKit).then_some(CACHE_MOUNT);
    for line in [TRUSTED, REFRESHED, APPENDED, NON_ROOT]
        .into_iter()
        .chain(cache_line)
    {
        assert!(
            printed(&log, line),
            "{p}: `{line}` not printed in the build log:\n{log}"
        );
    }
    assert!(log.contains(&hello_body(UPSTREAM_HOST)), "{log}");
    println!(
        "{}",
        pass_line(
            &format!("{p}/build/patched"),
            started.elapsed().as_millis(),
            &hello_body(UPSTREAM_HOST)
        )
    );

    // No layer holds the CA (as PEM text or DER bytes) or a file of ours.
    let mut needles: Vec<(&str, Vec<u8>)> = vec![
        ("the CA's PEM", marker.as_bytes().to_vec()),
        ("the CA's DER", der_of(&ca_pem)?),
    ];
    needles.extend(OUR_NAMES.iter().map(|n| (*n, n.as_bytes().to_vec())));
    let found = found_in_layers(&tag, &stage.image, &needles)?;
    assert!(found.is_empty(), "{p}: the image's layers hold {found:?}");
    // The control: the same search finds the CA in an image that copies it
    // (a plain build of a context holding it).
    let control_tag = format!("{}:copies-the-ca", unique_name("nanoclaw-e2e-build"));
    images.tag(&control_tag);
    let control = BuildRequest::new(tar_context(&[
        (
            "Dockerfile",
            &format!("FROM {}\nCOPY . /ctx/\n", stage.image),
        ),
        ("nanoclaw-proxy-ca.crt", ca_pem.as_str()),
    ]))
    .tag(control_tag.as_str())
    .label(TEST_LABEL.0, TEST_LABEL.1);
    let (built, log) = build(&library, library.docker(), control, &mut images);
    if let Err(e) = built {
        return Err(FixtureError::new(format!(
            "{p}/build/copies-the-ca failed: {e}\n{log}"
        )));
    }
    let control_found = found_in_layers(&control_tag, &stage.image, &needles)?;
    // (A PEM file: its DER bytes appear only where a tool decoded it, say a keystore.)
    for expected in ["the CA's PEM", "nanoclaw-proxy-ca"] {
        assert!(
            control_found.iter().any(|f| f.starts_with(expected)),
            "{p}: the control image should hold {expected}: {control_found:?}"
        );
    }
    println!(
        "{}",
        pass_line(
            &format!("{p}/build/layers-hold-nothing-of-ours"),
            0,
            &format!("control found {}", control_found.len())
        )
    );

    // The history keeps neither the proxy's address nor the CA: Docker's
    // predefined args reach RUN undeclared. The control: a Dockerfile that
    // declares HTTPS_PROXY itself puts the proxy's address in the history
    // (and is warned about).
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
    for needle in [authority.as_str(), "BEGIN CERTIFICATE", marker.as_str()] {
        assert!(
            !history.contains(needle),
            "{p}: `{needle}` in the history:\n{history}"
        );
    }
    let declaring_tag = format!("{}:declaring", unique_name("nanoclaw-e2e-build"));
    images.tag(&declaring_tag);
    let declaring = BuildRequest::new(tar_context(&[(
        "Dockerfile",
        &format!("FROM {}\nARG HTTPS_PROXY\nRUN true\n", stage.image),
    )]))
    .tag(declaring_tag.as_str())
    .label(TEST_LABEL.0, TEST_LABEL.1)
    .network(network.clone())
    .builder(builder);
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

    // The image keeps the page and their CA, not ours. Its container runs
    // unpatched (plain runtime) with only the proxy variables, on the
    // internal network.
    let cases = vec![
        Case::new(
            format!("{p}/build/image-holds-the-page"),
            vec!["cat".into(), "/hello.txt".into()],
            Expect::succeeds(hello_body(UPSTREAM_HOST)),
        ),
        Case::new(
            format!("{p}/build/image-has-no-file-of-ours"),
            vec![
                "sh".into(),
                "-c".into(),
                "test -z \"$(find / -xdev -name '*nanoclaw*' 2>/dev/null)\" && test -e /added/app.js && echo absent".into(),
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
            format!("{p}/build/image-bundle-keeps-their-append"),
            vec![
                "sh".into(),
                "-c".into(),
                format!("grep -qF \"$0\" {BUNDLE} && echo kept"),
                their_marker.clone(),
            ],
            Expect::succeeds("kept"),
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
    let tag = format!("{}:ca-missing", unique_name("nanoclaw-e2e-build"));
    images.tag(&tag);
    let started = Instant::now();
    let (built, log) = build(&library, &*plain_proxy, request(&tag), &mut images);
    match built {
        Err(RuntimeError::BuildFailed { step_output, .. })
            if step_output.contains("curl: (60) SSL certificate problem") =>
        {
            assert!(!printed(&log, TRUSTED), "{log}");
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
