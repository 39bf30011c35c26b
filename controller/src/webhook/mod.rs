//! The CRD conversion webhook: v1alpha1 ⇄ v1beta1 for all four kinds (spec §6).
//!
//! `v1beta1` is the hub. Each kind has a module with a pure `to_hub` (v1alpha1 → v1beta1) and
//! `from_hub` (v1beta1 → v1alpha1) on the typed `sandbox-api` structs:
//!
//! * [`sandbox`]: `replicas` ⇄ `operatingMode`, `status.replicas`, `nodeName` blanking.
//! * [`claim`]: `warmpool` + `sandboxTemplateRef` ⇄ `warmPoolRef` (shadow pools, suffixes).
//! * [`template`]: `volumeClaimTemplatesPolicy` carried in an annotation on the v1alpha1 view.
//! * [`warmpool`]: `replicas` `int32` ⇄ `*int32`, `observedGeneration` dropped in v1alpha1.
//!
//! Every v1alpha1 → v1beta1 conversion stashes the full v1alpha1 object in an annotation on the
//! hub object ([`stash`]); v1beta1 → v1alpha1 reads it to undo lossy mappings and strips it.
//!
//! [`convert::convert`] routes one JSON object by `apiVersion`/`kind`, [`review::review`]
//! answers a whole `ConversionReview`, [`server`] serves it over TLS at `/convert` within
//! [`limits`], [`certs`] makes the CA for the CRDs' `caBundle` and the serving certificates it
//! signs, [`ca_secret`] shares one CA between replicas through a Secret, and [`wire`] puts it
//! together and points the CRDs at the webhook.

pub mod ca_secret;
pub mod certs;
pub mod claim;
pub mod convert;
mod error;
pub mod limits;
pub mod review;
pub mod sandbox;
pub mod server;
mod slot_body;
mod stash;
pub mod template;
pub mod warmpool;
pub mod wire;
mod write_timeout;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod limit_tests;
#[cfg(test)]
mod test_client;

pub use certs::{Ca, CertError, self_signed};
pub use convert::convert;
pub use error::ConversionError;
pub use limits::Limits;
pub use review::review;
pub use server::{ServeError, Server, serve};
