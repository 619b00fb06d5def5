//! Progress bars on stderr for long replays: position, rate and time left. Hidden unless asked for
//! (the CLI asks only when stderr is a terminal and the output is not JSON). Updates are batched so
//! that a bar costs nothing measurable per input.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// Inputs between two updates of the bar.
const BATCH: u64 = 16_384;

/// A progress bar over a known number of inputs (or a hidden one).
pub struct Progress {
    bar: ProgressBar,
    pending: u64,
}

impl Progress {
    /// A bar labelled `label` over `total` inputs, drawn on stderr when `visible`.
    pub fn new(visible: bool, label: &str, total: u64) -> Progress {
        if !visible {
            return Progress::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let template = "{msg:>24} [{wide_bar}] {human_pos}/{human_len} inputs, {rate}, {eta} left";
        if let Ok(style) = ProgressStyle::with_template(template) {
            let style = style
                .with_key(
                    "rate",
                    |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                        let _ = write!(out, "{:.0}/s", state.per_sec());
                    },
                )
                .progress_chars("=> ");
            bar.set_style(style);
        }
        bar.set_message(label.to_string());
        Progress { bar, pending: 0 }
    }

    /// A bar that draws nothing.
    pub fn hidden() -> Progress {
        Progress {
            bar: ProgressBar::hidden(),
            pending: 0,
        }
    }

    /// One more input done.
    #[inline]
    pub fn tick(&mut self) {
        self.pending += 1;
        if self.pending >= BATCH {
            self.bar.inc(self.pending);
            self.pending = 0;
        }
    }

    /// `n` more inputs done.
    pub fn add(&mut self, n: u64) {
        self.bar.inc(n);
    }

    /// Removes the bar from the terminal.
    pub fn finish(&mut self) {
        self.bar.inc(self.pending);
        self.pending = 0;
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if !self.bar.is_finished() {
            self.bar.finish_and_clear();
        }
    }
}
