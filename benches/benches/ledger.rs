//! The harness's per-event path: the collector task applies every watch event on a claim or
//! sandbox to the ledger, one after the other, so its cost bounds how many events per second
//! the run absorbs before stamps queue up behind one another.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sandbox_api::v1beta1::{Sandbox, SandboxClaim};
use sandbox_bench::ledger::Ledger;
use sandbox_reports::{LaunchType, Record};
use serde_json::json;
use std::hint::black_box;

const CLAIMS: usize = 1000;

fn condition(ready: bool) -> serde_json::Value {
    json!({"type": "Ready", "status": if ready { "True" } else { "False" }, "reason": "R",
           "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"})
}

fn claim(i: usize, ready: bool) -> SandboxClaim {
    serde_json::from_value(json!({
        "apiVersion": "extensions.agents.x-k8s.io/v1beta1", "kind": "SandboxClaim",
        "metadata": {"name": format!("claim-{i:06}"), "namespace": "ns"},
        "spec": {"warmPoolRef": {"name": "pool"}},
        "status": {"sandbox": {"name": format!("pool-{i:05}")}, "conditions": [condition(ready)]}
    }))
    .expect("a valid claim")
}

fn sandbox(i: usize) -> Sandbox {
    serde_json::from_value(json!({
        "apiVersion": "agents.x-k8s.io/v1beta1", "kind": "Sandbox",
        "metadata": {"name": format!("pool-{i:05}"), "namespace": "ns"},
        "spec": {"podTemplate": {"spec": {"containers": [{"name": "c", "image": "i"}]}}},
        "status": {"conditions": [condition(true)]}
    }))
    .expect("a valid sandbox")
}

fn ledger() -> Ledger {
    let mut ledger = Ledger::default();
    for i in 0..CLAIMS {
        let index = ledger.add(Record::new(
            format!("claim-{i:06}"),
            "pool",
            LaunchType::Unknown,
            i as u64,
        ));
        ledger.sent(index, i as u64 + 10);
    }
    ledger
}

fn stamping(c: &mut Criterion) {
    let sandboxes: Vec<Sandbox> = (0..CLAIMS).map(sandbox).collect();
    let bound: Vec<SandboxClaim> = (0..CLAIMS).map(|i| claim(i, false)).collect();
    let ready: Vec<SandboxClaim> = (0..CLAIMS).map(|i| claim(i, true)).collect();
    let mut group = c.benchmark_group("ledger");
    group.throughput(Throughput::Elements((3 * CLAIMS) as u64));
    group.bench_function("sandbox Ready, claim bound, claim Ready", |b| {
        b.iter_batched_ref(
            ledger,
            |ledger| {
                for i in 0..CLAIMS {
                    ledger.on_sandbox(black_box(&sandboxes[i]), 1);
                    ledger.on_claim(black_box(&bound[i]), 2);
                    ledger.on_claim(black_box(&ready[i]), 3);
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, stamping);
criterion_main!(benches);
