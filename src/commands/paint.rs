//! Colour for states and verdicts, on a terminal only: `anstream` drops the escape codes when
//! stdout is not a terminal, when `NO_COLOR` is set, or with `--color never`; `--color always`
//! keeps them in a pipe.

use anstyle::{AnsiColor, Style};

use crate::preflight::{Outcome, Verdict};
use crate::slurm::state::JobState;

fn paint(text: &str, color: AnsiColor) -> String {
    let style = Style::new().fg_color(Some(color.into())).bold();
    format!("{style}{text}{style:#}")
}

/// A job state, padded to `width` first so that columns line up with or without colour.
pub fn state(state: &JobState, width: usize) -> String {
    let text = format!("{:<width$}", state.to_string());
    let color = match state {
        JobState::Running | JobState::Completing | JobState::Configuring => AnsiColor::Green,
        JobState::Pending | JobState::Requeued | JobState::Suspended => AnsiColor::Yellow,
        JobState::Completed => AnsiColor::Blue,
        JobState::Unknown | JobState::Other(_) => AnsiColor::Magenta,
        _ => AnsiColor::Red,
    };
    paint(&text, color)
}

/// A verdict's headline: green to start, yellow to pend, red when it never runs.
pub fn headline(verdict: &Verdict) -> String {
    let color = match verdict.outcome {
        _ if verdict.never_runs() => AnsiColor::Red,
        Outcome::StartsNow => AnsiColor::Green,
        _ => AnsiColor::Yellow,
    };
    paint(&verdict.headline(), color)
}
