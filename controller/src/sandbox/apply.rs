//! Performing a Sandbox [`Plan`]: each action is one API call, in order. The first failure
//! stops the plan; the watch events of what did happen drive the next pass.

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service};
use kube::api::{Api, DeleteParams, Patch};

use kube::runtime::reflector::ObjectRef;

use crate::events::Notice;
use crate::expectations::Expectations;
use crate::write::{delete_if, is_not_found, is_status, merge, post};
use sandbox_api::keys::event;
use sandbox_api::v1beta1::Sandbox;

use super::decide::{Action, Plan};

/// A failed write, naming what was being written.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct ApplyError {
    pub what: String,
    #[source]
    pub source: kube::Error,
}

impl ApplyError {
    /// The API server rejected the write as malformed or invalid (400, 422): the same write
    /// fails again until the spec it came from changes. Quota (403), conflicts (409) and
    /// server errors are not permanent.
    pub fn permanent(&self) -> bool {
        crate::write::is_permanent(&self.source)
    }

    /// Creates in a namespace being deleted fail with this cause; retrying soon is pointless.
    pub fn namespace_terminating(&self) -> bool {
        matches!(&self.source, kube::Error::Api(status)
        if status.details.as_ref().is_some_and(|d| {
            d.causes.iter().any(|c| c.reason == "NamespaceTerminating")
        }))
    }
}

/// The APIs one Sandbox's writes go to.
pub struct Apis {
    pub sandboxes: Api<Sandbox>,
    pub pods: Api<Pod>,
    pub services: Api<Service>,
    pub pvcs: Api<PersistentVolumeClaim>,
}

impl Apis {
    pub fn namespaced(client: &kube::Client, namespace: &str) -> Self {
        Self {
            sandboxes: Api::namespaced(client.clone(), namespace),
            pods: Api::namespaced(client.clone(), namespace),
            services: Api::namespaced(client.clone(), namespace),
            pvcs: Api::namespaced(client.clone(), namespace),
        }
    }
}

/// Performs `plan`; a Pod it creates, or finds already there, is noted in `pod_creates` so
/// that passes before the cache shows it do not create it again. The Pod's creation, or its
/// failure, is told in `notices`, whatever the plan's outcome.
pub async fn apply(
    apis: &Apis,
    sandbox: &str,
    plan: &Plan,
    pod_creates: &Expectations<ObjectRef<Pod>>,
    notices: &mut Vec<Notice>,
) -> Result<(), ApplyError> {
    for action in plan.actions.iter().chain(&plan.follow_ups) {
        let fail = |what: String| move |source| ApplyError { what, source };
        match action {
            Action::CreatePvc(pvc) => {
                apis.pvcs
                    .create(&post(), pvc)
                    .await
                    .map(drop)
                    .map_err(fail(format!(
                        "create PersistentVolumeClaim {}",
                        pvc.metadata.name.as_deref().unwrap_or_default()
                    )))?
            }
            Action::PatchPvc { name, patch } => apis
                .pvcs
                .patch(name, &merge(), &Patch::Merge(patch))
                .await
                .map(drop)
                .map_err(fail(format!("adopt PersistentVolumeClaim {name}")))?,
            Action::CreatePod(pod) => {
                let name = pod.metadata.name.as_deref().unwrap_or_default();
                match apis.pods.create(&post(), pod).await {
                    Ok(_) => notices.push(Notice::normal(
                        event::SANDBOX_POD_CREATED,
                        event::ACTION_POD_CREATION,
                        format!("Created Pod {name:?}"),
                    )),
                    // 409: the create of an earlier pass got there first.
                    Err(e) if is_status(&e, 409) => {}
                    Err(e) => {
                        let error = fail(format!("create Pod {name}"))(e);
                        notices.push(Notice::warning(
                            event::SANDBOX_POD_CREATE_FAILED,
                            event::ACTION_POD_CREATION,
                            format!("Failed to create Pod {name:?}: {}", error.source),
                        ));
                        return Err(error);
                    }
                }
                let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
                pod_creates.created_now(ObjectRef::new(name).within(namespace));
            }
            Action::PatchPod { name, patch } => apis
                .pods
                .patch(name, &merge(), &Patch::Merge(patch))
                .await
                .map(drop)
                .map_err(fail(format!("patch Pod {name}")))?,
            Action::DeletePod { name, uid } => {
                match apis.pods.delete(name, &delete_if(uid)).await {
                    Err(e) if !is_not_found(&e) => {
                        return Err(fail(format!("delete Pod {name}"))(e));
                    }
                    _ => {}
                }
            }
            Action::CreateService(svc) => apis
                .services
                .create(&post(), svc)
                .await
                .map(drop)
                .map_err(fail(format!(
                    "create Service {}",
                    svc.metadata.name.as_deref().unwrap_or_default()
                )))?,
            Action::PatchService { name, patch } => apis
                .services
                .patch(name, &merge(), &Patch::Merge(patch))
                .await
                .map(drop)
                .map_err(fail(format!("patch Service {name}")))?,
            Action::ReplaceService(svc) => {
                let name = svc.metadata.name.clone().unwrap_or_default();
                apis.services
                    .replace(&name, &post(), svc)
                    .await
                    .map(drop)
                    .map_err(fail(format!("adopt Service {name}")))?
            }
            Action::DeleteService { name, uid } => {
                match apis.services.delete(name, &delete_if(uid)).await {
                    Err(e) if !is_not_found(&e) => {
                        return Err(fail(format!("delete Service {name}"))(e));
                    }
                    _ => {}
                }
            }
            Action::PatchSandbox(patch) => apis
                .sandboxes
                .patch(sandbox, &merge(), &Patch::Merge(patch))
                .await
                .map(drop)
                .map_err(fail(format!("patch Sandbox {sandbox}")))?,
            Action::DeleteSandbox => match apis
                .sandboxes
                .delete(sandbox, &DeleteParams::default())
                .await
            {
                Err(e) if !is_not_found(&e) => {
                    return Err(fail(format!("delete expired Sandbox {sandbox}"))(e));
                }
                _ => {}
            },
        }
    }
    if let Some(status) = &plan.status {
        apis.sandboxes
            .patch_status(sandbox, &merge(), &Patch::Merge(status))
            .await
            .map_err(|source| ApplyError {
                what: format!("patch status of Sandbox {sandbox}"),
                source,
            })?;
    }
    Ok(())
}
