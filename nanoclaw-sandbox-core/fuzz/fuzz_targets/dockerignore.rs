//! Fuzz target `dockerignore`: see `nanoclaw_sandbox_fuzz::dockerignore`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nanoclaw_sandbox_fuzz::dockerignore(data));
