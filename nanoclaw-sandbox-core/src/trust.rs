//! TODO(owner): filled in by the trust work.
