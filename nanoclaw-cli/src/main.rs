//! `nanoclaw-sandbox`: the command line over nanoclaw-sandbox-core.
#![forbid(unsafe_code)]

fn main() {
    println!("nanoclaw-sandbox: commands land with the CLI work");
}
