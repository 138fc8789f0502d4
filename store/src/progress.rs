//! What a long open, rebuild or verify reports as it goes, for a progress display.

/// The part of the work a [`Progress`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Every record of the log read and checked: when a store opens, and `verify`.
    CheckingLog,
    /// Projections brought level with the log: when a store opens behind it, and rebuilds.
    CatchingUp,
    /// A checkpoint's root recomputed from the first records of the log: `verify
    /// --checkpoint`, after the log is checked.
    RecomputingRoot,
}

/// What [`Progress::done`] and [`Progress::total`] count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Bytes of the log's segment files.
    Bytes,
    /// Events, by seq (a PostgreSQL log's records, or the log's seqs caught up to).
    Events,
}

/// One report: `done` of `total` in `unit`. The last report of a stage has `done == total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub stage: Stage,
    pub unit: Unit,
    pub done: u64,
    pub total: u64,
}

impl Progress {
    /// A report of `stage` counting `unit`s.
    pub fn of(stage: Stage, unit: Unit) -> impl Fn(u64, u64) -> Progress {
        move |done, total| Progress {
            stage,
            unit,
            done,
            total,
        }
    }
}

/// Where reports go; `&mut |_| {}` when nobody watches.
pub type Reporter<'a> = &'a mut dyn FnMut(Progress);
