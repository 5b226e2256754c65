//! Captures every `tracing` event of a test binary, so a test can read what
//! the stand-in logged.
//!
//! Why global, in a binary of its own: `tracing` caches per call site whether
//! any subscriber listens. With per-thread subscribers and tests running in
//! parallel, a call site first reached by another test while this capture was
//! being installed can be cached as "nobody listens", and its events are
//! lost. A global subscriber installed before any traffic sees every call
//! site; a binary with a single test that installs it keeps that true.

use std::fmt::{self, Write};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// The captured lines: `target field=value ...`.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<String>>>);

impl LogCapture {
    /// Installs the capture as the process's global subscriber. Call once,
    /// first thing, in the only test of its binary.
    pub fn install_global() -> LogCapture {
        let capture = LogCapture::default();
        tracing::subscriber::set_global_default(capture.clone())
            .expect("the only test of its binary installs the capture, once");
        capture
    }

    /// The lines captured so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    /// The lines of one `tracing` target.
    pub fn lines_of(&self, target: &str) -> Vec<String> {
        let prefix = format!("{target} ");
        self.lines()
            .into_iter()
            .filter(|l| l.starts_with(&prefix))
            .collect()
    }

    /// Forgets what was captured.
    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
}

impl Subscriber for LogCapture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line(event.metadata().target().to_string());
        event.record(&mut line);
        self.0.lock().unwrap().push(line.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
