//! Progress bars on a terminal for long work (opening a large store, verify, rebuild,
//! imports): silent when stderr is piped, and for work done before one would help.

use lineage_store::{Progress, Stage, Unit};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How long a stage runs before its bar shows: quick work prints nothing.
const SHOW_AFTER: Duration = Duration::from_millis(400);

/// Bars for a store's reports; `catching_up` names the replay (an open's catching up, a
/// rebuild).
pub(super) fn progress_printer(catching_up: &'static str) -> impl FnMut(Progress) {
    let mut bar = Bar::new();
    move |progress: Progress| {
        let what = match progress.stage {
            Stage::CheckingLog => "checking the log",
            Stage::CatchingUp => catching_up,
            Stage::RecomputingRoot => "recomputing the checkpoint's root",
        };
        bar.show(what, progress.unit, progress.done, progress.total);
    }
}

/// A bar counting `unit`s (an importer's records or events).
pub(super) fn count_printer(what: &'static str, unit: &'static str) -> impl FnMut(u64, u64) {
    let mut bar = Bar::new();
    move |done, total| bar.show_counted(what, unit, done, total)
}

/// One bar at a time on stderr; a new stage's first report starts the next.
struct Bar {
    terminal: bool,
    /// The stage shown or waiting to show, and when its first report came.
    current: Option<(&'static str, Instant)>,
    shown: bool,
}

impl Bar {
    fn new() -> Bar {
        Bar {
            terminal: std::io::stderr().is_terminal(),
            current: None,
            shown: false,
        }
    }

    fn show(&mut self, what: &'static str, unit: Unit, done: u64, total: u64) {
        match unit {
            Unit::Events => self.show_counted(what, "events", done, total),
            Unit::Bytes => self.print(what, done, total, |count| format!("{:.1}", count as f64 / 1e6), "MB"),
        }
    }

    fn show_counted(&mut self, what: &'static str, unit: &'static str, done: u64, total: u64) {
        self.print(what, done, total, |count| count.to_string(), unit);
    }

    fn print(&mut self, what: &'static str, done: u64, total: u64, count: impl Fn(u64) -> String, unit: &str) {
        if !self.terminal || total == 0 {
            return;
        }
        let started = match self.current {
            Some((stage, started)) if stage == what => started,
            _ => {
                self.current = Some((what, Instant::now()));
                self.shown = false;
                Instant::now()
            }
        };
        if !self.shown && started.elapsed() < SHOW_AFTER {
            if done >= total {
                self.current = None;
            }
            return;
        }
        self.shown = true;
        let line = bar_line(what, &count(done.min(total)), &count(total), unit, done * 100 / total);
        eprint!("\r{line}");
        if done >= total {
            eprintln!();
            self.current = None;
        }
    }
}

/// `what [#####     ] done/total unit (percent%)`, thirty marks wide.
fn bar_line(what: &str, done: &str, total: &str, unit: &str, percent: u64) -> String {
    let filled = (percent.min(100) * 30 / 100) as usize;
    format!(
        "{what} [{}{}] {done}/{total} {unit} ({}%)",
        "#".repeat(filled),
        " ".repeat(30 - filled),
        percent.min(100)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_fills_with_the_share_done_and_never_past_full() {
        assert_eq!(
            bar_line("checking the log", "0.0", "592.3", "MB", 0),
            format!("checking the log [{}] 0.0/592.3 MB (0%)", " ".repeat(30))
        );
        assert_eq!(
            bar_line("rebuilding", "50", "100", "events", 50),
            format!("rebuilding [{}{}] 50/100 events (50%)", "#".repeat(15), " ".repeat(15))
        );
        assert_eq!(
            bar_line("rebuilding", "100", "100", "events", 130),
            format!("rebuilding [{}] 100/100 events (100%)", "#".repeat(30))
        );
    }
}
