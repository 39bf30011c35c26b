//! Sandbox (`agents.x-k8s.io`), spec §2: the Pod, the Service, PVCs, conditions, suspend and
//! resume, expiry, lifecycle Events, and the ownership rules that keep a Sandbox to one Pod.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use sandbox_api::keys::{self, condition, event, reason};
use sandbox_api::name_hash;
use sandbox_api::v1beta1::Sandbox;
use serde_json::{Value, json};

use super::{Case, case};
use crate::context::{CaseContext, Probe};
use crate::fail::{ApiContext, Fail, ensure, ensure_eq};
use crate::inspect::{self, NORMAL, WARNING, describe, describe_owners, label};
use crate::objects;
use crate::release::Release;
use crate::steps::{self, names, uid};

/// The Sandbox every case here creates (each case has its own namespace).
const SB: &str = "sb";
/// How long "nothing else happens" checks watch.
const QUIET: Duration = Duration::from_secs(3);
/// A finalizer only the suite sets, to hold a Pod in Terminating; it removes it again.
const HOLD: &str = "conformance.invalid/hold";

pub fn cases() -> Vec<Case> {
    vec![
        case!(
            "sandbox-pod-created",
            "sandbox",
            "2.5, 2.7",
            Release::V0_5_6,
            "a Pod named after the Sandbox, with the name-hash label and the Sandbox as controller",
            60,
            pod_created
        ),
        case!(
            "sandbox-ready",
            "sandbox",
            "2.3, 2.4",
            Release::V0_5_6,
            "Ready=True/DependenciesReady with the Pod's IPs, node and selector in status",
            60,
            ready
        ),
        case!(
            "sandbox-system-labels-filtered",
            "sandbox",
            "2.7",
            Release::V0_5_6,
            "system keys in podTemplate metadata never reach the Pod; user keys do",
            60,
            system_labels_filtered
        ),
        case!(
            "sandbox-service",
            "sandbox",
            "2.8",
            Release::V0_5_6,
            "service: true creates a headless Service and status.service/serviceFQDN",
            60,
            service
        ),
        case!(
            "sandbox-service-false-deletes",
            "sandbox",
            "2.8",
            Release::V0_5_6,
            "service: false deletes the owned Service and clears status.service",
            60,
            service_false_deletes
        ),
        case!(
            "sandbox-volume-claim-templates",
            "sandbox",
            "2.5, 2.9",
            Release::V0_5_6,
            "one PVC per volumeClaimTemplate, owned by the Sandbox and mounted by the Pod",
            60,
            volume_claim_templates
        ),
        case!(
            "sandbox-suspend-resume",
            "sandbox",
            "2.4, 2.11",
            Release::V0_5_6,
            "Suspended deletes the Pod (Suspended=True/PodTerminated); Running recreates it",
            90,
            suspend_resume
        ),
        case!(
            "sandbox-pod-recreated",
            "sandbox",
            "2.7, 11.13",
            Release::V0_5_6,
            "a Pod deleted while Running is recreated",
            60,
            pod_recreated
        ),
        case!(
            "sandbox-expiry-retain",
            "sandbox",
            "2.10",
            Release::V0_5_6,
            "shutdownTime passed, Retain: Ready=False/SandboxExpired, Pod deleted, Sandbox kept",
            60,
            expiry_retain
        ),
        case!(
            "sandbox-expiry-undone",
            "sandbox",
            "2.10",
            Release::V0_5_6,
            "moving an expired Sandbox's shutdownTime into the future brings its Pod back",
            90,
            expiry_undone
        ),
        case!(
            "sandbox-pod-succeeded",
            "sandbox",
            "2.4, 2.7",
            Release::V0_5_6,
            "a Pod that succeeded: Ready=False/PodSucceeded, Finished=True, the Pod is not recreated",
            60,
            pod_succeeded
        ),
        case!(
            "sandbox-expiry-delete",
            "sandbox",
            "2.10",
            Release::V0_5_6,
            "shutdownTime passed, Delete: the Sandbox is deleted",
            60,
            expiry_delete
        ),
        case!(
            "sandbox-multiple-pods",
            "sandbox",
            "2.4, 2.7",
            Release::V0_5_6,
            "two Pods controlled by one Sandbox: Ready=False/MultiplePods and no third Pod",
            60,
            multiple_pods
        ),
        case!(
            "sandbox-stale-pod-name",
            "sandbox",
            "2.7, 11.28",
            Release::V0_5_6,
            "a pod-name annotation naming a missing Pod creates no extra Pod and is removed",
            60,
            stale_pod_name
        ),
        case!(
            "sandbox-lifecycle-events",
            "sandbox",
            "2.12",
            Release::V1_0_4,
            "Normal Events SandboxPodCreated, SandboxReady and, once suspended, SandboxSuspended",
            60,
            lifecycle_events
        ),
        case!(
            "sandbox-pod-failed-event",
            "sandbox",
            "2.12",
            Release::V1_0_4,
            "a Pod that failed: a Warning Event PodFailed about the Sandbox",
            60,
            pod_failed_event
        ),
        case!(
            "sandbox-expiry-event",
            "sandbox",
            "2.12",
            Release::V1_0_4,
            "shutdownTime passed under Retain: a Normal Event SandboxExpired about the Sandbox",
            60,
            expiry_event
        ),
        case!(
            "sandbox-invalid-configuration",
            "sandbox",
            "2.6",
            Release::V1_0_4,
            "a Pod the API server refuses: Ready=False/InvalidConfiguration for that generation only",
            60,
            invalid_configuration
        ),
        case!(
            "sandbox-service-name-too-long",
            "sandbox",
            "2.1",
            Release::V1_0_6,
            "a name over 63 characters with service: true is refused (422), on create and on update",
            30,
            service_name_too_long
        ),
        case!(
            "sandbox-not-ready-while-pod-terminating",
            "sandbox",
            "2.8",
            Release::V1_0_11,
            "while its Pod is terminating (held by a finalizer) the Sandbox is Ready=False",
            90,
            not_ready_while_pod_terminating
        ),
    ]
}

async fn create_sandbox(cx: &CaseContext, spec: Value) -> Result<Sandbox, Fail> {
    cx.create(&objects::sandbox(SB, &cx.image, spec)?).await
}

async fn patch_spec(cx: &CaseContext, spec: Value) -> Result<Sandbox, Fail> {
    cx.api::<Sandbox>()
        .patch(
            SB,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": spec })),
        )
        .await
        .during(format_args!("patch Sandbox {SB} spec with {spec}"))
}

fn ready_condition(
    sb: &Sandbox,
) -> Result<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition, Fail> {
    inspect::condition(inspect::sandbox_conditions(sb), condition::READY)
        .ok_or_else(|| Fail::check(format!("Sandbox {SB} has no Ready condition")))
}

/// The owned Pods that are not being deleted.
async fn live_pods(cx: &CaseContext, sandbox_uid: &str) -> Result<Vec<Pod>, Fail> {
    Ok(steps::owned_pods(cx, sandbox_uid)
        .await?
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect())
}

/// Waits until the Sandbox controls exactly one live Pod whose UID differs from `old_uid`.
async fn new_pod(cx: &CaseContext, sandbox_uid: &str, old_uid: &str) -> Result<Pod, Fail> {
    cx.until("a new Pod for the Sandbox", || async move {
        let pods = live_pods(cx, sandbox_uid).await?;
        Ok(match pods.as_slice() {
            [pod] if pod.metadata.uid.as_deref() != Some(old_uid) => Probe::Done(pod.clone()),
            _ => Probe::Waiting(format!("live owned Pods: {:?}", names(&pods))),
        })
    })
    .await
}

/// §2.5, §2.7 step 7: the Pod is named after the Sandbox, carries
/// `agents.x-k8s.io/sandbox-name-hash=NameHash(name)` and a controller ownerRef to the Sandbox
/// (`agents.x-k8s.io/v1beta1`, `blockOwnerDeletion: true`), and runs the podTemplate spec.
async fn pod_created(cx: CaseContext) -> Result<(), Fail> {
    let sb = create_sandbox(&cx, json!({})).await?;
    let sb_uid = uid(&sb)?;
    let pod: Pod = steps::exists(&cx, SB).await?;
    ensure_eq!(
        label(&pod.metadata, keys::SANDBOX_NAME_HASH_LABEL),
        name_hash(SB).as_str(),
        "label {} of Pod {SB}",
        keys::SANDBOX_NAME_HASH_LABEL
    );
    let owner = inspect::controller(&pod.metadata).ok_or_else(|| {
        Fail::check(format!(
            "Pod {SB} has no single controller: {}",
            describe_owners(&pod.metadata)
        ))
    })?;
    ensure_eq!(
        (
            owner.api_version.as_str(),
            owner.kind.as_str(),
            owner.name.as_str(),
            owner.uid.as_str(),
            owner.block_owner_deletion
        ),
        (
            "agents.x-k8s.io/v1beta1",
            "Sandbox",
            SB,
            sb_uid.as_str(),
            Some(true)
        ),
        "controller ownerRef of Pod {SB} (apiVersion, kind, name, uid, blockOwnerDeletion)"
    );
    let images: Vec<Option<String>> = pod
        .spec
        .iter()
        .flat_map(|s| &s.containers)
        .map(|c| c.image.clone())
        .collect();
    ensure_eq!(
        images,
        vec![Some(cx.image.clone())],
        "container images of Pod {SB}"
    );
    Ok(())
}

/// §2.3, §2.4: with the Pod Running, Ready and addressed, the Sandbox is
/// Ready=True/DependenciesReady and Suspended=False/NotSuspended; status shows the Pod's IPs and
/// node and the selector `agents.x-k8s.io/sandbox-name-hash=<hash>`; conditions carry
/// `observedGeneration = metadata.generation`.
async fn ready(cx: CaseContext) -> Result<(), Fail> {
    create_sandbox(&cx, json!({})).await?;
    let sb = steps::sandbox_ready(&cx, SB).await?;
    let pod = cx
        .api::<Pod>()
        .get(SB)
        .await
        .during(format_args!("get Pod {SB}"))?;
    let status = sb.status.clone().unwrap_or_default();
    let ips = inspect::pod_ips(&pod);
    ensure!(!ips.is_empty(), "Sandbox is Ready but Pod {SB} has no IPs");
    ensure_eq!(status.pod_ips, ips, "status.podIPs of Sandbox {SB}");
    let node = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    ensure_eq!(status.node_name, node, "status.nodeName of Sandbox {SB}");
    ensure_eq!(
        status.selector,
        format!("{}={}", keys::SANDBOX_NAME_HASH_LABEL, name_hash(SB)),
        "status.selector of Sandbox {SB}"
    );
    let conditions = inspect::sandbox_conditions(&sb);
    ensure!(
        inspect::has_condition(
            conditions,
            condition::SUSPENDED,
            "False",
            reason::NOT_SUSPENDED
        ),
        "want Suspended=False/NotSuspended, got {}",
        describe(conditions)
    );
    ensure_eq!(
        ready_condition(&sb)?.observed_generation,
        sb.metadata.generation,
        "Ready.observedGeneration vs metadata.generation"
    );
    Ok(())
}

/// §2.7 step 7, §11.6: labels and annotations under `agents.x-k8s.io/`,
/// `extensions.agents.x-k8s.io/` and `opentelemetry.io/trace-context` in podTemplate metadata are
/// dropped; user keys reach the Pod and are listed in the `propagated-*` annotations; the
/// name-hash label is forced even when the template sets another value.
async fn system_labels_filtered(cx: CaseContext) -> Result<(), Fail> {
    // Arbitrary keys under both system prefixes, next to real ones.
    let core_key = format!("{}custom", keys::CORE_KEY_PREFIX);
    let extensions_key = format!("{}tier", keys::EXTENSIONS_KEY_PREFIX);
    let metadata = json!({
        "labels": {
            "team": "a",
            keys::LAUNCH_TYPE_LABEL: "warm",
            extensions_key: "x",
            keys::SANDBOX_NAME_HASH_LABEL: "00000000",
        },
        "annotations": {
            "note": "b",
            core_key: "c",
            keys::TRACE_CONTEXT_ANNOTATION: "{}",
        }
    });
    create_sandbox(
        &cx,
        json!({"podTemplate": {"metadata": metadata, "spec": objects::pod_spec(&cx.image)}}),
    )
    .await?;
    let pod: Pod = steps::exists(&cx, SB).await?;
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let annotations = pod.metadata.annotations.clone().unwrap_or_default();
    ensure_eq!(
        labels.get("team").map(String::as_str),
        Some("a"),
        "user label team on Pod {SB}"
    );
    ensure_eq!(
        annotations.get("note").map(String::as_str),
        Some("b"),
        "user annotation note on Pod {SB}"
    );
    ensure_eq!(
        labels.get(keys::SANDBOX_NAME_HASH_LABEL).cloned(),
        Some(name_hash(SB).to_string()),
        "forced name-hash label on Pod {SB}"
    );
    let leaked: Vec<&String> = labels
        .keys()
        .chain(annotations.keys())
        .filter(|k| keys::is_system_key(k))
        .filter(|k| {
            ![
                keys::SANDBOX_NAME_HASH_LABEL,
                keys::PROPAGATED_LABELS_ANNOTATION,
                keys::PROPAGATED_ANNOTATIONS_ANNOTATION,
            ]
            .contains(&k.as_str())
        })
        .collect();
    ensure!(
        leaked.is_empty(),
        "system keys from podTemplate metadata reached Pod {SB}: {leaked:?}"
    );
    ensure_eq!(
        annotations
            .get(keys::PROPAGATED_LABELS_ANNOTATION)
            .map(String::as_str),
        Some("team"),
        "annotation {} on Pod {SB}",
        keys::PROPAGATED_LABELS_ANNOTATION
    );
    ensure_eq!(
        annotations
            .get(keys::PROPAGATED_ANNOTATIONS_ANNOTATION)
            .map(String::as_str),
        Some("note"),
        "annotation {} on Pod {SB}",
        keys::PROPAGATED_ANNOTATIONS_ANNOTATION
    );
    Ok(())
}

/// (name, port, protocol, targetPort) of a Service port.
type ServicePortFields = (Option<String>, i32, Option<String>, Option<IntOrString>);

/// The podTemplate of the Service cases: one container port, 8888/TCP, unnamed.
fn with_port(image: &str) -> Value {
    json!({"spec": {
        "containers": [{"name": objects::CONTAINER, "image": image,
                        "ports": [{"containerPort": 8888}]}],
        "terminationGracePeriodSeconds": 1
    }})
}

/// §2.8, §2.3: `service: true` creates a headless Service named after the Sandbox, selecting
/// and labelled by the name hash, controlled by the Sandbox, with the container port named
/// `p-8888-tcp`; status reports `service` and `serviceFQDN` `<name>.<ns>.svc.<domain>`.
async fn service(cx: CaseContext) -> Result<(), Fail> {
    let sb = create_sandbox(
        &cx,
        json!({"podTemplate": with_port(&cx.image), "service": true}),
    )
    .await?;
    let sb_uid = uid(&sb)?;
    let sb = steps::sandbox_ready(&cx, SB).await?;
    let svc = cx
        .api::<Service>()
        .get(SB)
        .await
        .during(format_args!("get Service {SB}"))?;
    let spec = svc.spec.clone().unwrap_or_default();
    let hash = name_hash(SB).to_string();
    ensure_eq!(
        spec.cluster_ip.as_deref(),
        Some("None"),
        "clusterIP of Service {SB}"
    );
    ensure_eq!(
        spec.selector.clone().unwrap_or_default(),
        [(keys::SANDBOX_NAME_HASH_LABEL.to_string(), hash.clone())].into(),
        "selector of Service {SB}"
    );
    ensure_eq!(
        label(&svc.metadata, keys::SANDBOX_NAME_HASH_LABEL),
        hash.as_str(),
        "name-hash label of Service {SB}"
    );
    ensure!(
        inspect::controlled_by(&svc.metadata, &sb_uid),
        "Service {SB} is not controlled by the Sandbox: {}",
        describe_owners(&svc.metadata)
    );
    let ports: Vec<ServicePortFields> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| {
            (
                p.name.clone(),
                p.port,
                p.protocol.clone(),
                p.target_port.clone(),
            )
        })
        .collect();
    ensure_eq!(
        ports,
        vec![(
            Some("p-8888-tcp".to_string()),
            8888,
            Some("TCP".to_string()),
            Some(IntOrString::Int(8888))
        )],
        "ports of Service {SB} (name, port, protocol, targetPort)"
    );
    let status = sb.status.unwrap_or_default();
    ensure_eq!(status.service, SB, "status.service of Sandbox {SB}");
    let fqdn_prefix = format!("{SB}.{}.svc.", cx.namespace);
    ensure!(
        status.service_fqdn.starts_with(&fqdn_prefix)
            && status.service_fqdn.len() > fqdn_prefix.len(),
        "status.serviceFQDN of Sandbox {SB} is {:?}, want {fqdn_prefix}<cluster domain>",
        status.service_fqdn
    );
    Ok(())
}

/// §2.8 ("Service exists and service == false"): switching `service` to false deletes the
/// owned Service and clears `status.service` and `status.serviceFQDN`.
async fn service_false_deletes(cx: CaseContext) -> Result<(), Fail> {
    create_sandbox(
        &cx,
        json!({"podTemplate": with_port(&cx.image), "service": true}),
    )
    .await?;
    steps::sandbox_ready(&cx, SB).await?;
    let _: Service = steps::exists(&cx, SB).await?;
    patch_spec(&cx, json!({"service": false})).await?;
    steps::gone::<Service>(&cx, SB).await?;
    let api = &cx.api::<Sandbox>();
    cx.until(
        "status.service and status.serviceFQDN to be cleared",
        || async move {
            let sb = api.get(SB).await.during(format_args!("get Sandbox {SB}"))?;
            let status = sb.status.unwrap_or_default();
            Ok(
                if status.service.is_empty() && status.service_fqdn.is_empty() {
                    Probe::Done(())
                } else {
                    Probe::Waiting(format!(
                        "service={:?} serviceFQDN={:?}",
                        status.service, status.service_fqdn
                    ))
                },
            )
        },
    )
    .await
}

/// §2.5, §2.9, §2.7 step 7: each volumeClaimTemplate becomes a PVC `<vct>-<sandbox>` with the
/// template's labels and annotations plus the name-hash label, controlled by the Sandbox, and
/// the Pod mounts it as volume `<vct>`.
async fn volume_claim_templates(cx: CaseContext) -> Result<(), Fail> {
    let sb = create_sandbox(
        &cx,
        json!({"volumeClaimTemplates": [{
            "metadata": {"name": "data", "labels": {"tier": "fast"}, "annotations": {"note": "n"}},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
        }]}),
    )
    .await?;
    let sb_uid = uid(&sb)?;
    let pvc_name = format!("data-{SB}");
    let pvc: PersistentVolumeClaim = steps::exists(&cx, &pvc_name).await?;
    ensure_eq!(
        label(&pvc.metadata, "tier"),
        "fast",
        "label tier of PVC {pvc_name}"
    );
    ensure_eq!(
        label(&pvc.metadata, keys::SANDBOX_NAME_HASH_LABEL),
        name_hash(SB).as_str(),
        "name-hash label of PVC {pvc_name}"
    );
    ensure_eq!(
        inspect::annotation(&pvc.metadata, "note"),
        "n",
        "annotation note of PVC {pvc_name}"
    );
    ensure!(
        inspect::controlled_by(&pvc.metadata, &sb_uid),
        "PVC {pvc_name} is not controlled by the Sandbox: {}",
        describe_owners(&pvc.metadata)
    );
    ensure_eq!(
        pvc.spec.as_ref().and_then(|s| s.access_modes.clone()),
        Some(vec!["ReadWriteOnce".to_string()]),
        "accessModes of PVC {pvc_name}"
    );
    let pod: Pod = steps::exists(&cx, SB).await?;
    let mounted: Vec<(String, Option<String>)> = pod
        .spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .map(|v| {
            (
                v.name.clone(),
                v.persistent_volume_claim
                    .as_ref()
                    .map(|c| c.claim_name.clone()),
            )
        })
        .collect();
    ensure!(
        mounted.contains(&("data".to_string(), Some(pvc_name.clone()))),
        "Pod {SB} has no volume data for PVC {pvc_name}; volumes: {mounted:?}"
    );
    Ok(())
}

/// §2.11, §2.4: `operatingMode: Suspended` deletes the Pod; the Sandbox shows
/// Suspended=True/PodTerminated and Ready=False/SandboxSuspended ("Sandbox is suspended").
/// `Running` again creates a new Pod: Suspended=False/NotSuspended, Ready=True.
async fn suspend_resume(cx: CaseContext) -> Result<(), Fail> {
    let sb = create_sandbox(&cx, json!({})).await?;
    let sb_uid = uid(&sb)?;
    steps::sandbox_ready(&cx, SB).await?;
    let first = cx.api::<Pod>().get(SB).await.during("get the first Pod")?;
    let first_uid = uid(&first)?;

    patch_spec(&cx, json!({"operatingMode": "Suspended"})).await?;
    let sb = steps::sandbox_condition(
        &cx,
        SB,
        condition::SUSPENDED,
        "True",
        reason::POD_TERMINATED,
    )
    .await?;
    let ready = ready_condition(&sb)?;
    ensure_eq!(
        (
            ready.status.as_str(),
            ready.reason.as_str(),
            ready.message.as_str()
        ),
        ("False", reason::SANDBOX_SUSPENDED, "Sandbox is suspended"),
        "Ready of the suspended Sandbox (status, reason, message)"
    );
    let left = live_pods(&cx, &sb_uid).await?;
    ensure!(
        left.is_empty(),
        "Suspended=True but live Pods remain: {:?}",
        names(&left)
    );

    patch_spec(&cx, json!({"operatingMode": "Running"})).await?;
    new_pod(&cx, &sb_uid, &first_uid).await?;
    let sb = steps::sandbox_ready(&cx, SB).await?;
    let conditions = inspect::sandbox_conditions(&sb);
    ensure!(
        inspect::has_condition(
            conditions,
            condition::SUSPENDED,
            "False",
            reason::NOT_SUSPENDED
        ),
        "after resume, want Suspended=False/NotSuspended, got {}",
        describe(conditions)
    );
    Ok(())
}

/// §2.7 ("Running mode with no Pod"), §11.13: a Pod deleted while the Sandbox is Running is
/// replaced, and the Sandbox becomes Ready again.
async fn pod_recreated(cx: CaseContext) -> Result<(), Fail> {
    let sb = create_sandbox(&cx, json!({})).await?;
    let sb_uid = uid(&sb)?;
    steps::sandbox_ready(&cx, SB).await?;
    let pods = cx.api::<Pod>();
    let first = pods.get(SB).await.during("get the first Pod")?;
    pods.delete(SB, &DeleteParams::default())
        .await
        .during(format_args!("delete Pod {SB}"))?;
    new_pod(&cx, &sb_uid, &uid(&first)?).await?;
    steps::sandbox_ready(&cx, SB).await?;
    Ok(())
}

/// Creates a Ready Sandbox, then moves its `shutdownTime` an hour into the past under `policy`.
async fn expire(cx: &CaseContext, policy: &str) -> Result<String, Fail> {
    let sb = create_sandbox(cx, json!({})).await?;
    steps::sandbox_ready(cx, SB).await?;
    patch_spec(
        cx,
        json!({"shutdownTime": objects::time_from_now(-3600), "shutdownPolicy": policy}),
    )
    .await?;
    uid(&sb)
}

/// §2.10 (Retain): once `shutdownTime` has passed the Sandbox is Ready=False/SandboxExpired
/// ("Sandbox has expired"), its Pod is deleted, its status is reset (no IPs, no selector), and
/// the Sandbox itself stays.
async fn expiry_retain(cx: CaseContext) -> Result<(), Fail> {
    let sb_uid = expire(&cx, "Retain").await?;
    let sb = steps::sandbox_condition(&cx, SB, condition::READY, "False", reason::SANDBOX_EXPIRED)
        .await?;
    ensure_eq!(
        ready_condition(&sb)?.message,
        "Sandbox has expired",
        "Ready message of the expired Sandbox"
    );
    steps::gone::<Pod>(&cx, SB).await?;
    let (cx, api, sb_uid) = (&cx, &cx.api::<Sandbox>(), &sb_uid);
    cx.until("the expired Sandbox's status to be reset", || async move {
        let sb = api.get(SB).await.during(format_args!("get Sandbox {SB}"))?;
        let s = sb.status.unwrap_or_default();
        Ok(
            if s.pod_ips.is_empty() && s.selector.is_empty() && s.node_name.is_empty() {
                Probe::Done(())
            } else {
                Probe::Waiting(format!(
                    "podIPs={:?} selector={:?} nodeName={:?}",
                    s.pod_ips, s.selector, s.node_name
                ))
            },
        )
    })
    .await?;
    cx.holds(
        "the expired Sandbox staying, without a Pod",
        QUIET,
        || async move {
            let Some(sb) = api.get_opt(SB).await.during("get Sandbox")? else {
                return Ok(Err("the Sandbox was deleted under Retain".into()));
            };
            if sb.metadata.deletion_timestamp.is_some() {
                return Ok(Err("the Sandbox is being deleted under Retain".into()));
            }
            let pods = steps::owned_pods(cx, sb_uid).await?;
            Ok(if pods.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "the expired Sandbox has Pods again: {:?}",
                    names(&pods)
                ))
            })
        },
    )
    .await
}

/// §2.10 (last paragraph): a Sandbox that expired under Retain is no longer expired once its
/// `shutdownTime` moves into the future: the controller creates a Pod again and the Sandbox
/// becomes Ready.
async fn expiry_undone(cx: CaseContext) -> Result<(), Fail> {
    let sb_uid = expire(&cx, "Retain").await?;
    steps::sandbox_condition(&cx, SB, condition::READY, "False", reason::SANDBOX_EXPIRED).await?;
    steps::gone::<Pod>(&cx, SB).await?;
    patch_spec(&cx, json!({"shutdownTime": objects::time_from_now(3600)})).await?;
    new_pod(&cx, &sb_uid, "").await?;
    steps::sandbox_ready(&cx, SB).await?;
    Ok(())
}

/// §2.4 (Ready case 3, Finished), §2.7 step 6: when the Pod succeeds the Sandbox is
/// Ready=False/PodSucceeded ("Pod completed successfully") and Finished=True/PodSucceeded, and
/// the terminal Pod is neither recreated nor deleted.
async fn pod_succeeded(cx: CaseContext) -> Result<(), Fail> {
    let sb = create_sandbox(
        &cx,
        json!({"podTemplate": {"spec": steps::run_once_pod_spec(&cx.image)}}),
    )
    .await?;
    let sb_uid = uid(&sb)?;
    steps::sandbox_ready(&cx, SB).await?;
    let pod = cx.api::<Pod>().get(SB).await.during("get the Pod")?;
    let pod_uid = uid(&pod)?;
    steps::finish_pod(&cx, &pod).await?;
    let sb =
        steps::sandbox_condition(&cx, SB, condition::READY, "False", reason::POD_SUCCEEDED).await?;
    ensure_eq!(
        ready_condition(&sb)?.message,
        "Pod completed successfully",
        "Ready message of a Sandbox whose Pod succeeded"
    );
    let conditions = inspect::sandbox_conditions(&sb);
    ensure!(
        inspect::has_condition(
            conditions,
            condition::FINISHED,
            "True",
            reason::POD_SUCCEEDED
        ),
        "want Finished=True/PodSucceeded, got {}",
        describe(conditions)
    );
    let (cx, sb_uid, pod_uid) = (&cx, &sb_uid, &pod_uid);
    cx.holds("the finished Pod staying, alone", QUIET, || async move {
        let pods = steps::owned_pods(cx, sb_uid).await?;
        Ok(match pods.as_slice() {
            [only] if only.metadata.uid.as_deref() == Some(pod_uid.as_str()) => Ok(()),
            _ => Err(format!("owned Pods are {:?}", names(&pods))),
        })
    })
    .await
}

/// §2.10 (Delete): once `shutdownTime` has passed under `shutdownPolicy: Delete`, the Sandbox is
/// deleted (and its Pod with it).
async fn expiry_delete(cx: CaseContext) -> Result<(), Fail> {
    expire(&cx, "Delete").await?;
    steps::gone::<Sandbox>(&cx, SB).await?;
    steps::gone::<Pod>(&cx, SB).await
}

/// §2.4 (Ready, case 1), §2.7 step 3, §11.28: with two Pods controlled by the Sandbox (the second
/// made by the suite with the Sandbox's controller ownerRef and name-hash label), Ready is False
/// with reason MultiplePods and the documented message, and the controller neither creates a
/// third Pod nor deletes one.
async fn multiple_pods(cx: CaseContext) -> Result<(), Fail> {
    let sb = create_sandbox(&cx, json!({})).await?;
    let sb_uid = uid(&sb)?;
    steps::sandbox_ready(&cx, SB).await?;
    let extra = format!("{SB}-extra");
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": extra,
            "labels": {keys::SANDBOX_NAME_HASH_LABEL: name_hash(SB).to_string()},
            "ownerReferences": [{
                "apiVersion": "agents.x-k8s.io/v1beta1", "kind": "Sandbox", "name": SB,
                "uid": sb_uid, "controller": true, "blockOwnerDeletion": true
            }]
        },
        "spec": objects::pod_spec(&cx.image)
    }))
    .map_err(|e| Fail::check(format!("the suite built an invalid Pod: {e}")))?;
    cx.create(&pod).await?;

    let sb =
        steps::sandbox_condition(&cx, SB, condition::READY, "False", reason::MULTIPLE_PODS).await?;
    ensure_eq!(
        ready_condition(&sb)?.message,
        "multiple Pods (2) are controlled by this Sandbox; refusing to choose or create a Pod",
        "Ready message with two Pods"
    );
    let want: BTreeSet<String> = [SB.to_string(), extra].into();
    let (cx, want, sb_uid) = (&cx, &want, &sb_uid);
    cx.holds(
        "exactly the two Pods, none created or deleted",
        QUIET,
        || async move {
            let pods = steps::owned_pods(cx, sb_uid).await?;
            let have: BTreeSet<String> = names(&pods).into_iter().collect();
            Ok(if have == *want {
                Ok(())
            } else {
                Err(format!("owned Pods are {have:?}"))
            })
        },
    )
    .await
}

/// §2.7 steps 2 and 4, §11.28: a `agents.x-k8s.io/pod-name` annotation naming a Pod that does
/// not exist does not make the controller create that Pod next to the one it owns; the
/// annotation is removed and the owned Pod is kept.
async fn stale_pod_name(cx: CaseContext) -> Result<(), Fail> {
    let sb = create_sandbox(&cx, json!({})).await?;
    let sb_uid = uid(&sb)?;
    steps::sandbox_ready(&cx, SB).await?;
    let pod = cx.api::<Pod>().get(SB).await.during("get the Pod")?;
    let pod_uid = uid(&pod)?;
    let missing = &format!("{SB}-missing");
    let api = &cx.api::<Sandbox>();
    api.patch(
        SB,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {keys::POD_NAME_ANNOTATION: missing}}})),
    )
    .await
    .during("annotate the Sandbox with a missing Pod name")?;

    cx.until(
        "the stale pod-name annotation to be removed",
        || async move {
            let sb = api.get(SB).await.during(format_args!("get Sandbox {SB}"))?;
            let value = inspect::annotation(&sb.metadata, keys::POD_NAME_ANNOTATION);
            Ok(if value == missing.as_str() {
                Probe::Waiting(format!("{}={value}", keys::POD_NAME_ANNOTATION))
            } else {
                Probe::Done(())
            })
        },
    )
    .await?;
    let (cx, sb_uid, pod_uid) = (&cx, &sb_uid, &pod_uid);
    cx.holds("one Pod, the original", QUIET, || async move {
        let pods = steps::owned_pods(cx, sb_uid).await?;
        Ok(match pods.as_slice() {
            [only] if only.metadata.uid.as_deref() == Some(pod_uid.as_str()) => Ok(()),
            _ => Err(format!("owned Pods are {:?}", names(&pods))),
        })
    })
    .await?;
    let ghost = cx
        .api::<Pod>()
        .get_opt(missing)
        .await
        .during(format_args!("get Pod {missing}"))?;
    ensure!(ghost.is_none(), "a Pod {missing} was created");
    steps::sandbox_ready(cx, SB).await?;
    Ok(())
}

/// §2.12: the controller reports the Sandbox's lifecycle as Normal Events about it:
/// `SandboxPodCreated` once it has created the Pod, `SandboxReady` once the Sandbox is Ready,
/// and `SandboxSuspended` after `operatingMode: Suspended`.
async fn lifecycle_events(cx: CaseContext) -> Result<(), Fail> {
    create_sandbox(&cx, json!({})).await?;
    steps::event::<Sandbox>(&cx, SB, NORMAL, event::SANDBOX_POD_CREATED).await?;
    steps::sandbox_ready(&cx, SB).await?;
    steps::event::<Sandbox>(&cx, SB, NORMAL, event::SANDBOX_READY).await?;
    patch_spec(&cx, json!({"operatingMode": "Suspended"})).await?;
    steps::event::<Sandbox>(&cx, SB, NORMAL, event::SANDBOX_SUSPENDED).await?;
    Ok(())
}

/// §2.12, §2.4 (Finished): when the Pod fails the controller reports a Warning Event
/// `PodFailed` about the Sandbox. The suite fails the Pod by writing `status.phase: Failed`,
/// which only kwok allows; elsewhere the case is skipped.
async fn pod_failed_event(cx: CaseContext) -> Result<(), Fail> {
    create_sandbox(
        &cx,
        json!({"podTemplate": {"spec": steps::run_once_pod_spec(&cx.image)}}),
    )
    .await?;
    steps::sandbox_ready(&cx, SB).await?;
    let pod = cx.api::<Pod>().get(SB).await.during("get the Pod")?;
    steps::end_pod(&cx, &pod, "Failed").await?;
    steps::event::<Sandbox>(&cx, SB, WARNING, event::POD_FAILED).await?;
    Ok(())
}

/// §2.10, §2.12: when the `shutdownTime` of a Sandbox under `shutdownPolicy: Retain` passes,
/// the controller reports a Normal Event `SandboxExpired` about it. The time is a few seconds
/// ahead at creation, so the controller must act when it comes, not on a spec change.
async fn expiry_event(cx: CaseContext) -> Result<(), Fail> {
    create_sandbox(
        &cx,
        json!({"shutdownTime": objects::time_from_now(5), "shutdownPolicy": "Retain"}),
    )
    .await?;
    steps::event::<Sandbox>(&cx, SB, NORMAL, event::SANDBOX_EXPIRED).await?;
    Ok(())
}

/// §2.6: a Pod the API server refuses as invalid (a container name that is not a DNS label,
/// which the Sandbox CRD accepts) makes the Sandbox Ready=False/InvalidConfiguration, observed
/// at the Sandbox's generation. The state is terminal for that generation only: once the spec
/// names a valid container the Pod is created and the Sandbox becomes Ready.
async fn invalid_configuration(cx: CaseContext) -> Result<(), Fail> {
    create_sandbox(
        &cx,
        json!({"podTemplate": {"spec": objects::invalid_pod_spec(&cx.image)}}),
    )
    .await?;
    let sb = steps::sandbox_condition(
        &cx,
        SB,
        condition::READY,
        "False",
        reason::INVALID_CONFIGURATION,
    )
    .await?;
    ensure_eq!(
        ready_condition(&sb)?.observed_generation,
        sb.metadata.generation,
        "Ready.observedGeneration of the refused Sandbox vs its metadata.generation"
    );
    patch_spec(
        &cx,
        json!({"podTemplate": {"spec": objects::pod_spec(&cx.image)}}),
    )
    .await?;
    steps::sandbox_ready(&cx, SB).await?;
    Ok(())
}

/// A Sandbox name of exactly `length` characters.
fn name_of_length(length: usize) -> String {
    format!("{SB}-{}", "x".repeat(length.saturating_sub(SB.len() + 1)))
}

/// Fails unless `result` is the API server refusing a request as invalid (HTTP 422) with a
/// message that names the limit of 63 characters.
fn refused_over_63<T>(result: Result<T, kube::Error>, what: &str) -> Result<(), Fail> {
    match result {
        Ok(_) => Err(Fail::check(format!(
            "{what} was accepted; want HTTP 422 naming the 63-character limit"
        ))),
        Err(kube::Error::Api(status)) => {
            ensure!(
                status.code == 422 && status.message.contains("63"),
                "{what} was refused with HTTP {} {:?}; want HTTP 422 naming the 63-character limit",
                status.code,
                status.message
            );
            Ok(())
        }
        Err(error) => Err(error).during(what),
    }
}

/// §2.1 (v1.0.6): the headless Service is named after the Sandbox and a Service name is a DNS
/// label, so the v1beta1 Sandbox CRD refuses, with HTTP 422 naming the limit of 63, a name of
/// 64 characters with `service: true`, whether on create or on an update turning the Service
/// on. The same name without the Service is accepted, and so are 63 characters with it.
async fn service_name_too_long(cx: CaseContext) -> Result<(), Fail> {
    let (long, longest) = (name_of_length(64), name_of_length(63));
    let api = cx.api::<Sandbox>();
    let with_service = objects::sandbox(&long, &cx.image, json!({"service": true}))?;
    refused_over_63(
        api.create(&PostParams::default(), &with_service).await,
        "creating a Sandbox of 64 characters with service: true",
    )?;
    cx.create(&objects::sandbox(
        &long,
        &cx.image,
        json!({"service": false}),
    )?)
    .await?;
    refused_over_63(
        api.patch(
            &long,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"service": true}})),
        )
        .await,
        "setting service: true on a Sandbox of 64 characters",
    )?;
    cx.create(&objects::sandbox(
        &longest,
        &cx.image,
        json!({"service": true}),
    )?)
    .await?;
    Ok(())
}

/// §2.8 (v1.0.11): a Pod being deleted is not a usable Pod. While the Sandbox's Pod has a
/// deletionTimestamp (a finalizer of the suite keeps it from going), the Sandbox is
/// Ready=False. The finalizer is removed at the end whatever the outcome, so the namespace can
/// be deleted.
async fn not_ready_while_pod_terminating(cx: CaseContext) -> Result<(), Fail> {
    create_sandbox(&cx, json!({})).await?;
    steps::sandbox_ready(&cx, SB).await?;
    let pod = cx
        .api::<Pod>()
        .patch(
            SB,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": [HOLD]}})),
        )
        .await
        .during(format_args!("add finalizer {HOLD} to Pod {SB}"))?;
    let checked = not_ready_while_terminating(&cx, &uid(&pod)?).await;
    let released = release_pod(&cx).await;
    checked.and(released)
}

/// Deletes Pod [`SB`] (held by [`HOLD`]) and waits until the Sandbox is Ready=False while that
/// Pod, `pod_uid`, is still there with a deletionTimestamp.
async fn not_ready_while_terminating(cx: &CaseContext, pod_uid: &str) -> Result<(), Fail> {
    let (pods, sandboxes) = (&cx.api::<Pod>(), &cx.api::<Sandbox>());
    pods.delete(SB, &DeleteParams::default())
        .await
        .during(format_args!("delete Pod {SB}"))?;
    cx.until(
        "the Sandbox to be Ready=False while its Pod terminates",
        || async move {
            let pod = pods
                .get_opt(SB)
                .await
                .during(format_args!("get Pod {SB}"))?;
            let Some(pod) = pod.filter(|p| p.uid().as_deref() == Some(pod_uid)) else {
                return Err(Fail::check(format!(
                    "Pod {SB} went away although finalizer {HOLD} should hold it"
                )));
            };
            if pod.metadata.deletion_timestamp.is_none() {
                return Ok(Probe::Waiting(format!(
                    "Pod {SB} has no deletionTimestamp yet"
                )));
            }
            let sb = sandboxes
                .get(SB)
                .await
                .during(format_args!("get Sandbox {SB}"))?;
            let conditions = inspect::sandbox_conditions(&sb);
            Ok(
                if inspect::condition(conditions, condition::READY)
                    .is_some_and(|c| c.status == "False")
                {
                    Probe::Done(())
                } else {
                    Probe::Waiting(format!("Pod {SB} is terminating; {}", describe(conditions)))
                },
            )
        },
    )
    .await
}

/// Removes [`HOLD`] from the finalizers of Pod [`SB`], leaving any others; a Pod that is gone
/// or does not hold it is fine. Retried until it succeeds (the write is pinned to the version
/// read, so a concurrent change is not overwritten).
async fn release_pod(cx: &CaseContext) -> Result<(), Fail> {
    let pods = &cx.api::<Pod>();
    cx.until(
        &format!("finalizer {HOLD} to be removed from Pod {SB}"),
        || async move {
            let Some(pod) = pods
                .get_opt(SB)
                .await
                .during(format_args!("get Pod {SB}"))?
            else {
                return Ok(Probe::Done(()));
            };
            let finalizers = pod.finalizers();
            if !finalizers.iter().any(|f| f == HOLD) {
                return Ok(Probe::Done(()));
            }
            let rest: Vec<&String> = finalizers.iter().filter(|f| *f != HOLD).collect();
            pods.patch(
                SB,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {
                    "resourceVersion": pod.resource_version(),
                    "finalizers": rest
                }})),
            )
            .await
            .during(format_args!("remove finalizer {HOLD} from Pod {SB}"))?;
            Ok(Probe::Done(()))
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_have_the_length_asked_for() {
        assert_eq!(name_of_length(63).len(), 63);
        assert_eq!(name_of_length(64).len(), 64);
        assert!(name_of_length(64).starts_with("sb-x"));
    }
}
