//! Percentiles and units, the arithmetic every latency number in the crate goes through:
//! nearest-rank quantiles (over a sorted slice or an HDR histogram) and microseconds to
//! milliseconds. Kept on its own, importing nothing of the crate, so that the histogram
//! analysis, the per-second timeline and the SLO checks can share one definition of "p99"
//! without depending on each other.

use hdrhistogram::Histogram;

pub(crate) fn us_to_ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// The 1-based nearest rank of `quantile` among `count` samples: `ceil(quantile × count)`,
/// except that a product within float error of an integer is taken as that integer. Without
/// this, 99.9 / 100 × 3000 = 2997.0000000000005 would pick the 2998th sample, and an SLO on
/// p99.9 would disagree with the p99.9 in the table.
pub(crate) fn nearest_rank(quantile: f64, count: u64) -> u64 {
    let scaled = quantile * count as f64;
    let rounded = scaled.round();
    let rank = if (scaled - rounded).abs() <= 1e-9 * rounded.max(1.0) {
        rounded
    } else {
        scaled.ceil()
    };
    (rank as u64).clamp(1, count.max(1))
}

/// The value at `quantile` by nearest rank (see [`nearest_rank`]), in microseconds; HDR's
/// upper bucket bound, so never understated. Zero for an empty histogram.
pub(crate) fn value_at_quantile_us(histogram: &Histogram<u64>, quantile: f64) -> u64 {
    let count = histogram.len();
    if count == 0 {
        return 0;
    }
    let rank = nearest_rank(quantile, count);
    // Half a sample below the rank, so HDR's own `ceil` lands exactly on it.
    histogram.value_at_quantile((rank as f64 - 0.5) / count as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_does_not_drift_with_float_error() {
        // 99.9 / 100 × 3000 is 2997.0000000000005 in floating point.
        assert_eq!(nearest_rank(99.9 / 100.0, 3_000), 2_997);
        assert_eq!(nearest_rank(0.999, 3_000), 2_997);
        assert_eq!(nearest_rank(0.5, 3), 2);
        assert_eq!(nearest_rank(0.0, 10), 1);
        assert_eq!(nearest_rank(1.0, 10), 10);
        assert_eq!(nearest_rank(0.5, 0), 1);
    }

    #[test]
    fn microseconds_become_milliseconds() {
        assert_eq!(us_to_ms(12_345), 12.345);
        assert_eq!(us_to_ms(0), 0.0);
    }
}
