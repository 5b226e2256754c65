//! Shared by `examples/spawn.rs` and `benches/spawn.rs`: find the agent
//! executable (the CLI, whose hidden `agent` subcommand is the test agent)
//! and make sure its image exists. The library never pulls, and nothing here
//! does either: the image is built locally from that executable.

use std::path::PathBuf;

use nanoclaw_agent_image::{ensure_agent_image, AgentImageRequest};
use nanoclaw_sandbox_core::runtime::ImageBuilder;

/// What to tell a user who has no agent executable yet.
pub const HOW_TO_GET_IT: &str = "build the CLI first (`cargo build -p nanoclaw-cli`, or \
     `cargo run -p nanoclaw-cli -- demo`, which also builds the agent image), or set \
     NANOCLAW_AGENT_BIN to a nanoclaw-sandbox executable";

/// The `nanoclaw-sandbox` executable: `NANOCLAW_AGENT_BIN`, else the one in
/// this target directory (`target/<profile>/`, next to `examples/` and
/// `deps/` where examples and benches run from), else the debug build.
pub fn find_agent_executable() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NANOCLAW_AGENT_BIN") {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let target_dir = profile_dir.parent()?;
    [
        profile_dir.join("nanoclaw-sandbox"),
        target_dir.join("debug").join("nanoclaw-sandbox"),
        target_dir.join("release").join("nanoclaw-sandbox"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// The agent image's tag (built on first use), or `None` with a message
/// printed when there is no agent executable to build it from.
pub async fn agent_image_tag(builder: &dyn ImageBuilder) -> Result<Option<String>, String> {
    let Some(exe) = find_agent_executable() else {
        eprintln!("no agent executable found: {HOW_TO_GET_IT}");
        return Ok(None);
    };
    let request = AgentImageRequest::new(&exe).entrypoint_args(["agent"]);
    let image = ensure_agent_image(builder, &request, &mut |_| {})
        .await
        .map_err(|e| e.to_string())?;
    if image.built {
        eprintln!("built agent image {} from {}", image.tag, exe.display());
    }
    Ok(Some(image.tag))
}
