//! The history of published runs, and the static site made from it (`sandbox-bench publish`):
//! every bench, knee and conformance run kept as one small [`Entry`] in a versioned
//! `history.json`, trends per series, regressions judged against each series' own noise, badges
//! and the Markdown summary a pull request gets.
//!
//! * [`entry`]: one run's headline figures, its stable id and machine fingerprint.
//! * [`file`]: `history.json` ([`HISTORY_SCHEMA`]): load (older v1 files upgraded, other
//!   schemas refused), idempotent add, time order.
//! * [`series`]: the runs that compare (scenario × phase × launch × controller × machine, …).
//! * [`regression`]: the noise band and the marks of regressions and improvements.
//! * [`badge`], [`render`], [`summary`]: `badges/*.svg`, `index.html`, `summary.md`.
//!
//! No file I/O here: the command reads the runs, copies their reports and writes the files.

pub mod badge;
pub mod entry;
pub mod file;
pub mod regression;
pub mod render;
pub mod series;
pub mod summary;

pub use badge::{Badge, BadgeColor, NamedBadge, site_badges};
pub use entry::{Entry, Figures, KneeRunInfo, RunKind, machine_fingerprint, run_id};
pub use file::{Added, HISTORY_SCHEMA, History};
pub use regression::{Mark, MarkKind, NoiseBand};
pub use render::render_index;
pub use summary::{Published, render_summary};
