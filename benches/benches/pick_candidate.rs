//! A claim picking its warm candidates among 10,000 cached Sandboxes: 2,000 members of its
//! pool (the oldest 200 still starting) and 8,000 already claimed, spread over 8 nodes.
//! `index` is what the claim controller does (`claim::candidates`: the pool-member index, its
//! members grouped by node for the NodeSpread order); `scan` is the full scan of the cache and
//! sort it replaced (oldest first, no node order), kept here as the baseline. Both skip the
//! members other workers hold: ten adopting now, among the 500 reservations a burst of 50
//! claims/s leaves for `claim::reservations::TTL`. `copy_reservations` is what a pass paid
//! for them before `claim::reservations`: the map pruned and copied into a set of its own.

use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use sandbox_api::keys;
use sandbox_api::v1beta1::Sandbox;
use sandbox_controller::claim::{self, decide, reservations::Reservations};
use sandbox_controller::index::{self, Index};
use serde_json::json;

const NS: &str = "bench";
const POOL: &str = "warm";

fn sandbox(i: usize, member: bool, ready: bool) -> Sandbox {
    let (owner_kind, owner_name, labels) = if member {
        let hash = sandbox_api::NameHash::of(POOL).to_string();
        (
            "SandboxWarmPool",
            POOL.to_string(),
            json!({keys::WARM_POOL_SANDBOX_LABEL: hash, keys::SANDBOX_TEMPLATE_REF_HASH_LABEL: "t"}),
        )
    } else {
        ("SandboxClaim", format!("claim-{i}"), json!({}))
    };
    serde_json::from_value(json!({
        "metadata": {
            "name": format!("warm-{i:05}"), "namespace": NS, "uid": format!("uid-{i}"),
            "resourceVersion": "1",
            "creationTimestamp": format!("2026-12-02T{:02}:{:02}:{:02}Z", i / 3600, i / 60 % 60, i % 60),
            "labels": labels,
            "ownerReferences": [{"apiVersion": "extensions.agents.x-k8s.io/v1beta1", "kind": owner_kind,
                "name": owner_name, "uid": "owner", "controller": true}]
        },
        "spec": {"podTemplate": {"spec": {"containers": [{"name": "main", "image": "python:3"}]}}},
        "status": {"podIPs": ["10.244.0.9"], "nodeName": format!("node-{}", i % 8), "conditions": [{"type": "Ready",
            "status": if ready { "True" } else { "False" }, "reason": "DependenciesReady",
            "message": "", "lastTransitionTime": "2026-12-02T08:00:00Z"}]}
    }))
    .unwrap()
}

/// 10,000 Sandboxes in a store and its pool-member index.
fn cache() -> (Store<Sandbox>, Index<Sandbox>) {
    let (store, mut writer) = reflector::store();
    let members = Index::new(store.clone(), index::pool_member).grouped_by(index::node_name);
    for i in 0..10_000 {
        // Claimed ones are the oldest; of the members, the oldest 200 are still starting.
        let member = i >= 8_000;
        let event = watcher::Event::Apply(sandbox(i, member, i >= 8_200));
        writer.apply_watcher_event(&event);
        members.observe(&event);
    }
    (store, members)
}

/// The scan the index replaced: every cached Sandbox filtered, then sorted oldest first.
fn scan(store: &Store<Sandbox>, reserved: &HashSet<reflector::ObjectRef<Sandbox>>) -> usize {
    let hash = sandbox_api::NameHash::of(POOL);
    let mut found = store.state_filter(|s| {
        s.metadata.namespace.as_deref() == Some(NS)
            && s.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(keys::WARM_POOL_SANDBOX_LABEL))
                .is_some_and(|v| hash == v.as_str())
            && !reserved.contains(&reflector::ObjectRef::from_obj(s))
    });
    found.sort_by(|a, b| {
        a.metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0)
            .cmp(&b.metadata.creation_timestamp.as_ref().map(|t| t.0))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    found.iter().filter(|s| decide::is_usable(s)).count()
}

fn pick_candidate(c: &mut Criterion) {
    let (store, members) = cache();
    // Ten claims' workers are adopting at the same time, after 490 adoptions (claimed ones).
    let adopting = (8_200..8_210).chain(0..490);
    let reservations = Reservations::default();
    let now = Instant::now();
    for i in adopting.clone() {
        assert!(reservations.try_reserve(NS, &format!("warm-{i:05}"), now));
    }
    let reserved: HashSet<_> = adopting
        .map(|i| reflector::ObjectRef::new(&format!("warm-{i:05}")).within(NS))
        .collect();
    let picked = claim::candidates(&members, NS, POOL, &reservations.at(now));
    assert_eq!(
        picked.iter().filter(|s| decide::is_usable(s)).count(),
        decide::MAX_ADOPTION_ATTEMPTS
    );
    let mut group = c.benchmark_group("pick_candidate_among_10000");
    group.bench_function("index", |b| {
        b.iter(|| {
            let held = black_box(&reservations).at(now);
            claim::candidates(black_box(&members), NS, POOL, &held)
        })
    });
    group.bench_function("scan", |b| {
        b.iter(|| scan(black_box(&store), black_box(&reserved)))
    });
    group.bench_function("copy_reservations", |b| {
        // Stamped now, not at set-up: the benches before this one outlast the TTL.
        let mut held: HashMap<_, _> = reserved
            .iter()
            .map(|r| (r.clone(), Instant::now()))
            .collect();
        b.iter(|| {
            held.retain(|_, at| at.elapsed() < claim::reservations::TTL);
            black_box(&held).keys().cloned().collect::<HashSet<_>>()
        })
    });
    group.finish();
}

criterion_group!(benches, pick_candidate);
criterion_main!(benches);
