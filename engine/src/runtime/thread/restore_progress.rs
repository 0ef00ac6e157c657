//! How a stream thread shows its restoration to a person: a progress bar on a terminal
//! (records done of the total, rate, time left), a log line every few seconds otherwise.

use std::io::IsTerminal as _;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// How often a long restoration logs its progress when no bar is shown.
const LOG_INTERVAL: Duration = Duration::from_secs(5);

/// The bars of every stream thread of the process, drawn together on standard error.
fn bars() -> &'static MultiProgress {
    static BARS: OnceLock<MultiProgress> = OnceLock::new();
    BARS.get_or_init(MultiProgress::new)
}

/// One restoration round of a thread: from its first restoring task until none is left.
struct Round {
    started: Instant,
    logged: Instant,
    /// Records restored in this round by tasks that have finished.
    finished: u64,
    bar: Option<ProgressBar>,
}

/// A thread's restoration progress.
pub(crate) struct RestoreProgress {
    thread: String,
    round: Option<Round>,
}

/// Where a thread's restoration stands after a step.
pub(crate) struct Standing {
    /// Records the restoring tasks have applied.
    pub(crate) restored: u64,
    /// Records they have still to apply (`None`: a changelog's end is unknown).
    pub(crate) remaining: Option<u64>,
    /// Restoring tasks.
    pub(crate) tasks: usize,
}

impl RestoreProgress {
    pub(crate) fn new(thread: String) -> Self {
        Self {
            thread,
            round: None,
        }
    }

    /// Reports `standing` (a round starts with the first report).
    pub(crate) fn update(&mut self, standing: &Standing) {
        let thread = &self.thread;
        let round = self.round.get_or_insert_with(|| Round {
            started: Instant::now(),
            logged: Instant::now(),
            finished: 0,
            bar: std::io::stderr().is_terminal().then(|| {
                let style = ProgressStyle::with_template(
                    "{prefix} restoring {msg} [{bar:30}] {human_pos}/{human_len} records, {per_sec}, {eta} left",
                )
                .expect("a valid template")
                .progress_chars("=> ");
                bars().add(
                    ProgressBar::new(0)
                        .with_style(style)
                        .with_prefix(thread.clone()),
                )
            }),
        });
        let done = round.finished + standing.restored;
        let total = standing.remaining.map(|r| done + r);
        if let Some(bar) = &round.bar {
            bar.set_length(total.unwrap_or(done));
            bar.set_position(done);
            bar.set_message(format!("{} task(s)", standing.tasks));
            return;
        }
        if round.logged.elapsed() < LOG_INTERVAL {
            return;
        }
        round.logged = Instant::now();
        let seconds = round.started.elapsed().as_secs_f64().max(1e-3);
        let rate = done as f64 / seconds;
        let eta = match (standing.remaining, rate > 0.0) {
            (Some(left), true) => format!("{:.0} s", left as f64 / rate),
            _ => "unknown".to_owned(),
        };
        let total = total.map_or_else(|| "unknown".to_owned(), |t| t.to_string());
        tracing::info!(thread = %self.thread, restored = done, total, records_per_second = rate.round(), eta, tasks = standing.tasks, "restoring");
    }

    /// A task finished restoring `records` records.
    pub(crate) fn task_finished(&mut self, records: u64) {
        if let Some(round) = &mut self.round {
            round.finished += records;
        }
    }

    /// No task is restoring any more: the round ends (its bar is cleared).
    pub(crate) fn finish(&mut self) {
        if let Some(round) = self.round.take() {
            if let Some(bar) = round.bar {
                bar.finish_and_clear();
                bars().remove(&bar);
            }
            if round.finished > 0 {
                tracing::info!(thread = %self.thread, restored = round.finished, seconds = round.started.elapsed().as_secs_f64(), "restoration finished");
            }
        }
    }
}
