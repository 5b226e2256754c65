//! Ctrl-C and SIGTERM as values: the long-running commands (`proxy`, `run`)
//! stop cleanly on either instead of dying with the work half done.

use std::fmt;

use anyhow::Context;
use tokio::signal::unix::{signal, Signal as Stream, SignalKind};

/// A signal that asks us to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (`kill`, `docker stop`, systemd).
    Terminate,
}

impl Signal {
    /// The shell's code for a process ended by this signal (128 + number):
    /// 130 after Ctrl-C, 143 after SIGTERM.
    pub(crate) fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "interrupted (SIGINT)",
            Signal::Terminate => "terminated (SIGTERM)",
        })
    }
}

/// Handlers for SIGINT and SIGTERM. Once installed, neither signal ends the
/// process by itself any more: the command decides what to do.
#[derive(Debug)]
pub(crate) struct Signals {
    interrupt: Stream,
    terminate: Stream,
}

impl Signals {
    /// Installs the handlers (needs a Tokio runtime).
    pub(crate) fn install() -> anyhow::Result<Self> {
        let install = |kind: SignalKind| {
            signal(kind).with_context(|| format!("cannot install a handler for signal {kind:?}"))
        };
        Ok(Signals {
            interrupt: install(SignalKind::interrupt())?,
            terminate: install(SignalKind::terminate())?,
        })
    }

    /// Waits for the next SIGINT or SIGTERM.
    pub(crate) async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.interrupt.recv() => Signal::Interrupt,
            _ = self.terminate.recv() => Signal::Terminate,
        }
    }
}
