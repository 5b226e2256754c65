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

use base64::Engine as _;
use nanoclaw_sandbox_core::dockerfile::BUILD_DOCKERFILE;
use nanoclaw_sandbox_core::runtime::{
    BuildRequest, Builder, ContainerRuntime, ImageBuilder, ImageId, RuntimeError,
};
use nanoclaw_sandbox_core::spec::NetworkMode;
use nanoclaw_testkit::ca::TestCa;
use nanoclaw_testkit::docker::{docker, unique_name, ImageGuard, RUN_TIMEOUT, TEST_LABEL};
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

/// A line from the middle of the CA's PEM: it identifies this CA in a bundle.
fn ca_marker(pem: &str) -> nanoclaw_testkit::Result<String> {
    let lines: Vec<&str> = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.trim().is_empty())
        .collect();
    lines
        .get(lines.len() / 2)
        .map(|l| l.trim().to_string())
        .ok_or_else(|| FixtureError::new(format!("the CA PEM has no body:\n{pem}")))
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

/// The DER bytes of the first certificate in `pem`.
fn der_of(pem: &str) -> nanoclaw_testkit::Result<Vec<u8>> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .context(|| "the CA's PEM body".to_string())
}

/// What of `needles` (name, bytes) the layers `tag` adds to `base` hold:
/// `docker save`, its manifest for the layer order, then every layer past
/// the base image's searched as it is (an uncompressed tar: file names and
/// contents appear in it byte for byte). The image's config (its history)
/// is left to the history check.
fn found_in_layers(
    tag: &str,
    base: &str,
    needles: &[(&str, Vec<u8>)],
) -> nanoclaw_testkit::Result<Vec<String>> {
    let base_layers: usize = docker([
        "image",
        "inspect",
        "--format",
        "{{len .RootFS.Layers}}",
        base,
    ])?
    .trim()
    .parse()
    .context(|| format!("the layer count of {base}"))?;
    let dir = tempfile::tempdir().context(|| "a directory for docker save".to_string())?;
    let saved = dir.path().join("image.tar");
    let saved_arg = saved.to_string_lossy().into_owned();
    docker(["save", "-o", saved_arg.as_str(), tag])?;
    let open = || -> nanoclaw_testkit::Result<tar::Archive<std::fs::File>> {
        Ok(tar::Archive::new(
            std::fs::File::open(&saved).context(|| "the saved image".to_string())?,
        ))
    };
    let mut manifest = None;
    let mut archive = open()?;
    for entry in archive
        .entries_with_seek()
        .context(|| "the saved image".to_string())?
    {
        let entry = entry.context(|| "a saved image entry".to_string())?;
        if entry.path().is_ok_and(|p| p.as_os_str() == "manifest.json") {
            let value: serde_json::Value =
                serde_json::from_reader(entry).context(|| "manifest.json".to_string())?;
            manifest = Some(value);
            break;
        }
    }
    let layers: Vec<String> = manifest
        .as_ref()
        .and_then(|m| m[0]["Layers"].as_array())
        .map(|l| {
            l.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let ours = layers.get(base_layers..).unwrap_or_default();
    if ours.is_empty() {
        return Err(FixtureError::new(format!(
            "docker save of {tag}: {} layer(s), {base_layers} of them the base's: nothing to search",
            layers.len()
        )));
    }
    let mut found = Vec::new();
    let mut searched = 0;
    let mut archive = open()?;
    for entry in archive
        .entries_with_seek()
        .context(|| "the saved image".to_string())?
    {
        let mut entry = entry.context(|| "a saved image entry".to_string())?;
        let path = entry
            .path()
            .context(|| "an entry path".to_string())?
            .to_string_lossy()
            .into_owned();
        if !ours.contains(&path) {
            continue;
        }
        searched += 1;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).context(|| format!("layer {path}"))?;
        for (name, needle) in needles {
            if memchr::memmem::find(&bytes, needle).is_some() {
                found.push(format!(
                    "{name} in {path}: {}",
                    files_holding(&bytes, needle)
                ));
            }
        }
    }
    if searched != ours.len() {
        return Err(FixtureError::new(format!(
            "docker save of {tag}: searched {searched} of its {} own layers",
            ours.len()
        )));
    }
    Ok(found)
}

/// The files of the layer tar `layer` whose name or content holds `needle`,
/// for the failure message.
fn files_holding(layer: &[u8], needle: &[u8]) -> String {
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(layer);
    let Ok(entries) = archive.entries() else {
        return "(not a tar)".to_string();
    };
    for mut entry in entries.flatten() {
        let name = entry
            .path()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut content = Vec::new();
        let _ = std::io::Read::read_to_end(&mut entry, &mut content);
        let link = entry
            .link_name_bytes()
            .map(|l| l.into_owned())
            .unwrap_or_default();
        if [name.as_bytes(), &content, &link]
            .iter()
            .any(|hay| memchr::memmem::find(hay, needle).is_some())
        {
            names.push(name);
        }
    }
    names.join(", ")
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
