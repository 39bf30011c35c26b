//! The run second by second: offered load, completions, claims in flight and latency, so a
//! report can show when things went wrong and not only how often.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::quantiles::{nearest_rank, us_to_ms};
use crate::record::{Phase, Record};

const SECOND_US: u64 = 1_000_000;
/// A record with a nonsense stamp (days after the start) must not make the timeline huge;
/// nothing later than this is bucketed.
const MAX_TIMELINE_SECONDS: u64 = 86_400;

/// One second of the run, `[second, second + 1)` from the monotonic start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineSecond {
    pub second: u64,
    /// Claims the schedule meant to send in this second (the offered load).
    pub intended: u64,
    /// Creates actually sent in this second.
    pub sent: u64,
    /// Claims that became Ready in this second (the throughput).
    pub completed: u64,
    /// The most claims sent but not yet Ready (nor failed) at any moment of this second. The
    /// peak, not a sample at the second's end, so a burst shorter than a second still shows.
    pub in_flight: u64,
    /// Latency percentiles of the claims *intended* in this second, per phase: what someone
    /// asking for a claim at that time experienced, however late the harness sent it.
    pub latency: BTreeMap<Phase, SecondLatency>,
    /// CPU cores each process used in this second (1.0: one core busy), where the harness
    /// could read the processes: which one was busy when claims slowed down.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cpu_cores: BTreeMap<String, f64>,
}

impl TimelineSecond {
    /// A second in which nothing happened (yet).
    fn empty(second: u64) -> Self {
        Self {
            second,
            intended: 0,
            sent: 0,
            completed: 0,
            in_flight: 0,
            latency: BTreeMap::new(),
            cpu_cores: BTreeMap::new(),
        }
    }
}

/// The CPU time of each process read at one moment of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuReading {
    /// Microseconds from the run's start.
    pub at_us: u64,
    /// Process name to its CPU seconds (user + system) since it started.
    pub cpu_seconds: BTreeMap<String, f64>,
}

/// Adds each process's CPU cores to the seconds the readings span. `readings` are in time
/// order, one near each whole second: the cores between two readings go to the second the
/// first one falls in. A process missing from either reading (gone, or not yet started) gets
/// nothing for that span. Readings past the last claim's second (the pool refilling after
/// the load) add seconds of their own, with no claims in them.
pub fn add_cpu(seconds: &mut Vec<TimelineSecond>, readings: &[CpuReading]) {
    for pair in readings.windows(2) {
        let (from, to) = (&pair[0], &pair[1]);
        let Some(span) = to.at_us.checked_sub(from.at_us).filter(|us| *us > 0) else {
            continue;
        };
        let index = bucket(from.at_us);
        while seconds.len() <= index {
            seconds.push(TimelineSecond::empty(seconds.len() as u64));
        }
        let second = &mut seconds[index];
        for (name, before) in &from.cpu_seconds {
            if let Some(after) = to.cpu_seconds.get(name) {
                let cores = (after - before).max(0.0) / (span as f64 / SECOND_US as f64);
                second.cpu_cores.insert(name.clone(), cores);
            }
        }
    }
}

/// Exact (nearest-rank) percentiles of one second's samples; seconds hold few samples, so
/// they are sorted rather than put in histograms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SecondLatency {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

fn bucket(us: u64) -> usize {
    (us / SECOND_US).min(MAX_TIMELINE_SECONDS) as usize
}

/// When a claim stops being in flight: when it became Ready, or its last stamp if it failed.
/// A claim that neither completed nor failed is still in flight at the end of the run.
fn in_flight_end_us(record: &Record, horizon_us: u64) -> u64 {
    match (record.claim_ready_us, &record.error) {
        (Some(ready), _) => ready,
        (None, Some(_)) => record.last_stamp_us().unwrap_or(record.intended_us),
        (None, None) => horizon_us,
    }
}

/// `sorted` is never empty: a second's entry exists only once it has a sample.
fn at_quantile(sorted: &[u64], quantile: f64) -> u64 {
    let rank = nearest_rank(quantile, sorted.len() as u64) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Builds the timeline from the first second to the last second any record touched.
pub fn timeline(records: &[Record]) -> Vec<TimelineSecond> {
    let Some(horizon_us) = records
        .iter()
        .map(|r| r.last_stamp_us().unwrap_or(0).max(r.intended_us))
        .max()
    else {
        return Vec::new();
    };
    let mut seconds: Vec<TimelineSecond> = (0..=bucket(horizon_us) as u64)
        .map(TimelineSecond::empty)
        .collect();

    let mut samples: Vec<BTreeMap<Phase, Vec<u64>>> = vec![BTreeMap::new(); seconds.len()];
    // (time, +1 | -1): a claim enters flight when sent and leaves when it ends.
    let mut flight_events: Vec<(u64, i64)> = Vec::with_capacity(records.len() * 2);
    for record in records {
        let intended_second = bucket(record.intended_us);
        seconds[intended_second].intended += 1;
        for phase in Phase::ALL {
            if let Some(latency) = phase.latency_us(record) {
                samples[intended_second]
                    .entry(phase)
                    .or_default()
                    .push(latency);
            }
        }
        if let Some(ready) = record.claim_ready_us {
            seconds[bucket(ready)].completed += 1;
        }
        if let Some(sent) = record.sent_us {
            seconds[bucket(sent)].sent += 1;
            let end = in_flight_end_us(record, horizon_us).max(sent);
            flight_events.push((sent, 1));
            flight_events.push((end, -1));
        }
    }

    // Ends sort before starts at the same instant, so back-to-back claims do not overlap.
    flight_events.sort_unstable();
    let mut current: i64 = 0;
    let mut events = flight_events.into_iter().peekable();
    for second in &mut seconds {
        let mut peak = current;
        let end_us = (second.second + 1) * SECOND_US;
        while let Some((_, delta)) = events.next_if(|(at, _)| *at < end_us) {
            current += delta;
            peak = peak.max(current);
        }
        second.in_flight = peak.max(0) as u64;
    }

    for (second, by_phase) in seconds.iter_mut().zip(samples) {
        for (phase, mut latencies) in by_phase {
            latencies.sort_unstable();
            second.latency.insert(
                phase,
                SecondLatency {
                    count: latencies.len() as u64,
                    p50_ms: us_to_ms(at_quantile(&latencies, 0.5)),
                    p99_ms: us_to_ms(at_quantile(&latencies, 0.99)),
                },
            );
        }
    }
    seconds
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::LaunchType;

    fn claim(intended_us: u64, sent_us: u64, ready_us: Option<u64>) -> Record {
        let mut record = Record::new("c", "pool", LaunchType::Warm, intended_us);
        record.sent_us = Some(sent_us);
        record.claim_ready_us = ready_us;
        record
    }

    fn reading(at_us: u64, cpu: &[(&str, f64)]) -> CpuReading {
        CpuReading {
            at_us,
            cpu_seconds: cpu.iter().map(|(n, s)| ((*n).to_string(), *s)).collect(),
        }
    }

    #[test]
    fn cpu_between_two_readings_goes_to_the_second_of_the_first() {
        let records = vec![claim(0, 0, Some(2_900_000))];
        let mut seconds = timeline(&records);
        assert_eq!(seconds.len(), 3);
        add_cpu(
            &mut seconds,
            &[
                reading(0, &[("kube-apiserver", 10.0), ("etcd", 1.0)]),
                // A late reading: 1.5 s of CPU over 1.25 s is 1.2 cores.
                reading(1_250_000, &[("kube-apiserver", 11.5), ("etcd", 1.25)]),
                // etcd gone: nothing for it in the second second.
                reading(2_250_000, &[("kube-apiserver", 11.75)]),
                // Past the last claim (the refill after the load): seconds of their own.
                reading(3_250_000, &[("kube-apiserver", 12.0)]),
                reading(4_250_000, &[("kube-apiserver", 13.0)]),
                // The final reading, taken when the harness stops reading.
                reading(4_500_000, &[("kube-apiserver", 13.5)]),
            ],
        );
        let cores = |i: usize| seconds[i].cpu_cores.clone();
        assert_eq!(cores(0).len(), 2);
        assert!((cores(0)["kube-apiserver"] - 1.2).abs() < 1e-9);
        assert!((cores(0)["etcd"] - 0.2).abs() < 1e-9);
        assert_eq!(cores(1).keys().collect::<Vec<_>>(), ["kube-apiserver"]);
        assert!((cores(1)["kube-apiserver"] - 0.25).abs() < 1e-9);
        assert!((cores(2)["kube-apiserver"] - 0.25).abs() < 1e-9);
        assert_eq!(seconds.len(), 5);
        assert!((cores(3)["kube-apiserver"] - 1.0).abs() < 1e-9);
        assert!((cores(4)["kube-apiserver"] - 2.0).abs() < 1e-9);
        for (i, second) in seconds.iter().enumerate().skip(3) {
            assert_eq!(second.second, i as u64);
            assert_eq!(
                (
                    second.intended,
                    second.sent,
                    second.completed,
                    second.in_flight
                ),
                (0, 0, 0, 0)
            );
            assert!(second.latency.is_empty());
        }
    }

    #[test]
    fn a_timeline_without_cpu_readings_writes_no_cpu_key() {
        let seconds = timeline(&[claim(0, 0, Some(500_000))]);
        let json = serde_json::to_value(&seconds).unwrap();
        assert!(json[0].get("cpu_cores").is_none(), "{json}");
        let back: Vec<TimelineSecond> = serde_json::from_value(json).unwrap();
        assert_eq!(back, seconds);
    }

    #[test]
    fn empty_run_has_no_timeline() {
        assert!(timeline(&[]).is_empty());
    }

    #[test]
    fn counts_land_in_their_seconds() {
        let records = vec![
            claim(100_000, 100_000, Some(1_200_000)),
            claim(500_000, 600_000, Some(1_300_000)),
            claim(1_100_000, 1_100_000, Some(2_500_000)),
        ];
        let seconds = timeline(&records);
        assert_eq!(seconds.len(), 3);
        assert_eq!(
            seconds.iter().map(|s| s.intended).collect::<Vec<_>>(),
            [2, 1, 0]
        );
        assert_eq!(
            seconds.iter().map(|s| s.sent).collect::<Vec<_>>(),
            [2, 1, 0]
        );
        assert_eq!(
            seconds.iter().map(|s| s.completed).collect::<Vec<_>>(),
            [0, 2, 1]
        );
        assert_eq!(
            seconds.iter().map(|s| s.in_flight).collect::<Vec<_>>(),
            [2, 3, 1]
        );
        let first = seconds[0].latency[&Phase::ClaimReady];
        assert_eq!(first.count, 2);
        assert_eq!(first.p50_ms, 800.0);
        assert_eq!(first.p99_ms, 1_100.0);
    }

    #[test]
    fn a_short_burst_shows_as_peak_in_flight() {
        // 100 claims sent within 50 ms, all Ready 20 ms later: invisible to a sample taken at
        // the end of the second, visible as a peak.
        let records: Vec<Record> = (0..100)
            .map(|i| claim(i * 500, i * 500, Some(i * 500 + 20_000)))
            .collect();
        let seconds = timeline(&records);
        assert_eq!(seconds.len(), 1);
        assert_eq!(seconds[0].in_flight, 40);
    }

    #[test]
    fn failed_claims_leave_flight_and_unfinished_ones_stay() {
        let mut failed = claim(0, 0, None);
        failed.acked_us = Some(400_000);
        failed.error = Some("rejected".into());
        let stuck = claim(0, 0, None);
        let late = claim(2_500_000, 2_500_000, Some(2_600_000));
        let seconds = timeline(&[failed, stuck, late]);
        assert_eq!(
            seconds.iter().map(|s| s.in_flight).collect::<Vec<_>>(),
            [2, 1, 2]
        );
    }
}
