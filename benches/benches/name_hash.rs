//! The name hash runs for every object the controller touches (labels, selectors, indexes).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn name_hash(c: &mut Criterion) {
    let long = "x".repeat(253);
    let mut group = c.benchmark_group("name_hash");
    for name in ["sandbox", "my-warm-pool-7f9c2", long.as_str()] {
        group.bench_function(format!("len {}", name.len()), |b| {
            b.iter(|| sandbox_api::name_hash(black_box(name)))
        });
    }
    group.finish();
}

criterion_group!(benches, name_hash);
criterion_main!(benches);
