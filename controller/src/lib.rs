//! The reference controller for the agent-sandbox API. See `controller/README.md`.
