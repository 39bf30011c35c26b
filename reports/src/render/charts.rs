//! SVG charts drawn with plotters, returned as strings to inline into HTML. Only the SVG
//! backend is used, so nothing needs system fonts or libraries: text stays `<text>` and the
//! browser lays it out.

use std::error::Error;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::ReportError;
use crate::record::Phase;
use crate::render::escape::escape;
use crate::render::format_ms;
use crate::summary::{CdfPoint, LatencyDistribution};
use crate::timeline::TimelineSecond;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = Result<(), Box<dyn Error>>;

/// The smallest latency a log axis shows: the histograms' resolution.
const RESOLUTION_MS: f64 = 0.001;

pub const WIDE: (u32, u32) = (900, 420);
pub const SMALL: (u32, u32) = (440, 260);

const GREY: RGBColor = RGBColor(120, 120, 120);

/// One colour per phase, the same in every chart.
pub fn phase_color(phase: Phase) -> RGBColor {
    match phase {
        Phase::Acked => RGBColor(31, 119, 180),
        Phase::Bound => RGBColor(255, 127, 14),
        Phase::SandboxReady => RGBColor(44, 160, 44),
        Phase::ClaimReady => RGBColor(214, 39, 40),
        Phase::HarnessLag => GREY,
    }
}

/// A process's colour wherever processes are charted (the CPU over time, the knee's CPU
/// bars): the API server, etcd, the controller under test, the harness playing the floor, the
/// harness, and the cluster's other components.
pub fn process_color(process: &str) -> RGBColor {
    match process {
        "kube-apiserver" => RGBColor(31, 119, 180),
        "etcd" => RGBColor(255, 127, 14),
        "floor" => RGBColor(150, 150, 150),
        "harness" => RGBColor(148, 103, 189),
        "kube-controller-manager" => RGBColor(140, 86, 75),
        "kube-scheduler" => RGBColor(227, 119, 194),
        "kwok" => RGBColor(188, 189, 34),
        "kubelet" | "containerd" => RGBColor(23, 190, 207),
        _ => RGBColor(44, 160, 44),
    }
}

/// The series' legend, in the same box on every chart.
fn draw_legend<'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, CT>,
    position: SeriesLabelPosition,
) -> DrawResult {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Draws into an SVG string. Inline SVG in HTML needs no namespace, and dropping it keeps the
/// page free of any `http://` reference; the label makes each chart findable and accessible.
fn render_svg(
    chart: &'static str,
    title: &str,
    size: (u32, u32),
    draw: impl FnOnce(&Area<'_>) -> DrawResult,
) -> Result<String, ReportError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        let drawn = root
            .fill(&WHITE)
            .map_err(Into::into)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(Into::into));
        drawn.map_err(|error| ReportError::Chart {
            chart,
            reason: error.to_string(),
        })?;
    }
    let label = escape(title);
    Ok(svg
        .replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
        .replacen(
            "<svg ",
            &format!("<svg role=\"img\" aria-label=\"{label}\" "),
            1,
        ))
}

/// The builder of a wide chart: its caption, and room for the axes' labels (`y_labels`
/// pixels for the vertical axis's).
fn wide_chart<'a, 'b>(
    root: &'a Area<'b>,
    title: &str,
    y_labels: u32,
) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(y_labels);
    builder
}

fn no_samples(root: &Area<'_>, title: &str) -> DrawResult {
    let (_, height) = root.dim_in_pixel();
    root.draw(&Text::new(
        format!("{title}: no samples"),
        (20, height as i32 / 2),
        ("sans-serif", 16).into_font().color(&GREY),
    ))?;
    Ok(())
}

/// Axis labels for a log-scale latency axis: `0.01`, `1`, `1000`.
fn axis_ms(ms: f64) -> String {
    if ms >= 1.0 {
        format!("{ms:.0}")
    } else {
        format!("{}", (ms * 1000.0).round() / 1000.0)
    }
}

/// A range of powers of ten that contains `[low, high]`, never empty.
fn log_bounds(low: f64, high: f64) -> (f64, f64) {
    let low = low.max(RESOLUTION_MS);
    let high = high.max(low);
    let floor = 10f64.powf(low.log10().floor());
    let mut ceil = 10f64.powf(high.log10().ceil());
    if ceil <= floor {
        ceil = floor * 10.0;
    }
    (floor, ceil)
}

/// The "nines" of a quantile: 0.9 → 1, 0.99 → 2, 0.999 → 3. Drawing percentiles on this axis
/// gives the tail as much room as the body. The maximum (quantile 1) is drawn at the last
/// quantile the sample count resolves.
pub fn nines(quantile: f64, count: u64) -> f64 {
    let resolvable = (count.max(1) as f64).log10();
    if quantile >= 1.0 {
        resolvable
    } else {
        (-(1.0 - quantile).log10()).min(resolvable).max(0.0)
    }
}

/// The percentile at a number of nines: 1 → `90%`, 3 → `99.9%`.
fn nines_label(nines: f64) -> String {
    let percent = 100.0 * (1.0 - 10f64.powf(-nines));
    let decimals = (nines.ceil() as i64 - 2).max(0) as usize;
    format!("{percent:.decimals$}%")
}

/// One line of a CDF chart.
pub struct CdfLine<'a> {
    pub label: String,
    pub color: RGBColor,
    pub points: &'a [CdfPoint],
    pub count: u64,
}

/// Latency CDFs: latency on a log x axis, percentile on a "nines" y axis.
pub fn latency_cdf(
    title: &str,
    size: (u32, u32),
    lines: &[CdfLine<'_>],
) -> Result<String, ReportError> {
    render_svg("latency CDF", title, size, |root| {
        let values = || {
            lines
                .iter()
                .flat_map(|line| line.points.iter().map(|p| p.ms))
        };
        if lines.iter().all(|line| line.points.is_empty()) {
            return no_samples(root, title);
        }
        let (low, high) = log_bounds(
            values().fold(f64::INFINITY, f64::min),
            values().fold(0.0, f64::max),
        );
        let top = lines
            .iter()
            .map(|line| nines(1.0, line.count))
            .fold(1.0, f64::max)
            .ceil();
        let mut chart =
            wide_chart(root, title, 60).build_cartesian_2d((low..high).log_scale(), 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc("latency (ms, log scale)")
            .y_desc("percentile")
            .x_label_formatter(&|ms| axis_ms(*ms))
            .y_labels(top as usize + 1)
            .y_label_formatter(&|n| nines_label(*n))
            .draw()?;
        for line in lines {
            let color = line.color;
            chart
                .draw_series(LineSeries::new(
                    line.points
                        .iter()
                        .map(|p| (p.ms.max(low), nines(p.quantile, line.count))),
                    color.stroke_width(2),
                ))?
                .label(line.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

/// Sample counts in log-spaced bins of one phase.
pub fn latency_histogram(
    title: &str,
    color: RGBColor,
    distribution: &LatencyDistribution,
) -> Result<String, ReportError> {
    render_svg("latency histogram", title, SMALL, |root| {
        let bins = &distribution.histogram;
        if bins.is_empty() {
            return no_samples(root, title);
        }
        let (low, high) = log_bounds(
            bins.iter().map(|b| b.low_ms).fold(f64::INFINITY, f64::min),
            bins.iter().map(|b| b.high_ms).fold(0.0, f64::max),
        );
        let tallest = bins.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64;
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(48)
            .build_cartesian_2d((low..high).log_scale(), 0.0..tallest * 1.1)?;
        chart
            .configure_mesh()
            .x_desc("latency (ms, log scale)")
            .y_desc("claims")
            .x_label_formatter(&|ms| axis_ms(*ms))
            .y_label_formatter(&|count| format!("{count:.0}"))
            .draw()?;
        chart.draw_series(bins.iter().map(|bin| {
            Rectangle::new(
                [(bin.low_ms.max(low), 0.0), (bin.high_ms, bin.count as f64)],
                color.mix(0.75).filled(),
            )
        }))?;
        Ok(())
    })
}

/// p50 (thin) and p99 (thick) per second of each phase, by the second the claims were
/// intended, on a log axis.
pub fn latency_over_time(title: &str, timeline: &[TimelineSecond]) -> Result<String, ReportError> {
    render_svg("latency over time", title, WIDE, |root| {
        let values = || {
            timeline
                .iter()
                .flat_map(|s| s.latency.values().flat_map(|l| [l.p50_ms, l.p99_ms]))
        };
        if values().next().is_none() {
            return no_samples(root, title);
        }
        let (low, high) = log_bounds(
            values().fold(f64::INFINITY, f64::min),
            values().fold(0.0, f64::max),
        );
        let seconds = timeline.len().max(1) as f64;
        let mut chart = wide_chart(root, title, 60)
            .build_cartesian_2d(0.0..seconds, (low..high).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("intended send time (s)")
            .x_label_formatter(&|s| format!("{s:.0}"))
            .y_desc("latency (ms, log scale)")
            .y_label_formatter(&|ms| axis_ms(*ms))
            .draw()?;
        for phase in Phase::ALL {
            let points = |pick: fn(&crate::timeline::SecondLatency) -> f64| {
                timeline.iter().filter_map(move |s| {
                    s.latency
                        .get(&phase)
                        .map(|l| (s.second as f64, pick(l).max(low)))
                })
            };
            if points(|l| l.p99_ms).next().is_none() {
                continue;
            }
            let color = phase_color(phase);
            chart.draw_series(LineSeries::new(
                points(|l| l.p50_ms),
                color.mix(0.6).stroke_width(1),
            ))?;
            chart
                .draw_series(LineSeries::new(points(|l| l.p99_ms), color.stroke_width(2)))?
                .label(format!("{phase} p99 (thin: p50)"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

/// The CPU cores of each process per second, the busiest process's legend first: which one
/// was busy when claims slowed down (the latency chart above shares the time axis).
pub fn cpu_over_time(title: &str, timeline: &[TimelineSecond]) -> Result<String, ReportError> {
    render_svg("cpu over time", title, WIDE, |root| {
        let mut totals: Vec<(&str, f64)> = Vec::new();
        for (name, cores) in timeline.iter().flat_map(|s| &s.cpu_cores) {
            match totals.iter_mut().find(|(n, _)| n == name) {
                Some((_, total)) => *total += cores,
                None => totals.push((name, *cores)),
            }
        }
        if totals.is_empty() {
            return no_samples(root, title);
        }
        totals.sort_by(|a, b| b.1.total_cmp(&a.1));
        let tallest = timeline
            .iter()
            .flat_map(|s| s.cpu_cores.values())
            .fold(0.0f64, |a, b| a.max(*b))
            .max(0.1);
        let mut chart = wide_chart(root, title, 60)
            .build_cartesian_2d(0.0..timeline.len().max(1) as f64, 0.0..tallest * 1.1)?;
        chart
            .configure_mesh()
            .x_desc("time since start (s)")
            .x_label_formatter(&|s| format!("{s:.0}"))
            .y_desc("CPU (cores)")
            .y_label_formatter(&|cores| format!("{cores:.1}"))
            .draw()?;
        for (name, _) in totals {
            let color = process_color(name);
            chart
                .draw_series(LineSeries::new(
                    timeline.iter().filter_map(|s| {
                        s.cpu_cores.get(name).map(|cores| (s.second as f64, *cores))
                    }),
                    color.stroke_width(2),
                ))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

/// A line of a counts chart: its label, colour, and which count of a second it plots.
type CountSeries<'a> = (&'a str, RGBColor, fn(&TimelineSecond) -> u64);

/// One or more per-second counts over the run.
fn counts_over_time(
    chart_name: &'static str,
    title: &str,
    y_desc: &str,
    timeline: &[TimelineSecond],
    series: &[CountSeries<'_>],
) -> Result<String, ReportError> {
    render_svg(chart_name, title, WIDE, |root| {
        if timeline.is_empty() {
            return no_samples(root, title);
        }
        let tallest = timeline
            .iter()
            .flat_map(|s| series.iter().map(move |(_, _, pick)| pick(s)))
            .max()
            .unwrap_or(0)
            .max(1) as f64;
        let mut chart = wide_chart(root, title, 60)
            .build_cartesian_2d(0.0..timeline.len() as f64, 0.0..tallest * 1.1)?;
        chart
            .configure_mesh()
            .x_desc("time since start (s)")
            .x_label_formatter(&|s| format!("{s:.0}"))
            .y_desc(y_desc)
            .y_label_formatter(&|count| format!("{count:.0}"))
            .draw()?;
        for &(label, color, pick) in series {
            chart
                .draw_series(LineSeries::new(
                    timeline.iter().map(|s| (s.second as f64, pick(s) as f64)),
                    color.stroke_width(2),
                ))?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

/// Offered load, sends and completions per second.
pub fn throughput_over_time(
    title: &str,
    timeline: &[TimelineSecond],
) -> Result<String, ReportError> {
    counts_over_time(
        "throughput",
        title,
        "claims per second",
        timeline,
        &[
            ("intended", GREY, |s| s.intended),
            ("sent", phase_color(Phase::Acked), |s| s.sent),
            ("Ready", phase_color(Phase::SandboxReady), |s| s.completed),
        ],
    )
}

/// Peak claims in flight per second.
pub fn in_flight_over_time(
    title: &str,
    timeline: &[TimelineSecond],
) -> Result<String, ReportError> {
    counts_over_time(
        "in flight",
        title,
        "claims in flight (peak)",
        timeline,
        &[("in flight", phase_color(Phase::ClaimReady), |s| s.in_flight)],
    )
}

/// One controller's curve on the knee chart: claim Ready p99 (ms) at each step's rate.
pub struct KneeCurve {
    pub label: String,
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
}

/// Claim Ready p99 against the offered rate, both on log axes (the rates step geometrically),
/// one curve per controller, with the 100 ms and 1 s bounds the knees are read at.
pub fn knee_curves(title: &str, curves: &[KneeCurve]) -> Result<String, ReportError> {
    render_svg("knee curves", title, WIDE, |root| {
        let points = || curves.iter().flat_map(|c| c.points.iter().copied());
        if points().next().is_none() {
            return no_samples(root, title);
        }
        let rates = log_bounds_rate(
            points().map(|(rate, _)| rate).fold(f64::INFINITY, f64::min),
            points().map(|(rate, _)| rate).fold(0.0, f64::max),
        );
        let (low, high) = log_bounds(
            points().map(|(_, ms)| ms).fold(100.0, f64::min),
            points().map(|(_, ms)| ms).fold(1000.0, f64::max),
        );
        let ticks = rate_ticks(points().map(|(rate, _)| rate));
        let mut chart = wide_chart(root, title, 60).build_cartesian_2d(
            (rates.0..rates.1).log_scale().with_key_points(ticks),
            (low..high).log_scale(),
        )?;
        chart
            .configure_mesh()
            .x_desc("offered warm claims per second (log scale)")
            .x_label_formatter(&|rate| format!("{rate}"))
            .y_desc("claim Ready p99 (ms, log scale)")
            .y_label_formatter(&|ms| axis_ms(*ms))
            .draw()?;
        for (bound, label) in [(100.0, "100 ms"), (1000.0, "1 s")] {
            chart.draw_series(DashedLineSeries::new(
                [(rates.0, bound), (rates.1, bound)],
                6,
                4,
                GREY.stroke_width(1),
            ))?;
            chart.draw_series(std::iter::once(Text::new(
                label,
                (rates.0, bound),
                ("sans-serif", 12).into_font().color(&GREY),
            )))?;
        }
        for curve in curves {
            let color = curve.color;
            let points = curve.points.iter().map(|&(rate, ms)| (rate, ms.max(low)));
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(curve.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart.draw_series(points.map(|p| Circle::new(p, 3, color.filled())))?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

/// Most rates the knee chart's axis labels: past that, labels of neighbouring steps collide.
const MAX_RATE_TICKS: usize = 12;

/// The knee chart's axis marks and labels the steps' own rates (4, 6, 9, 13.5, …), which a
/// log axis's decades would leave mostly unlabelled; every k-th rate when there are too many.
fn rate_ticks(rates: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut rates: Vec<f64> = rates.filter(|r| r.is_finite() && *r > 0.0).collect();
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    let every = rates.len().div_ceil(MAX_RATE_TICKS).max(1);
    rates.into_iter().step_by(every).collect()
}

/// A rate axis with a little room either side of the first and last step.
fn log_bounds_rate(low: f64, high: f64) -> (f64, f64) {
    let low = low.max(0.01);
    let high = high.max(low);
    (low / 1.25, high * 1.25)
}

/// One stacked bar: a label and its parts (name, value), drawn in the order given.
pub struct StackedBar {
    pub label: String,
    pub parts: Vec<(String, f64)>,
}

/// Horizontal stacked bars, one per row, parts coloured by name across rows (`palette` gives
/// each part name its colour).
pub fn stacked_bars(
    title: &str,
    x_desc: &str,
    bars: &[StackedBar],
    palette: &dyn Fn(&str) -> RGBColor,
) -> Result<String, ReportError> {
    let height = (120 + 48 * bars.len() as u32).max(SMALL.1);
    render_svg("stacked bars", title, (WIDE.0, height), |root| {
        let widest = bars
            .iter()
            .map(|bar| bar.parts.iter().map(|(_, v)| v).sum::<f64>())
            .fold(0.0, f64::max);
        if bars.is_empty() || widest <= 0.0 {
            return no_samples(root, title);
        }
        let rows = bars.len() as f64;
        let mut chart = wide_chart(root, title, 110)
            // Room on the right for the legend beside the longest bar.
            .build_cartesian_2d(0.0..widest * 1.4, -0.5..rows - 0.5)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_desc(x_desc)
            .y_labels(bars.len())
            .y_label_formatter(&|y| {
                let row = y.round();
                if (y - row).abs() < 0.01 && row >= 0.0 && (row as usize) < bars.len() {
                    bars[bars.len() - 1 - row as usize].label.clone()
                } else {
                    String::new()
                }
            })
            .draw()?;
        let mut named = std::collections::BTreeSet::new();
        for (index, bar) in bars.iter().enumerate() {
            // The first bar on top.
            let y = (bars.len() - 1 - index) as f64;
            let mut start = 0.0;
            for (name, value) in &bar.parts {
                let color = palette(name);
                let series = chart.draw_series(std::iter::once(Rectangle::new(
                    [(start, y - 0.3), (start + value, y + 0.3)],
                    color.filled(),
                )))?;
                if named.insert(name.clone()) {
                    series.label(name.clone()).legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled())
                    });
                }
                start += value;
            }
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight)
    })
}

/// The size of a trend chart: two side by side on the history page.
pub const TREND: (u32, u32) = (470, 300);

/// A line of a trend chart: one value per run, at the run's index on the x axis.
pub struct TrendLine {
    pub label: String,
    pub color: RGBColor,
    /// `(run index, value)`; runs without a value are left out.
    pub points: Vec<(usize, f64)>,
    /// Drawn thick, with a point per run; a thin line otherwise.
    pub bold: bool,
}

/// A horizontal bound across a trend chart (an SLO), drawn dashed.
pub struct TrendBound {
    pub label: String,
    pub value: f64,
}

/// Values over runs: lines, dashed bounds, and the runs marked as regressions (a red
/// triangle at the value). `runs` labels the x axis, one entry per run (oldest first). The
/// y axis is linear from zero, so a change reads as its true size.
pub fn trend(
    title: &str,
    y_desc: &str,
    runs: &[String],
    lines: &[TrendLine],
    bounds: &[TrendBound],
    regressions: &[(usize, f64)],
) -> Result<String, ReportError> {
    render_svg("trend", title, TREND, |root| {
        let values = || {
            lines
                .iter()
                .flat_map(|line| line.points.iter().map(|&(_, v)| v))
        };
        if values().next().is_none() {
            return no_samples(root, title);
        }
        let top = values()
            .chain(bounds.iter().map(|b| b.value))
            .fold(0.0, f64::max);
        // Headroom above the highest value for the legend, which sits there.
        let top = if top > 0.0 { top * 1.45 } else { 1.0 };
        let last = runs.len().max(1) as f64 - 1.0;
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 14))
            .margin(8)
            .x_label_area_size(34)
            .y_label_area_size(52)
            .build_cartesian_2d(-0.5..last + 0.5, 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc("run (oldest → newest)")
            .x_labels(runs.len().clamp(2, 6))
            .x_label_formatter(&|x| {
                let index = x.round();
                if (x - index).abs() < 0.01 && index >= 0.0 {
                    runs.get(index as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc(y_desc)
            .y_label_formatter(&|v| axis_ms(*v))
            .draw()?;
        for bound in bounds {
            chart
                .draw_series(DashedLineSeries::new(
                    [(-0.5, bound.value), (last + 0.5, bound.value)],
                    6,
                    4,
                    GREY.stroke_width(1),
                ))?
                .label(bound.label.clone())
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], GREY.stroke_width(1)));
        }
        for line in lines {
            let color = line.color;
            let width = if line.bold { 2 } else { 1 };
            let points = line
                .points
                .iter()
                .map(|&(index, value)| (index as f64, value));
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(width)))?
                .label(line.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(width))
                });
            if line.bold {
                chart.draw_series(points.map(|p| Circle::new(p, 3, color.filled())))?;
            }
        }
        if !regressions.is_empty() {
            let red = RGBColor(200, 0, 0);
            chart
                .draw_series(regressions.iter().map(|&(index, value)| {
                    TriangleMarker::new((index as f64, value), 7, red.filled())
                }))?
                .label("regression")
                .legend(move |(x, y)| TriangleMarker::new((x + 9, y), 6, red.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperMiddle)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 11))
            .draw()?;
        Ok(())
    })
}

/// A one-line description for a chart's caption under the figure.
pub fn describe_percentiles(distribution: &LatencyDistribution) -> String {
    format!(
        "{} samples · p50 {} · p99 {} · max {}",
        distribution.count,
        format_ms(distribution.p50_ms),
        format_ms(distribution.p99_ms),
        format_ms(distribution.max_ms)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::sample_results;

    #[test]
    fn the_knee_axis_labels_each_step_rate_once_and_thins_out_a_crowd() {
        let steps = [4.0, 6.0, 9.0, 13.5, 20.25, 30.38];
        // Two controllers stepping through the same rates, one stopped early.
        let both = steps.iter().chain(&steps[..3]).rev().copied();
        assert_eq!(rate_ticks(both), steps);
        assert!(rate_ticks([0.0, f64::NAN].into_iter()).is_empty());
        let crowd = rate_ticks((1..=30).map(f64::from));
        assert_eq!(
            crowd,
            (1..=30).step_by(3).map(f64::from).collect::<Vec<_>>()
        );
        assert!(crowd.len() <= MAX_RATE_TICKS);
    }

    #[test]
    fn nines_axis() {
        assert_eq!(nines(0.0, 1000), 0.0);
        assert!((nines(0.99, 1000) - 2.0).abs() < 1e-9);
        assert!((nines(1.0, 1000) - 3.0).abs() < 1e-9);
        assert!((nines(0.9999, 1000) - 3.0).abs() < 1e-9);
        assert_eq!(nines_label(0.0), "0%");
        assert_eq!(nines_label(1.0), "90%");
        assert_eq!(nines_label(2.0), "99%");
        assert_eq!(nines_label(3.0), "99.9%");
    }

    #[test]
    fn log_bounds_are_powers_of_ten_and_never_empty() {
        assert_eq!(log_bounds(3.0, 250.0), (1.0, 1000.0));
        assert_eq!(log_bounds(10.0, 10.0), (10.0, 100.0));
        assert_eq!(log_bounds(0.0, 0.0), (0.001, 0.01));
    }

    #[test]
    fn charts_are_inline_svg_without_namespace_urls() {
        let results = sample_results().unwrap();
        let ready = results.phase(Phase::ClaimReady).unwrap();
        let svgs = [
            latency_cdf(
                "CDF",
                WIDE,
                &[CdfLine {
                    label: "claim_ready".into(),
                    color: phase_color(Phase::ClaimReady),
                    points: &ready.overall.cdf,
                    count: ready.overall.count,
                }],
            )
            .unwrap(),
            latency_histogram("histogram", GREY, &ready.overall).unwrap(),
            latency_over_time("over time", &results.timeline).unwrap(),
            throughput_over_time("throughput", &results.timeline).unwrap(),
            in_flight_over_time("in flight", &results.timeline).unwrap(),
        ];
        for svg in svgs {
            assert!(
                svg.starts_with("<svg role=\"img\" aria-label=\""),
                "{}",
                &svg[..80]
            );
            assert!(!svg.contains("http"));
            assert!(svg.contains("<text"));
            assert!(svg.trim_end().ends_with("</svg>"));
        }
    }

    #[test]
    fn a_trend_draws_its_lines_bounds_and_regressions() {
        let runs: Vec<String> = (1..=4).map(|day| format!("06-0{day}")).collect();
        let svg = trend(
            "claim_ready (warm)",
            "ms",
            &runs,
            &[
                TrendLine {
                    label: "p99".into(),
                    color: phase_color(Phase::ClaimReady),
                    points: vec![(0, 20.0), (1, 21.0), (2, 19.0), (3, 60.0)],
                    bold: true,
                },
                TrendLine {
                    label: "p50".into(),
                    color: GREY,
                    points: vec![(0, 8.0), (1, 8.0), (2, 8.0), (3, 9.0)],
                    bold: false,
                },
            ],
            &[TrendBound {
                label: "SLO p99 ≤ 100 ms".into(),
                value: 100.0,
            }],
            &[(3, 60.0)],
        )
        .unwrap();
        assert!(svg.starts_with("<svg role=\"img\" aria-label=\"claim_ready (warm)\""));
        assert_eq!(
            svg.matches("<circle").count(),
            4,
            "a point per run of the bold line"
        );
        for text in ["06-01", "06-04", "SLO p99 ≤ 100 ms", "regression", "p50"] {
            assert!(svg.contains(text), "missing {text}");
        }
        // The triangle: one in the plot, one in the legend.
        assert_eq!(svg.matches("<polygon").count(), 2, "{svg}");
        let empty = trend("t", "ms", &runs, &[], &[], &[]).unwrap();
        assert!(empty.contains("no samples"));
    }

    #[test]
    fn empty_inputs_draw_a_placeholder() {
        let svg = latency_over_time("latency over time", &[]).unwrap();
        assert!(svg.contains("no samples"));
        let svg = latency_cdf("CDF", WIDE, &[]).unwrap();
        assert!(svg.contains("no samples"));
    }
}
