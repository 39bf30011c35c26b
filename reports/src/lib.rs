//! Results schema, latency analysis and report rendering for `sandbox-bench` runs.
//! See `reports/README.md`.
