//! Fuzz target `pem`: see `nanoclaw_sandbox_fuzz::pem`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nanoclaw_sandbox_fuzz::pem(data));
