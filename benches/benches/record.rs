//! The recording path of a run: every claim's record goes into per-phase HDR histograms, and
//! the whole analysis (histograms, timeline, errors) runs once per run on all records.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sandbox_reports::sample::sample_records;
use sandbox_reports::{Analysis, LatencyRecorder};
use std::hint::black_box;

fn record(c: &mut Criterion) {
    let records = sample_records();
    let mut group = c.benchmark_group("record");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("ingest into histograms", |b| {
        b.iter_batched_ref(
            || LatencyRecorder::new().expect("histogram bounds are valid"),
            |recorder| {
                for record in &records {
                    recorder.ingest(black_box(record));
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("full analysis", |b| {
        b.iter(|| Analysis::from_records(black_box(&records)).expect("analysis succeeds"))
    });
    group.finish();
}

criterion_group!(benches, record);
criterion_main!(benches);
