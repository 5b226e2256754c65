//! The channel examples without their settings: each exits non-zero and
//! names every missing or malformed setting (never a token's value), before
//! touching Docker or the network. For Slack, the control: with both tokens
//! well formed it gets past them, to the next setting it reads (a broken
//! allowlist, which also stops it before Docker or the network). WhatsApp
//! needs no setting (it logs in by QR code): a malformed phone number is
//! named, never shown, and a well-formed one gets past it the same way.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const APP_VAR: &str = "SLACK_APP_TOKEN";
const BOT_VAR: &str = "SLACK_BOT_TOKEN";
const APP: &str = "xapp-1-A0TEST-1234567890-0123456789abcdef0123456789abcdef";
const BOT: &str = "xoxb-1111-2222-SecretBotTokenValue0123";

/// Every variable the channel examples read, removed before each run.
const CHANNEL_VARS: &[&str] = &[
    APP_VAR,
    BOT_VAR,
    "SLACK_API_BASE",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_API_BASE",
    "DISCORD_BOT_TOKEN",
    PHONE_VAR,
    "NANOCLAW_WHATSAPP_QR_PNG",
    "NANOCLAW_ALLOWED_CHATS",
];

const PHONE_VAR: &str = "NANOCLAW_WHATSAPP_PHONE";

/// Builds the example `name` (the workspace's root package enables the
/// library features it uses) and returns its path, next to this test's `deps/`.
fn example(name: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--example",
            name,
            "-p",
            "nanoclaw-sandbox-examples",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo build");
    assert!(
        output.status.success(),
        "building the example failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let example = profile_dir.join("examples").join(name);
    assert!(example.is_file(), "{} was not built", example.display());
    example
}

/// Runs the example in an empty directory with `vars` set and every other
/// channel and allowlist variable removed.
fn run(example: &Path, vars: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(example);
    command.current_dir(dir.path()).env("RUST_LOG", "warn");
    for name in CHANNEL_VARS {
        command.env_remove(name);
    }
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command.output().expect("running the example");
    assert!(
        !dir.path().join("nanoclaw-workspace").exists(),
        "it stopped before making its workspace"
    );
    output
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn without_its_tokens_the_slack_example_names_each_missing_setting() {
    let example = example("slack");

    let output = run(&example, &[]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains(&format!("{APP_VAR} is not set")), "{text}");
    assert!(text.contains(&format!("{BOT_VAR} is not set")), "{text}");

    let output = run(&example, &[(APP_VAR, APP)]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains(&format!("{BOT_VAR} is not set")), "{text}");
    assert!(!text.contains(APP_VAR), "only the missing one: {text}");

    let output = run(&example, &[(APP_VAR, BOT), (BOT_VAR, BOT)]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains(&format!("{APP_VAR}: ")), "{text}");
    assert!(text.contains("xapp-"), "{text}");
    assert!(
        !text.contains("SecretBotTokenValue"),
        "no value shown: {text}"
    );

    // Control: well-formed tokens pass; the next setting stops it.
    let output = run(
        &example,
        &[
            (APP_VAR, APP),
            (BOT_VAR, BOT),
            ("NANOCLAW_ALLOWED_CHATS", "slack:"),
        ],
    );
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(!text.contains("SLACK_"), "{text}");
    assert!(text.contains("allowed-chats entry"), "{text}");
}

#[test]
fn without_its_token_the_telegram_example_names_it() {
    let output = run(&example("telegram"), &[]);
    let text = stderr(&output);
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("TELEGRAM_BOT_TOKEN is not set"), "{text}");
}

#[test]
fn without_its_token_the_discord_example_names_it() {
    let example = example("discord");
    let output = run(&example, &[]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("DISCORD_BOT_TOKEN"), "{text}");
    // A malformed token is named, its value never shown.
    let output = run(
        &example,
        &[("DISCORD_BOT_TOKEN", "not a token SecretValue")],
    );
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("DISCORD_BOT_TOKEN"), "{text}");
    assert!(!text.contains("SecretValue"), "no value shown: {text}");
}

#[test]
fn a_malformed_phone_number_stops_the_whatsapp_example_naming_it() {
    let example = example("whatsapp");
    let output = run(&example, &[(PHONE_VAR, "+1 555 SecretDigits 77")]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains(PHONE_VAR), "{text}");
    assert!(text.contains("international format"), "{text}");
    assert!(!text.contains("SecretDigits"), "no value shown: {text}");
    let output = run(&example, &[(PHONE_VAR, "0044 7700 900123")]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains(PHONE_VAR), "{text}");
    assert!(!text.contains("7700"), "no value shown: {text}");

    // Control: a well-formed number passes; the next setting stops it.
    let output = run(
        &example,
        &[
            (PHONE_VAR, "+1 555 010 7788"),
            ("NANOCLAW_ALLOWED_CHATS", "whatsapp:"),
        ],
    );
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(!text.contains(PHONE_VAR), "{text}");
    assert!(text.contains("allowed-chats entry"), "{text}");
}
