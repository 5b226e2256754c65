//! The proxy-aware HTTPS and WebSocket client: filled in by the client work.
