//! Results schema, latency analysis and report rendering for `sandbox-bench` runs.
//!
//! The flow: the harness produces one [`Record`] per claim; [`Analysis::from_records`] builds
//! HDR histograms and timelines; [`evaluate`] checks a [`SloSpec`]; [`Results`] is the
//! versioned `results.json`; [`write_reports`] renders `report.md`, `report.html` and
//! `junit.xml`; [`mod@compare`] puts two runs side by side; [`history`] keeps every published
//! run and renders the history site (trends, regressions, badges). See `reports/README.md`.
//!
//! Two small pieces serve other crates too: [`junit`], the one JUnit XML writer (the
//! conformance suite's report as well), and [`splitmix`], the seeded generator of the sample
//! run and of the harness's arrival schedules.

pub mod analysis;
pub mod compare;
pub mod conformance;
pub mod error;
pub mod history;
pub mod isolation;
pub mod junit;
pub mod knee;
pub mod output;
mod quantiles;
pub mod record;
pub mod reliability;
pub mod render;
pub mod results;
pub mod sample;
pub mod schema;
pub mod slo;
pub mod splitmix;
pub mod steps;
pub mod summary;
pub mod timeline;

pub use analysis::{Analysis, LatencyRecorder};
pub use compare::{Comparison, ComparisonVerdict, PhaseComparison, compare};
pub use conformance::{CONFORMANCE_SCHEMA, CaseOutcome, ConformanceCase, ConformanceSummary};
pub use error::ReportError;
pub use isolation::{CheckStatus, IsolationCheck, IsolationReport};
pub use knee::{ControllerKnee, KNEE_SCHEMA, Knee, KneeReport};
pub use output::{ReportFiles, read_records_file, write_records_file, write_reports};
pub use record::{LaunchType, Phase, Record, read_records, write_record, write_records};
pub use reliability::{FaultRecord, FaultsReport, Invariant, InvariantsReport, Violation};
pub use render::conformance::render_conformance_html;
pub use render::html::{render_comparison_html, render_html};
pub use render::junit::render_junit;
pub use render::knee::{render_knee_html, render_knee_markdown};
pub use render::markdown::{render_comparison_markdown, render_markdown};
pub use results::{Environment, Machine, Results, RunMeta, SCHEMA};
pub use slo::{ErrorBudget, Slo, SloOutcome, SloReport, SloSpec, SloVerdict, Verdict, evaluate};
pub use steps::{Step, StepPhase, StepSummary, StepsReport, per_step};
