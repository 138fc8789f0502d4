//! MLflow's tracking API as Lineage commands and answers, with no HTTP in it: the server
//! hands each request here as JSON, with the endpoint's path (`runs/log-metric`), and
//! sends back the JSON or the refusal this answers.
//!
//! One tracking URI (`/mlflow/<account>/<workspace>[/<project>]`) is one `Tracking`: its
//! experiments live in the project (default: the workspace's project `mlflow`, the one
//! `lineage import mlflow` fills too), its runs on the account's compute target
//! `mlflow`, both made by the first request that needs them. MLflow's ids are Lineage's
//! ids, except the default experiment, `0` to MLflow. Every write is one all-or-none
//! batch of commands through the store's rules; every read goes through the principal's
//! `View`, so access and isolation are exactly those of GraphQL.

mod answers;
pub mod artifacts;
mod experiments;
mod logged_models;
pub mod multipart;
mod registry;
mod runs;
pub mod search;

use crate::error::{Error, Result};
use crate::target::{derived_id, Target, TargetSpec};
use lineage_schema::*;
use lineage_store::access::Access;
use lineage_store::{Appended, Store, View};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// The tracking API of one tracking URI, for one principal.
#[derive(Debug)]
pub struct Tracking<'a> {
    store: &'a Store,
    target: Target,
    access: Access,
    /// How long this request's appends waited for the log (their group's sync): time the
    /// request held a thread without working.
    log_wait: std::cell::Cell<std::time::Duration>,
}

/// A request decided into commands, waiting to be appended (see
/// [`Tracking::decide_appending`]).
#[derive(Debug)]
pub struct Pending {
    batch: Vec<CommandEnvelope>,
    target: Target,
}

impl Pending {
    /// The batch to append, all or none: the request's commands, after whatever the
    /// tracking URI's target still needs made.
    pub fn batch(&mut self) -> Vec<CommandEnvelope> {
        std::mem::take(&mut self.batch)
    }

    /// The batch was appended: the target is made.
    pub fn appended(&self) {
        self.target.appended();
    }
}

/// MLflow's error codes, as its clients read them.
pub mod codes {
    pub const NOT_FOUND: &str = "RESOURCE_DOES_NOT_EXIST";
    pub const EXISTS: &str = "RESOURCE_ALREADY_EXISTS";
    pub const INVALID: &str = "INVALID_PARAMETER_VALUE";
    pub const ENDPOINT: &str = "ENDPOINT_NOT_FOUND";
}

/// A refusal in MLflow's terms.
pub(crate) fn refused(code: &'static str, message: impl Into<String>) -> Error {
    Error::Refused {
        code,
        message: message.into(),
    }
}

/// A request's fields, read as MLflow's clients send them (numbers may come as strings:
/// GET requests carry their fields in the query string).
pub(crate) struct Fields<'a>(&'a Value);

impl<'a> Fields<'a> {
    pub(crate) fn text(&self, name: &str) -> Result<&'a str> {
        self.optional_text(name).filter(|text| !text.is_empty()).ok_or_else(|| {
            refused(
                codes::INVALID,
                format!("Missing value for required parameter '{name}'."),
            )
        })
    }

    pub(crate) fn optional_text(&self, name: &str) -> Option<&'a str> {
        self.0.get(name).and_then(Value::as_str)
    }

    pub(crate) fn integer(&self, name: &str) -> Result<Option<i64>> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(number)) => number
                .as_i64()
                .map(Some)
                .ok_or_else(|| refused(codes::INVALID, format!("'{name}' must be an integer, not {number}"))),
            Some(Value::String(text)) => text
                .parse()
                .map(Some)
                .map_err(|_| refused(codes::INVALID, format!("'{name}' must be an integer, not '{text}'"))),
            Some(other) => Err(refused(
                codes::INVALID,
                format!("'{name}' must be an integer, not {other}"),
            )),
        }
    }

    pub(crate) fn float(&self, name: &str) -> Result<f64> {
        let value = match self.0.get(name) {
            Some(Value::Number(number)) => number.as_f64(),
            Some(Value::String(text)) => text.parse().ok(),
            _ => None,
        };
        value.ok_or_else(|| {
            refused(
                codes::INVALID,
                format!("Missing or non-numeric value for parameter '{name}'."),
            )
        })
    }

    /// A repeated text field: a JSON list, or one value (or several, repeated) of a
    /// query string.
    pub(crate) fn texts(&self, name: &str) -> Vec<&'a str> {
        match self.0.get(name) {
            Some(Value::String(text)) => vec![text.as_str()],
            _ => self.list(name).iter().filter_map(Value::as_str).collect(),
        }
    }

    pub(crate) fn list(&self, name: &str) -> &'a [Value] {
        self.0.get(name).and_then(Value::as_array).map_or(&[], Vec::as_slice)
    }

    /// `[{key, value}, …]` as pairs.
    pub(crate) fn pairs(&self, name: &str) -> Result<Vec<(String, String)>> {
        self.list(name)
            .iter()
            .map(|pair| {
                let pair = Fields(pair);
                Ok((
                    pair.text("key")?.to_string(),
                    pair.optional_text("value").unwrap_or_default().to_string(),
                ))
            })
            .collect()
    }
}

/// One page of `items` under `field`, from `offset`, at most `max`, with the token of the
/// next page when there is one (the offset it starts at).
pub(crate) fn paged<T>(field: &str, items: &[T], offset: usize, max: usize, answer: impl Fn(&T) -> Value) -> Value {
    let page: Vec<Value> = items.iter().skip(offset).take(max).map(answer).collect();
    let mut paged = serde_json::json!({ field: page });
    if items.len() > offset + max {
        paged["next_page_token"] = serde_json::json!((offset + max).to_string());
    }
    paged
}

/// `max_results`, checked against MLflow's bound, and `page_token`, an offset.
pub(crate) fn page(fields: &Fields<'_>, default: i64) -> Result<(usize, usize)> {
    let max = fields.integer("max_results")?.unwrap_or(default);
    if !(1..=50_000).contains(&max) {
        return Err(refused(
            codes::INVALID,
            format!("Invalid value {max} for parameter 'max_results': it must be between 1 and 50000."),
        ));
    }
    let offset = match fields.optional_text("page_token").filter(|token| !token.is_empty()) {
        None => 0,
        Some(token) => token
            .parse()
            .map_err(|_| refused(codes::INVALID, format!("Invalid page token '{token}'.")))?,
    };
    Ok((max as usize, offset))
}

/// How long a prepared target is reused.
const TARGET_REUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// Targets prepared for recent requests, by who asked and where, each reused for a
/// second. A target is the ids a tracking URI names (and the commands that make what is
/// missing); every read and every write is checked again against the principal's access
/// of the moment, so reusing one changes no answer — it saves resolving the same ids on
/// every call of a busy client.
#[derive(Debug, Default)]
pub struct Targets(Mutex<HashMap<TargetKey, (Instant, Target)>>);

type TargetKey = (PrincipalId, String, String, Option<String>);

impl Targets {
    /// At most this many are kept; past it, the oldest go first (all, being a second old).
    const MAX: usize = 10_000;

    fn prepared(&self, store: &Store, spec: &TargetSpec) -> Result<Target> {
        let key = (
            spec.actor.clone(),
            spec.account.clone(),
            spec.workspace.clone(),
            spec.project.clone(),
        );
        let now = Instant::now();
        let mut kept = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((at, target)) = kept.get(&key) {
            if now.duration_since(*at) < TARGET_REUSE {
                return Ok(target.clone());
            }
        }
        drop(kept);
        let target = Target::prepare_for_tracking(store, spec)?;
        kept = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if kept.len() >= Self::MAX {
            kept.retain(|_, (at, _)| now.duration_since(*at) < TARGET_REUSE);
        }
        kept.insert(key, (now, target.clone()));
        Ok(target)
    }
}

impl<'a> Tracking<'a> {
    /// The tracking API where `spec` says (account, workspace, optional project), for its
    /// actor. An account or workspace the actor may not read is one that does not exist.
    pub fn open(store: &'a Store, spec: &TargetSpec) -> Result<Self> {
        Self::with_target(store, spec, Target::prepare_for_tracking(store, spec)?)
    }

    /// As `open`, reusing a target `targets` prepared in the last second.
    pub fn open_reusing(store: &'a Store, spec: &TargetSpec, targets: &Targets) -> Result<Self> {
        Self::with_target(store, spec, targets.prepared(store, spec)?)
    }

    fn with_target(store: &'a Store, spec: &TargetSpec, target: Target) -> Result<Self> {
        Ok(Tracking {
            store,
            target,
            access: store.access(&spec.actor)?,
            log_wait: Default::default(),
        })
    }

    /// Answers one request of MLflow's REST API: `endpoint` is the path after
    /// `/api/2.0/mlflow/`, `verb` the HTTP method (one endpoint of the registry takes
    /// three), `request` the body (or the query string's fields).
    pub fn call(&self, verb: &str, endpoint: &str, request: &Value) -> Result<Value> {
        if let Some(commands) = self.only_appending(endpoint, request) {
            self.execute(commands?, None)?;
            return Ok(serde_json::json!({}));
        }
        let fields = Fields(request);
        match endpoint {
            "registered-models/create" => self.create_registered_model(&fields),
            "registered-models/get" => self.get_registered_model(&fields),
            "registered-models/search" => self.search_registered_models(&fields),
            "registered-models/set-tag" => self.set_registered_model_tag(&fields),
            "registered-models/alias" => self.alias(verb, &fields),
            "registered-models/get-latest-versions" => self.get_latest_versions(&fields),
            "model-versions/create" => self.create_model_version(&fields),
            "model-versions/get" => self.get_model_version(&fields),
            "model-versions/search" => self.search_model_versions(&fields),
            "model-versions/set-tag" => self.set_model_version_tag(&fields),
            "model-versions/get-download-uri" => self.model_version_download_uri(&fields),
            "registered-models/rename" => self.rename_registered_model(&fields),
            "registered-models/update" => self.update_registered_model(&fields),
            "registered-models/delete-tag" => self.delete_registered_model_tag(&fields),
            "model-versions/delete-tag" => self.delete_model_version_tag(&fields),
            "registered-models/delete" => self.delete_registered_model(&fields),
            "model-versions/update" => self.update_model_version(&fields),
            "model-versions/delete" => self.delete_model_version(&fields),
            "model-versions/transition-stage" => Err(refused(
                codes::INVALID,
                "Lineage's model versions have no stages (MLflow deprecated them): name versions with aliases instead (registered-models/alias).",
            )),
            "experiments/create" => self.create_experiment(&fields),
            "experiments/get" => self.get_experiment(&fields),
            "experiments/get-by-name" => self.get_experiment_by_name(&fields),
            "experiments/search" => self.search_experiments(&fields),
            "experiments/update" => self.update_experiment(&fields),
            "experiments/delete" => self.delete_experiment(&fields),
            "experiments/restore" => self.restore_experiment(&fields),
            "experiments/set-experiment-tag" => self.set_experiment_tag(&fields),
            "runs/create" => self.create_run(&fields),
            "runs/get" => self.get_run(&fields),
            "runs/update" => self.update_run(&fields),
            "runs/delete" => self.delete_run(&fields),
            "runs/restore" => self.restore_run(&fields),
            "runs/delete-tag" => self.delete_tag(&fields),
            "runs/log-inputs" => self.log_inputs(&fields),
            "runs/search" => self.search_runs(&fields),
            "metrics/get-history" => self.metric_history(&fields),
            "metrics/get-history-bulk-interval" => self.metric_history_bulk_interval(&fields),
            "runs/outputs" => self.log_outputs(&fields),
            "logged-models" => self.logged_models(verb, None, &fields),
            other if other.starts_with("logged-models/") => {
                self.logged_models(verb, other.strip_prefix("logged-models/"), &fields)
            }
            other => Err(refused(
                codes::ENDPOINT,
                format!("Lineage's MLflow API has no endpoint `{other}`."),
            )),
        }
    }

    /// Whether `endpoint` only appends: its answer is `{}` once its commands are in the log.
    pub fn only_appends(endpoint: &str) -> bool {
        matches!(
            endpoint,
            "runs/log-metric" | "runs/log-batch" | "runs/log-parameter" | "runs/set-tag"
        )
    }

    /// The commands of a request to an endpoint that [only appends](Self::only_appends),
    /// or None for another endpoint.
    fn only_appending(&self, endpoint: &str, request: &Value) -> Option<Result<Vec<Command>>> {
        let fields = Fields(request);
        Some(match endpoint {
            "runs/log-metric" => self.log_metric(&fields),
            "runs/log-batch" => self.log_batch(&fields),
            "runs/log-parameter" => self.log_param(&fields),
            "runs/set-tag" => self.set_tag(&fields),
            _ => return None,
        })
    }

    /// A request to an endpoint that [only appends](Self::only_appends), decided but not
    /// appended: the caller appends its batch as it likes (an async server awaits the
    /// writer without holding a thread) and answers `{}`. What `call` does, in two steps.
    pub fn decide_appending(&self, endpoint: &str, request: &Value) -> Option<Result<Pending>> {
        let commands = self.only_appending(endpoint, request)?;
        Some(commands.map(|commands| Pending {
            batch: self.target.batch(self.envelopes(commands, None)),
            target: self.target.clone(),
        }))
    }

    /// How long this request has waited for the log so far.
    pub fn waited_for_log(&self) -> std::time::Duration {
        self.log_wait.get()
    }

    fn view(&self) -> View<'_> {
        self.store.view(&self.access)
    }

    fn project(&self) -> Result<&ProjectId> {
        self.target
            .project
            .as_ref()
            .ok_or_else(|| Error::Target("the tracking URI names no project".into()))
    }

    /// Appends `commands` as one batch (after whatever the target still needs made).
    fn execute(&self, commands: Vec<Command>, at: Option<Timestamp>) -> Result<Vec<Appended>> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        let envelopes = self.envelopes(commands, at);
        let started = Instant::now();
        let appended = self.store.execute_batch(self.target.batch(envelopes));
        self.log_wait.set(self.log_wait.get() + started.elapsed());
        let appended = appended?;
        self.target.appended();
        Ok(appended)
    }

    /// `commands` as the principal's, happened at `at` if given.
    fn envelopes(&self, commands: Vec<Command>, at: Option<Timestamp>) -> Vec<CommandEnvelope> {
        commands
            .into_iter()
            .map(|command| {
                let envelope = CommandEnvelope::new(self.target.actor.clone(), command);
                match at {
                    Some(at) => envelope.occurred_at(at),
                    None => envelope,
                }
            })
            .collect()
    }

    /// The Lineage id of the experiment MLflow calls `id` (`0` is the default experiment).
    fn experiment_id(&self, id: &str) -> Result<ExperimentId> {
        let id = match id {
            "0" => self.default_experiment()?.to_string(),
            other => other.to_string(),
        };
        ExperimentId::new(id.clone())
            .map_err(|_| refused(codes::NOT_FOUND, format!("No Experiment with id={id} exists")))
    }

    /// The id MLflow knows an experiment by.
    fn mlflow_experiment_id(&self, id: &ExperimentId) -> String {
        match self.default_experiment() {
            Ok(default) if &default == id => "0".into(),
            _ => id.to_string(),
        }
    }

    fn default_experiment(&self) -> Result<ExperimentId> {
        crate::target::parse(&derived_id("mlflow-default", &[self.project()?.as_str()]))
    }
}

/// Milliseconds since the epoch, as MLflow counts time.
pub(crate) fn millis(at: Timestamp) -> i64 {
    at.micros().div_euclid(1000)
}

/// A fresh id: `prefix` and 32 hex digits of blake3 over the parts, the time and a count,
/// so two made in the same microsecond differ.
pub(crate) fn fresh_id(prefix: &str, parts: &[&str]) -> String {
    static MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let count = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut hasher = blake3::Hasher::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update(&[0x1f]);
    }
    hasher.update(&Timestamp::now().micros().to_le_bytes());
    hasher.update(&count.to_le_bytes());
    hasher.update(&std::process::id().to_le_bytes());
    format!("{prefix}{}", &hasher.finalize().to_hex()[..32])
}
