//! Fuzz target `dockerfile`: see `nanoclaw_sandbox_fuzz::dockerfile`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nanoclaw_sandbox_fuzz::dockerfile(data));
