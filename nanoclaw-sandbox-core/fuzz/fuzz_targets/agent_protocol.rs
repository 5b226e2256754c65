//! Fuzz target `agent_protocol`: see `nanoclaw_sandbox_fuzz::agent_protocol`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nanoclaw_sandbox_fuzz::agent_protocol(data));
