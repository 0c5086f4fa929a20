//! Progress bars on stderr, shown only on a terminal so that logs and pipes stay clean.

use std::io::IsTerminal;
use std::time::{Duration as WallDuration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use snapsim::campaign;
use snapsim::engine::Time;
use snapsim::report::group;
use snapsim::scenario::Scenario;
use snapsim::RunOptions;

/// A bar counting `n` pieces of work on stderr, when it is a terminal.
pub(super) fn count_bar(n: usize, what: &str) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let b = ProgressBar::new(n as u64);
    let template = format!(
        "{{spinner}} [{{elapsed_precise}}] {{bar:40}} {{pos}}/{{len}} {what} (eta {{eta}})"
    );
    if let Ok(style) = ProgressStyle::with_template(&template) {
        b.set_style(style);
    }
    Some(b)
}

/// Runs jobs in parallel with a progress bar over them.
pub(super) fn run_with_bar(
    scenarios: &[Scenario],
    jobs: &[(usize, RunOptions)],
) -> Vec<campaign::Outcome> {
    let bar = count_bar(jobs.len(), "runs");
    let tick = || {
        if let Some(b) = &bar {
            b.inc(1);
        }
    };
    let outcomes = campaign::run_all_ticking(scenarios, jobs, &tick);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    outcomes
}

/// A bar over one run's simulated time that appears only after a second, so that short runs
/// never flash one.
pub(super) struct Progress {
    enabled: bool,
    started: Instant,
    limit: Time,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for a run of `limit` simulated nanoseconds; `enabled` false shows nothing.
    pub(super) fn new(enabled: bool, limit: Time) -> Self {
        Progress {
            enabled: enabled && std::io::stderr().is_terminal(),
            started: Instant::now(),
            limit,
            bar: None,
        }
    }

    /// The run has reached simulated time `now` after `events` events.
    pub(super) fn update(&mut self, now: Time, events: u64) {
        if !self.enabled || self.started.elapsed() < WallDuration::from_secs(1) {
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let b = ProgressBar::new(self.limit.max(1));
            b.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {percent}% of simulated time, {msg} (eta {eta})")
                    .expect("valid template"),
            );
            b
        });
        bar.set_position(now.min(self.limit));
        bar.set_message(format!("{} events", group(events)));
    }

    /// Removes the bar, if it appeared.
    pub(super) fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}
