//! The reference controller for the agent-sandbox API. See `controller/README.md`.

pub mod backoff;
pub mod burst;
pub mod cache;
pub mod claim;
pub mod coalesce;
pub mod conditions;
pub mod endpoints;
pub mod error;
pub mod events;
pub mod expectations;
pub mod fence;
pub mod flags;
pub mod index;
pub mod leader;
pub mod metrics;
pub mod patch;
pub mod pod_specs;
pub mod quarantine;
pub mod readiness;
pub mod run;
pub mod sandbox;
pub mod template;
pub mod throttle;
pub mod warmpool;
pub mod webhook;
pub mod write;
