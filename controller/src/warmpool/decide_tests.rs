//! Every branch of the warm pool decision.

use super::*;
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

const NOW: i64 = 1_800_000_000;
const GRACE: Duration = Duration::from_secs(300);
const RECHECK: Duration = Duration::from_secs(60);

fn at(secs: i64) -> Time {
    Time(Timestamp::from_second(secs).unwrap())
}

fn pool(edit: impl FnOnce(&mut Value)) -> SandboxWarmPool {
    let mut v = json!({
        "metadata": {"name": "pool", "namespace": "ns", "uid": "pool-uid", "generation": 4},
        "spec": {"replicas": 2, "sandboxTemplateRef": {"name": "python"}}
    });
    edit(&mut v);
    serde_json::from_value(v).unwrap()
}

fn template(image: &str) -> SandboxTemplate {
    serde_json::from_value(json!({
        "metadata": {"name": "python", "namespace": "ns"},
        "spec": {"podTemplate": {"spec": {"containers": [{"name": "main", "image": image}]}}}
    }))
    .unwrap()
}

/// A member built from `template("python:3")`, `age` seconds old, Ready or not.
fn member(name: &str, age: i64, ready: bool, edit: impl FnOnce(&mut Value)) -> Sandbox {
    let mut v = serde_json::to_value(super::super::build::new_member(
        &pool(|_| {}),
        &template("python:3"),
    ))
    .unwrap();
    v["metadata"]["name"] = json!(name);
    v["metadata"]["uid"] = json!(format!("{name}-uid"));
    v["metadata"]["resourceVersion"] = json!(format!("{}", 1000 + age));
    v["metadata"]["creationTimestamp"] = json!(at(NOW - age));
    v["status"] = json!({"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
        "reason": "R", "message": "", "lastTransitionTime": at(NOW - age)}]});
    edit(&mut v);
    serde_json::from_value(v).unwrap()
}

fn decide_with(
    p: &SandboxWarmPool,
    members: &[Sandbox],
    t: Option<&SandboxTemplate>,
    pending: usize,
) -> Plan {
    decide_shaped(
        p,
        members,
        t,
        pending,
        &Settings::default(),
        &PoolShaping::default(),
    )
}

fn decide_shaped(
    p: &SandboxWarmPool,
    members: &[Sandbox],
    t: Option<&SandboxTemplate>,
    pending: usize,
    shaping: &Settings,
    state: &PoolShaping,
) -> Plan {
    let refs: Vec<&Sandbox> = members.iter().collect();
    let none = BTreeSet::new();
    decide(Observed {
        pool: p,
        members: &refs,
        template: t,
        pending_creates: pending,
        pending_deletes: &none,
        departed: &none,
        now: &at(NOW),
        readiness_grace: GRACE,
        unschedulable_recheck: RECHECK,
        safe_to_evict: true,
        shaping,
        shaping_state: state,
    })
}

fn creates(plan: &Plan) -> usize {
    plan.actions
        .iter()
        .filter(|a| matches!(a, Action::Create(_)))
        .count()
}

fn deleted(plan: &Plan) -> Vec<&str> {
    plan.actions
        .iter()
        .filter_map(|a| match a {
            Action::Delete { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn an_empty_pool_is_filled_to_replicas_and_reports_its_selector() {
    let t = template("python:3");
    let plan = decide_with(&pool(|_| {}), &[], Some(&t), 0);
    assert_eq!(creates(&plan), 2);
    let status = &plan.status.as_ref().unwrap()["status"];
    assert_eq!(
        status["selector"],
        format!(
            "{}={}",
            keys::WARM_POOL_SANDBOX_LABEL,
            sandbox_api::name_hash("pool")
        )
    );
    assert_eq!(status["observedGeneration"], 4);
}

#[test]
fn replicas_default_to_one() {
    let t = template("python:3");
    let plan = decide_with(
        &pool(|v| v["spec"]["replicas"] = Value::Null),
        &[],
        Some(&t),
        0,
    );
    assert_eq!(creates(&plan), 1);
}

#[test]
fn creates_in_flight_and_terminating_members_count_against_replicas() {
    let t = template("python:3");
    let p = pool(|_| {});
    assert_eq!(
        creates(&decide_with(&p, &[], Some(&t), 2)),
        0,
        "two creates not yet observed"
    );
    let going = member("pool-a", 10, true, |v| {
        v["metadata"]["deletionTimestamp"] = json!(at(NOW))
    });
    assert_eq!(creates(&decide_with(&p, &[going], Some(&t), 1)), 0);
}

#[test]
fn nothing_is_created_without_the_template() {
    let plan = decide_with(&pool(|_| {}), &[], None, 0);
    assert!(plan.actions.is_empty());
}

#[test]
fn a_missing_template_keeps_the_members_and_says_so_unless_the_pool_is_empty_on_purpose() {
    let old = member("old", 10, true, |_| {});
    let plan = decide_with(&pool(|_| {}), std::slice::from_ref(&old), None, 0);
    assert!(plan.actions.is_empty(), "kept: {:?}", plan.actions);
    assert_eq!(
        plan.not_progressing.as_deref(),
        Some(
            "SandboxTemplate \"python\" not found; keeping the 1 existing sandboxes and \
             creating none until it exists"
        )
    );
    assert_eq!(plan.requeue_after, Some(RECHECK), "looked at again");
    // It outranks unschedulable members: it is why no replacement can be made.
    let held = member("held", 400, false, |v| {
        v["status"]["conditions"].as_array_mut().unwrap().push(json!({"type": "PodScheduled",
            "status": "False", "reason": "Unschedulable", "message": "", "lastTransitionTime": at(NOW)}))
    });
    let plan = decide_with(&pool(|_| {}), &[held], None, 0);
    assert!(plan.not_progressing.unwrap().starts_with("SandboxTemplate"));
    let plan = decide_with(&pool(|v| v["spec"]["replicas"] = json!(0)), &[], None, 0);
    assert_eq!(plan.not_progressing, None, "replicas 0 needs no template");
    assert_eq!(plan.requeue_after, None);
}

#[test]
fn a_full_ready_pool_writes_nothing_the_second_time() {
    let t = template("python:3");
    let p = pool(|_| {});
    let members = [
        member("pool-a", 10, true, |_| {}),
        member("pool-b", 20, true, |_| {}),
    ];
    let plan = decide_with(&p, &members, Some(&t), 0);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    let status = plan.status.clone().unwrap()["status"].clone();
    assert_eq!(
        (
            status["replicas"].as_i64(),
            status["readyReplicas"].as_i64()
        ),
        (Some(2), Some(2))
    );
    let mut observed = p.clone();
    observed.status = Some(serde_json::from_value(status).unwrap());
    assert_eq!(decide_with(&observed, &members, Some(&t), 0).status, None);
}

#[test]
fn scale_down_removes_not_ready_members_first_then_the_newest() {
    let t = template("python:3");
    let p = pool(|v| v["spec"]["replicas"] = json!(1));
    let members = [
        member("old-ready", 100, true, |_| {}),
        member("new-ready", 10, true, |_| {}),
        member("not-ready", 50, false, |_| {}),
    ];
    let plan = decide_with(&p, &members, Some(&t), 0);
    assert_eq!(deleted(&plan), ["not-ready", "new-ready"]);
    // Each delete holds the member to the version the decision saw, so a claim's adoption
    // in between makes it fail rather than take the claim's Sandbox.
    assert!(plan.actions.contains(&Action::Delete {
        name: "new-ready".into(),
        uid: "new-ready-uid".into(),
        resource_version: "1010".into(),
    }));
}

#[test]
fn claimed_members_are_left_alone() {
    let t = template("python:3");
    let claimed = member("pool-a", 10, true, |v| {
        v["metadata"]["ownerReferences"] = json!([{"apiVersion": "extensions.agents.x-k8s.io/v1beta1",
            "kind": "SandboxClaim", "name": "c", "uid": "claim-uid", "controller": true}])
    });
    let plan = decide_with(&pool(|_| {}), &[claimed], Some(&t), 0);
    assert!(deleted(&plan).is_empty());
    assert_eq!(creates(&plan), 2, "the claimed member no longer counts");
}

#[test]
fn stale_members_stay_under_on_replenish_and_go_under_recreate() {
    let newer = template("python:4");
    let members = [
        member("pool-a", 10, true, |_| {}),
        member("pool-b", 10, true, |_| {}),
    ];
    let kept = decide_with(&pool(|_| {}), &members, Some(&newer), 0);
    assert!(kept.actions.is_empty(), "{:?}", kept.actions);
    let recreate = pool(|v| v["spec"]["updateStrategy"] = json!({"type": "Recreate"}));
    let replaced = decide_with(&recreate, &members, Some(&newer), 0);
    assert_eq!(deleted(&replaced), ["pool-a", "pool-b"]);
    assert_eq!(
        creates(&replaced),
        0,
        "replacements wait until the deletions are observed"
    );
}

#[test]
fn orphans_are_adopted_or_deleted_when_stale() {
    let orphan = |name: &str| {
        member(name, 10, true, |v| {
            v["metadata"]["ownerReferences"] = json!([])
        })
    };
    let plan = decide_with(
        &pool(|_| {}),
        &[orphan("pool-a")],
        Some(&template("python:3")),
        0,
    );
    let Action::Patch { name, patch } = &plan.actions[0] else {
        panic!("expected an adoption, got {:?}", plan.actions);
    };
    assert_eq!(name, "pool-a");
    assert_eq!(patch["metadata"]["ownerReferences"][0]["uid"], "pool-uid");
    let stale = decide_with(
        &pool(|_| {}),
        &[orphan("pool-a")],
        Some(&template("python:4")),
        0,
    );
    assert_eq!(
        deleted(&stale),
        ["pool-a"],
        "OnReplenish still deletes stale orphans"
    );
}

#[test]
fn members_stuck_past_the_grace_period_are_replaced_unless_unschedulable() {
    let t = template("python:3");
    let young = member("young", 60, false, |_| {});
    let plan = decide_with(
        &pool(|v| v["spec"]["replicas"] = json!(1)),
        &[young],
        Some(&t),
        0,
    );
    assert!(plan.actions.is_empty());
    assert_eq!(
        plan.requeue_after,
        Some(GRACE - Duration::from_secs(60) + Duration::from_secs(2))
    );

    let stuck = member("stuck", 400, false, |_| {});
    let plan = decide_with(
        &pool(|v| v["spec"]["replicas"] = json!(1)),
        &[stuck],
        Some(&t),
        0,
    );
    assert_eq!(deleted(&plan), ["stuck"]);
    assert_eq!(
        creates(&plan),
        0,
        "the deletion counts until it is observed"
    );

    let unschedulable = member("held", 400, false, |v| {
        v["status"]["conditions"].as_array_mut().unwrap().push(json!({"type": "PodScheduled",
            "status": "False", "reason": "Unschedulable", "message": "", "lastTransitionTime": at(NOW)}))
    });
    let plan = decide_with(
        &pool(|v| v["spec"]["replicas"] = json!(1)),
        &[unschedulable],
        Some(&t),
        0,
    );
    assert!(plan.actions.is_empty(), "held: {:?}", plan.actions);
    assert_eq!(plan.requeue_after, Some(RECHECK), "looked at again");
    assert_eq!(
        plan.not_progressing.as_deref(),
        Some(
            "1/1 sandboxes are unschedulable past the 5m0s readiness grace period; holding \
             them instead of replacing (replacements would be equally unschedulable)"
        )
    );
    let young = member("young", 60, false, |_| {});
    assert_eq!(
        decide_with(&pool(|_| {}), &[young], Some(&t), 0).not_progressing,
        None
    );
}

#[test]
fn members_waiting_on_scheduling_gates_are_neither_replaced_nor_reported() {
    let t = template("python:3");
    let gated = member("gated", 4_000, false, |v| {
        v["status"]["conditions"].as_array_mut().unwrap().push(json!({"type": "PodScheduled",
            "status": "False", "reason": "SchedulingGated", "message": "", "lastTransitionTime": at(NOW)}))
    });
    let plan = decide_with(
        &pool(|v| v["spec"]["replicas"] = json!(1)),
        &[gated],
        Some(&t),
        0,
    );
    assert!(plan.actions.is_empty(), "held: {:?}", plan.actions);
    assert_eq!(plan.not_progressing, None);
    assert_eq!(plan.requeue_after, None, "the gate's removal wakes it");
}

#[test]
fn a_pool_may_set_its_own_readiness_grace_period() {
    let t = template("python:3");
    let one = |grace: Option<i32>| {
        pool(move |v| {
            v["spec"]["replicas"] = json!(1);
            v["spec"]["readinessGracePeriodSeconds"] = json!(grace);
        })
    };
    let stuck = member("stuck", 100, false, |_| {});
    assert!(
        deleted(&decide_with(
            &one(None),
            std::slice::from_ref(&stuck),
            Some(&t),
            0
        ))
        .is_empty(),
        "within the controller's 5m"
    );
    assert_eq!(
        deleted(&decide_with(
            &one(Some(60)),
            std::slice::from_ref(&stuck),
            Some(&t),
            0
        )),
        ["stuck"],
        "past the pool's 60s"
    );
    let young = member("young", 40, false, |_| {});
    let plan = decide_with(&one(Some(60)), &[young], Some(&t), 0);
    assert_eq!(plan.requeue_after, Some(Duration::from_secs(22)));
    let held = member("held", 100, false, |v| {
        v["status"]["conditions"].as_array_mut().unwrap().push(json!({"type": "PodScheduled",
            "status": "False", "reason": "Unschedulable", "message": "", "lastTransitionTime": at(NOW)}))
    });
    let why = decide_with(&one(Some(60)), &[held], Some(&t), 0).not_progressing;
    assert!(
        why.unwrap()
            .contains("past the 1m0s readiness grace period")
    );
}

#[test]
fn progress_events_are_emitted_on_transitions_only() {
    let stalled = progress_notice(false, Some("why")).unwrap();
    assert!(stalled.warning);
    assert_eq!(
        (stalled.reason, stalled.action, stalled.note.as_str()),
        ("WarmPoolNotProgressing", "Reconciling", "why")
    );
    let resumed = progress_notice(true, None).unwrap();
    assert!(!resumed.warning);
    assert_eq!(
        (resumed.reason, resumed.note.as_str()),
        ("WarmPoolProgressing", "Warm pool is progressing again")
    );
    assert_eq!(progress_notice(true, Some("still")), None);
    assert_eq!(progress_notice(false, None), None);
}

#[test]
fn durations_read_as_go_prints_them() {
    for (d, go) in [
        (Duration::ZERO, "0s"),
        (Duration::from_millis(300), "300ms"),
        (Duration::from_millis(1500), "1.5s"),
        (Duration::from_secs(30), "30s"),
        (Duration::from_secs(300), "5m0s"),
        (Duration::from_secs(3600), "1h0m0s"),
        (Duration::from_secs(3723), "1h2m3s"),
    ] {
        assert_eq!(go_duration(d), go);
    }
}

#[test]
fn the_batch_size_caps_creates_and_deletes_per_pass() {
    let t = template("python:3");
    let small = Settings {
        max_batch: 3,
        ..Settings::default()
    };
    let none = PoolShaping::default();
    let big = pool(|v| v["spec"]["replicas"] = json!(10));
    assert_eq!(
        creates(&decide_shaped(&big, &[], Some(&t), 0, &small, &none)),
        3
    );
    let members: Vec<Sandbox> = (0..8)
        .map(|i| member(&format!("m{i}"), 10 + i, true, |_| {}))
        .collect();
    let one = pool(|v| v["spec"]["replicas"] = json!(1));
    let plan = decide_shaped(&one, &members, Some(&t), 0, &small, &none);
    assert_eq!(
        deleted(&plan),
        ["m0", "m1", "m2"],
        "newest first, three at most"
    );
}

#[test]
fn a_replenish_delay_holds_replacements_after_members_leave() {
    let t = template("python:3");
    let held = Settings {
        replenish_delay: Duration::from_secs(5),
        claims_first: Duration::ZERO,
        ..Settings::default()
    };
    let p = pool(|v| v["spec"]["replicas"] = json!(3));
    let full: Vec<Sandbox> = (0..3)
        .map(|i| member(&format!("m{i}"), 10, true, |_| {}))
        .collect();
    // First pass of a full pool: the baseline.
    let first = decide_shaped(&p, &full, Some(&t), 0, &held, &PoolShaping::default());
    assert_eq!(creates(&first), 0);
    // Two members were adopted: nothing is created, the pool looks again when the hold ends.
    let drained = decide_shaped(&p, &full[..1], Some(&t), 0, &held, &first.shaping);
    assert_eq!(creates(&drained), 0);
    assert_eq!(drained.requeue_after, Some(Duration::from_secs(5)));
    assert_eq!(
        drained.status.as_ref().unwrap()["status"]["replicas"],
        1,
        "status still tells the truth"
    );
    // Without a delay (nor claims first) the same drop is refilled at once.
    let unheld = Settings {
        replenish_delay: Duration::ZERO,
        ..held
    };
    let now = decide_shaped(&p, &full[..1], Some(&t), 0, &unheld, &first.shaping);
    assert_eq!(creates(&now), 2);
}

#[test]
fn claims_first_holds_refill_while_members_leave_and_the_pool_is_above_its_reserve() {
    let t = template("python:3");
    let settings = Settings {
        claims_first: Duration::from_secs(1),
        claims_first_reserve: 0.25,
        ..Settings::default()
    };
    let p = pool(|v| v["spec"]["replicas"] = json!(8));
    let full: Vec<Sandbox> = (0..8)
        .map(|i| member(&format!("m{i}"), 10, true, |_| {}))
        .collect();
    let first = decide_shaped(&p, &full, Some(&t), 0, &settings, &PoolShaping::default());
    assert_eq!(creates(&first), 0);
    // Claims took three members; five Ready are left, above the reserve of two: refill waits
    // for the quiet period.
    let burst = decide_shaped(&p, &full[..5], Some(&t), 0, &settings, &first.shaping);
    assert_eq!(creates(&burst), 0);
    assert_eq!(burst.requeue_after, Some(Duration::from_secs(1)));
    // Down past the reserve of two mid-burst: refill brings the pool back to the reserve, no
    // further, and looks again when the burst may be over.
    let low = decide_shaped(&p, &full[..1], Some(&t), 0, &settings, &burst.shaping);
    assert_eq!(creates(&low), 1);
    assert_eq!(low.requeue_after, Some(Duration::from_secs(1)));
    // Creates in flight count towards it.
    let in_flight = decide_shaped(&p, &full[..1], Some(&t), 1, &settings, &burst.shaping);
    assert_eq!(creates(&in_flight), 0);
    // Members that are not Ready do not count towards the reserve: two Ready of five is the
    // reserve, so the three starting ones hold the pool above it and nothing is created.
    let starting: Vec<Sandbox> = (0..5)
        .map(|i| member(&format!("m{i}"), 10, i >= 3, |_| {}))
        .collect();
    let unready = decide_shaped(&p, &starting, Some(&t), 0, &settings, &first.shaping);
    assert_eq!(creates(&unready), 0);
    assert_eq!(unready.requeue_after, Some(Duration::from_secs(1)));
    // Off: the same burst is refilled at once.
    let off = Settings {
        claims_first: Duration::ZERO,
        ..settings
    };
    let at_once = decide_shaped(&p, &full[..5], Some(&t), 0, &off, &first.shaping);
    assert_eq!(creates(&at_once), 3);
}

#[test]
fn a_refill_rate_paces_creates_and_requeues_for_the_next_token() {
    let t = template("python:3");
    let paced = Settings {
        max_refill_rate: 2.0,
        ..Settings::default()
    };
    let p = pool(|v| v["spec"]["replicas"] = json!(10));
    let first = decide_shaped(&p, &[], Some(&t), 0, &paced, &PoolShaping::default());
    assert_eq!(creates(&first), 2, "one second of creates");
    assert_eq!(first.requeue_after, None, "its own creates wake the pool");
    // Same instant, creates in flight: the bucket is empty, so the next token wakes it.
    let second = decide_shaped(&p, &[], Some(&t), 2, &paced, &first.shaping);
    assert_eq!(creates(&second), 0);
    assert_eq!(second.requeue_after, Some(Duration::from_millis(500)));
}

#[test]
fn a_member_missing_the_warm_label_gets_it() {
    let t = template("python:3");
    let unlabelled = member("pool-a", 10, true, |v| {
        v["metadata"]["labels"]
            .as_object_mut()
            .unwrap()
            .remove(keys::LAUNCH_TYPE_LABEL);
    });
    let plan = decide_with(
        &pool(|v| v["spec"]["replicas"] = json!(1)),
        &[unlabelled],
        Some(&t),
        0,
    );
    assert_eq!(
        plan.actions,
        [Action::Patch {
            name: "pool-a".into(),
            patch: json!({"metadata": {"labels": {keys::LAUNCH_TYPE_LABEL: "warm"}}})
        }]
    );
}

#[test]
fn a_pool_being_deleted_does_nothing() {
    let p = pool(|v| v["metadata"]["deletionTimestamp"] = json!(at(NOW)));
    assert_eq!(
        decide_with(&p, &[], Some(&template("python:3")), 0),
        Plan::default()
    );
}

#[test]
fn a_member_a_claim_adopted_is_replaced_before_the_cache_shows_the_adoption() {
    let p = pool(|_| {});
    let t = template("python:3");
    // The cache still shows both as this pool's Ready members.
    let members = [
        member("pool-a", 60, true, |_| {}),
        member("pool-b", 60, true, |_| {}),
    ];
    let refs: Vec<&Sandbox> = members.iter().collect();
    let none = BTreeSet::new();
    let departed: BTreeSet<String> = ["pool-a".to_string()].into();
    let (now, settings, state) = (at(NOW), Settings::default(), PoolShaping::default());
    let observed = |departed| Observed {
        pool: &p,
        members: &refs,
        template: Some(&t),
        pending_creates: 0,
        pending_deletes: &none,
        departed,
        now: &now,
        readiness_grace: GRACE,
        unschedulable_recheck: RECHECK,
        safe_to_evict: true,
        shaping: &settings,
        shaping_state: &state,
    };
    assert_eq!(creates(&decide(observed(&none))), 0);
    let plan = decide(observed(&departed));
    assert_eq!(creates(&plan), 1, "{plan:?}");
    assert!(
        deleted(&plan).is_empty(),
        "a departed member is not the pool's to delete"
    );
}

/// Arbitrary replica counts (negative, zero, up to `i32::MAX`),
/// member states and pending writes: the decision never panics and never creates past the
/// replica count nor deletes more members than exist.
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_pool_is_decided_without_a_panic_within_its_bounds(
            replicas in any::<i32>(),
            members in prop::collection::vec((0i64..100_000, any::<bool>()), 0..12),
            pending in 0usize..1_000,
            has_template in any::<bool>(),
        ) {
            let p = pool(|v| v["spec"]["replicas"] = json!(replicas));
            let t = template("python:3");
            let members: Vec<Sandbox> = members
                .iter()
                .enumerate()
                .map(|(i, (age, ready))| member(&format!("m-{i}"), *age, *ready, |_| {}))
                .collect();
            let plan = decide_with(&p, &members, has_template.then_some(&t), pending);
            let wanted = usize::try_from(replicas.max(0)).unwrap_or(0);
            prop_assert!(creates(&plan) <= wanted, "{plan:?}");
            prop_assert!(deleted(&plan).len() <= members.len());
        }
    }
}

#[test]
fn ready_replicas_count_only_members_ready_for_their_current_spec() {
    let t = template("python:3");
    let current = member("current", 10, true, |v| {
        v["metadata"]["generation"] = json!(2);
        v["status"]["conditions"][0]["observedGeneration"] = json!(2);
    });
    let stale = member("stale", 10, true, |v| {
        v["metadata"]["generation"] = json!(3);
        v["status"]["conditions"][0]["observedGeneration"] = json!(2);
    });
    let plan = decide_with(&pool(|_| {}), &[current, stale], Some(&t), 0);
    let status = &plan.status.as_ref().unwrap()["status"];
    assert_eq!(
        (
            status["replicas"].as_i64(),
            status["readyReplicas"].as_i64()
        ),
        (Some(2), Some(1))
    );
}

#[test]
fn the_status_tells_how_far_a_template_change_rolled_out_and_whether_the_pool_progresses() {
    let progressing = |plan: &Plan| {
        let c = &plan.status.as_ref().unwrap()["status"]["conditions"][0];
        assert_eq!(c["type"], "Progressing");
        (
            c["status"].as_str().unwrap().to_string(),
            c["reason"].as_str().unwrap().to_string(),
        )
    };
    // Two Ready members, one built from an older template.
    let new = template("python:3.13");
    let fresh = serde_json::from_value::<Sandbox>({
        let mut v = serde_json::to_value(member("fresh", 10, true, |_| {})).unwrap();
        v["spec"]["podTemplate"]["spec"]["containers"][0]["image"] = json!("python:3.13");
        v
    })
    .unwrap();
    let old = member("old", 10, true, |_| {});
    let plan = decide_with(&pool(|_| {}), &[fresh, old.clone()], Some(&new), 0);
    let status = &plan.status.as_ref().unwrap()["status"];
    assert_eq!(status["readyReplicas"], 2);
    assert_eq!(status["updatedReadyReplicas"], 1);
    assert_eq!(
        progressing(&plan),
        ("True".into(), "WarmPoolProgressing".into())
    );

    let plan = decide_with(&pool(|_| {}), &[old], None, 0);
    assert_eq!(
        progressing(&plan),
        ("False".into(), "SandboxTemplateError".into())
    );
    let held = member("held", 400, false, |v| {
        v["status"]["conditions"].as_array_mut().unwrap().push(json!({"type": "PodScheduled",
            "status": "False", "reason": "Unschedulable", "message": "", "lastTransitionTime": at(NOW)}))
    });
    let plan = decide_with(
        &pool(|v| v["spec"]["replicas"] = json!(1)),
        &[held],
        Some(&template("python:3")),
        0,
    );
    assert_eq!(
        progressing(&plan),
        ("False".into(), "WarmPoolNotProgressing".into())
    );
}
