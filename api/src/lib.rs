//! Rust types for the [agent-sandbox] API, wire-compatible with the upstream Go project.
//!
//! Two API groups, four namespaced kinds, each served at two versions:
//!
//! | Kind | Group | Short name |
//! |---|---|---|
//! | [`Sandbox`](v1beta1::Sandbox) | `agents.x-k8s.io` | `sandbox` |
//! | [`SandboxTemplate`](v1beta1::SandboxTemplate) | `extensions.agents.x-k8s.io` | `sandboxtemplate` |
//! | [`SandboxClaim`](v1beta1::SandboxClaim) | `extensions.agents.x-k8s.io` | `sandboxclaim` |
//! | [`SandboxWarmPool`](v1beta1::SandboxWarmPool) | `extensions.agents.x-k8s.io` | `swp` |
//!
//! * [`v1beta1`] is the storage version and conversion hub; [`v1alpha1`] is served but
//!   deprecated. Value types shared by kinds and versions live in [`common`].
//! * [`keys`] holds every label/annotation key, well-known value, condition type and reason the
//!   upstream controllers use.
//! * [`name_hash`] is the bit-exact `NameHash` (FNV-1a 32-bit) used in label values.
//! * [`crds`] builds the CustomResourceDefinitions from these types and renders them as YAML;
//!   the `gen-crds` binary keeps the committed `api/crds/agent-sandbox.yaml` in sync
//!   (`just crds`).
//!
//! Field names, optionality and defaults follow the Go types' JSON encoding exactly; see
//! [`common`] for how Go's `omitempty` maps onto Rust types.
//!
//! [agent-sandbox]: https://github.com/kubernetes-sigs/agent-sandbox

pub mod common;
pub mod crds;
mod hash;
pub mod keys;
mod schema;
pub mod v1alpha1;
pub mod v1beta1;

pub use hash::{NameHash, name_hash, name_hash_u32};
