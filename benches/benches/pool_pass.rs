//! One pass of the warm-pool controller over a pool of 3,600 Ready members, as a claim's
//! adoption sets it off: the members read from the pool-member index (`fetch`), then the
//! decision over them (`decide`: staleness, readiness, counts, the status). The members share
//! their template's PodSpec, as the controller's cache makes them (`pod_specs`).

use std::collections::BTreeSet;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use sandbox_api::v1beta1::{Sandbox, SandboxTemplate, SandboxWarmPool};
use sandbox_controller::index::{self, Index};
use sandbox_controller::pod_specs::PodSpecs;
use sandbox_controller::warmpool::build::new_member;
use sandbox_controller::warmpool::decide::{Observed, decide};
use sandbox_controller::warmpool::shaping::{PoolShaping, Settings};
use serde_json::json;

const NS: &str = "bench";
const MEMBERS: usize = 3_600;

fn template() -> SandboxTemplate {
    serde_json::from_value(json!({
        "metadata": {"name": "python", "namespace": NS},
        "spec": {"podTemplate": {"metadata": {"labels": {"app": "agent"}},
                 "spec": {"containers": [{"name": "main", "image": "python:3",
                          "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}}
    }))
    .unwrap()
}

fn pool() -> SandboxWarmPool {
    serde_json::from_value(json!({
        "metadata": {"name": "warm", "namespace": NS, "uid": "pool-uid", "generation": 1},
        "spec": {"replicas": MEMBERS, "sandboxTemplateRef": {"name": "python"}},
        "status": {"replicas": MEMBERS, "readyReplicas": MEMBERS, "updatedReadyReplicas": MEMBERS,
                   "selector": "x", "observedGeneration": 1}
    }))
    .unwrap()
}

/// The pool's members, Ready, in a store and its pool-member index, one PodSpec among them.
fn cache(pool: &SandboxWarmPool, template: &SandboxTemplate) -> (Store<Sandbox>, Index<Sandbox>) {
    let (store, mut writer) = reflector::store();
    let members = Index::new(store.clone(), index::pool_member).grouped_by(index::node_name);
    let mut specs = PodSpecs::default();
    for i in 0..MEMBERS {
        let mut member = new_member(pool, template);
        member.metadata.name = Some(format!("warm-{i:05}"));
        member.metadata.uid = Some(format!("uid-{i}"));
        member.metadata.generation = Some(1);
        let at = format!(
            "2026-12-02T{:02}:{:02}:{:02}Z",
            i / 3600,
            i / 60 % 60,
            i % 60
        );
        member.metadata.creation_timestamp = Some(serde_json::from_value(json!(at)).unwrap());
        member.spec.blueprint.pod_template.spec =
            specs.share(member.spec.blueprint.pod_template.spec.clone());
        member.status = Some(
            serde_json::from_value(json!({"podIPs": ["10.244.0.9"], "nodeName": format!("node-{}", i % 8),
                "conditions": [{"type": "Ready", "status": "True", "reason": "DependenciesReady",
                "message": "", "lastTransitionTime": "2026-12-02T08:00:00Z", "observedGeneration": 1}]}))
            .unwrap(),
        );
        let event = watcher::Event::Apply(member);
        writer.apply_watcher_event(&event);
        members.observe(&event);
    }
    (store, members)
}

fn pool_pass(c: &mut Criterion) {
    let (pool, template) = (pool(), template());
    let (_store, members) = cache(&pool, &template);
    let key = index::key(NS, sandbox_api::NameHash::of("warm").as_str());
    let (none, settings, state) = (BTreeSet::new(), Settings::default(), PoolShaping::default());
    let now = sandbox_controller::sandbox::now();
    let mut group = c.benchmark_group("pool_pass_3600");
    group.bench_function("fetch", |b| {
        b.iter(|| black_box(members.get(black_box(&key))))
    });
    let fetched: Vec<Arc<Sandbox>> = members.get(&key);
    assert_eq!(fetched.len(), MEMBERS);
    let refs: Vec<&Sandbox> = fetched.iter().map(AsRef::as_ref).collect();
    let full = decide(observed(
        &pool, &refs, &template, &now, &none, &settings, &state,
    ));
    assert!(
        full.actions.is_empty(),
        "a full pool of Ready members needs no write"
    );
    group.bench_function("decide", |b| {
        b.iter(|| {
            black_box(decide(observed(
                &pool,
                black_box(&refs),
                &template,
                &now,
                &none,
                &settings,
                &state,
            )))
        });
    });
    group.finish();
}

/// The pass as the controller makes it mid-burst: nothing in flight.
fn observed<'a>(
    pool: &'a SandboxWarmPool,
    members: &'a [&'a Sandbox],
    template: &'a SandboxTemplate,
    now: &'a Time,
    none: &'a BTreeSet<String>,
    shaping: &'a Settings,
    shaping_state: &'a PoolShaping,
) -> Observed<'a> {
    Observed {
        pool,
        members,
        template: Some(template),
        pending_creates: 0,
        pending_deletes: none,
        departed: none,
        now,
        readiness_grace: Duration::from_secs(300),
        unschedulable_recheck: Duration::from_secs(30),
        safe_to_evict: true,
        shaping,
        shaping_state,
    }
}

criterion_group!(benches, pool_pass);
criterion_main!(benches);
