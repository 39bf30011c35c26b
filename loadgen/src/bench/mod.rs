//! `sandbox-bench bench`: a scenario run end to end.
//!
//! * [`plan`]: the scenario as objects, claims with intended send times, and SLOs (pure).
//! * [`setup`]: the run's namespace, templates and pools, filled before the load.
//! * [`fire`]: open-loop pacing, closed loops and churn; [`limiter`]: the client-side rate
//!   limiter claims pass through.
//! * [`observe`]: the watches that stamp each transition; [`ledger`]: the per-claim records
//!   they stamp; [`clock`]: the run's monotonic clock.
//! * [`scrape`], [`resources`]: `/metrics` and CPU/RSS before and after.
//! * [`cleanup`]: deleting the run's objects and reporting leaks; [`environment`]: the
//!   fingerprint in `results.json`; [`progress`]: bars on stderr; [`priority`]: the
//!   harness's own scheduling priority.
//! * [`run`]: one run from start to end.

pub mod cleanup;
pub mod clock;
pub mod environment;
pub mod fencing;
pub mod fire;
pub mod floor;
pub mod invariants;
pub mod isolation;
pub mod ledger;
pub mod limiter;
pub mod observe;
pub mod plan;
pub mod priority;
pub mod progress;
pub mod resources;
pub mod run;
pub mod scrape;
pub mod setup;

pub use plan::BenchPlan;
pub use run::{BenchError, BenchOptions, BenchOutcome};
