//! The library half of the `nanoclaw-sandbox` command line: what its
//! subcommands (`demo`) and its tests share.
//!
//! - [`upstream`]: a CA made in memory ([`upstream::LocalCa`]) and a tiny
//!   HTTPS server on loopback, the demo's stand-in for a public API;
//! - [`doubles`]: HTTPS doubles of the Telegram Bot API and the Anthropic
//!   Messages API on loopback, with certificates from a [`upstream::LocalCa`],
//!   so an agent host can run end to end with nothing leaving the machine.
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

pub mod doubles;
pub mod upstream;
