//! OpenLineage events as they arrive (`Raw…`) and as they are once checked (`Checked`):
//! read from a file of lines or a request body, every field an import needs present.

use super::*;

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawEvent {
    pub event_type: Option<String>,
    pub event_time: String,
    pub producer: String,
    #[serde(rename = "schemaURL")]
    pub schema_url: String,
    pub run: Option<RawRun>,
    pub job: Option<RawJob>,
    /// A dataset event's dataset (spec 2).
    pub dataset: Option<RawDataset>,
    #[serde(default)]
    pub inputs: Vec<RawDataset>,
    #[serde(default)]
    pub outputs: Vec<RawDataset>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawRun {
    pub run_id: String,
    #[serde(default)]
    pub facets: Map<String, Value>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RawJob {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub facets: Map<String, Value>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RawDataset {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub facets: Map<String, Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Start,
    Running,
    Complete,
    Fail,
    Abort,
    Other,
}

/// A run event, checked.
#[derive(Clone, Debug)]
pub struct RunEvent {
    pub event_type: EventType,
    /// The event's own text of its type and time, for the idempotency key.
    pub key: String,
    pub at: Timestamp,
    pub run: String,
    pub job: (String, String),
    pub job_facets: Map<String, Value>,
    pub run_facets: Map<String, Value>,
    pub parent: Option<(String, (String, String))>,
    pub inputs: Vec<RawDataset>,
    pub outputs: Vec<RawDataset>,
}

/// An event that passed every check, ready to map.
#[derive(Clone, Debug)]
pub enum Checked {
    Run(RunEvent),
    Job {
        at: Timestamp,
        job: (String, String),
        inputs: Vec<RawDataset>,
        outputs: Vec<RawDataset>,
    },
    Dataset {
        at: Timestamp,
        dataset: RawDataset,
    },
}

fn uuid_like(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups.iter().map(|group| group.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|group| group.chars().all(|c| c.is_ascii_hexdigit()))
}

fn job_of(job: &Option<RawJob>) -> std::result::Result<&RawJob, String> {
    let job = job.as_ref().ok_or("a run event needs `job`")?;
    if job.namespace.trim().is_empty() || job.name.trim().is_empty() {
        return Err("`job.namespace` and `job.name` must not be empty".into());
    }
    Ok(job)
}

fn check_datasets(datasets: &[RawDataset], field: &str) -> std::result::Result<(), String> {
    for (index, dataset) in datasets.iter().enumerate() {
        if dataset.namespace.trim().is_empty() || dataset.name.trim().is_empty() {
            return Err(format!("`{field}[{index}]` needs a `namespace` and a `name`"));
        }
        Name::new(dataset.name.clone()).map_err(|rejection| format!("`{field}[{index}].name`: {rejection}"))?;
    }
    Ok(())
}

/// Checks one event (JSON text or value) against the spec's required fields.
pub fn check(value: Value) -> std::result::Result<Checked, String> {
    let raw: RawEvent = serde_json::from_value(value).map_err(|error| format!("not an OpenLineage event: {error}"))?;
    let at = Timestamp::parse(&raw.event_time)
        .ok_or_else(|| format!("`eventTime` is not an RFC 3339 time: `{}`", raw.event_time))?;
    if raw.producer.trim().is_empty() || raw.schema_url.trim().is_empty() {
        return Err("`producer` and `schemaURL` must not be empty".into());
    }
    check_datasets(&raw.inputs, "inputs")?;
    check_datasets(&raw.outputs, "outputs")?;
    let event_type = match raw.event_type.as_deref() {
        None | Some("OTHER") => EventType::Other,
        Some("START") => EventType::Start,
        Some("RUNNING") => EventType::Running,
        Some("COMPLETE") => EventType::Complete,
        Some("FAIL") => EventType::Fail,
        Some("ABORT") => EventType::Abort,
        Some(other) => {
            return Err(format!(
                "`eventType` `{other}` is not one of START, RUNNING, COMPLETE, FAIL, ABORT, OTHER"
            ))
        }
    };
    if let Some(run) = &raw.run {
        let job = job_of(&raw.job)?;
        if !uuid_like(&run.run_id) {
            return Err(format!("`run.runId` is not a UUID: `{}`", run.run_id));
        }
        Name::new(job.name.clone()).map_err(|rejection| format!("`job.name`: {rejection}"))?;
        let parent = match run.facets.get("parent") {
            None => None,
            Some(parent) => {
                let text = |path: &[&str]| {
                    let mut value = parent;
                    for key in path {
                        value = value.get(key)?;
                    }
                    value.as_str().map(str::to_string)
                };
                let (Some(run_id), Some(namespace), Some(name)) = (
                    text(&["run", "runId"]),
                    text(&["job", "namespace"]),
                    text(&["job", "name"]),
                ) else {
                    return Err("the `parent` run facet needs `run.runId`, `job.namespace` and `job.name`".into());
                };
                if !uuid_like(&run_id) {
                    return Err(format!("the parent's `runId` is not a UUID: `{run_id}`"));
                }
                Some((run_id.to_lowercase(), (namespace, name)))
            }
        };
        return Ok(Checked::Run(RunEvent {
            event_type,
            key: format!("{}|{}", raw.event_type.as_deref().unwrap_or("OTHER"), raw.event_time),
            at,
            run: run.run_id.to_lowercase(),
            job: (job.namespace.clone(), job.name.clone()),
            job_facets: job.facets.clone(),
            run_facets: run.facets.clone(),
            parent,
            inputs: raw.inputs,
            outputs: raw.outputs,
        }));
    }
    if let Some(dataset) = raw.dataset {
        check_datasets(std::slice::from_ref(&dataset), "dataset")?;
        return Ok(Checked::Dataset { at, dataset });
    }
    if raw.job.is_some() {
        let job = job_of(&raw.job)?;
        Name::new(job.name.clone()).map_err(|rejection| format!("`job.name`: {rejection}"))?;
        return Ok(Checked::Job {
            at,
            job: (job.namespace.clone(), job.name.clone()),
            inputs: raw.inputs,
            outputs: raw.outputs,
        });
    }
    Err("an event needs a `run` and `job` (run event), a `job` (job event) or a `dataset` (dataset event)".into())
}

/// The events of an NDJSON file: those that passed `check`, in order, and the lines
/// that did not, each named by its line (`FILE, line 6: …`).
#[derive(Debug)]
pub struct FileEvents {
    pub events: Vec<Checked>,
    pub malformed: Vec<Error>,
}

/// Reads one event a line; a line that is not an event is kept aside in `malformed`
/// (the caller skips it or stops, as asked), a file that cannot be read is an error.
pub fn read_file(path: &Path) -> Result<FileEvents> {
    let file = std::fs::File::open(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut read = FileEvents {
        events: Vec::new(),
        malformed: Vec::new(),
    };
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let checked = serde_json::from_str::<Value>(&line)
            .map_err(|error| format!("not JSON: {error}"))
            .and_then(check);
        match checked {
            Ok(event) => read.events.push(event),
            Err(reason) => read.malformed.push(Error::Line {
                path: path.to_path_buf(),
                line: index + 1,
                reason,
            }),
        }
    }
    Ok(read)
}

/// Checks a request body: one event or an array of them. The error names the event.
pub fn check_body(body: Value) -> std::result::Result<Vec<Checked>, String> {
    match body {
        Value::Array(events) => events
            .into_iter()
            .enumerate()
            .map(|(index, event)| check(event).map_err(|reason| format!("event {}: {reason}", index + 1)))
            .collect(),
        event => Ok(vec![check(event)?]),
    }
}
