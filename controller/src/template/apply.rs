//! Performing a SandboxTemplate [`Plan`]: each action is one API call, in order. The first
//! failure stops the plan; the watch events of what did happen drive the next pass.

use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, Patch};

use crate::write::{delete_if, is_not_found, merge, post};
use sandbox_api::v1beta1::SandboxTemplate;

use super::decide::{Action, Plan};
pub use crate::sandbox::apply::ApplyError;

/// The APIs one template's writes go to.
pub struct Apis {
    pub templates: Api<SandboxTemplate>,
    pub network_policies: Api<NetworkPolicy>,
}

impl Apis {
    pub fn namespaced(client: &kube::Client, namespace: &str) -> Self {
        Self {
            templates: Api::namespaced(client.clone(), namespace),
            network_policies: Api::namespaced(client.clone(), namespace),
        }
    }
}

fn policy_name(np: &NetworkPolicy) -> String {
    np.metadata.name.clone().unwrap_or_default()
}

pub async fn apply(apis: &Apis, template: &str, plan: &Plan) -> Result<(), ApplyError> {
    for action in &plan.actions {
        let fail = |what: String| move |source| ApplyError { what, source };
        match action {
            Action::PatchTemplate(patch) => apis
                .templates
                .patch(template, &merge(), &Patch::Merge(patch))
                .await
                .map(drop)
                .map_err(fail(format!("label SandboxTemplate {template}")))?,
            Action::CreateNetworkPolicy(np) => apis
                .network_policies
                .create(&post(), np)
                .await
                .map(drop)
                .map_err(fail(format!("create NetworkPolicy {}", policy_name(np))))?,
            Action::ReplaceNetworkPolicy(np) => {
                let name = policy_name(np);
                apis.network_policies
                    .replace(&name, &post(), np)
                    .await
                    .map(drop)
                    .map_err(fail(format!("update NetworkPolicy {name}")))?
            }
            Action::DeleteNetworkPolicy { name, uid } => {
                match apis.network_policies.delete(name, &delete_if(uid)).await {
                    Err(e) if !is_not_found(&e) => {
                        return Err(fail(format!("delete NetworkPolicy {name}"))(e));
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(())
}
