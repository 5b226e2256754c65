//! Agents: the protocol a host speaks with its agent containers, and (feature
//! `agent`) the project's own agent, which answers through the Anthropic
//! Messages API.
//!
//! | module | owns |
//! |---|---|
//! | [`protocol`] | the versioned JSON-lines protocol (always built: pure) |
//! | `serve` (feature `agent`) | the agent's loop: `message` in, `typing`/`reply`/`done` out |
//! | `anthropic` (feature `agent`) | a small Messages API client over the proxy-aware HTTPS client |
//! | `history` (feature `agent`) | the chat's conversation in the session directory |

#[cfg(feature = "agent")]
pub mod anthropic;
#[cfg(feature = "agent")]
pub mod history;
pub mod protocol;
#[cfg(feature = "agent")]
pub mod serve;
