//! Deletes only what the harness made. Every delete of a bench run goes through here: the
//! object's labels (or, for a controller's Pod, its namespace's labels and its owner) are
//! checked first, and the delete is pinned to the uid that was checked. A namespace, node or
//! Pod that is not the run's (a name collision on a shared cluster, a user's kwok node, a Pod
//! another controller owns) is refused with a [`Refusal`] naming it and the label it lacks,
//! and an object replaced between the check and the delete is left alone too.
//!
//! Deleting takes a [`Checked`] ([`delete`]), which only the checks here make, or a name that
//! is read and checked first ([`delete_named`]), so a caller cannot skip the check.

use std::fmt;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::api::{Api, DeleteParams, GetParams, Preconditions};
use sandbox_api::v1beta1::Sandbox;
use serde::de::DeserializeOwned;

use crate::labels::{HARNESS_NODE_LABEL, RUN_LABEL};

/// The kind, namespace and name of an object, as errors and logs show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectId {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectId {
    fn of(kind: &str, meta: &ObjectMeta) -> Box<Self> {
        Box::new(Self {
            kind: kind.to_string(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
        })
    }

    fn named<K: Resource<DynamicType = ()>>(api: &Api<K>, name: &str) -> Self {
        Self {
            kind: K::kind(&()).into_owned(),
            namespace: api.namespace().map(str::to_string),
            name: name.to_string(),
        }
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Why a check refused an object: it is not, or cannot be shown to be, the harness's. The
/// object is boxed to keep the `Err` of every check small.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("refusing to delete {object}: it does not carry the label {key}={want}")]
    MissingLabel {
        object: Box<ObjectId>,
        key: String,
        want: String,
    },
    #[error("refusing to delete {object}: its label {key} is {found:?}, not {want:?}")]
    WrongLabel {
        object: Box<ObjectId>,
        key: String,
        want: String,
        found: String,
    },
    /// Without a uid the delete could not be pinned to the object checked.
    #[error("refusing to delete {object}: it has no uid to pin the delete to")]
    NoUid { object: Box<ObjectId> },
    /// Names the harness gives its namespaces end in `-<run id>`; this one does not, so no
    /// run label value can be expected of it or of the objects in it.
    #[error("refusing to delete in namespace {namespace}: its name carries no run id")]
    NoRunId { namespace: String },
    #[error(
        "refusing to delete {object}: it is not in namespace {checked}, the one checked for \
         the run label"
    )]
    OutsideNamespace {
        object: Box<ObjectId>,
        checked: String,
    },
    #[error("refusing to delete {object}: no Sandbox controls it (no controller ownerReference)")]
    NotSandboxPod { object: Box<ObjectId> },
}

/// Why a guarded delete did not happen.
#[derive(Debug, thiserror::Error)]
pub enum GuardedDeleteError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("cannot read {object} to check its labels: {source}")]
    Read {
        object: ObjectId,
        source: kube::Error,
    },
    #[error("cannot delete {object}: {source}")]
    Delete {
        object: ObjectId,
        source: kube::Error,
    },
}

impl GuardedDeleteError {
    /// The API server's or transport's error, when there was one (not for a refusal).
    pub fn kube_error(&self) -> Option<&kube::Error> {
        match self {
            Self::Refused(_) => None,
            Self::Read { source, .. } | Self::Delete { source, .. } => Some(source),
        }
    }
}

/// For callers that report every failure as a `kube::Error` (bench cleanup): API errors stay
/// themselves, so a caller matching on status codes still can; a refusal travels boxed, its
/// message naming the object and the label intact.
impl From<GuardedDeleteError> for kube::Error {
    fn from(error: GuardedDeleteError) -> Self {
        match error {
            GuardedDeleteError::Read { source, .. } | GuardedDeleteError::Delete { source, .. } => {
                source
            }
            refused @ GuardedDeleteError::Refused(_) => kube::Error::Service(Box::new(refused)),
        }
    }
}

/// An object that passed a check, with the uid it had then: what [`delete`] takes. Only the
/// checks in this module make one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    object: ObjectId,
    uid: String,
}

impl Checked {
    fn new(object: Box<ObjectId>, meta: &ObjectMeta) -> Result<Self, Refusal> {
        match meta.uid.as_deref() {
            Some(uid) if !uid.is_empty() => Ok(Self {
                object: *object,
                uid: uid.to_string(),
            }),
            _ => Err(Refusal::NoUid { object }),
        }
    }

    pub fn object(&self) -> &ObjectId {
        &self.object
    }

    pub fn uid(&self) -> &str {
        &self.uid
    }
}

/// A label an object must carry, with its value, to be deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredLabel {
    key: String,
    value: String,
}

impl RequiredLabel {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }

    /// [`RUN_LABEL`] with run `run_id`: what every namespace, template, pool and claim of the
    /// run carries.
    pub fn run(run_id: &str) -> Self {
        Self::new(RUN_LABEL, run_id)
    }

    /// The run label of the run that `namespace` (a name the harness made: `bench-<id>`,
    /// `conformance-<case>-<id>`) belongs to.
    pub fn run_of_namespace(namespace: &str) -> Result<Self, Refusal> {
        crate::labels::run_id_of(namespace)
            .map(Self::run)
            .ok_or_else(|| Refusal::NoRunId {
                namespace: namespace.to_string(),
            })
    }

    /// [`HARNESS_NODE_LABEL`]: what the kwok nodes of the harness's local clusters carry.
    pub fn harness_node() -> Self {
        Self::new(HARNESS_NODE_LABEL.0, HARNESS_NODE_LABEL.1)
    }

    /// Checks that `object` carries this label with this value and has a uid.
    pub fn check<K: Resource<DynamicType = ()>>(&self, object: &K) -> Result<Checked, Refusal> {
        self.check_meta(&K::kind(&()), object.meta())
    }

    /// [`RequiredLabel::check`] on the metadata of an object of kind `kind`.
    pub fn check_meta(&self, kind: &str, meta: &ObjectMeta) -> Result<Checked, Refusal> {
        let object = ObjectId::of(kind, meta);
        match meta.labels.as_ref().and_then(|l| l.get(&self.key)) {
            None => Err(Refusal::MissingLabel {
                object,
                key: self.key.clone(),
                want: self.value.clone(),
            }),
            Some(found) if *found != self.value => Err(Refusal::WrongLabel {
                object,
                key: self.key.clone(),
                want: self.value.clone(),
                found: found.clone(),
            }),
            Some(_) => Checked::new(object, meta),
        }
    }

    /// Checks a namespace; the result vouches for the Pods in it (see
    /// [`CheckedNamespace::check_sandbox_pod`]), which carry no run label of their own.
    pub fn check_namespace(&self, namespace: &Namespace) -> Result<CheckedNamespace, Refusal> {
        let checked = self.check(namespace)?;
        Ok(CheckedNamespace {
            name: checked.object.name,
        })
    }
}

/// A namespace that carried the run label when it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedNamespace {
    name: String,
}

impl CheckedNamespace {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The controller creates a sandbox's Pod without the run label, so a Pod is the run's
    /// when it lies in the run's namespace and a Sandbox is its controller.
    pub fn check_sandbox_pod(&self, pod: &Pod) -> Result<Checked, Refusal> {
        let object = ObjectId::of("Pod", &pod.metadata);
        if pod.metadata.namespace.as_deref() != Some(self.name.as_str()) {
            return Err(Refusal::OutsideNamespace {
                object,
                checked: self.name.clone(),
            });
        }
        let sandbox_group = Sandbox::group(&());
        let owned = pod.metadata.owner_references.iter().flatten().any(|r| {
            r.controller == Some(true)
                && r.kind == Sandbox::kind(&())
                && r.api_version.split('/').next() == Some(&*sandbox_group)
        });
        if !owned {
            return Err(Refusal::NotSandboxPod { object });
        }
        Checked::new(object, &pod.metadata)
    }
}

/// What a guarded delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The delete was accepted (the object may linger while finalizers run).
    Deleted,
    /// The object checked was gone already, or replaced by another of the same name (which
    /// is left alone): the uid precondition failed or the name is not found.
    Gone,
}

/// Deletes the object `checked` vouches for, and only it: `params` get a uid precondition, so
/// the API server refuses if the name now holds another object.
pub async fn delete<K>(
    api: &Api<K>,
    checked: &Checked,
    params: &DeleteParams,
) -> Result<Deleted, GuardedDeleteError>
where
    K: Resource + Clone + DeserializeOwned + fmt::Debug,
{
    let mut params = params.clone();
    params.preconditions = Some(Preconditions {
        uid: Some(checked.uid.clone()),
        ..params.preconditions.unwrap_or_default()
    });
    match api.delete(&checked.object.name, &params).await {
        Ok(_) => Ok(Deleted::Deleted),
        // 404: gone already; 409: the uid precondition failed, the object checked is gone.
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(Deleted::Gone),
        Err(source) => Err(GuardedDeleteError::Delete {
            object: checked.object.clone(),
            source,
        }),
    }
}

/// Reads `name`'s metadata with `get`, checks it carries `required`, and deletes it; a name
/// not found is [`Deleted::Gone`]. `GetParams::default()` reads consistently;
/// `GetParams::any()` reads the API server's cache, sparing etcd a read on a hot path, and
/// the uid precondition keeps that safe: the delete hits the object that was checked or
/// nothing. A name the cache does not hold is read again consistently before it counts as
/// gone, so a lagging cache never leaves an object undeleted.
pub async fn delete_named<K>(
    api: &Api<K>,
    name: &str,
    required: &RequiredLabel,
    get: &GetParams,
    params: &DeleteParams,
) -> Result<Deleted, GuardedDeleteError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + fmt::Debug,
{
    let read = |get: GetParams| async move {
        api.get_metadata_opt_with(name, &get)
            .await
            .map_err(|source| GuardedDeleteError::Read {
                object: ObjectId::named(api, name),
                source,
            })
    };
    let mut meta = read(get.clone()).await?;
    if meta.is_none() && get.resource_version.is_some() {
        meta = read(GetParams::default()).await?;
    }
    let Some(meta) = meta else {
        return Ok(Deleted::Gone);
    };
    let checked = required.check_meta(&K::kind(&()), &meta.metadata)?;
    delete(api, &checked, params).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Node;
    use sandbox_api::v1beta1::SandboxClaim;
    use serde_json::json;

    fn namespace(labels: serde_json::Value) -> Namespace {
        serde_json::from_value(json!({
            "metadata": {"name": "bench-abcde", "uid": "u-1", "labels": labels}
        }))
        .unwrap()
    }

    fn pod(namespace: &str, owner: Option<(&str, &str, bool)>) -> Pod {
        let owners: Vec<_> = owner
            .into_iter()
            .map(|(api_version, kind, controller)| {
                json!({"apiVersion": api_version, "kind": kind, "name": "sb", "uid": "o-1",
                       "controller": controller})
            })
            .collect();
        serde_json::from_value(json!({
            "metadata": {"name": "sb", "namespace": namespace, "uid": "p-1",
                         "ownerReferences": owners}
        }))
        .unwrap()
    }

    #[test]
    fn an_object_with_the_run_label_passes_with_its_uid() {
        let checked = RequiredLabel::run("abcde")
            .check(&namespace(json!({RUN_LABEL: "abcde"})))
            .unwrap();
        assert_eq!(checked.uid(), "u-1");
        assert_eq!(checked.object().to_string(), "Namespace bench-abcde");
    }

    #[test]
    fn an_object_without_the_run_label_is_refused_by_name_and_label() {
        let refusal = RequiredLabel::run("abcde")
            .check(&namespace(json!({"other": "abcde"})))
            .unwrap_err();
        assert!(
            matches!(refusal, Refusal::MissingLabel { .. }),
            "{refusal:?}"
        );
        assert_eq!(
            refusal.to_string(),
            "refusing to delete Namespace bench-abcde: it does not carry the label \
             sandbox-bench/run=abcde"
        );
        let unlabelled: Namespace =
            serde_json::from_value(json!({"metadata": {"name": "n", "uid": "u"}})).unwrap();
        assert!(matches!(
            RequiredLabel::run("abcde").check(&unlabelled),
            Err(Refusal::MissingLabel { .. })
        ));
    }

    #[test]
    fn an_object_of_another_run_is_refused() {
        let refusal = RequiredLabel::run("abcde")
            .check(&namespace(json!({RUN_LABEL: "zzzzz"})))
            .unwrap_err();
        assert_eq!(
            refusal,
            Refusal::WrongLabel {
                object: Box::new(ObjectId {
                    kind: "Namespace".into(),
                    namespace: None,
                    name: "bench-abcde".into()
                }),
                key: RUN_LABEL.into(),
                want: "abcde".into(),
                found: "zzzzz".into(),
            }
        );
    }

    #[test]
    fn an_object_without_a_uid_is_refused() {
        let mut ns = namespace(json!({RUN_LABEL: "abcde"}));
        ns.metadata.uid = None;
        assert!(matches!(
            RequiredLabel::run("abcde").check(&ns),
            Err(Refusal::NoUid { .. })
        ));
    }

    fn labelled_claim(name: &str, run_id: &str) -> SandboxClaim {
        let mut claim = SandboxClaim::new(name, Default::default());
        claim.metadata.labels = Some([(RUN_LABEL.to_string(), run_id.to_string())].into());
        claim
    }

    #[test]
    fn a_claim_is_checked_by_the_labels_the_harness_put_on_it() {
        let mut claim = labelled_claim("claim-1", "abcde");
        claim.metadata.namespace = Some("bench-abcde".into());
        claim.metadata.uid = Some("c-1".into());
        let checked = RequiredLabel::run_of_namespace("bench-abcde")
            .unwrap()
            .check(&claim)
            .unwrap();
        assert_eq!(
            checked.object().to_string(),
            "SandboxClaim bench-abcde/claim-1"
        );
        let other = labelled_claim("claim-1", "zzzzz");
        assert!(matches!(
            RequiredLabel::run("abcde").check::<SandboxClaim>(&other),
            Err(Refusal::WrongLabel { .. })
        ));
    }

    #[test]
    fn namespaces_without_a_run_id_in_their_name_vouch_for_nothing() {
        assert_eq!(
            RequiredLabel::run_of_namespace("conformance-claim-race-abcde").unwrap(),
            RequiredLabel::run("abcde")
        );
        assert!(matches!(
            RequiredLabel::run_of_namespace("default"),
            Err(Refusal::NoRunId { .. })
        ));
    }

    #[test]
    fn kwok_nodes_need_the_harness_label_not_only_kwok_s() {
        let node = |labels: serde_json::Value| -> Node {
            serde_json::from_value(json!({"metadata": {"name": "kwok-node-0", "uid": "n-1",
                                                        "labels": labels}}))
            .unwrap()
        };
        let foreign = node(json!({"type": "kwok"}));
        let refusal = RequiredLabel::harness_node().check(&foreign).unwrap_err();
        assert!(
            refusal.to_string().contains(HARNESS_NODE_LABEL.0),
            "{refusal}"
        );
        let ours = node(json!({"type": "kwok", HARNESS_NODE_LABEL.0: HARNESS_NODE_LABEL.1}));
        assert!(RequiredLabel::harness_node().check(&ours).is_ok());
        let wrong = node(json!({HARNESS_NODE_LABEL.0: "other"}));
        assert!(matches!(
            RequiredLabel::harness_node().check(&wrong),
            Err(Refusal::WrongLabel { .. })
        ));
    }

    #[test]
    fn a_sandbox_pod_passes_only_in_a_namespace_checked_for_the_run_label() {
        let required = RequiredLabel::run("abcde");
        assert!(
            required.check_namespace(&namespace(json!({}))).is_err(),
            "an unlabelled namespace vouches for no Pod"
        );
        let ns = required
            .check_namespace(&namespace(json!({RUN_LABEL: "abcde"})))
            .unwrap();
        let owner = Some(("agents.x-k8s.io/v1beta1", "Sandbox", true));
        let checked = ns.check_sandbox_pod(&pod("bench-abcde", owner)).unwrap();
        assert_eq!(checked.uid(), "p-1");
        assert!(matches!(
            ns.check_sandbox_pod(&pod("elsewhere", owner)),
            Err(Refusal::OutsideNamespace { .. })
        ));
    }

    #[test]
    fn a_pod_no_sandbox_controls_is_refused() {
        let ns = RequiredLabel::run("abcde")
            .check_namespace(&namespace(json!({RUN_LABEL: "abcde"})))
            .unwrap();
        for owner in [
            None,
            Some(("apps/v1", "ReplicaSet", true)),
            Some(("agents.x-k8s.io/v1beta1", "Sandbox", false)),
            Some(("example.com/v1", "Sandbox", true)),
        ] {
            assert!(
                matches!(
                    ns.check_sandbox_pod(&pod("bench-abcde", owner)),
                    Err(Refusal::NotSandboxPod { .. })
                ),
                "{owner:?}"
            );
        }
    }

    #[test]
    fn a_refusal_reaching_kube_error_keeps_its_message() {
        let refusal = RequiredLabel::run("abcde")
            .check(&namespace(json!({})))
            .unwrap_err();
        let error = kube::Error::from(GuardedDeleteError::from(refusal));
        assert!(error.to_string().contains("bench-abcde"), "{error}");
    }
}
