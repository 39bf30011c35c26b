//! `sandbox-bench`: the load generator and CLI of the harness.
//!
//! A scenario run end to end (`sandbox-bench bench`):
//!
//! * [`scenario`]: the scenario file, validated; [`schedule`]: its seeded arrival times.
//! * [`plan`]: the scenario as objects, claims with intended send times, and SLOs (pure).
//! * [`setup`]: the run's namespace, templates and pools, filled before the load.
//! * [`fire`]: open-loop pacing, closed loops and churn; [`limiter`]: the client-side rate
//!   limiter claims pass through; [`floor`]: the harness playing the cheapest possible
//!   controller.
//! * [`observe`]: the watches that stamp each transition and the one collector task their
//!   stamps and the send tasks' stream to; [`ledger`]: the per-claim records it keeps;
//!   [`clock`]: the run's monotonic clock.
//! * [`faults`], [`fencing`], [`invariants`]: injected faults and what must hold through them.
//! * [`isolation`]: the runtime classes' isolation checks with their positive controls.
//! * [`scrape`], [`resources`]: `/metrics` and CPU/RSS before and after.
//! * [`cleanup`]: deleting the run's objects and reporting leaks; [`environment`]: the
//!   fingerprint in `results.json`; [`progress`]: bars on stderr; [`priority`]: the
//!   harness's own scheduling priority.
//! * [`run`]: one run from start to end.
//!
//! Beside it: [`knee`] (the rate stepped until claims give way), [`conformance`] (a cluster
//! and the controller under test for the `sandbox-conformance` suite), [`publish`] (runs into
//! the static history site `sandbox-reports` renders), [`controller`] (the
//! controller under test: reference, upstream or external), [`cli`] and [`exit`] (the
//! command line and its exit codes), [`commands`] (one module per command, which `main.rs`
//! dispatches to). Clusters come from `sandbox-cluster`.

pub mod cleanup;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod conformance;
pub mod controller;
pub mod environment;
pub mod exit;
pub mod faults;
pub mod fencing;
pub mod fire;
pub mod floor;
pub mod invariants;
pub mod isolation;
pub mod knee;
pub mod ledger;
pub mod limiter;
pub mod observe;
pub mod plan;
pub mod priority;
pub mod progress;
pub mod publish;
pub mod resources;
pub mod run;
pub mod scenario;
pub mod schedule;
pub mod scrape;
pub mod setup;

pub use plan::BenchPlan;
pub use run::{BenchError, BenchOptions, BenchOutcome};
