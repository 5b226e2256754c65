//! The engine-neutral container runtime: filled in by the foundation work.
