//! Progress on stderr: bars on a terminal, a line every few seconds elsewhere (CI logs).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How often a line is printed when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

pub struct Progress {
    bar: Option<ProgressBar>,
    what: &'static str,
    last_line: Option<Instant>,
}

impl Progress {
    /// A bar counting towards `total` (e.g. "pool fill", "claims").
    pub fn new(what: &'static str, total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(
                "{prefix:>10} [{bar:32}] {pos}/{len} {msg} ({elapsed})",
            )
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_prefix(what);
            bar
        });
        Self {
            bar,
            what,
            last_line: None,
        }
    }

    /// Sets the position and a short message (`ready 90, failed 0`).
    pub fn update(&mut self, position: u64, total: u64, message: &str) {
        match &self.bar {
            Some(bar) => {
                bar.set_length(total);
                bar.set_position(position);
                bar.set_message(message.to_string());
            }
            None => {
                if self.last_line.is_none_or(|t| t.elapsed() >= LINE_EVERY) {
                    eprintln!("{}: {position}/{total} {message}", self.what);
                    self.last_line = Some(Instant::now());
                }
            }
        }
    }

    pub fn finish(self, message: &str) {
        match self.bar {
            Some(bar) => bar.finish_with_message(message.to_string()),
            None => eprintln!("{}: {message}", self.what),
        }
    }
}
