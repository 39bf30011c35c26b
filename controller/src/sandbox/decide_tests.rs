//! Every branch of the Sandbox decision, on hand-built cache contents.

use super::*;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};

const NS: &str = "team-a";
const NAME: &str = "sandbox";
const UID: &str = "sandbox-uid";
const HASH: &str = "da1fd924";

fn at(secs: i64) -> Time {
    Time(Timestamp::from_second(secs).unwrap())
}

const NOW: i64 = 1_800_000_000;

fn sandbox(edit: impl FnOnce(&mut Value)) -> Sandbox {
    let mut v = json!({
        "apiVersion": "agents.x-k8s.io/v1beta1", "kind": "Sandbox",
        "metadata": {"name": NAME, "namespace": NS, "uid": UID, "generation": 2,
                     "annotations": {keys::POD_NAME_ANNOTATION: NAME}},
        "spec": {"podTemplate": {"spec": {"containers": [{"name": "main", "image": "busybox"}]}}}
    });
    edit(&mut v);
    serde_json::from_value(v).unwrap()
}

fn owner(uid: &str, kind: &str) -> Value {
    json!([{"apiVersion": "agents.x-k8s.io/v1beta1", "kind": kind, "name": "o", "uid": uid,
            "controller": true, "blockOwnerDeletion": true}])
}

/// A Pod of the fixture Sandbox in `phase`, Ready or not, with or without an IP.
fn pod(name: &str, phase: &str, ready: bool, ip: bool, edit: impl FnOnce(&mut Value)) -> Pod {
    let mut v = json!({
        "metadata": {"name": name, "namespace": NS, "uid": format!("{name}-uid"),
                     "labels": {keys::SANDBOX_NAME_HASH_LABEL: HASH},
                     "ownerReferences": owner(UID, "Sandbox")},
        "spec": {"nodeName": "node-1", "containers": [{"name": "main", "image": "busybox"}]},
        "status": {"phase": phase, "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": if ready { "True" } else { "False" }}]}
    });
    if ip {
        v["status"]["podIPs"] = json!([{"ip": "10.244.0.7"}]);
    }
    edit(&mut v);
    serde_json::from_value(v).unwrap()
}

fn running() -> Pod {
    pod(NAME, "Running", true, true, |_| {})
}

fn service(edit: impl FnOnce(&mut Value)) -> Service {
    let mut v = json!({
        "metadata": {"name": NAME, "namespace": NS, "uid": "svc-uid",
                     "labels": {keys::SANDBOX_NAME_HASH_LABEL: HASH},
                     "ownerReferences": owner(UID, "Sandbox")},
        "spec": {"clusterIP": "None", "selector": {keys::SANDBOX_NAME_HASH_LABEL: HASH}}
    });
    edit(&mut v);
    serde_json::from_value(v).unwrap()
}

/// Cache contents for one decision.
#[derive(Default)]
struct World {
    pods: Vec<Pod>,
    pod_create_in_flight: bool,
    service: Option<Service>,
    pvcs: Vec<Option<PersistentVolumeClaim>>,
}

impl World {
    fn with_pod(mut self, p: Pod) -> Self {
        self.pods.push(p);
        self
    }
    fn with_service(mut self, s: Service) -> Self {
        self.service = Some(s);
        self
    }
    fn decide(&self, sb: &Sandbox) -> Plan {
        self.decide_at(sb, NOW)
    }
    fn decide_at(&self, sb: &Sandbox, now: i64) -> Plan {
        let labelled: Vec<&Pod> = self.pods.iter().collect();
        let wanted = children::pod_name(sb);
        let named = self
            .pods
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(wanted.as_str()));
        let pvcs: Vec<Option<&PersistentVolumeClaim>> =
            self.pvcs.iter().map(Option::as_ref).collect();
        decide(Observed {
            sandbox: sb,
            labelled_pods: &labelled,
            named_pod: named,
            pod_create_in_flight: self.pod_create_in_flight,
            service: self.service.as_ref(),
            pvcs: &pvcs,
            now: &at(now),
            cluster_domain: "cluster.local",
        })
    }
}

/// The status the plan writes, applied to the Sandbox's current status.
fn written(sb: &Sandbox, plan: &Plan) -> Value {
    let mut status = serde_json::to_value(sb.status.clone().unwrap_or_default()).unwrap();
    let patch = plan.status.as_ref().expect("a status write")["status"].clone();
    crate::patch::apply_merge_patch(&mut status, &patch);
    status
}

fn condition<'a>(status: &'a Value, type_: &str) -> Option<&'a Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn ready(status: &Value) -> (String, String, String) {
    let c = condition(status, "Ready").expect("Ready is always present");
    (
        c["status"].as_str().unwrap().into(),
        c["reason"].as_str().unwrap().into(),
        c["message"].as_str().unwrap().into(),
    )
}

/// The Sandbox with the status `plan` writes, as the next pass would see it.
fn after(sb: &Sandbox, plan: &Plan) -> Sandbox {
    let mut next = sb.clone();
    next.status = Some(serde_json::from_value(written(sb, plan)).unwrap());
    next
}

#[test]
fn a_sandbox_being_deleted_is_left_to_garbage_collection() {
    let sb = sandbox(|v| v["metadata"]["deletionTimestamp"] = json!("2027-01-01T00:00:00Z"));
    assert_eq!(
        World::default().with_pod(running()).decide(&sb),
        Plan::default()
    );
}

#[test]
fn a_new_sandbox_gets_a_pod_and_no_other_write() {
    let sb = sandbox(|v| v["metadata"]["annotations"] = json!({}));
    let plan = World::default().decide(&sb);
    assert!(
        matches!(&plan.actions[..], [Action::CreatePod(p)] if p.metadata.name.as_deref() == Some(NAME))
    );
    let status = written(&sb, &plan);
    assert_eq!(
        ready(&status),
        (
            "False".into(),
            "DependenciesNotReady".into(),
            "Pod does not exist".into()
        )
    );
    assert_eq!(
        condition(&status, "Suspended").unwrap()["reason"],
        "NotSuspended"
    );
    assert!(status.get("selector").is_none(), "selector waits for a Pod");
    // Conditions are appended in upstream's order.
    let types: Vec<&str> = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["Suspended", "Ready"]);
    assert_eq!(plan.error, None);
}

/// A pass that runs before the cache shows the Pod this process just created does not create
/// it again: the status is what it would be without a Pod, and there is no write but that.
#[test]
fn a_pod_create_on_its_way_to_the_cache_is_not_made_twice() {
    let sb = sandbox(|v| v["metadata"]["annotations"] = json!({}));
    let waiting = World {
        pod_create_in_flight: true,
        ..World::default()
    };
    let plan = waiting.decide(&sb);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(plan.status, World::default().decide(&sb).status);
    // Once the cache shows the Pod, the flag has no say.
    let shown = World {
        pod_create_in_flight: true,
        ..World::default()
    }
    .with_pod(running());
    assert_eq!(
        shown.decide(&sb),
        World::default().with_pod(running()).decide(&sb)
    );
}

#[test]
fn a_ready_pod_with_an_ip_makes_the_sandbox_ready_and_the_next_pass_writes_nothing() {
    let sb = sandbox(|_| {});
    let world = World::default().with_pod(running());
    let plan = world.decide(&sb);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    let status = written(&sb, &plan);
    assert_eq!(
        ready(&status),
        (
            "True".into(),
            "DependenciesReady".into(),
            "Pod is Ready".into()
        )
    );
    assert_eq!(status["podIPs"], json!(["10.244.0.7"]));
    assert_eq!(status["nodeName"], "node-1");
    assert_eq!(
        status["selector"],
        format!("{}={HASH}", keys::SANDBOX_NAME_HASH_LABEL)
    );
    assert_eq!(
        condition(&status, "PodScheduled").unwrap()["reason"],
        "PodScheduled"
    );
    assert_eq!(
        condition(&status, "Ready").unwrap()["observedGeneration"],
        2
    );
    assert_eq!(
        world.decide_at(&after(&sb, &plan), NOW + 60).status,
        None,
        "no-op write"
    );
}

#[test]
fn ready_explains_what_is_missing() {
    let sb = sandbox(|_| {});
    for (p, message) in [
        (
            pod(NAME, "Pending", false, false, |_| {}),
            "Pod exists with phase: Pending",
        ),
        (
            pod(NAME, "Running", false, true, |_| {}),
            "Pod is Running but not Ready",
        ),
        (
            pod(NAME, "Running", true, false, |_| {}),
            "Pod is Ready but has no podIPs yet",
        ),
    ] {
        let status = written(&sb, &World::default().with_pod(p).decide(&sb));
        assert_eq!(
            ready(&status),
            (
                "False".into(),
                "DependenciesNotReady".into(),
                message.into()
            )
        );
    }
}

#[test]
fn a_terminal_pod_finishes_the_sandbox_and_is_not_recreated() {
    let sb = sandbox(|_| {});
    for (phase, why) in [("Succeeded", "PodSucceeded"), ("Failed", "PodFailed")] {
        let plan = World::default()
            .with_pod(pod(NAME, phase, false, false, |_| {}))
            .decide(&sb);
        assert!(plan.actions.is_empty(), "{phase}: {:?}", plan.actions);
        let status = written(&sb, &plan);
        assert_eq!(ready(&status).1, why);
        let finished = condition(&status, "Finished").unwrap();
        assert_eq!(
            (finished["status"].as_str(), finished["reason"].as_str()),
            (Some("True"), Some(why))
        );
    }
}

#[test]
fn finished_is_removed_once_the_pod_is_no_longer_terminal() {
    let sb = sandbox(|_| {});
    let world = World::default().with_pod(pod(NAME, "Succeeded", false, false, |_| {}));
    let finished = after(&sb, &world.decide(&sb));
    let status = written(
        &finished,
        &World::default().with_pod(running()).decide(&finished),
    );
    assert!(condition(&status, "Finished").is_none());
}

#[test]
fn two_owned_pods_are_a_conflict_with_one_warning_and_no_writes_to_children() {
    let sb = sandbox(|v| v["spec"]["service"] = json!(true));
    let world = World::default().with_pod(running()).with_pod(pod(
        "sandbox-2",
        "Running",
        true,
        true,
        |_| {},
    ));
    let plan = world.decide(&sb);
    assert!(
        plan.actions.is_empty(),
        "no Pod or Service work: {:?}",
        plan.actions
    );
    assert_eq!(plan.error, None, "not returned, so no hot loop");
    let note = plan.warning.clone().expect("a Warning event");
    assert!(note.contains("multiple Pods (2)"), "{note}");
    let status = written(&sb, &plan);
    assert_eq!(ready(&status).1, "MultiplePods");
    assert_eq!(
        world.decide(&after(&sb, &plan)).warning,
        None,
        "the event is emitted once"
    );
}

#[test]
fn a_pod_controlled_by_someone_else_is_an_error_and_its_annotation_is_dropped() {
    let sb = sandbox(|_| {});
    let foreign = pod(NAME, "Running", true, true, |v| {
        v["metadata"]["ownerReferences"] = owner("other", "ReplicaSet")
    });
    let plan = World::default().with_pod(foreign).decide(&sb);
    assert_eq!(
        plan.actions,
        [Action::PatchSandbox(
            json!({"metadata": {"annotations": {keys::POD_NAME_ANNOTATION: null}}})
        )]
    );
    assert!(
        plan.error
            .as_deref()
            .unwrap()
            .contains("controlled by another controller")
    );
    let status = written(&sb, &plan);
    assert_eq!(ready(&status).1, "ReconcilerError");
    assert!(ready(&status).2.starts_with("Error seen: "));
    assert!(
        status.get("podIPs").is_none(),
        "a foreign Pod's IPs are not reported"
    );
}

#[test]
fn an_unowned_pod_is_adopted_only_when_allowed() {
    let sb = sandbox(|_| {});
    let unowned = |adoptable: bool| {
        pod(NAME, "Running", true, true, |v| {
            v["metadata"]["ownerReferences"] = json!([]);
            v["metadata"]["labels"] = if adoptable {
                json!({keys::ADOPTABLE_LABEL: "true"})
            } else {
                json!({})
            };
        })
    };
    let refused = World::default().with_pod(unowned(false)).decide(&sb);
    assert!(
        refused
            .error
            .as_deref()
            .unwrap()
            .contains("cannot adopt unowned pod")
    );
    let adopted = World::default().with_pod(unowned(true)).decide(&sb);
    assert_eq!(adopted.error, None);
    let Action::PatchPod { patch, .. } = &adopted.actions[0] else {
        panic!("expected the adoption patch, got {:?}", adopted.actions);
    };
    assert_eq!(patch["metadata"]["ownerReferences"][0]["uid"], UID);
    assert_eq!(
        patch["metadata"]["labels"][keys::SANDBOX_NAME_HASH_LABEL],
        HASH
    );
}

#[test]
fn an_owned_pods_labels_follow_the_template_as_a_follow_up_that_may_wait() {
    let sb = sandbox(|v| {
        v["spec"]["podTemplate"]["metadata"] = json!({"labels": {"team": "blue"}});
    });
    let plan = World::default().with_pod(running()).decide(&sb);
    assert_eq!(plan.actions, [], "nothing waits on the labels");
    let [Action::PatchPod { name, patch }] = &plan.follow_ups[..] else {
        panic!("expected the labels' patch, got {:?}", plan.follow_ups);
    };
    assert_eq!(name, NAME);
    assert_eq!(patch["metadata"]["labels"]["team"], "blue");
    assert!(patch["metadata"].get("ownerReferences").is_none());
    let unchanged = World::default()
        .with_pod(running())
        .decide(&sandbox(|_| {}));
    assert_eq!(unchanged.follow_ups, [], "labels already followed");
}

#[test]
fn suspending_deletes_the_owned_pod_and_keeps_reporting_it_until_it_is_gone() {
    let sb = sandbox(|v| v["spec"]["operatingMode"] = json!("Suspended"));
    let plan = World::default().with_pod(running()).decide(&sb);
    assert_eq!(
        plan.actions,
        [Action::DeletePod {
            name: NAME.into(),
            uid: format!("{NAME}-uid")
        }]
    );
    let status = written(&sb, &plan);
    assert_eq!(
        ready(&status),
        (
            "False".into(),
            "SandboxSuspended".into(),
            "Sandbox is suspending".into()
        )
    );
    assert_eq!(
        condition(&status, "Suspended").unwrap()["reason"],
        "PodTerminating"
    );
    assert_eq!(status["podIPs"], json!(["10.244.0.7"]));

    let terminating = pod(NAME, "Running", true, true, |v| {
        v["metadata"]["deletionTimestamp"] = json!("2027-01-01T00:00:00Z")
    });
    assert!(
        World::default()
            .with_pod(terminating)
            .decide(&sb)
            .actions
            .is_empty(),
        "deleted once"
    );

    let gone = World::default().decide(&sb);
    assert_eq!(
        gone.actions,
        [Action::PatchSandbox(
            json!({"metadata": {"annotations": {keys::POD_NAME_ANNOTATION: null}}})
        )]
    );
    let status = written(&sb, &gone);
    assert_eq!(ready(&status).2, "Sandbox is suspended");
    let suspended = condition(&status, "Suspended").unwrap();
    assert_eq!(
        (suspended["status"].as_str(), suspended["reason"].as_str()),
        (Some("True"), Some("PodTerminated"))
    );
}

#[test]
fn a_pod_deleted_while_running_is_recreated() {
    let sb = sandbox(|_| {});
    let plan = World::default().decide(&sb);
    assert!(
        plan.actions
            .iter()
            .any(|a| matches!(a, Action::CreatePod(_))),
        "{:?}",
        plan.actions
    );
}

#[test]
fn service_true_creates_the_headless_service_and_requires_it() {
    let sb = sandbox(|v| v["spec"]["service"] = json!(true));
    let plan = World::default().with_pod(running()).decide(&sb);
    assert!(
        matches!(&plan.actions[..], [Action::CreateService(s)] if s.metadata.name.as_deref() == Some(NAME))
    );
    let status = written(&sb, &plan);
    assert_eq!(status["service"], NAME);
    assert_eq!(
        status["serviceFQDN"],
        format!("{NAME}.{NS}.svc.cluster.local")
    );
    assert_eq!(ready(&status).2, "Pod is Ready; Service Exists");
}

#[test]
fn service_false_deletes_an_owned_service_and_clears_the_status() {
    let mut sb = sandbox(|v| v["spec"]["service"] = json!(false));
    sb.status = Some(serde_json::from_value(json!({"service": NAME, "serviceFQDN": "x"})).unwrap());
    let plan = World::default()
        .with_pod(running())
        .with_service(service(|_| {}))
        .decide(&sb);
    assert_eq!(
        plan.actions,
        [Action::DeleteService {
            name: NAME.into(),
            uid: "svc-uid".into()
        }]
    );
    let status = written(&sb, &plan);
    assert!(
        status.get("service").is_none() && status.get("serviceFQDN").is_none(),
        "{status}"
    );
    assert_eq!(ready(&status).2, "Pod is Ready", "not required");
}

#[test]
fn an_unset_service_switch_keeps_an_owned_service_and_ignores_an_unowned_one() {
    let sb = sandbox(|_| {});
    let kept = written(
        &sb,
        &World::default()
            .with_pod(running())
            .with_service(service(|_| {}))
            .decide(&sb),
    );
    assert_eq!(ready(&kept).2, "Pod is Ready; Service Exists");
    assert_eq!(kept["service"], NAME);

    let unowned = service(|v| v["metadata"]["ownerReferences"] = json!([]));
    let plan = World::default()
        .with_pod(running())
        .with_service(unowned)
        .decide(&sb);
    assert!(plan.actions.is_empty());
    assert_eq!(ready(&written(&sb, &plan)).2, "Pod is Ready");
}

#[test]
fn a_service_controlled_by_someone_else_is_an_error_even_when_the_switch_is_unset() {
    let sb = sandbox(|_| {});
    let foreign = service(|v| v["metadata"]["ownerReferences"] = owner("other", "Deployment"));
    let plan = World::default()
        .with_pod(running())
        .with_service(foreign)
        .decide(&sb);
    assert!(
        plan.error
            .as_deref()
            .unwrap()
            .contains("Service sandbox is controlled by another controller")
    );
    assert_eq!(ready(&written(&sb, &plan)).1, "ReconcilerError");
}

#[test]
fn volume_claim_templates_create_pvcs_before_the_pod() {
    let sb = sandbox(|v| {
        v["metadata"]["annotations"] = json!({});
        v["spec"]["volumeClaimTemplates"] = json!([{"metadata": {"name": "work"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]);
    });
    let world = World {
        pvcs: vec![None],
        ..World::default()
    };
    let plan = world.decide(&sb);
    assert!(
        matches!(&plan.actions[0], Action::CreatePvc(p) if p.metadata.name.as_deref() == Some("work-sandbox"))
    );
    assert!(matches!(&plan.actions[1], Action::CreatePod(_)));

    let foreign: PersistentVolumeClaim = serde_json::from_value(json!({
        "metadata": {"name": "work-sandbox", "namespace": NS, "ownerReferences": owner("x", "StatefulSet")}
    }))
    .unwrap();
    let plan = World {
        pvcs: vec![Some(foreign)],
        ..World::default()
    }
    .decide(&sb);
    assert!(
        plan.error
            .as_deref()
            .unwrap()
            .contains("PersistentVolumeClaim work-sandbox")
    );
}

#[test]
fn expiry_marks_first_then_tears_down_and_retains() {
    let sb = sandbox(|v| {
        v["spec"]["shutdownTime"] = json!("2027-01-15T08:00:00Z");
        v["spec"]["service"] = json!(true);
        v["status"] = json!({"podIPs": ["10.244.0.7"], "nodeName": "node-1", "service": NAME,
                             "serviceFQDN": "sandbox.team-a.svc.cluster.local", "selector": "x=y"});
    });
    let expired_at = 1_800_000_000; // 2027-01-15T08:00:00Z
    let world = World::default()
        .with_pod(running())
        .with_service(service(|_| {}));
    let first = world.decide_at(&sb, expired_at + 1);
    assert!(first.actions.is_empty(), "{:?}", first.actions);
    assert_eq!(first.requeue_after, Some(Duration::from_millis(1)));
    let marked = after(&sb, &first);
    let first_status = written(&sb, &first);
    assert_eq!(ready(&first_status).1, "SandboxExpired");
    assert_eq!(
        first_status["podIPs"],
        json!(["10.244.0.7"]),
        "the first pass only marks"
    );

    let second = world.decide_at(&marked, expired_at + 2);
    assert_eq!(
        second.actions,
        [
            Action::DeletePod {
                name: NAME.into(),
                uid: format!("{NAME}-uid")
            },
            Action::DeleteService {
                name: NAME.into(),
                uid: "svc-uid".into()
            },
        ]
    );
    let status = written(&marked, &second);
    let keys: Vec<&String> = status.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["conditions"], "Retain keeps only the conditions");
    assert_eq!(second.requeue_after, None);
}

#[test]
fn expiry_with_the_delete_policy_deletes_the_sandbox_without_a_status_write() {
    let sb = sandbox(|v| {
        v["spec"]["shutdownTime"] = json!("2027-01-15T08:00:00Z");
        v["spec"]["shutdownPolicy"] = json!("Delete");
        v["status"] = json!({"conditions": [{"type": "Ready", "status": "False", "reason": "SandboxExpired",
            "message": "Sandbox has expired", "lastTransitionTime": "2027-01-15T08:00:01Z"}]});
    });
    let plan = World::default()
        .with_pod(running())
        .decide_at(&sb, 1_800_000_010);
    assert_eq!(plan.actions.last(), Some(&Action::DeleteSandbox));
    assert_eq!(plan.status, None);
}

#[test]
fn a_future_shutdown_time_requeues_at_the_deadline_but_not_sooner_than_two_seconds() {
    let sb = sandbox(|v| v["spec"]["shutdownTime"] = json!("2027-01-15T08:00:00Z"));
    let world = World::default().with_pod(running());
    assert_eq!(
        world.decide_at(&sb, 1_800_000_000 - 30).requeue_after,
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        world.decide_at(&sb, 1_800_000_000 - 1).requeue_after,
        Some(Duration::from_secs(2))
    );
    assert_eq!(
        World::default()
            .with_pod(running())
            .decide(&sandbox(|_| {}))
            .requeue_after,
        None
    );
}

#[test]
fn a_stale_pod_name_annotation_is_cleared_when_that_pod_is_gone() {
    let sb =
        sandbox(|v| v["metadata"]["annotations"] = json!({keys::POD_NAME_ANNOTATION: "old-pod"}));
    let plan = World::default().with_pod(running()).decide(&sb);
    assert!(
        plan.actions.contains(&Action::PatchSandbox(
            json!({"metadata": {"annotations": {keys::POD_NAME_ANNOTATION: null}}})
        )),
        "{:?}",
        plan.actions
    );
    assert!(
        !plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::CreatePod(_))),
        "the owned Pod is used"
    );
}

#[test]
fn a_node_name_change_alone_waits_for_the_next_write_while_not_ready() {
    let sb = sandbox(|_| {});
    let pending = |node: &str| {
        let node = node.to_string();
        pod(NAME, "Pending", false, false, move |v| {
            v["spec"]["nodeName"] = json!(node)
        })
    };
    let first = after(
        &sb,
        &World::default().with_pod(pending("node-1")).decide(&sb),
    );
    assert_eq!(
        World::default()
            .with_pod(pending("node-2"))
            .decide(&first)
            .status,
        None
    );
}

#[test]
fn a_rejected_generation_writes_nothing_until_the_spec_changes() {
    let sb = sandbox(|v| v["metadata"]["annotations"] = json!({}));
    let rejection = rejected_by_server(&sb, "create Pod sandbox: Pod is invalid", &at(NOW))
        .expect("the first rejection is written");
    let mut marked = sb.clone();
    let plan = Plan {
        status: Some(rejection),
        ..Plan::default()
    };
    marked.status = Some(serde_json::from_value(written(&sb, &plan)).unwrap());
    let status = serde_json::to_value(marked.status.as_ref().unwrap()).unwrap();
    assert_eq!(
        ready(&status),
        (
            "False".into(),
            "InvalidConfiguration".into(),
            "create Pod sandbox: Pod is invalid".into()
        )
    );
    assert_eq!(
        condition(&status, "Ready").unwrap()["observedGeneration"],
        2
    );
    assert_eq!(
        rejected_by_server(&marked, "create Pod sandbox: Pod is invalid", &at(NOW)),
        None
    );

    // Same generation: no Pod is tried again, no status rewritten, even after a restart.
    assert_eq!(World::default().decide(&marked), Plan::default());
    // A new generation (the spec changed): the Pod is tried again.
    marked.metadata.generation = Some(3);
    assert!(matches!(
        &World::default().decide(&marked).actions[..],
        [Action::CreatePod(_)]
    ));
}

#[test]
fn an_expiry_still_applies_to_a_rejected_sandbox() {
    let mut sb = sandbox(|v| v["spec"]["shutdownTime"] = json!("2020-01-01T00:00:00Z"));
    let status = rejected_by_server(&sb, "invalid", &at(NOW)).unwrap();
    sb = after(
        &sb,
        &Plan {
            status: Some(status),
            ..Plan::default()
        },
    );
    let plan = World::default().decide(&sb);
    assert_eq!(ready(&written(&sb, &plan)).1, "SandboxExpired");
}

#[test]
fn only_details_of_an_unchanged_condition_status_may_wait() {
    let status = |ready: &str, message: &str, ips: &[&str]| -> SandboxStatus {
        serde_json::from_value(json!({
            "podIPs": ips,
            "conditions": [{"type": "Ready", "status": ready, "reason": "R", "message": message,
                "lastTransitionTime": "2026-12-02T08:00:00Z", "observedGeneration": 1}]
        }))
        .unwrap()
    };
    let pending = status("False", "Pod exists with phase: Pending", &[]);
    // A new message while not Ready: a detail.
    assert!(super::can_wait(
        &pending,
        &status("False", "Pod is Running but not Ready", &["10.0.0.1"])
    ));
    // Turning Ready and a Ready Sandbox's new address go at once.
    assert!(!super::can_wait(
        &pending,
        &status("True", "Pod is Ready", &["10.0.0.1"])
    ));
    // A first status that is not Ready can wait too: the member's Pod is on its way.
    assert!(super::can_wait(&SandboxStatus::default(), &pending));
    assert!(!super::can_wait(
        &SandboxStatus::default(),
        &status("True", "Pod is Ready", &["10.0.0.1"])
    ));
    let ready = status("True", "Pod is Ready", &["10.0.0.1"]);
    assert!(!super::can_wait(
        &ready,
        &status("True", "Pod is Ready", &["10.0.0.2"])
    ));
    // The mirrored PodScheduled appearing or flipping is a detail.
    let mut scheduled = pending.clone();
    scheduled.conditions.push(Condition {
        type_: "PodScheduled".into(),
        status: "True".into(),
        ..pending.conditions[0].clone()
    });
    assert!(super::can_wait(&pending, &scheduled));
    // An observedGeneration bump of a Ready Sandbox (after an adoption) is a detail.
    let mut bumped = ready.clone();
    bumped.conditions[0].observed_generation = Some(2);
    assert!(super::can_wait(&ready, &bumped));
}

#[test]
fn conditions_keep_the_order_the_status_has_them_in() {
    let c = |type_: &str| Condition {
        type_: type_.into(),
        status: "True".into(),
        reason: "R".into(),
        message: String::new(),
        last_transition_time: Time(Timestamp::from_second(0).unwrap()),
        observed_generation: None,
    };
    let current = [c("Suspended"), c("Ready"), c("PodScheduled")];
    let mut desired = vec![c("New"), c("PodScheduled"), c("Suspended"), c("Ready")];
    super::keep_condition_order(&current, &mut desired);
    let types: Vec<&str> = desired.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(types, ["Suspended", "Ready", "PodScheduled", "New"]);
}

/// The Pod cache keeps only the fields the decision reads: for Pods in every phase the
/// decision on a trimmed Pod is the decision on the whole one, and the bulk is gone.
#[test]
fn a_pod_as_cached_decides_like_the_whole_one() {
    let sb = sandbox(|_| {});
    let full = |phase: &str, ready: bool| {
        pod(NAME, phase, ready, true, |v| {
            v["spec"]["volumes"] = json!([{"name": "data", "emptyDir": {}}]);
            v["spec"]["schedulingGates"] = json!([{"name": "wait"}]);
            v["status"]["containerStatuses"] = json!([{"name": "main", "image": "busybox",
                "imageID": "", "ready": ready, "restartCount": 0}]);
            v["status"]["podIP"] = json!("10.244.0.7");
        })
    };
    for (phase, ready) in [("Pending", false), ("Running", true), ("Succeeded", false)] {
        let whole = full(phase, ready);
        // Decoded from the Pod's JSON as the cache's watch decodes it.
        let observed: crate::sandbox::observed_pod::ObservedPod =
            serde_json::from_value(serde_json::to_value(&whole).unwrap()).unwrap();
        let trimmed = observed.to_pod();
        assert_eq!(
            World::default().with_pod(trimmed.clone()).decide(&sb),
            World::default().with_pod(whole).decide(&sb),
            "{phase}"
        );
        let spec = trimmed.spec.as_ref().unwrap();
        assert!(spec.containers.is_empty() && spec.volumes.is_none());
        assert_eq!(spec.node_name.as_deref(), Some("node-1"));
        assert_eq!(spec.scheduling_gates.as_ref().map(Vec::len), Some(1));
        let status = trimmed.status.as_ref().unwrap();
        assert!(status.container_statuses.is_none());
        assert_eq!(status.phase.as_deref(), Some(phase));
        assert_eq!(status.pod_ip.as_deref(), Some("10.244.0.7"));
        assert_eq!(status.pod_ips.as_ref().map(Vec::len), Some(1));
        assert_eq!(status.conditions.as_ref().map(Vec::len), Some(2));
    }
}

/// `(reason, warning)` of each notice a plan records with its status write.
fn notices(plan: &Plan) -> Vec<(&'static str, bool)> {
    plan.notices.iter().map(|n| (n.reason, n.warning)).collect()
}

#[test]
fn lifecycle_events_follow_the_ready_transitions_they_describe_once() {
    let sb = sandbox(|_| {});
    let world = World::default().with_pod(running());
    let plan = world.decide(&sb);
    assert_eq!(notices(&plan), [("SandboxReady", false)]);
    assert!(
        notices(&world.decide_at(&after(&sb, &plan), NOW + 60)).is_empty(),
        "still Ready: nothing again"
    );
    let pending = World::default().with_pod(pod(NAME, "Pending", false, false, |_| {}));
    assert!(
        notices(&pending.decide(&sb)).is_empty(),
        "not Ready, no story"
    );

    let suspended = sandbox(|v| v["spec"]["operatingMode"] = json!("Suspended"));
    let plan = world.decide(&suspended);
    assert_eq!(notices(&plan), [("SandboxSuspended", false)]);
    let suspending = after(&suspended, &plan);
    assert!(
        notices(&World::default().decide(&suspending)).is_empty(),
        "suspending → suspended keeps the reason"
    );

    for (phase, event) in [
        ("Succeeded", ("PodSucceeded", false)),
        ("Failed", ("PodFailed", true)),
    ] {
        let plan = World::default()
            .with_pod(pod(NAME, phase, false, false, |_| {}))
            .decide(&sb);
        assert_eq!(notices(&plan), [event], "{phase}");
    }
}

#[test]
fn expiry_is_recorded_under_retain_only() {
    let expired_at = 1_800_000_000; // 2027-01-15T08:00:00Z
    for (policy, expected) in [
        ("Retain", vec![("SandboxExpired", false)]),
        ("Delete", vec![]),
    ] {
        let sb = sandbox(|v| {
            v["spec"]["shutdownTime"] = json!("2027-01-15T08:00:00Z");
            v["spec"]["shutdownPolicy"] = json!(policy);
        });
        let world = World::default().with_pod(running());
        let first = world.decide_at(&sb, expired_at + 1);
        assert_eq!(notices(&first), expected, "{policy}");
        let second = world.decide_at(&after(&sb, &first), expired_at + 2);
        assert!(notices(&second).is_empty(), "{policy}: once");
    }
}

#[test]
fn a_terminating_pod_is_not_ready_even_while_its_containers_still_are() {
    let sb = sandbox(|_| {});
    let terminating = pod(NAME, "Running", true, true, |v| {
        v["metadata"]["deletionTimestamp"] = json!(at(NOW));
    });
    let plan = World::default().with_pod(terminating).decide(&sb);
    assert_eq!(
        ready(&written(&sb, &plan)),
        (
            "False".into(),
            "DependenciesNotReady".into(),
            "Pod is terminating".into()
        )
    );
    assert!(
        plan.actions.is_empty(),
        "not recreated while it is still there"
    );
}
