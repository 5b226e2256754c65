//! Fuzz target `proxy_url`: see `nanoclaw_sandbox_fuzz::proxy_url`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nanoclaw_sandbox_fuzz::proxy_url(data));
