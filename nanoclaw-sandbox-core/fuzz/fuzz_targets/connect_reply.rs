//! Fuzz target `connect_reply`: see `nanoclaw_sandbox_fuzz::connect_reply`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nanoclaw_sandbox_fuzz::connect_reply(data));
