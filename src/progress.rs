//! Progress bars for long command-line jobs (`tally demo`, `tally billing run`, `tally rollups
//! rebuild`): drawn on stderr when it is a terminal, hidden when it is not (piped or in CI), so
//! stdout stays machine-readable either way.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `len` steps described by `what` ("sending usage", "rebuilding rollups").
pub fn bar(len: u64, what: &str, unit: &str, shown: bool) -> ProgressBar {
    let target = if shown { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    let template = format!("{{spinner}} {what} {{bar:30}} {{pos}}/{{len}} {unit} {{msg}}");
    bar.set_style(ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()));
    bar
}
