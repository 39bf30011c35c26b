//! A Pod as the Sandbox controller caches it: the metadata and the few fields its decisions
//! read, decoded straight from the watch.
//!
//! The Pod cache holds every Pod of the cluster. A core/v1 `Pod` is about 2.4 KiB in memory
//! before any of its containers, volumes or statuses, all of which the controller ignores;
//! this type is a fifth of that, and the fields it leaves out are never allocated.

use k8s_openapi::api::core::v1::{Pod, PodCondition, PodIP, PodSchedulingGate, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::Deserialize;

/// The Pod fields the Sandbox controller reads: metadata, `spec.nodeName`,
/// `spec.schedulingGates`, and the status phase, conditions and IPs.
#[derive(Resource, Clone, Debug, Default, PartialEq, Deserialize)]
#[resource(inherit = Pod)]
pub struct ObservedPod {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: Option<ObservedPodSpec>,
    #[serde(default)]
    pub status: Option<ObservedPodStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedPodSpec {
    #[serde(default)]
    pub node_name: Option<String>,
    #[serde(default)]
    pub scheduling_gates: Option<Vec<PodSchedulingGate>>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedPodStatus {
    #[serde(default)]
    pub phase: Option<String>,
    #[serde(default)]
    pub conditions: Option<Vec<PodCondition>>,
    #[serde(default, rename = "podIP")]
    pub pod_ip: Option<String>,
    #[serde(default, rename = "podIPs")]
    pub pod_ips: Option<Vec<PodIP>>,
}

impl ObservedPod {
    /// The Pod as the decisions take it, with only the observed fields set.
    pub fn to_pod(&self) -> Pod {
        Pod {
            metadata: self.metadata.clone(),
            spec: self.spec.as_ref().map(|spec| PodSpec {
                node_name: spec.node_name.clone(),
                scheduling_gates: spec.scheduling_gates.clone(),
                ..PodSpec::default()
            }),
            status: self.status.as_ref().map(|status| PodStatus {
                phase: status.phase.clone(),
                conditions: status.conditions.clone(),
                pod_ip: status.pod_ip.clone(),
                pod_ips: status.pod_ips.clone(),
                ..PodStatus::default()
            }),
        }
    }
}
