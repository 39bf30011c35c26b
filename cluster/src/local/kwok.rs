//! kwok: fake nodes whose pods become Running and Ready without a kubelet.
//!
//! The standalone `kwok` controller needs Stage objects; `ci/setup` copies kwok's stock "fast"
//! stages from its module, and this module turns them into one config file, adding the
//! configured pod-ready delay. kwok manages only nodes labelled [`NODE_LABEL`], so real nodes can
//! join the same cluster later without kwok touching them.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use serde_json::{Value, json};

pub use sandbox_marks::labels::KWOK_NODE_LABEL as NODE_LABEL;

/// Pod IPs handed out by kwok; disjoint from the service range (10.96.0.0/16).
pub const POD_CIDR: &str = "10.244.0.0/16";

/// The stock stages, in the order kwokctl installs them.
pub const STAGE_FILES: [&str; 5] = [
    "node-initialize.yaml",
    "node-heartbeat-with-lease.yaml",
    "pod-ready.yaml",
    "pod-complete.yaml",
    "pod-delete.yaml",
];

#[derive(Debug, thiserror::Error)]
pub enum KwokConfigError {
    #[error("cannot read kwok stage {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("kwok stage {path} is not valid YAML: {message}")]
    Parse { path: String, message: String },
}

/// How long a pod on a kwok node takes to turn Ready: `delay`, plus a uniform random extra of up
/// to `jitter` (kwok draws it per pod).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PodReadyDelay {
    pub delay: Duration,
    pub jitter: Duration,
}

/// Renders kwok's config file: options, then every stage, as `---`-separated JSON documents
/// (JSON is YAML, and serialising JSON never changes the stages' Go templates).
pub fn render_config(stages_dir: &Path, ready: PodReadyDelay) -> Result<String, KwokConfigError> {
    let options = json!({
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokConfiguration",
        "options": {
            "manageAllNodes": false,
            "manageNodesWithLabelSelector": format!("{}={}", NODE_LABEL.0, NODE_LABEL.1),
            "cidr": POD_CIDR,
            "nodeIP": "10.243.0.1",
            // kwok applies no defaults to a config file's options; these are its own defaults,
            // except pod stage parallelism, raised so bursts of sandboxes are not queued here.
            "podPlayStageParallelism": 16,
            "nodePlayStageParallelism": 4,
            "nodeLeaseParallelism": 4,
            "podsOnNodeSyncParallelism": 1,
            "nodeLeaseDurationSeconds": 40,
            "enablePodsOnNodeSyncListPager": true,
            "enablePodsOnNodeSyncStreamWatch": false,
        }
    });
    let mut docs = vec![options];
    for file in STAGE_FILES {
        let path = stages_dir.join(file);
        let text = std::fs::read_to_string(&path).map_err(|source| KwokConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut stage: Value =
            serde_saphyr::from_str(&text).map_err(|e| KwokConfigError::Parse {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        if file == "pod-ready.yaml" {
            set_delay(&mut stage, ready);
        }
        docs.push(stage);
    }
    Ok(docs
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n---\n"))
}

fn set_delay(stage: &mut Value, ready: PodReadyDelay) {
    if ready == PodReadyDelay::default() {
        return;
    }
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let mut delay = json!({ "durationMilliseconds": millis(ready.delay) });
    if !ready.jitter.is_zero() {
        // kwok's jitter field is the upper bound of the total delay, not an addend.
        delay["jitterDurationMilliseconds"] = json!(millis(ready.delay + ready.jitter));
    }
    stage["spec"]["delay"] = delay;
}

/// A fake node with room for `pods` pods.
pub fn node(name: &str, pods: u32) -> Result<Node, serde_json::Error> {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                NODE_LABEL.0: NODE_LABEL.1,
                sandbox_marks::labels::HARNESS_NODE_LABEL.0: sandbox_marks::labels::HARNESS_NODE_LABEL.1,
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": "kwok",
            },
            "annotations": { "node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake" },
        },
        "status": {
            "capacity": { "cpu": "64", "memory": "256Gi", "pods": pods.to_string() },
            "allocatable": { "cpu": "64", "memory": "256Gi", "pods": pods.to_string() },
            "nodeInfo": {
                "architecture": "amd64",
                "operatingSystem": "linux",
                "kubeletVersion": "kwok",
                "kubeProxyVersion": "kwok",
            },
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for file in STAGE_FILES {
            let name = file.trim_end_matches(".yaml");
            std::fs::write(
                dir.path().join(file),
                format!(
                    "apiVersion: kwok.x-k8s.io/v1alpha1\nkind: Stage\nmetadata:\n  name: {name}\n\
                     spec:\n  next:\n    statusTemplate: |\n      phase: {{{{ .x | Quote }}}}\n"
                ),
            )
            .unwrap();
        }
        dir
    }

    fn docs(config: &str) -> Vec<Value> {
        config
            .split("\n---\n")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    #[test]
    fn config_has_options_then_every_stage_with_templates_intact() {
        let dir = stages_dir();
        let docs = docs(&render_config(dir.path(), PodReadyDelay::default()).unwrap());
        assert_eq!(docs.len(), 1 + STAGE_FILES.len());
        assert_eq!(docs[0]["kind"], "KwokConfiguration");
        assert_eq!(
            docs[0]["options"]["manageNodesWithLabelSelector"],
            "type=kwok"
        );
        assert_eq!(docs[3]["metadata"]["name"], "pod-ready");
        assert_eq!(
            docs[3]["spec"]["next"]["statusTemplate"],
            "phase: {{ .x | Quote }}\n"
        );
        assert!(docs[3]["spec"].get("delay").is_none());
    }

    #[test]
    fn pod_ready_delay_goes_into_the_pod_ready_stage_only() {
        let dir = stages_dir();
        let ready = PodReadyDelay {
            delay: Duration::from_millis(250),
            jitter: Duration::from_millis(100),
        };
        let docs = docs(&render_config(dir.path(), ready).unwrap());
        assert_eq!(
            docs[3]["spec"]["delay"],
            json!({"durationMilliseconds": 250, "jitterDurationMilliseconds": 350})
        );
        for i in [1, 2, 4, 5] {
            assert!(docs[i]["spec"].get("delay").is_none(), "stage {i}");
        }
    }

    #[test]
    fn a_missing_stage_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = render_config(dir.path(), PodReadyDelay::default()).unwrap_err();
        assert!(err.to_string().contains("node-initialize.yaml"), "{err}");
    }

    #[test]
    fn nodes_carry_the_kwok_label_and_capacity() {
        let n = node("kwok-node-0", 250).unwrap();
        let labels = n.metadata.labels.unwrap();
        assert_eq!(labels.get("type").map(String::as_str), Some("kwok"));
        let cap = n.status.unwrap().capacity.unwrap();
        assert_eq!(cap["pods"].0, "250");
    }
}
