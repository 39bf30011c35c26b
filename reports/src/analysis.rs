//! Latency distributions: one HDR histogram per phase and launch type, filled from records,
//! summarised into the percentiles, CDF points and histogram bins that `results.json` keeps.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::error::ReportError;
use crate::quantiles::{us_to_ms, value_at_quantile_us};
use crate::record::{LaunchType, Phase, Record};
use crate::summary::{CdfPoint, ErrorSummary, HistogramBin, LatencyDistribution, PhaseSummary};
use crate::timeline::{TimelineSecond, timeline};

/// Three significant digits: every reported value is within 0.1 % of the true one.
pub const SIGNIFICANT_DIGITS: u8 = 3;
/// Latencies are recorded in microseconds up to one hour; longer ones are clamped to an
/// hour rather than dropped, so a stuck claim still counts against the tail.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Histogram bins per doubling of latency in the rendered histogram.
const BINS_PER_OCTAVE: f64 = 4.0;

/// An empty histogram with the crate's resolution and range.
pub fn new_histogram() -> Result<Histogram<u64>, ReportError> {
    Ok(Histogram::new_with_bounds(
        1,
        MAX_LATENCY_US,
        SIGNIFICANT_DIGITS,
    )?)
}

/// The recording path: one histogram per (phase, launch type), filled one record at a time.
/// Overall distributions are merged on demand, so each sample is recorded once.
#[derive(Debug, Clone)]
pub struct LatencyRecorder {
    /// Indexed by `slot(phase, launch)`.
    histograms: Vec<Histogram<u64>>,
}

fn slot(phase: Phase, launch: LaunchType) -> usize {
    phase as usize * LaunchType::ALL.len() + launch as usize
}

impl LatencyRecorder {
    pub fn new() -> Result<Self, ReportError> {
        let histograms = (0..Phase::ALL.len() * LaunchType::ALL.len())
            .map(|_| new_histogram())
            .collect::<Result<_, _>>()?;
        Ok(LatencyRecorder { histograms })
    }

    /// Records every phase the claim reached.
    pub fn ingest(&mut self, record: &Record) {
        for phase in Phase::ALL {
            if let Some(latency) = phase.latency_us(record) {
                self.histograms[slot(phase, record.launch)].saturating_record(latency);
            }
        }
    }

    /// The histogram of one launch type, or of all of them merged when `launch` is `None`.
    pub fn histogram(
        &self,
        phase: Phase,
        launch: Option<LaunchType>,
    ) -> Result<Histogram<u64>, ReportError> {
        match launch {
            Some(launch) => Ok(self.histograms[slot(phase, launch)].clone()),
            None => {
                let mut merged = new_histogram()?;
                for launch in LaunchType::ALL {
                    merged.add(&self.histograms[slot(phase, launch)])?;
                }
                Ok(merged)
            }
        }
    }

    /// Summaries of every phase that has samples, in `Phase::ALL` order.
    pub fn summarize(&self) -> Result<Vec<PhaseSummary>, ReportError> {
        let mut phases = Vec::new();
        for phase in Phase::ALL {
            let overall = self.histogram(phase, None)?;
            if overall.is_empty() {
                continue;
            }
            let by_launch = LaunchType::ALL
                .into_iter()
                .map(|launch| (launch, &self.histograms[slot(phase, launch)]))
                .filter(|(_, histogram)| !histogram.is_empty())
                .map(|(launch, histogram)| (launch, distribution(histogram)))
                .collect();
            phases.push(PhaseSummary {
                phase,
                overall: distribution(&overall),
                by_launch,
            });
        }
        Ok(phases)
    }
}

/// Everything derived from a run's records; `Results::new` turns it into the schema.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub latencies: LatencyRecorder,
    /// Latencies of each pool, kept only when the run claimed from more than one (e.g. one
    /// pool per runtime class), so they can be reported side by side.
    pub by_pool: BTreeMap<String, LatencyRecorder>,
    pub timeline: Vec<TimelineSecond>,
    pub errors: ErrorSummary,
}

impl Analysis {
    pub fn from_records(records: &[Record]) -> Result<Self, ReportError> {
        let mut latencies = LatencyRecorder::new()?;
        let mut by_kind = BTreeMap::new();
        for record in records {
            latencies.ingest(record);
            if let Some(kind) = &record.error {
                *by_kind.entry(kind.clone()).or_insert(0) += 1;
            }
        }
        let pools: std::collections::BTreeSet<&str> =
            records.iter().map(|r| r.pool.as_str()).collect();
        let mut by_pool = BTreeMap::new();
        if pools.len() > 1 {
            for record in records {
                if !by_pool.contains_key(&record.pool) {
                    by_pool.insert(record.pool.clone(), LatencyRecorder::new()?);
                }
                if let Some(recorder) = by_pool.get_mut(&record.pool) {
                    recorder.ingest(record);
                }
            }
        }
        let errors = ErrorSummary {
            claims: records.len() as u64,
            failed: records.iter().filter(|r| r.error.is_some()).count() as u64,
            by_kind,
        };
        Ok(Analysis {
            latencies,
            by_pool,
            timeline: timeline(records),
            errors,
        })
    }
}

/// The fixed quantiles of the CDF: every percent for the body, then nine points per extra
/// "nine" (99.1 … 99.9, 99.91 … 99.99, …) for the tail, stopping where the sample count no
/// longer resolves them.
fn cdf_quantiles(count: u64) -> Vec<f64> {
    let mut quantiles: Vec<f64> = (0..100).map(|percent| f64::from(percent) / 100.0).collect();
    let resolvable = 1.0 / count as f64;
    let mut step = 0.001;
    while step * 9.0 >= resolvable && step > 1e-9 {
        for m in (1..=9).rev() {
            let missing = step * f64::from(m);
            if missing >= resolvable {
                quantiles.push(1.0 - missing);
            }
        }
        step /= 10.0;
    }
    quantiles
}

/// Summarises one non-empty histogram. Percentiles are HDR's upper bucket bounds, so they
/// never understate a latency by more than the histogram's resolution.
pub(crate) fn distribution(histogram: &Histogram<u64>) -> LatencyDistribution {
    let at = |quantile: f64| us_to_ms(value_at_quantile_us(histogram, quantile));
    let mut cdf: Vec<CdfPoint> = cdf_quantiles(histogram.len())
        .into_iter()
        .map(|quantile| CdfPoint {
            quantile,
            ms: at(quantile),
        })
        .collect();
    cdf.push(CdfPoint {
        quantile: 1.0,
        ms: us_to_ms(histogram.max()),
    });

    LatencyDistribution {
        count: histogram.len(),
        p50_ms: at(0.5),
        p90_ms: at(0.9),
        p99_ms: at(0.99),
        p999_ms: at(0.999),
        max_ms: us_to_ms(histogram.max()),
        mean_ms: histogram.mean().round() / 1000.0,
        cdf,
        histogram: log_bins(histogram),
    }
}

/// Regroups the recorded values into bins of equal width on a log axis, which is how the
/// report draws them; a bin of zeros holds sub-microsecond values.
fn log_bins(histogram: &Histogram<u64>) -> Vec<HistogramBin> {
    let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
    for value in histogram.iter_recorded() {
        let us = value.value_iterated_to();
        let index = if us == 0 {
            i64::MIN
        } else {
            (BINS_PER_OCTAVE * (us as f64).log2()).floor() as i64
        };
        *counts.entry(index).or_insert(0) += value.count_at_value();
    }
    counts
        .into_iter()
        .map(|(index, count)| {
            let (low_us, high_us) = if index == i64::MIN {
                (0.0, 1.0)
            } else {
                // Rounded to nanoseconds: exact enough, and readable in results.json.
                let bound =
                    |i: i64| (2f64.powf(i as f64 / BINS_PER_OCTAVE) * 1000.0).round() / 1000.0;
                (bound(index), bound(index + 1))
            };
            HistogramBin {
                low_ms: low_us / 1000.0,
                high_ms: high_us / 1000.0,
                count,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_are_analysed_apart_only_when_there_are_several() {
        let one: Vec<Record> = (0..4)
            .map(|i| claim(i, LaunchType::Cold, i * 1000, 5_000))
            .collect();
        assert!(Analysis::from_records(&one).unwrap().by_pool.is_empty());
        let mut two = one.clone();
        for (i, r) in two.iter_mut().enumerate() {
            r.pool = if i % 2 == 0 { "runc" } else { "gvisor" }.into();
            r.claim_ready_us = Some(r.intended_us + if i % 2 == 0 { 1_000 } else { 9_000 });
        }
        let analysis = Analysis::from_records(&two).unwrap();
        assert_eq!(analysis.by_pool.len(), 2);
        let p50 = |pool: &str| {
            analysis.by_pool[pool]
                .histogram(Phase::ClaimReady, None)
                .unwrap()
                .value_at_quantile(0.5)
        };
        // Three significant digits: 9,000 µs lands in the bucket reported as 9,007.
        assert_eq!(p50("runc"), 1_000);
        assert!(
            (9_000..=9_010).contains(&p50("gvisor")),
            "{}",
            p50("gvisor")
        );
    }

    fn claim(i: u64, launch: LaunchType, intended_us: u64, ready_after_us: u64) -> Record {
        let mut record = Record::new(format!("c-{i}"), "pool", launch, intended_us);
        record.sent_us = Some(intended_us);
        record.acked_us = Some(intended_us + 1_000);
        record.claim_ready_us = Some(intended_us + ready_after_us);
        record
    }

    /// Within HDR's resolution of three significant digits.
    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() <= expected * 0.001 + 1e-9
    }

    #[test]
    fn percentiles_of_one_to_ten_thousand_ms() {
        let records: Vec<Record> = (1..=10_000)
            .map(|i| claim(i, LaunchType::Warm, i * 10, i * 1_000))
            .collect();
        let analysis = Analysis::from_records(&records).unwrap();
        let phases = analysis.latencies.summarize().unwrap();
        let ready = phases
            .iter()
            .find(|p| p.phase == Phase::ClaimReady)
            .unwrap();
        let d = &ready.overall;
        assert_eq!(d.count, 10_000);
        assert!(close(d.p50_ms, 5_000.0), "p50 {}", d.p50_ms);
        assert!(close(d.p90_ms, 9_000.0), "p90 {}", d.p90_ms);
        assert!(close(d.p99_ms, 9_900.0), "p99 {}", d.p99_ms);
        assert!(close(d.p999_ms, 9_990.0), "p99.9 {}", d.p999_ms);
        assert!(close(d.max_ms, 10_000.0), "max {}", d.max_ms);
        assert!(close(d.mean_ms, 5_000.5), "mean {}", d.mean_ms);
        assert_eq!(ready.by_launch.len(), 1);
        assert_eq!(ready.by_launch[&LaunchType::Warm].count, 10_000);
    }

    #[test]
    fn percentiles_do_not_drift_with_float_error() {
        // 99.9 / 100 × 3000 is 2997.0000000000005 in floating point; `nearest_rank` is tested
        // on its own in `quantiles`, this checks the histogram lookup built on it.
        let records: Vec<Record> = (1..=3_000)
            .map(|i| claim(i, LaunchType::Warm, 0, i))
            .collect();
        let histogram = Analysis::from_records(&records)
            .unwrap()
            .latencies
            .histogram(Phase::ClaimReady, None)
            .unwrap();
        assert_eq!(value_at_quantile_us(&histogram, 99.9 / 100.0), 2_997);
        // 3000 µs shares a 2 µs bucket with 3001; HDR reports the bucket's upper end.
        assert_eq!(value_at_quantile_us(&histogram, 1.0), 3_001);
        assert_eq!(value_at_quantile_us(&histogram, 0.0), 1);
    }

    #[test]
    fn small_values_keep_microsecond_precision() {
        let records: Vec<Record> = (1..=100)
            .map(|i| claim(i, LaunchType::Warm, 0, 1_000 + i))
            .collect();
        let analysis = Analysis::from_records(&records).unwrap();
        let ready = analysis
            .latencies
            .histogram(Phase::ClaimReady, None)
            .unwrap();
        let d = distribution(&ready);
        assert_eq!(d.p50_ms, 1.050);
        assert_eq!(d.p99_ms, 1.099);
        assert_eq!(d.max_ms, 1.100);
        assert_eq!(
            analysis
                .latencies
                .histogram(Phase::Acked, None)
                .unwrap()
                .max(),
            1_000
        );
    }

    #[test]
    fn launch_types_are_split_and_merged() {
        let mut records: Vec<Record> = (0..90)
            .map(|i| claim(i, LaunchType::Warm, 0, 10_000))
            .collect();
        records.extend((90..100).map(|i| claim(i, LaunchType::Cold, 0, 2_000_000)));
        let phases = Analysis::from_records(&records)
            .unwrap()
            .latencies
            .summarize()
            .unwrap();
        let ready = phases
            .iter()
            .find(|p| p.phase == Phase::ClaimReady)
            .unwrap();
        assert_eq!(ready.overall.count, 100);
        assert!(close(ready.overall.p50_ms, 10.0));
        assert!(close(ready.overall.p99_ms, 2_000.0));
        assert!(close(ready.by_launch[&LaunchType::Warm].p99_ms, 10.0));
        assert!(close(ready.by_launch[&LaunchType::Cold].p50_ms, 2_000.0));
        assert!(!ready.by_launch.contains_key(&LaunchType::Unknown));
        // Phases nobody reached are left out rather than reported as zero.
        assert!(phases.iter().all(|p| p.phase != Phase::Bound));
    }

    /// A worker stalls for two seconds while the schedule asks for one claim every 10 ms.
    /// The server answers every claim in 5 ms once it is sent. Measured from the send time
    /// (closed-loop thinking) everything looks fine; measured from the intended time the
    /// stall shows up in the tail, as it did for anyone who wanted a claim then.
    #[test]
    fn coordinated_omission_a_stalled_send_shows_up() {
        let stall_from = 1_000_000;
        let stall_until = 3_000_000;
        let records: Vec<Record> = (0..500u64)
            .map(|i| {
                let intended = i * 10_000;
                let sent = if (stall_from..stall_until).contains(&intended) {
                    stall_until
                } else {
                    intended
                };
                let mut record = Record::new(format!("c-{i}"), "pool", LaunchType::Warm, intended);
                record.sent_us = Some(sent);
                record.acked_us = Some(sent + 5_000);
                record
            })
            .collect();
        let analysis = Analysis::from_records(&records).unwrap();
        let acked = distribution(&analysis.latencies.histogram(Phase::Acked, None).unwrap());
        let lag = distribution(
            &analysis
                .latencies
                .histogram(Phase::HarnessLag, None)
                .unwrap(),
        );
        // 200 of 500 claims were delayed by up to 2 s.
        assert!(acked.p50_ms < 10.0, "p50 {}", acked.p50_ms);
        assert!(acked.p90_ms > 1_000.0, "p90 {}", acked.p90_ms);
        assert!(close(acked.max_ms, 2_005.0), "max {}", acked.max_ms);
        assert!(close(lag.max_ms, 2_000.0), "lag max {}", lag.max_ms);
        // What a closed-loop tool would have reported: the send → ack time, always 5 ms.
        let service_only: Vec<u64> = records
            .iter()
            .map(|r| r.acked_us.unwrap() - r.sent_us.unwrap())
            .collect();
        assert!(service_only.iter().all(|&us| us == 5_000));
    }

    #[test]
    fn overlong_latencies_are_clamped_not_lost() {
        let records = vec![claim(0, LaunchType::Cold, 0, 10 * MAX_LATENCY_US)];
        let histogram = Analysis::from_records(&records)
            .unwrap()
            .latencies
            .histogram(Phase::ClaimReady, None)
            .unwrap();
        assert_eq!(histogram.len(), 1);
        assert!(histogram.max() >= MAX_LATENCY_US);
    }

    #[test]
    fn errors_are_counted_by_kind() {
        let mut records: Vec<Record> = (0..4).map(|i| claim(i, LaunchType::Warm, 0, 1)).collect();
        records[1].error = Some("timeout".into());
        records[2].error = Some("timeout".into());
        records[3].error = Some("create_conflict".into());
        let errors = Analysis::from_records(&records).unwrap().errors;
        assert_eq!(errors.claims, 4);
        assert_eq!(errors.failed, 3);
        assert_eq!(errors.by_kind["timeout"], 2);
        assert_eq!(errors.by_kind["create_conflict"], 1);
    }

    #[test]
    fn cdf_and_bins_cover_every_sample() {
        let records: Vec<Record> = (1..=2_000)
            .map(|i| claim(i, LaunchType::Warm, 0, i * 37))
            .collect();
        let histogram = Analysis::from_records(&records)
            .unwrap()
            .latencies
            .histogram(Phase::ClaimReady, None)
            .unwrap();
        let d = distribution(&histogram);
        assert_eq!(d.histogram.iter().map(|b| b.count).sum::<u64>(), 2_000);
        assert!(
            d.histogram
                .windows(2)
                .all(|w| w[0].high_ms <= w[1].low_ms + 1e-12)
        );
        assert!(d.cdf.windows(2).all(|w| w[0].quantile <= w[1].quantile));
        assert!(d.cdf.windows(2).all(|w| w[0].ms <= w[1].ms));
        // 2,000 samples resolve 99.9 % (one in a thousand) but not 99.99 %.
        assert!(d.cdf.iter().any(|p| (p.quantile - 0.999).abs() < 1e-12));
        assert!(!d.cdf.iter().any(|p| (p.quantile - 0.9999).abs() < 1e-12));
        assert_eq!(d.cdf.last().map(|p| p.quantile), Some(1.0));
    }
}
