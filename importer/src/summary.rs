//! What an import did: entities created, updated and unchanged by kind, what was
//! skipped and why, and how many events it appended.

use std::collections::BTreeMap;
use std::fmt;

/// One record left out of an import, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// What it is and where it came from (`run 54f6… (mlflow.db, table runs, …)`).
    pub what: String,
    pub why: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub created: BTreeMap<&'static str, u64>,
    pub updated: BTreeMap<&'static str, u64>,
    pub unchanged: BTreeMap<&'static str, u64>,
    /// Entities deleted because the source deleted them.
    pub deleted: BTreeMap<&'static str, u64>,
    pub skipped: Vec<Skipped>,
    /// Events appended to the log.
    pub events: u64,
}

/// What one entity's import came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    Deleted,
}

impl Summary {
    pub fn count(&mut self, kind: &'static str, outcome: Outcome) {
        let counts = match outcome {
            Outcome::Created => &mut self.created,
            Outcome::Updated => &mut self.updated,
            Outcome::Unchanged => &mut self.unchanged,
            Outcome::Deleted => &mut self.deleted,
        };
        *counts.entry(kind).or_default() += 1;
    }

    pub fn skip(&mut self, what: impl Into<String>, why: impl Into<String>) {
        self.skipped.push(Skipped {
            what: what.into(),
            why: why.into(),
        });
    }

    /// How many entities of a kind the import created.
    pub fn created(&self, kind: &str) -> u64 {
        self.created.get(kind).copied().unwrap_or(0)
    }
}

fn counts(map: &BTreeMap<&'static str, u64>) -> String {
    if map.is_empty() {
        return "nothing".into();
    }
    map.iter()
        .map(|(kind, count)| format!("{count} {kind}{}", if *count == 1 { "" } else { "s" }))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "created:   {}", counts(&self.created))?;
        writeln!(f, "updated:   {}", counts(&self.updated))?;
        writeln!(f, "unchanged: {}", counts(&self.unchanged))?;
        if !self.deleted.is_empty() {
            writeln!(f, "deleted:   {}", counts(&self.deleted))?;
        }
        writeln!(f, "events appended: {}", self.events)?;
        if self.skipped.is_empty() {
            writeln!(f, "skipped:   nothing")?;
        } else {
            writeln!(f, "skipped:   {}", self.skipped.len())?;
            for skipped in &self.skipped {
                writeln!(f, "  - {}: {}", skipped.what, skipped.why)?;
            }
        }
        Ok(())
    }
}
