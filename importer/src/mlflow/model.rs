//! What an MLflow tracking store holds, as both of its forms (file store and SQLite) read
//! into one shape: experiments with their runs, datasets and the model registry.

use crate::error::Error;

/// Everything read from one MLflow tracking store.
#[derive(Debug, Default)]
pub struct Tracking {
    pub experiments: Vec<Experiment>,
    pub runs: Vec<Run>,
    pub registered_models: Vec<RegisteredModel>,
    /// Records that could not be read, each named by where it is. Their entities are
    /// skipped whole; the rest imports.
    pub unreadable: Vec<Error>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Experiment {
    pub id: String,
    pub name: String,
    pub deleted: bool,
    /// Milliseconds since the Unix epoch, as MLflow keeps time.
    pub creation_time: Option<i64>,
    pub last_update_time: Option<i64>,
    pub tags: Vec<(String, String)>,
    /// Where it was read from (a file, a table row), for messages.
    pub origin: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Scheduled,
    Running,
    Finished,
    Failed,
    Killed,
}

impl RunStatus {
    /// MLflow's names (the SQL store) and numbers (the file store's `meta.yaml`).
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "SCHEDULED" | "2" => RunStatus::Scheduled,
            "RUNNING" | "1" => RunStatus::Running,
            "FINISHED" | "3" => RunStatus::Finished,
            "FAILED" | "4" => RunStatus::Failed,
            "KILLED" | "5" => RunStatus::Killed,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct MetricRow {
    pub key: String,
    pub value: f64,
    pub step: i64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The dataset (name, digest) the point was logged with, if any (MLflow 3). Lineage's
    /// metric points carry none: the run's dataset inputs say what it read.
    pub dataset: Option<(String, String)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub name: String,
    pub digest: String,
    pub source_type: String,
    /// MLflow's JSON description of the source (`{"uri": "s3://…"}`).
    pub source: String,
    /// MLflow's JSON schema (`{"mlflow_colspec": [...]}`), if logged.
    pub schema: Option<String>,
}

impl Dataset {
    /// The source's location: its `uri` (or `url`, `path`, `table_name`) if the JSON
    /// names one, else the JSON itself.
    pub fn location(&self) -> String {
        let parsed: Option<serde_json::Value> = serde_json::from_str(&self.source).ok();
        parsed
            .as_ref()
            .and_then(|value| {
                ["uri", "url", "path", "table_name"]
                    .iter()
                    .find_map(|key| value.get(*key).and_then(|v| v.as_str()))
            })
            .map(str::to_string)
            .unwrap_or_else(|| self.source.clone())
    }

    /// The columns of MLflow's column-spec schema (tensor specs name no columns).
    pub fn columns(&self) -> Vec<lineage_schema::event::SchemaField> {
        let Some(schema) = &self.schema else {
            return Vec::new();
        };
        let parsed: serde_json::Value = serde_json::from_str(schema).unwrap_or_default();
        let Some(columns) = parsed.get("mlflow_colspec").and_then(|v| v.as_array()) else {
            return Vec::new();
        };
        columns
            .iter()
            .enumerate()
            .map(|(index, column)| lineage_schema::event::SchemaField {
                name: column
                    .get("name")
                    .and_then(|v| v.as_str())
                    .map_or_else(|| format!("column {index}"), str::to_string),
                data_type: match column.get("type") {
                    Some(serde_json::Value::String(kind)) => kind.clone(),
                    Some(other) => other.to_string(),
                    None => "unknown".into(),
                },
                description: None,
            })
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct DatasetInput {
    pub dataset: Dataset,
    /// `mlflow.data.context` (`training`, `eval`), if tagged.
    pub context: Option<String>,
}

/// An MLflow 3 logged model: a model a run produced, before any registration.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedModel {
    pub id: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub id: String,
    pub experiment_id: String,
    pub name: String,
    pub status: RunStatus,
    pub deleted: bool,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub user: String,
    pub source_type: String,
    pub source_name: String,
    pub entry_point: String,
    pub params: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    pub metrics: Vec<MetricRow>,
    pub inputs: Vec<DatasetInput>,
    pub logged_models: Vec<LoggedModel>,
    pub origin: String,
}

impl Run {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(tag, _)| tag == key)
            .map(|(_, value)| value.as_str())
    }

    pub fn parent(&self) -> Option<&str> {
        self.tag("mlflow.parentRunId")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModelVersion {
    pub version: u32,
    pub run_id: Option<String>,
    pub source: String,
    pub description: String,
    pub creation_time: Option<i64>,
    pub tags: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RegisteredModel {
    pub name: String,
    pub description: String,
    pub creation_time: Option<i64>,
    pub tags: Vec<(String, String)>,
    /// Alias → MLflow version number.
    pub aliases: Vec<(String, u32)>,
    /// Live versions in version order (MLflow's deleted versions are left out).
    pub versions: Vec<ModelVersion>,
    pub origin: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(source: &str, schema: Option<&str>) -> Dataset {
        Dataset {
            name: "customers".into(),
            digest: "3d6b1119".into(),
            source_type: "s3".into(),
            source: source.into(),
            schema: schema.map(str::to_string),
        }
    }

    #[test]
    fn run_statuses_read_from_both_forms() {
        assert_eq!(RunStatus::parse("FINISHED"), Some(RunStatus::Finished));
        assert_eq!(RunStatus::parse("3"), Some(RunStatus::Finished));
        assert_eq!(RunStatus::parse("5"), Some(RunStatus::Killed));
        assert_eq!(RunStatus::parse("finished"), None, "MLflow writes them in capitals");
        assert_eq!(RunStatus::parse("6"), None);
    }

    #[test]
    fn a_dataset_source_gives_its_uri_or_itself() {
        assert_eq!(dataset(r#"{"uri": "s3://a/b"}"#, None).location(), "s3://a/b");
        assert_eq!(dataset(r#"{"table_name": "db.t"}"#, None).location(), "db.t");
        assert_eq!(dataset("not json", None).location(), "not json");
    }

    #[test]
    fn column_specs_become_schema_fields_and_tensor_specs_none() {
        let columns = dataset(
            "{}",
            Some(r#"{"mlflow_colspec": [{"type": "long", "name": "tenure"}, {"type": {"type": "array"}}]}"#),
        )
        .columns();
        assert_eq!(columns.len(), 2);
        assert_eq!(
            (columns[0].name.as_str(), columns[0].data_type.as_str()),
            ("tenure", "long")
        );
        assert_eq!(columns[1].name, "column 1");
        assert_eq!(columns[1].data_type, r#"{"type":"array"}"#);
        assert!(dataset("{}", Some(r#"{"mlflow_tensorspec": {}}"#)).columns().is_empty());
        assert!(dataset("{}", Some("garbage")).columns().is_empty());
    }
}
