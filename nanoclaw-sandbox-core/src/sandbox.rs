//! TODO(owner): filled in by the sandbox work.
