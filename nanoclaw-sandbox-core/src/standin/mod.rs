//! A local stand-in for the Docker Sandboxes proxy: filled in by the stand-in work.
