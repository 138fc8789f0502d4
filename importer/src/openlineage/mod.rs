//! OpenLineage events (run events, and the job and dataset events of spec 2) turned into
//! Lineage commands: jobs become experiments (in a project per job namespace), runs
//! become runs with their parents, input and output datasets become datasets with their
//! schema, and the run's edges to them.
//!
//! Every event is checked before any is applied. Each event is then one all-or-none
//! batch whose commands carry idempotency keys derived from (run id, event type, event
//! time): the same event sent twice appends nothing the second time.

mod apply;
mod events;

pub use events::*;

use crate::error::{Error, Result};
use crate::summary::{Outcome, Summary};
use crate::target::{derived_id, parse, Target};
use lineage_schema::entity::{Detail, RunDetail, RunStatus};
use lineage_schema::event::*;
use lineage_schema::*;
use lineage_store::Store;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

/// The revision recorded when a job names no source code version.
pub const UNKNOWN_REVISION: &str = "unknown";

/// Applies checked events in order. With `strict`, the first event the store refuses
/// stops the import with its error; otherwise it is skipped and named in the summary.
pub fn import(
    store: &Store,
    target: &Target,
    events: &[Checked],
    strict: bool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Summary> {
    let mut importer = Importer {
        store,
        target,
        summary: Summary::default(),
        projects: BTreeMap::new(),
    };
    for (index, event) in events.iter().enumerate() {
        let what = match event {
            Checked::Run(RunEvent { run, key, .. }) => format!("event {} (run {run}, {key})", index + 1),
            Checked::Job { job, .. } => format!("event {} (job {}/{})", index + 1, job.0, job.1),
            Checked::Dataset { dataset, .. } => {
                format!("event {} (dataset {}/{})", index + 1, dataset.namespace, dataset.name)
            }
        };
        match importer.apply(event) {
            Ok(()) => {}
            Err(Error::Store(error)) if error.rejection().is_some() => {
                if strict {
                    return Err(Error::Store(error));
                }
                importer.summary.skip(what, error.to_string());
            }
            Err(error) => return Err(error),
        }
        progress(index as u64 + 1, events.len() as u64);
    }
    Ok(importer.summary)
}

/// A batch under construction: commands with their idempotency keys.
struct Batch {
    key: Option<String>,
    at: Timestamp,
    commands: Vec<Command>,
    /// The kinds of entity the batch creates, counted once it is appended.
    creates: Vec<&'static str>,
}

impl Batch {
    fn envelopes(self, actor: &PrincipalId) -> Result<Vec<CommandEnvelope>> {
        self.commands
            .into_iter()
            .enumerate()
            .map(|(index, command)| {
                let envelope = CommandEnvelope::new(actor.clone(), command).occurred_at(self.at);
                Ok(match &self.key {
                    Some(key) => envelope.with_event_id(
                        EventId::new(format!("{key}-{index}"))
                            .map_err(|rejection| Error::malformed(key, rejection.to_string()))?,
                    ),
                    None => envelope,
                })
            })
            .collect()
    }
}

struct Importer<'a> {
    store: &'a Store,
    target: &'a Target,
    summary: Summary,
    projects: BTreeMap<String, ProjectId>,
}

/// The id of the run an OpenLineage run becomes in `account`: each tenant's runs are its
/// own, so the same OpenLineage run id sent to two accounts makes two runs.
pub fn run_id(account: &AccountId, openlineage_run: &str) -> String {
    let tenant = &blake3::hash(account.as_str().as_bytes()).to_hex()[..8];
    format!("ol-run-{openlineage_run}-{tenant}")
}
