//! SandboxTemplate (`extensions.agents.x-k8s.io`), spec §3: the template's NetworkPolicy.

use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Patch, PatchParams};
use sandbox_api::keys;
use sandbox_api::name_hash;
use sandbox_api::v1beta1::SandboxTemplate;
use serde_json::{Value, json};

use super::{Case, case};
use crate::context::CaseContext;
use crate::fail::{ApiContext, Fail, ensure, ensure_eq};
use crate::inspect::{self, describe_owners, label};
use crate::objects;
use crate::release::Release;
use crate::steps::{self, TEMPLATE, uid};

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "template-network-policy-managed",
            "template",
            "3.3",
            Release::V0_5_6,
            "a Managed template gets <template>-network-policy with the secure default",
            60,
            network_policy_managed
        ),
        case!(
            "template-network-policy-unmanaged",
            "template",
            "3.3",
            Release::V0_5_6,
            "switching a template to Unmanaged deletes its NetworkPolicy",
            60,
            network_policy_unmanaged
        ),
    ]
}

fn policy_name() -> String {
    format!("{TEMPLATE}-network-policy")
}

/// The secure default of §3.3 step 6 for a template named [`TEMPLATE`].
fn secure_default() -> Value {
    json!({
        "podSelector": {"matchLabels": {
            keys::SANDBOX_TEMPLATE_REF_HASH_LABEL: name_hash(TEMPLATE).to_string()
        }},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [{
            "podSelector": {"matchLabels": {"app": "sandbox-router"}},
            "namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": "agent-sandbox-system"
            }}
        }]}],
        "egress": [{"to": [
            {"ipBlock": {"cidr": "0.0.0.0/0",
                         "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"]}},
            {"ipBlock": {"cidr": "::/0", "except": ["fc00::/7", "fe80::/10"]}}
        ]}]
    })
}

/// §3.3 steps 2, 4 and 6: a template without `networkPolicy` (Managed by default) gets the label
/// `agents.x-k8s.io/sandbox-template-ref-hash=NameHash(name)` and a NetworkPolicy
/// `<template>-network-policy`, controlled by the template, holding exactly the secure default
/// (router-only ingress, public-internet-only egress, cluster DNS blocked).
async fn network_policy_managed(cx: CaseContext) -> Result<(), Fail> {
    let template = cx
        .create(&objects::template(TEMPLATE, &cx.image, json!({}))?)
        .await?;
    let template_uid = uid(&template)?;
    let policy: NetworkPolicy = steps::exists(&cx, &policy_name()).await?;
    ensure!(
        inspect::controlled_by(&policy.metadata, &template_uid),
        "NetworkPolicy {} is not controlled by the template: {}",
        policy_name(),
        describe_owners(&policy.metadata)
    );
    let spec = serde_json::to_value(&policy.spec)
        .map_err(|e| Fail::check(format!("NetworkPolicy spec does not serialise: {e}")))?;
    ensure_eq!(
        spec,
        secure_default(),
        "spec of NetworkPolicy {}",
        policy_name()
    );
    let template = cx
        .api::<SandboxTemplate>()
        .get(TEMPLATE)
        .await
        .during("get the template")?;
    ensure_eq!(
        label(&template.metadata, keys::SANDBOX_TEMPLATE_REF_HASH_LABEL),
        name_hash(TEMPLATE).as_str(),
        "label {} of SandboxTemplate {TEMPLATE}",
        keys::SANDBOX_TEMPLATE_REF_HASH_LABEL
    );
    Ok(())
}

/// §3.3 step 5: switching `networkPolicyManagement` to Unmanaged deletes the NetworkPolicy the
/// template controls.
async fn network_policy_unmanaged(cx: CaseContext) -> Result<(), Fail> {
    cx.create(&objects::template(TEMPLATE, &cx.image, json!({}))?)
        .await?;
    let _: NetworkPolicy = steps::exists(&cx, &policy_name()).await?;
    cx.api::<SandboxTemplate>()
        .patch(
            TEMPLATE,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"networkPolicyManagement": "Unmanaged"}})),
        )
        .await
        .during("switch the template to Unmanaged")?;
    steps::gone::<NetworkPolicy>(&cx, &policy_name()).await
}
