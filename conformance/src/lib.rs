//! `sandbox-conformance`: the upstream agent-sandbox behaviour spec as named, executable cases
//! that talk only to the Kubernetes API, so any controller can be checked, ours or upstream's.
//!
//! * [`case`]: what a case is; [`fail`]: how it fails or skips; [`cases`]: every case, one
//!   module per kind, each with the spec section it checks and the upstream [`release`] that
//!   introduced it.
//! * [`context`], [`steps`], [`objects`], [`inspect`]: what cases use to create objects, wait
//!   for the controller and read what the API shows.
//! * [`runner`]: bounded parallelism, one namespace, task and timeout per case
//!   (`sandbox_marks::namespaces` creates them and cleans them up by label).
//! * [`report`], [`summary`], [`junit`], [`json`]: a run's results (the table, JUnit XML,
//!   `conformance.json`).
//!
//! Starting a cluster and the controller under test is the caller's part (`sandbox-bench
//! conformance`); the suite needs only a client.

pub mod case;
pub mod cases;
pub mod context;
pub mod fail;
pub mod inspect;
pub mod json;
pub mod junit;
pub mod objects;
pub mod release;
pub mod report;
pub mod runner;
pub mod steps;
pub mod summary;

pub use case::{Case, Outcome};
pub use release::{Release, Spec};
pub use report::{CaseReport, SuiteReport};
