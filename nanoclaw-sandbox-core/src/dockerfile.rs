//! TODO(owner): filled in by the dockerfile work.
