//! Build patches: filled next.
