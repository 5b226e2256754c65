//! Fuzz target `spec_file`: see `nanoclaw_sandbox_fuzz::spec_file`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nanoclaw_sandbox_fuzz::spec_file(data));
