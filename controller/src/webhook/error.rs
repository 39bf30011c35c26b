//! Why converting one object failed. The review turns these into a `Failure` result whose
//! message names the object (spec §6).

/// A single object could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum ConversionError {
    /// The object lacks `apiVersion` or `kind` (or they are not strings).
    #[error("object has no string `{0}`")]
    MissingTypeField(&'static str),
    /// The object's group differs from the desired one; conversion never changes group.
    #[error("cannot convert from group {from:?} to group {to:?}")]
    GroupMismatch {
        /// Group of the object.
        from: String,
        /// Group of `desiredAPIVersion`.
        to: String,
    },
    /// No kind of that name is served in that group by this webhook.
    #[error("kind {kind:?} is not served in group {group:?}")]
    UnsupportedKind {
        /// Group of the object.
        group: String,
        /// Kind of the object.
        kind: String,
    },
    /// Only v1alpha1 ⇄ v1beta1 exists.
    #[error("no conversion from version {from:?} to version {to:?}")]
    UnsupportedVersion {
        /// Version of the object.
        from: String,
        /// Version asked for.
        to: String,
    },
    /// The object does not match its version's schema.
    #[error("cannot decode {api_version} {kind}: {source}")]
    Decode {
        /// `apiVersion` of the object.
        api_version: String,
        /// `kind` of the object.
        kind: String,
        /// What serde rejected.
        source: serde_json::Error,
    },
    /// The converted object (or the stash) could not be serialised.
    #[error("cannot encode converted object: {0}")]
    Encode(#[source] serde_json::Error),
    /// The v1alpha1 SandboxTemplate carries a `volumeClaimTemplatesPolicy` annotation that is not
    /// one of the enum values (spec §6: an invalid value is a conversion error).
    #[error(
        "annotation {key} has invalid volumeClaimTemplatesPolicy {value:?} \
         (want Disallowed, Allowed or Overrides)"
    )]
    InvalidVolumeClaimTemplatesPolicy {
        /// The annotation key.
        key: &'static str,
        /// The rejected value.
        value: String,
    },
    /// The annotation carrying a v1beta1-only `readinessGracePeriodSeconds` is not a number.
    #[error("annotation {key} has invalid readinessGracePeriodSeconds {value:?} (want an integer)")]
    InvalidReadinessGracePeriod {
        /// The annotation key.
        key: &'static str,
        /// The rejected value.
        value: String,
    },
}
