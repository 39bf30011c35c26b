//! `sandbox-marks`: the marks a harness run leaves on a cluster, and the only deletes it makes.
//!
//! * [`labels`]: the run id and the labels that tie objects and nodes to the harness.
//! * [`namespaces`]: a run's namespaces, created labelled and deleted by that label.
//! * [`guarded_delete`]: every delete the harness makes, refused unless the object carries
//!   the run's label (or, for nodes, the harness's node label).
//!
//! Shared by the bench, the conformance suite and the cluster providers, so that all of them
//! mark and delete the same way.

pub mod guarded_delete;
pub mod labels;
pub mod namespaces;
