//! Every branch of the claim decision.

use super::*;
use k8s_openapi::jiff::Timestamp;
use sandbox_api::keys;

const NOW: i64 = 1_800_000_000;

fn at(secs: i64) -> Time {
    Time(Timestamp::from_second(secs).unwrap())
}

fn claim(edit: impl FnOnce(&mut Value)) -> SandboxClaim {
    let mut v = json!({
        "metadata": {"name": "c1", "namespace": "ns", "uid": "claim-uid", "generation": 3,
                     "creationTimestamp": at(NOW - 60)},
        "spec": {"warmPoolRef": {"name": "pool"}}
    });
    edit(&mut v);
    serde_json::from_value(v).unwrap()
}

fn pool() -> SandboxWarmPool {
    serde_json::from_value(json!({
        "metadata": {"name": "pool", "namespace": "ns", "uid": "pool-uid"},
        "spec": {"sandboxTemplateRef": {"name": "python"}}
    }))
    .unwrap()
}

fn template(edit: impl FnOnce(&mut Value)) -> SandboxTemplate {
    let mut v = json!({
        "metadata": {"name": "python", "namespace": "ns"},
        "spec": {"podTemplate": {"metadata": {"labels": {"app": "agent"}},
                 "spec": {"containers": [{"name": "main", "image": "python:3",
                                          "env": [{"name": "A", "value": "1"}]}]}}}
    });
    edit(&mut v);
    serde_json::from_value(v).unwrap()
}

/// A pool member, Ready or not, with or without an IP.
fn member(name: &str, ready: bool, ip: bool) -> Sandbox {
    let mut v = serde_json::to_value(crate::warmpool::build::new_member(
        &pool(),
        &template(|_| {}),
    ))
    .unwrap();
    v["metadata"]["name"] = json!(name);
    v["metadata"]["resourceVersion"] = json!("41");
    v["status"] = json!({"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
        "reason": "DependenciesReady", "message": "Pod is Ready", "lastTransitionTime": at(NOW - 5)}]});
    if ip {
        v["status"]["podIPs"] = json!(["10.244.0.9"]);
    }
    serde_json::from_value(v).unwrap()
}

/// A Sandbox controlled by the claim, in the given Ready state.
fn bound(ready: Option<(&str, &str)>, edit: impl FnOnce(&mut Value)) -> Sandbox {
    let mut v = json!({
        "metadata": {"name": "pool-abcde", "namespace": "ns", "uid": "sb-uid",
                     "ownerReferences": [{"apiVersion": "extensions.agents.x-k8s.io/v1beta1",
                        "kind": "SandboxClaim", "name": "c1", "uid": "claim-uid", "controller": true}]},
        "spec": {"podTemplate": {"spec": {"containers": [{"name": "main", "image": "python:3"}]}}},
        "status": {"podIPs": ["10.244.0.9"], "serviceFQDN": "pool-abcde.ns.svc.cluster.local"}
    });
    if let Some((status, why)) = ready {
        v["status"]["conditions"] = json!([{"type": "Ready", "status": status, "reason": why,
            "message": "m", "lastTransitionTime": at(NOW - 7), "observedGeneration": 1}]);
    }
    edit(&mut v);
    serde_json::from_value(v).unwrap()
}

struct World {
    bound: Option<Sandbox>,
    name_taken: bool,
    pool: Option<SandboxWarmPool>,
    template: Option<SandboxTemplate>,
    candidates: Vec<Sandbox>,
}

impl Default for World {
    fn default() -> Self {
        Self {
            bound: None,
            name_taken: false,
            pool: Some(pool()),
            template: Some(template(|_| {})),
            candidates: vec![],
        }
    }
}

impl World {
    fn decide(&self, c: &SandboxClaim) -> Plan {
        self.decide_at(c, NOW)
    }
    fn decide_at(&self, c: &SandboxClaim, now: i64) -> Plan {
        let candidates: Vec<&Sandbox> = self.candidates.iter().collect();
        decide(Observed {
            claim: c,
            bound: self.bound.as_ref(),
            name_taken: self.name_taken,
            pool: self.pool.as_ref(),
            template: self.template.as_ref(),
            candidates: &candidates,
            now: &at(now),
            allowed_label_domains: &["sandbox.users.io"],
        })
    }
}

fn ready_of(plan: &Plan) -> (String, String) {
    let c = plan.status.as_ref().expect("a status write")["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap()
        .clone();
    (
        c["status"].as_str().unwrap().into(),
        c["reason"].as_str().unwrap().into(),
    )
}

#[test]
fn a_ready_warm_member_is_adopted_with_one_locked_patch() {
    let world = World {
        candidates: vec![member("pool-a", true, true)],
        ..World::default()
    };
    let plan = world.decide(&claim(|_| {}));
    let [Action::Adopt(adoptions)] = &plan.actions[..] else {
        panic!("expected one adoption, got {:?}", plan.actions);
    };
    assert_eq!(adoptions[0].sandbox, "pool-a");
    let patch = &adoptions[0].patch;
    assert_eq!(
        patch["metadata"]["resourceVersion"], "41",
        "optimistic lock"
    );
    assert_eq!(patch["metadata"]["ownerReferences"][0]["uid"], "claim-uid");
    assert_eq!(
        patch["metadata"]["ownerReferences"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "the claim is the only owner"
    );
    assert_eq!(
        patch["metadata"]["labels"][keys::WARM_POOL_SANDBOX_LABEL],
        Value::Null
    );
    assert_eq!(patch["metadata"]["labels"][keys::LAUNCH_TYPE_LABEL], "warm");
    assert_eq!(
        patch["metadata"]["labels"][keys::CLAIM_UID_LABEL],
        "claim-uid"
    );
    let meta = &patch["spec"]["podTemplate"]["metadata"];
    assert_eq!(
        meta["labels"][keys::WARM_POOL_SANDBOX_LABEL],
        Value::Null,
        "pool label leaves the pod template"
    );
    assert_eq!(
        meta["annotations"][keys::SAFE_TO_EVICT_ANNOTATION],
        Value::Null,
        "safe-to-evict dropped"
    );
    assert_eq!(
        plan.status, None,
        "status waits for the adoption to be observed"
    );
}

#[test]
fn ready_members_win_over_members_without_ips_and_the_order_is_kept() {
    let world = World {
        candidates: vec![
            member("no-ip", true, false),
            member("first", true, true),
            member("second", true, true),
        ],
        ..World::default()
    };
    let plan = world.decide(&claim(|_| {}));
    let [Action::Adopt(adoptions)] = &plan.actions[..] else {
        panic!("{:?}", plan.actions)
    };
    let names: Vec<&str> = adoptions.iter().map(|a| a.sandbox.as_str()).collect();
    assert_eq!(names, ["first", "second"]);
}

#[test]
fn the_adoption_response_is_mirrored_in_the_same_pass() {
    let world = World {
        candidates: vec![member("pool-a", true, true)],
        ..World::default()
    };
    let c = claim(|_| {});
    let plan = world.decide(&c);
    let [Action::Adopt(adoptions)] = &plan.actions[..] else {
        panic!("{:?}", plan.actions)
    };
    // What the API server answers the adoption patch with.
    let mut adopted = serde_json::to_value(member("pool-a", true, true)).unwrap();
    json_patch::merge(&mut adopted, &adoptions[0].patch);
    let adopted: Sandbox = serde_json::from_value(adopted).unwrap();
    let mirrored = World {
        bound: Some(adopted),
        ..World::default()
    }
    .decide(&c);
    assert!(mirrored.actions.is_empty(), "{:?}", mirrored.actions);
    assert_eq!(
        ready_of(&mirrored),
        ("True".into(), "DependenciesReady".into())
    );
    assert_eq!(
        mirrored.status.as_ref().unwrap()["status"]["sandbox"]["name"],
        "pool-a"
    );
    assert!(mirrored.became_ready);
}

#[test]
fn a_large_pool_costs_a_claim_only_a_few_adoption_patches() {
    let world = World {
        candidates: (0..50)
            .map(|i| member(&format!("m{i:02}"), true, true))
            .collect(),
        ..World::default()
    };
    let plan = world.decide(&claim(|_| {}));
    let [Action::Adopt(adoptions)] = &plan.actions[..] else {
        panic!("{:?}", plan.actions)
    };
    let names: Vec<&str> = adoptions.iter().map(|a| a.sandbox.as_str()).collect();
    assert_eq!(names, ["m00", "m01", "m02", "m03"], "the oldest, in order");
    assert_eq!(adoptions.len(), MAX_ADOPTION_ATTEMPTS);
}

#[test]
fn a_young_claim_waits_briefly_for_members_still_getting_their_network() {
    let world = World {
        candidates: vec![member("pool-a", false, false)],
        ..World::default()
    };
    let young = claim(|v| v["metadata"]["creationTimestamp"] = json!(at(NOW)));
    let plan = world.decide(&young);
    assert!(plan.actions.is_empty());
    assert_eq!(plan.requeue_after, Some(PENDING_NETWORK_RETRY));
    assert_eq!(plan.status, None);
    assert!(plan.waiting_for_member, "a member becoming usable wakes it");
    let old = world.decide(&claim(|_| {}));
    assert!(!old.waiting_for_member);
    assert!(
        matches!(&old.actions[..], [Action::CreateSandbox(_)]),
        "then it starts cold: {:?}",
        old.actions
    );
}

#[test]
fn an_empty_pool_means_an_immediate_cold_start_named_after_the_claim() {
    let plan = World::default().decide(&claim(|v| {
        v["metadata"]["labels"] = json!({keys::CREATED_BY_LABEL: "python-client"})
    }));
    let [Action::CreateSandbox(sb)] = &plan.actions[..] else {
        panic!("{:?}", plan.actions)
    };
    assert_eq!(sb.metadata.name.as_deref(), Some("c1"));
    let labels = sb.metadata.labels.as_ref().unwrap();
    assert_eq!(labels[keys::LAUNCH_TYPE_LABEL], "cold");
    assert_eq!(labels[keys::CLAIM_UID_LABEL], "claim-uid");
    assert_eq!(labels[keys::CREATED_BY_LABEL], "python-client");
    assert_eq!(
        labels[keys::SANDBOX_TEMPLATE_REF_HASH_LABEL],
        sandbox_api::name_hash("python")
    );
    assert_eq!(
        sb.metadata.owner_references.as_ref().unwrap()[0].kind,
        "SandboxClaim"
    );
    assert_eq!(
        sb.spec
            .blueprint
            .pod_template
            .spec
            .automount_service_account_token,
        Some(false)
    );
    assert_eq!(ready_of(&plan), ("False".into(), "SandboxNotReady".into()));
}

#[test]
fn env_forces_a_cold_start_and_follows_the_template_policy() {
    let with_env = claim(|v| {
        v["spec"]["env"] = json!([{"name": "B", "value": "2"}, {"name": "A", "value": "9"}])
    });
    let world = |policy: &str| World {
        candidates: vec![member("pool-a", true, true)],
        template: Some(template(|v| {
            v["spec"]["envVarsInjectionPolicy"] = json!(policy)
        })),
        ..World::default()
    };
    let rejected = world("Disallowed").decide(&with_env);
    assert!(rejected.actions.is_empty());
    assert_eq!(ready_of(&rejected).1, "EnvVarsInjectionRejected");
    assert_eq!(rejected.error, None, "suppressed: no backoff");

    let redefined = world("Allowed").decide(&with_env);
    assert_eq!(
        ready_of(&redefined).1,
        "ReconcilerError",
        "Allowed may not redefine A"
    );
    assert!(redefined.error.is_some());

    let plan = world("Overrides").decide(&with_env);
    let [Action::CreateSandbox(sb)] = &plan.actions[..] else {
        panic!("{:?}", plan.actions)
    };
    let env = sb.spec.blueprint.pod_template.spec.containers[0]
        .env
        .as_ref()
        .unwrap();
    let pairs: Vec<(&str, &str)> = env
        .iter()
        .map(|e| (e.name.as_str(), e.value.as_deref().unwrap()))
        .collect();
    assert_eq!(pairs, [("A", "9"), ("B", "2")]);
}

#[test]
fn volume_claim_templates_follow_the_template_policy() {
    let vct = |name: &str| json!({"metadata": {"name": name}, "spec": {"accessModes": ["ReadWriteOnce"]}});
    let c = claim(|v| v["spec"]["volumeClaimTemplates"] = json!([vct("data")]));
    let world = |policy: &str, existing: Value| World {
        template: Some(template(|v| {
            v["spec"]["volumeClaimTemplatesPolicy"] = json!(policy);
            v["spec"]["volumeClaimTemplates"] = existing;
        })),
        ..World::default()
    };
    assert_eq!(
        ready_of(&world("Disallowed", json!([])).decide(&c)).1,
        "VolumeClaimTemplatesError"
    );
    assert_eq!(
        ready_of(&world("Allowed", json!([vct("data")])).decide(&c)).1,
        "VolumeClaimTemplatesError"
    );
    let plan = world("Overrides", json!([vct("home"), vct("data")])).decide(&c);
    let [Action::CreateSandbox(sb)] = &plan.actions[..] else {
        panic!("{:?}", plan.actions)
    };
    let names: Vec<&str> = sb
        .spec
        .blueprint
        .volume_claim_templates
        .iter()
        .map(|v| v.metadata.name.as_str())
        .collect();
    assert_eq!(names, ["home", "data"]);
}

#[test]
fn additional_pod_metadata_is_checked_and_may_not_override_the_template() {
    let bad = claim(|v| v["spec"]["additionalPodMetadata"] = json!({"labels": {"team": "a"}}));
    let plan = World::default().decide(&bad);
    assert_eq!(
        ready_of(&plan).1,
        "InvalidMetadata",
        "labels need an allowed prefix"
    );
    let ok = claim(|v| {
        v["spec"]["additionalPodMetadata"] = json!({"labels": {"sandbox.users.io/team": "a"}})
    });
    let plan = World::default().decide(&ok);
    let [Action::CreateSandbox(sb)] = &plan.actions[..] else {
        panic!("{:?}", plan.actions)
    };
    assert_eq!(
        sb.spec.blueprint.pod_template.metadata.labels["sandbox.users.io/team"],
        "a"
    );
    let reserved = claim(|v| {
        v["spec"]["additionalPodMetadata"] = json!({"annotations": {"kubernetes.io/x": "1"}})
    });
    assert_eq!(
        ready_of(&World::default().decide(&reserved)).1,
        "InvalidMetadata"
    );
    let conflict = World {
        template: Some(template(|v| {
            v["spec"]["podTemplate"]["metadata"]["labels"] = json!({"sandbox.users.io/team": "b"})
        })),
        ..World::default()
    };
    assert_eq!(
        ready_of(&conflict.decide(&ok)).1,
        "ReconcilerError",
        "no overrides"
    );
}

#[test]
fn missing_pool_or_template_is_reported_and_retried_in_a_minute() {
    let no_pool = World {
        pool: None,
        ..World::default()
    }
    .decide(&claim(|_| {}));
    assert_eq!(ready_of(&no_pool).1, "WarmPoolNotFound");
    assert_eq!(no_pool.requeue_after, Some(MISSING_REFERENCE_RETRY));
    let no_template = World {
        template: None,
        ..World::default()
    }
    .decide(&claim(|_| {}));
    assert_eq!(ready_of(&no_template).1, "TemplateNotFound");
}

#[test]
fn a_bound_sandbox_is_mirrored_with_its_transition_time() {
    let world = World {
        bound: Some(bound(Some(("True", "DependenciesReady")), |_| {})),
        ..World::default()
    };
    let plan = world.decide(&claim(|_| {}));
    assert!(plan.actions.is_empty());
    let status = &plan.status.as_ref().unwrap()["status"];
    assert_eq!(status["sandbox"]["name"], "pool-abcde");
    assert_eq!(status["sandbox"]["podIPs"], json!(["10.244.0.9"]));
    assert_eq!(
        status["sandbox"]["serviceFQDN"],
        "pool-abcde.ns.svc.cluster.local"
    );
    let ready = &status["conditions"][0];
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("True"), Some("DependenciesReady"))
    );
    assert_eq!(
        ready["lastTransitionTime"],
        json!(at(NOW - 7)),
        "copied, not now"
    );
    assert_eq!(ready["observedGeneration"], 3, "the claim's generation");

    let mut observed = claim(|_| {});
    observed.status = Some(serde_json::from_value(status.clone()).unwrap());
    assert_eq!(world.decide(&observed).status, None, "no-op write");
}

#[test]
fn a_bound_sandbox_without_ready_or_expired_is_explained() {
    let none = World {
        bound: Some(bound(None, |_| {})),
        ..World::default()
    }
    .decide(&claim(|_| {}));
    assert_eq!(ready_of(&none), ("False".into(), "SandboxNotReady".into()));
    let expired = World {
        bound: Some(bound(Some(("False", "SandboxExpired")), |_| {})),
        ..World::default()
    };
    assert_eq!(
        ready_of(&expired.decide(&claim(|_| {}))).1,
        "SandboxExpired"
    );
}

#[test]
fn a_sandbox_named_like_the_claim_but_not_controlled_by_it_is_an_error() {
    let plan = World {
        name_taken: true,
        ..World::default()
    }
    .decide(&claim(|_| {}));
    assert!(plan.actions.is_empty());
    assert_eq!(ready_of(&plan).1, "ReconcilerError");
    assert!(
        plan.error
            .as_deref()
            .unwrap()
            .contains("not controlled by claim")
    );
}

#[test]
fn expiry_marks_then_applies_the_shutdown_policy() {
    let expiring = |policy: &str| {
        let policy = policy.to_string();
        claim(move |v| {
            v["spec"]["lifecycle"] = json!({"shutdownTime": at(NOW - 1), "shutdownPolicy": policy})
        })
    };
    let world = World {
        bound: Some(bound(Some(("True", "DependenciesReady")), |_| {})),
        ..World::default()
    };
    let first = world.decide(&expiring("Retain"));
    assert!(first.actions.is_empty());
    assert_eq!(ready_of(&first).1, "ClaimExpired");
    assert_eq!(first.requeue_after, Some(Duration::from_millis(1)));
    assert_eq!(
        first.notices,
        [Notice::normal(
            "ClaimExpired",
            "Claim Expired",
            "Claim expired"
        )]
    );

    let marked = |policy: &str| {
        let mut c = expiring(policy);
        c.status =
            Some(serde_json::from_value(first.status.clone().unwrap()["status"].clone()).unwrap());
        c
    };
    assert_eq!(
        world.decide(&marked("Retain")).actions,
        [Action::DeleteSandbox {
            name: "pool-abcde".into(),
            uid: "sb-uid".into()
        }]
    );
    assert_eq!(
        world.decide(&marked("Delete")).actions,
        [Action::DeleteClaim { foreground: false }]
    );
    assert_eq!(
        world.decide(&marked("DeleteForeground")).actions,
        [Action::DeleteClaim { foreground: true }]
    );
    assert_eq!(
        world.decide(&marked("Delete")).notices,
        [Notice::normal(
            "ClaimExpired",
            "Deleting",
            "Deleting Claim (ShutdownPolicy=Delete)"
        )]
    );
    assert_eq!(
        world.decide(&marked("DeleteForeground")).notices[0].note,
        "Deleting Claim (ShutdownPolicy=DeleteForeground)"
    );
    assert!(
        world.decide(&marked("Retain")).notices.is_empty(),
        "Retain keeps the claim: nothing more to say"
    );
}

#[test]
fn binding_events_name_the_sandbox_as_upstream_does() {
    assert_eq!(
        adopted_notice("pool-abcde"),
        Notice::normal(
            "SandboxAdopted",
            "Adoption",
            "Adopted warm pool Sandbox \"pool-abcde\""
        )
    );
    assert_eq!(
        provisioned_notice("c1"),
        Notice::normal(
            "SandboxProvisioned",
            "Provisioning",
            "Created Sandbox \"c1\""
        )
    );
}

#[test]
fn the_ttl_counts_from_the_mirrored_finished_condition() {
    let c = claim(|v| {
        v["spec"]["lifecycle"] = json!({"ttlSecondsAfterFinished": 30});
        v["status"] = json!({"conditions": [{"type": "Finished", "status": "True", "reason": "PodSucceeded",
            "message": "", "lastTransitionTime": at(NOW - 10)}]});
    });
    let world = World {
        bound: Some(bound(Some(("False", "PodSucceeded")), |_| {})),
        ..World::default()
    };
    assert_eq!(
        world.decide(&c).requeue_after,
        Some(Duration::from_secs(20))
    );
    assert_eq!(ready_of(&world.decide_at(&c, NOW + 25)).1, "ClaimExpired");
}

/// Arbitrary claims, members and clocks: the decision never panics, and never both adopts and
/// creates, nor binds while the claim is expired or being deleted.
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Seconds that jiff can represent, with room for the decision's own arithmetic.
    fn seconds() -> impl Strategy<Value = i64> {
        -50_000_000_000i64..50_000_000_000i64
    }

    fn condition() -> impl Strategy<Value = Value> {
        (
            prop::sample::select(vec!["Ready", "Finished", "Other"]),
            prop::sample::select(vec!["True", "False", "Unknown"]),
            prop::sample::select(vec![
                "ClaimExpired",
                "SandboxExpired",
                "DependenciesReady",
                "",
            ]),
            seconds(),
        )
            .prop_map(|(kind, status, why, t)| {
                json!({"type": kind, "status": status, "reason": why, "message": "",
                       "lastTransitionTime": at(t)})
            })
    }

    prop_compose! {
        fn arbitrary_claim()(
            ttl in prop::option::of(any::<i32>()),
            shutdown in prop::option::of(seconds()),
            policy in prop::option::of(prop::sample::select(vec!["Delete", "DeleteForeground", "Retain"])),
            created in seconds(),
            deleting in any::<bool>(),
            env in any::<bool>(),
            conditions in prop::collection::vec(condition(), 0..4),
            recorded in prop::option::of("[a-z0-9-]{0,12}"),
        ) -> SandboxClaim {
            claim(|v| {
                v["metadata"]["creationTimestamp"] = json!(at(created));
                if deleting {
                    v["metadata"]["deletionTimestamp"] = json!(at(NOW));
                }
                let mut lifecycle = json!({});
                if let Some(ttl) = ttl {
                    lifecycle["ttlSecondsAfterFinished"] = json!(ttl);
                }
                if let Some(t) = shutdown {
                    lifecycle["shutdownTime"] = json!(at(t));
                }
                if let Some(p) = policy {
                    lifecycle["shutdownPolicy"] = json!(p);
                }
                v["spec"]["lifecycle"] = lifecycle;
                if env {
                    v["spec"]["env"] = json!([{"name": "TASK", "value": "1"}]);
                }
                v["status"] = json!({"conditions": conditions,
                                     "sandbox": {"name": recorded.unwrap_or_default()}});
            })
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_claim_is_decided_without_a_panic_and_binds_at_most_once(
            c in arbitrary_claim(),
            members in prop::collection::vec((any::<bool>(), any::<bool>()), 0..6),
            has_bound in any::<bool>(),
            name_taken in any::<bool>(),
            has_pool in any::<bool>(),
            has_template in any::<bool>(),
            now in seconds(),
        ) {
            let world = World {
                bound: has_bound.then(|| bound(Some(("True", "DependenciesReady")), |_| {})),
                name_taken,
                pool: has_pool.then(pool),
                template: has_template.then(|| template(|_| {})),
                candidates: members
                    .iter()
                    .enumerate()
                    .map(|(i, (ready, ip))| member(&format!("pool-{i}"), *ready, *ip))
                    .collect(),
            };
            let plan = world.decide_at(&c, now);
            let binds = plan
                .actions
                .iter()
                .filter(|a| matches!(a, Action::Adopt(_) | Action::CreateSandbox(_)))
                .count();
            prop_assert!(binds <= 1, "{plan:?}");
            if c.metadata.deletion_timestamp.is_some() || has_bound {
                prop_assert_eq!(binds, 0, "{:?}", plan);
            }
        }
    }
}

#[test]
fn a_sandbox_rejected_as_invalid_is_not_created_again_until_the_spec_changes() {
    let fresh = claim(|_| {});
    let patch = rejected_by_server(&fresh, "create Sandbox for claim c1: invalid", &at(NOW))
        .expect("the first rejection is written");
    let mut rejected = fresh.clone();
    let mut status = serde_json::to_value(SandboxClaimStatus::default()).unwrap();
    json_patch::merge(&mut status, &patch["status"]);
    rejected.status = Some(serde_json::from_value(status).unwrap());
    let ready = conditions::find(
        &rejected.status.as_ref().unwrap().conditions,
        condition::READY,
    )
    .unwrap();
    assert_eq!(
        (
            ready.status.as_str(),
            ready.reason.as_str(),
            ready.observed_generation
        ),
        ("False", "InvalidConfiguration", Some(3))
    );
    assert_eq!(
        rejected_by_server(&rejected, "create Sandbox for claim c1: invalid", &at(NOW)),
        None
    );
    // Same generation: nothing written, nothing created, even by a restarted controller.
    assert_eq!(World::default().decide(&rejected), Plan::default());
    // A new generation: the Sandbox is tried again.
    rejected.metadata.generation = Some(4);
    assert!(matches!(
        &World::default().decide(&rejected).actions[..],
        [Action::CreateSandbox(_)]
    ));
}

#[test]
fn a_bound_sandbox_rejected_as_invalid_is_forwarded() {
    let world = World {
        bound: Some(bound(Some(("False", "InvalidConfiguration")), |_| {})),
        ..World::default()
    };
    assert_eq!(
        ready_of(&world.decide(&claim(|_| {}))),
        ("False".into(), "InvalidConfiguration".into())
    );
}

#[test]
fn a_member_ready_only_for_an_earlier_spec_is_not_adopted() {
    let stale = |name: &str| {
        let mut m = member(name, true, true);
        m.metadata.generation = Some(3);
        m.status.as_mut().unwrap().conditions[0].observed_generation = Some(2);
        m
    };
    let mut current = member("current", true, true);
    current.metadata.generation = Some(3);
    current.status.as_mut().unwrap().conditions[0].observed_generation = Some(3);
    let world = World {
        candidates: vec![stale("stale"), current],
        ..World::default()
    };
    let plan = world.decide(&claim(|_| {}));
    let [Action::Adopt(adoptions)] = &plan.actions[..] else {
        panic!("{:?}", plan.actions)
    };
    let names: Vec<&str> = adoptions.iter().map(|a| a.sandbox.as_str()).collect();
    assert_eq!(names, ["current"]);
}
