//! A spec being patched: the caller's original, the changes, the report.
//!
//! The one rule for variables lives here: a variable the caller set wins over
//! the sandbox's value (reported as a warning); a variable already holding
//! the sandbox's value is left alone, which is what makes patching twice the
//! same as patching once.

use crate::proxy::ProxyVar;
use crate::redact;
use crate::spec::{ContainerSpec, ContainerSpecBuilder};

use super::report::{PatchKind, PatchReport, Severity};

pub(super) struct Draft<'a> {
    pub original: &'a ContainerSpec,
    /// `None` only inside [`edit`](Self::edit) (taken, changed, put back):
    /// a placeholder spec per edit cost a whole clone of the caller's spec,
    /// most of a patch's time.
    builder: Option<ContainerSpecBuilder>,
    pub report: PatchReport,
}

/// What the caller had for a variable the sandbox wants to set.
pub(super) enum Caller<'a> {
    /// Not set: the sandbox's value goes in.
    Unset,
    /// Already the sandbox's value.
    Same,
    /// Something else.
    Other(&'a str),
}

impl<'a> Draft<'a> {
    pub(super) fn new(original: &'a ContainerSpec) -> Self {
        Draft {
            original,
            builder: Some(original.to_builder()),
            report: PatchReport::default(),
        }
    }

    /// Applies a builder change.
    pub(super) fn edit(
        &mut self,
        change: impl FnOnce(ContainerSpecBuilder) -> ContainerSpecBuilder,
    ) {
        let builder = self
            .builder
            .take()
            .unwrap_or_else(|| self.original.to_builder());
        self.builder = Some(change(builder));
    }

    pub(super) fn finish(self) -> (ContainerSpecBuilder, PatchReport) {
        let builder = self.builder.unwrap_or_else(|| self.original.to_builder());
        (builder, self.report)
    }

    pub(super) fn note(
        &mut self,
        severity: Severity,
        kind: PatchKind,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.report.push(severity, kind, subject, message);
    }

    /// What the caller set `name` to, compared with `wanted`.
    pub(super) fn caller(&self, name: &str, wanted: &str) -> Caller<'a> {
        match self.original.env_value(name) {
            None => Caller::Unset,
            Some(v) if v == wanted => Caller::Same,
            Some(v) => Caller::Other(v),
        }
    }

    /// Sets `name` to `value` unless the caller set it to something else,
    /// which is kept and reported.
    pub(super) fn set_var(&mut self, kind: PatchKind, name: &str, value: &str) {
        match self.caller(name, value) {
            Caller::Unset => self.put_var(kind, name, value),
            Caller::Same => {}
            Caller::Other(kept) => self.kept_var(kind, name, kept, value),
        }
    }

    /// Sets `name` (no report, no check): for rules that decided already.
    pub(super) fn put_var(&mut self, kind: PatchKind, name: &str, value: &str) {
        let message = format!("set to {}", shown(name, value));
        self.edit(|b| b.env(name, value));
        self.note(Severity::Info, kind, name, message);
    }

    fn kept_var(&mut self, kind: PatchKind, name: &str, kept: &str, wanted: &str) {
        let message = format!(
            "kept as the caller set it ({}); the sandbox would set {}",
            shown(name, kept),
            shown(name, wanted)
        );
        self.note(Severity::Warn, kind, name, message);
    }

    /// Sets both spellings of `pair` to one value: the caller's when they set
    /// either spelling (lowercase first, as in detection), else `value`.
    /// `adapt` turns the caller's value into the one to use (e.g. extends
    /// `NO_PROXY`); it must return its input unchanged when applied twice.
    pub(super) fn set_pair(
        &mut self,
        kind: PatchKind,
        pair: ProxyVar,
        value: &str,
        adapt: impl Fn(&str) -> String,
    ) {
        let original = self.original;
        let Some(picked) = pair.pick(|n| original.env_value(n).map(str::to_string)) else {
            for name in pair.both() {
                self.put_var(kind, name, value);
            }
            return;
        };
        let adapted = adapt(&picked.value);
        if let Some(ignored) = &picked.ignored {
            let message = format!(
                "the caller set {} and {} differently; both now hold the {} value, as lowercase wins",
                shown(pair.lower, &picked.value),
                shown(ignored.name, &ignored.value),
                pair.lower
            );
            self.note(Severity::Warn, kind, pair.upper, message);
        }
        if adapted != value {
            self.kept_var(kind, picked.from, &picked.value, value);
        }
        for name in pair.both() {
            if original.env_value(name) != Some(adapted.as_str()) {
                self.put_var(kind, name, &adapted);
            }
        }
    }
}

/// A variable's value as a report may show it.
pub(super) fn shown(name: &str, value: &str) -> String {
    format!("{name}={}", redact::env_value_for_display(name, value))
}
