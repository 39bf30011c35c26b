//! Request parameters every controller's writes share: our field manager, and deletes that
//! only remove the object the decision was about.

use kube::api::{DeleteParams, PatchParams, PostParams, Preconditions};
use sandbox_api::keys::FIELD_MANAGER;

pub fn post() -> PostParams {
    PostParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PostParams::default()
    }
}

pub fn merge() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    }
}

/// Deletes the object only if it is still the one with `uid` (not a successor of that name).
pub fn delete_if(uid: &str) -> DeleteParams {
    DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    }
}

/// Deletes the object only if it is still the one with `uid` at `resource_version`: unchanged
/// since the decision read it.
pub fn delete_if_unchanged(uid: &str, resource_version: &str) -> DeleteParams {
    DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(uid.to_string()),
            resource_version: (!resource_version.is_empty()).then(|| resource_version.to_string()),
        }),
        ..DeleteParams::default()
    }
}

/// The API answered with this HTTP status.
pub fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

/// The object is already gone, which is fine for a delete.
pub fn is_not_found(e: &kube::Error) -> bool {
    is_status(e, 404)
}

/// The API server rejected the request as malformed (400) or invalid (422): sent again
/// unchanged, it fails again.
pub fn is_permanent(e: &kube::Error) -> bool {
    is_status(e, 400) || is_status(e, 422)
}
