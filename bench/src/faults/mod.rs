//! Faults injected while the load runs: what a scenario may ask for ([`spec`]) and the
//! injector that carries the strikes out against the run's cluster and controller
//! ([`inject`]).

pub mod inject;
pub mod spec;

pub use spec::{FaultKind, FaultSpec, Strike};
