//! Bad input, table by table: each gives a clear error that names the
//! input (and never shows a secret from it), or is ignored where the format
//! says so — never a panic. What other tests already hold (DER, several
//! certificates, CRLF and over-limit PEM in trust_store.rs; NoFrom, bad
//! escape and open heredocs in dockerfile_patch.rs; channel answers that
//! are not JSON in channel_*.rs; protocol basics in agent::protocol's unit
//! tests) is not repeated here.

use std::path::Path;

use nanoclaw_sandbox_core::agent::protocol::{AgentLine, HostLine, ProtocolError, MAX_LINE_BYTES};
use nanoclaw_sandbox_core::dockerfile::{patch_dockerfile, DockerIgnore, DockerfileError};
use nanoclaw_sandbox_core::http::{read_connect_reply, HttpError};
use nanoclaw_sandbox_core::proxy::{NoProxyRules, ProxyUrl, ProxyUrlError, Target};
use nanoclaw_sandbox_core::spec::file::{self, SpecFileError};
use nanoclaw_sandbox_core::trust::{TrustError, TrustStore};
use nanoclaw_testkit::ca::TestCa;

#[test]
fn proxy_urls() {
    // (input, what the error must say, what it must never show)
    let refused: &[(&str, &[&str], &[&str])] = &[
        (
            "socks5://proxy:1080",
            &["socks5://proxy:1080", "only `http://`"],
            &[],
        ),
        (
            "http://proxy:99999",
            &["http://proxy:99999", "invalid port"],
            &[],
        ),
        ("http://::1:3128", &["::1:3128"], &[]),
        ("http://", &["`http://`"], &[]),
        ("", &["`http://`"], &[]),
        (
            // Unencoded reserved characters in the password: before, the
            // `/` ended the host part and `ss:w` was taken for host:port.
            "http://user:p@ss:w/rd@proxy:3128",
            &["***@proxy:3128", "percent-encode", "%2F"],
            &["p@ss", "ss:w", "w/rd", "rd@", "user:"],
        ),
        (
            // Worse: this one parsed, with host `u` and port 12.
            "http://u:12/x@proxy.corp:3128",
            &["***@proxy.corp:3128", "percent-encode"],
            &["12/x", "u:"],
        ),
        (
            "http://u:se#cret@proxy:3128",
            &["***@proxy:3128"],
            &["se#", "cret@"],
        ),
    ];
    for (input, says, never) in refused {
        let err = ProxyUrl::parse(input).expect_err(input);
        let text = err.to_string();
        for needle in *says {
            assert!(text.contains(needle), "{input:?}: {text}");
        }
        for secret in *never {
            assert!(!text.contains(secret), "{input:?} shows {secret:?}: {text}");
        }
    }
    assert!(matches!(
        ProxyUrl::parse("http://user:p@ss:w/rd@proxy:3128"),
        Err(ProxyUrlError::ReservedInUserinfo { .. })
    ));

    // Accepted: no scheme (http), an IPv6 literal, reserved characters
    // percent-encoded, an `@` in the password (the last `@` ends it).
    let no_scheme = ProxyUrl::parse("proxy.example:3128").unwrap();
    assert_eq!((no_scheme.scheme(), no_scheme.port()), ("http", 3128));
    let v6 = ProxyUrl::parse("http://[::1]:3128").unwrap();
    assert_eq!(
        (v6.authority().as_str(), v6.is_loopback()),
        ("[::1]:3128", true)
    );
    let encoded = ProxyUrl::parse("http://user:p%40ss%3Aw%2Frd@proxy:3128").unwrap();
    assert_eq!(
        encoded.credentials(),
        Some(("user".into(), "p@ss:w/rd".into()))
    );
    assert!(!encoded.to_string().contains("p%40ss"), "{encoded}");
    let at_sign = ProxyUrl::parse("http://user:p@ss@proxy:3128").unwrap();
    assert_eq!(at_sign.host(), "proxy");
    assert_eq!(at_sign.credentials(), Some(("user".into(), "p@ss".into())));
}

#[test]
fn no_proxy_garbage_is_ignored_entry_by_entry() {
    let garbage = ",,, ;; :80 [::1 example.com:notaport [ ] . *. 300.1.1.1/99 \u{0} ::: %zz";
    let rules = NoProxyRules::parse(garbage);
    for (host, port) in [("other.org", 443), ("10.0.0.1", 80), ("::1", 3128), ("", 0)] {
        assert_eq!(rules.matching_rule(host, port), None, "{host}:{port}");
    }
    // The good entries among the bad still work.
    let mixed = NoProxyRules::parse(&format!("{garbage},.corp.example, 10.0.0.0/8"));
    assert_eq!(
        mixed.matching_rule("api.corp.example", 443),
        Some(".corp.example")
    );
    assert_eq!(mixed.matching_rule("10.2.3.4", 80), Some("10.0.0.0/8"));
    assert_eq!(mixed.matching_rule("other.org", 443), None);
}

#[test]
fn pem_truncated_and_with_a_byte_order_mark() {
    let test_ca = TestCa::new("Bad Input CA");
    let pem = test_ca.pem();
    // Cut in the middle of the base64 and before the END line.
    for cut in [pem.len() / 2, pem.len() - 30] {
        let err = TrustStore::from_pem(&pem.as_bytes()[..cut], "ca-cut.pem").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("ca-cut.pem"), "{text}");
        assert!(
            matches!(err, TrustError::BadPem { .. } | TrustError::NotPem { .. }),
            "{err:?}"
        );
    }
    // A UTF-8 byte order mark (Windows editors write one): read past.
    let bom = format!("\u{feff}{pem}");
    let store = TrustStore::from_pem(bom.as_bytes(), "ca-bom.pem").unwrap();
    assert_eq!(store.ca_certificates().len(), 1);
}

#[test]
fn dockerfiles_that_are_not_dockerfiles() {
    for text in [
        "",
        "\u{feff}",
        "# only a comment\n",
        "\r\n\r\n",
        "RUN echo no FROM\n",
        "{\"json\": true}",
    ] {
        assert_eq!(
            patch_dockerfile(text).unwrap_err(),
            DockerfileError::NoFrom,
            "{text:?}"
        );
    }
    // A FROM continued to the end of the file: lines added after it would
    // join it (found by the fuzzer: the patch was not idempotent).
    for text in ["FROM a\\", "FROM a \\\n\n# c\n", "# escape=`\nFROM a`\r\n"] {
        let err = patch_dockerfile(text).unwrap_err();
        assert!(
            matches!(err, DockerfileError::OpenContinuation { .. }),
            "{text:?}: {err:?}"
        );
        assert!(err.to_string().contains("remove the trailing"), "{err}");
    }
    // Odd but valid: kept byte for byte around the inserted lines.
    for text in [
        "FROM a\n\\\n",
        "from a as B\r\nRUN x\\\r\n",
        "FROM a\nRUN <<EOF\nEOF",
    ] {
        let patch = patch_dockerfile(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert!(patch.changed(), "{text:?}");
    }
}

#[test]
fn dockerignore_garbage_never_panics_and_means_what_docker_says() {
    let garbage = "[\n\\\n**/**/**\n!\n!!\n/\n..\n\u{0}\n?\n***\n";
    let ignore = DockerIgnore::parse(garbage);
    for path in ["", "a", "a/b", "..", "[", "\\", "Dockerfile"] {
        let _ = ignore.excludes(path);
    }
    // `**/**/**` excludes everything; `!` and `/` alone are no patterns.
    assert!(ignore.excludes("a/b/c"));
    assert_eq!(DockerIgnore::parse("!\n/\n"), DockerIgnore::parse(""));
}

#[test]
fn spec_files_name_the_file_and_the_field() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "missing-image.toml",
            "name = \"a\"\n",
            &["missing-image.toml", "image"],
        ),
        (
            "wrong-type.json",
            r#"{"image": 7}"#,
            &["wrong-type.json", "line 1"],
        ),
        (
            "unknown-network.toml",
            "image = \"a\"\nnetwork = \"galaxy\"\n",
            &["unknown-network.toml", "galaxy"],
        ),
        (
            "relative-target.json",
            r#"{"image":"a","mounts":[{"type":"tmpfs","target":"tmp"}]}"#,
            &["relative-target.json", "`tmp`", "start with `/`"],
        ),
        ("binary.toml", "\u{0}\u{1}", &["binary.toml"]),
        (
            "both-wrong",
            "image: a",
            &["both-wrong", "neither a JSON spec", "nor a TOML spec"],
        ),
    ];
    for (name, text, says) in cases {
        let err = file::parse(text, Path::new(name)).expect_err(name);
        let shown = err.to_string();
        for needle in *says {
            assert!(shown.contains(needle), "{name}: {shown}");
        }
    }
    let err = file::read(Path::new("/nonexistent/agent.toml")).unwrap_err();
    assert!(matches!(err, SpecFileError::Read { .. }));
    assert!(err.to_string().contains("/nonexistent/agent.toml"), "{err}");
}

#[test]
fn agent_protocol_lines() {
    let malformed: &[&[u8]] = &[
        b"",
        b"null",
        b"[]",
        b"{}",
        b"{\"type\":\"reply\"}",
        b"{\"type\":\"reply\",\"id\":1,\"text\":\"x\"}",
        b"{\"type\":\"reboot\",\"id\":\"1\"}",
        b"{\"type\":\"done\",\"id\":\"1\"",
        b"\"type\":\"done\"",
    ];
    for line in malformed {
        let err = AgentLine::parse(line).unwrap_err();
        let ProtocolError::Malformed { start, .. } = &err else {
            panic!("{:?}: {err:?}", String::from_utf8_lossy(line));
        };
        assert_eq!(
            start.as_bytes(),
            &line[..line.len().min(80)],
            "the error shows what arrived"
        );
        assert!(HostLine::parse(line).is_err());
    }
    assert_eq!(
        AgentLine::parse(b"\xff\xfe{}").unwrap_err(),
        ProtocolError::NotUtf8
    );
    let long = vec![b'x'; MAX_LINE_BYTES + 1];
    assert!(matches!(
        AgentLine::parse(&long),
        Err(ProtocolError::TooLong { .. })
    ));
    let v99 = br#"{"type":"message","v":99,"id":"1","chat":"c","message_id":"m","text":"t"}"#;
    assert!(
        matches!(
            HostLine::parse(v99),
            Err(ProtocolError::Version { got: 99 })
        ),
        "{:?}",
        HostLine::parse(v99).err()
    );
}

#[tokio::test]
async fn connect_replies() {
    let proxy = ProxyUrl::parse("http://proxy.test:3128").unwrap();
    let target = Target::parse("https://api.example.test/").unwrap();
    let big_head = format!("HTTP/1.1 200 OK\r\nX-Pad: {}\r\n\r\n", "a".repeat(20_000));
    let cases: Vec<(&[u8], &str)> = vec![
        (b"", "without answering CONNECT"),
        (b"SSH-2.0-OpenSSH_9.6\r\n", "not HTTP"),
        (
            b"HTTP/1.1 200 OK\r\n",
            "closed before the response was complete",
        ),
        (b"HTTP/1.1 200 OK\r\n\r\nhello", "sent data after accepting"),
        (big_head.as_bytes(), "larger than 16 KiB"),
        (
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 21\r\n\r\nupstream unreachable\n",
            "502",
        ),
        (b"HTTP/1.1 999 Whatever\r\n\r\n", "999"),
    ];
    for (reply, says) in cases {
        let err = read_connect_reply(reply, &proxy, &target)
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("proxy.test:3128"), "names the proxy: {text}");
        assert!(
            text.contains(says),
            "{:?}: {text}",
            String::from_utf8_lossy(&reply[..reply.len().min(40)])
        );
    }
    let refused = read_connect_reply(
        b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 21\r\n\r\nupstream unreachable\n",
        &proxy,
        &target,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&refused, HttpError::UpstreamUnreachable { status: 502, body, .. } if body.contains("upstream unreachable")),
        "{refused:?}"
    );
    let auth = read_connect_reply(
        b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n",
        &proxy,
        &target,
    )
    .await;
    assert!(
        matches!(auth, Err(HttpError::ProxyAuthRequired { .. })),
        "{auth:?}"
    );
    // The control: a plain acceptance (after an interim reply) is no error.
    read_connect_reply(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 Connection established\r\n\r\n",
        &proxy,
        &target,
    )
    .await
    .unwrap();
}
