//! Reads MLflow's SQL store from its SQLite form (`mlflow.db`), opened read-only. Tables
//! that older MLflow releases lack (datasets, aliases, logged models) read as empty.

use super::model::*;
use crate::error::{Error, Result};
use rusqlite::{Connection, OpenFlags, Row};
use std::collections::BTreeMap;
use std::path::Path;

pub fn read(path: &Path) -> Result<Tracking> {
    let database = |source| Error::Database {
        path: path.to_path_buf(),
        source,
    };
    let connection =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(database)?;
    let reader = Reader {
        connection: &connection,
        file: path.file_name().unwrap_or_default().to_string_lossy().into_owned(),
    };
    if !reader.has_table("experiments").map_err(database)? || !reader.has_table("runs").map_err(database)? {
        return Err(Error::malformed(
            path.display().to_string(),
            "not an MLflow tracking database (no `experiments` and `runs` tables)",
        ));
    }
    let mut tracking = Tracking::default();
    reader.experiments(&mut tracking).map_err(database)?;
    reader.runs(&mut tracking).map_err(database)?;
    if reader.has_table("registered_models").map_err(database)? {
        reader.registered_models(&mut tracking).map_err(database)?;
    }
    Ok(tracking)
}

struct Reader<'a> {
    connection: &'a Connection,
    file: String,
}

type Sql<T> = rusqlite::Result<T>;

impl Reader<'_> {
    fn place(&self, table: &str, key: &str) -> String {
        format!("{}, table {table}, {key}", self.file)
    }

    fn has_table(&self, table: &str) -> Sql<bool> {
        self.connection
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |row| row.get::<_, i64>(0),
            )
            .map(|count| count > 0)
    }

    /// Rows of `sql` as text pairs grouped by their first column.
    fn grouped_pairs(&self, sql: &str) -> Sql<BTreeMap<String, Vec<(String, String)>>> {
        let mut grouped: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        let mut statement = self.connection.prepare(sql)?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            grouped
                .entry(text(row, 0)?)
                .or_default()
                .push((text(row, 1)?, text(row, 2)?));
        }
        Ok(grouped)
    }

    fn experiments(&self, tracking: &mut Tracking) -> Sql<()> {
        let mut tags = self.grouped_pairs("SELECT experiment_id, key, value FROM experiment_tags ORDER BY key")?;
        let mut statement = self.connection.prepare(
            "SELECT experiment_id, name, lifecycle_stage, creation_time, last_update_time FROM experiments ORDER BY experiment_id",
        )?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let id = text(row, 0)?;
            tracking.experiments.push(Experiment {
                name: text(row, 1)?,
                deleted: text(row, 2)? == "deleted",
                creation_time: row.get(3)?,
                last_update_time: row.get(4)?,
                tags: tags.remove(&id).unwrap_or_default(),
                origin: self.place("experiments", &format!("experiment_id {id}")),
                id,
            });
        }
        Ok(())
    }

    fn runs(&self, tracking: &mut Tracking) -> Sql<()> {
        let mut params = self.grouped_pairs("SELECT run_uuid, key, value FROM params ORDER BY key")?;
        let mut tags = self.grouped_pairs("SELECT run_uuid, key, value FROM tags ORDER BY key")?;
        let mut metrics: BTreeMap<String, Vec<MetricRow>> = BTreeMap::new();
        {
            let mut statement = self
                .connection
                .prepare("SELECT run_uuid, key, value, step, timestamp, is_nan FROM metrics ORDER BY run_uuid, key, step, timestamp")?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                let is_nan: bool = row.get::<_, Option<bool>>(5)?.unwrap_or(false);
                metrics.entry(text(row, 0)?).or_default().push(MetricRow {
                    key: text(row, 1)?,
                    value: if is_nan { f64::NAN } else { row.get(2)? },
                    step: row.get::<_, Option<i64>>(3)?.unwrap_or(0),
                    timestamp: row.get(4)?,
                    // The SQL store keeps a point's dataset only for logged models' metrics.
                    dataset: None,
                });
            }
        }
        let mut inputs = self.dataset_inputs()?;
        let mut logged = self.logged_models()?;
        let mut statement = self.connection.prepare(
            "SELECT run_uuid, experiment_id, name, status, lifecycle_stage, start_time, end_time, user_id, source_type, source_name, entry_point_name FROM runs ORDER BY start_time, run_uuid",
        )?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let id = text(row, 0)?;
            let origin = self.place("runs", &format!("run_uuid {id}"));
            let status_text = text(row, 3)?;
            let Some(status) = RunStatus::parse(&status_text) else {
                tracking
                    .unreadable
                    .push(Error::malformed(origin, format!("unknown run status `{status_text}`")));
                continue;
            };
            tracking.runs.push(Run {
                experiment_id: text(row, 1)?,
                name: text(row, 2)?,
                status,
                deleted: text(row, 4)? == "deleted",
                start_time: row.get(5)?,
                end_time: row.get(6)?,
                user: text(row, 7)?,
                source_type: text(row, 8)?,
                source_name: text(row, 9)?,
                entry_point: text(row, 10)?,
                params: params.remove(&id).unwrap_or_default(),
                tags: tags.remove(&id).unwrap_or_default(),
                metrics: metrics.remove(&id).unwrap_or_default(),
                inputs: inputs.remove(&id).unwrap_or_default(),
                logged_models: logged.remove(&id).unwrap_or_default(),
                origin,
                id,
            });
        }
        Ok(())
    }

    /// Dataset inputs by run.
    fn dataset_inputs(&self) -> Sql<BTreeMap<String, Vec<DatasetInput>>> {
        let mut by_run: BTreeMap<String, Vec<DatasetInput>> = BTreeMap::new();
        if !self.has_table("datasets")? || !self.has_table("inputs")? {
            return Ok(by_run);
        }
        let contexts: BTreeMap<String, String> = if self.has_table("input_tags")? {
            let mut statement = self
                .connection
                .prepare("SELECT input_uuid, value FROM input_tags WHERE name = 'mlflow.data.context'")?;
            let pairs = statement.query_map([], |row| Ok((text(row, 0)?, text(row, 1)?)))?;
            pairs.collect::<Sql<_>>()?
        } else {
            BTreeMap::new()
        };
        let mut statement = self.connection.prepare(
            "SELECT inputs.destination_id, inputs.input_uuid, d.name, d.digest, d.dataset_source_type, d.dataset_source, d.dataset_schema
             FROM inputs JOIN datasets d ON d.dataset_uuid = inputs.source_id
             WHERE inputs.source_type = 'DATASET' AND inputs.destination_type = 'RUN'
             ORDER BY d.name, d.digest",
        )?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            by_run.entry(text(row, 0)?).or_default().push(DatasetInput {
                context: contexts.get(&text(row, 1)?).cloned(),
                dataset: Dataset {
                    name: text(row, 2)?,
                    digest: text(row, 3)?,
                    source_type: text(row, 4)?,
                    source: text(row, 5)?,
                    schema: row.get::<_, Option<String>>(6)?.filter(|schema| !schema.is_empty()),
                },
            });
        }
        Ok(by_run)
    }

    /// Logged models by their source run.
    fn logged_models(&self) -> Sql<BTreeMap<String, Vec<LoggedModel>>> {
        let mut by_run: BTreeMap<String, Vec<LoggedModel>> = BTreeMap::new();
        if !self.has_table("logged_models")? {
            return Ok(by_run);
        }
        let mut statement = self.connection.prepare(
            "SELECT source_run_id, model_id, name FROM logged_models WHERE source_run_id IS NOT NULL ORDER BY creation_timestamp_ms, model_id",
        )?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            by_run.entry(text(row, 0)?).or_default().push(LoggedModel {
                id: text(row, 1)?,
                name: text(row, 2)?,
            });
        }
        Ok(by_run)
    }

    fn registered_models(&self, tracking: &mut Tracking) -> Sql<()> {
        let mut tags = if self.has_table("registered_model_tags")? {
            self.grouped_pairs("SELECT name, key, value FROM registered_model_tags ORDER BY key")?
        } else {
            BTreeMap::new()
        };
        let mut aliases: BTreeMap<String, Vec<(String, u32)>> = BTreeMap::new();
        if self.has_table("registered_model_aliases")? {
            let mut statement = self
                .connection
                .prepare("SELECT name, alias, version FROM registered_model_aliases ORDER BY alias")?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                aliases
                    .entry(text(row, 0)?)
                    .or_default()
                    .push((text(row, 1)?, row.get(2)?));
            }
        }
        let mut version_tags: BTreeMap<(String, u32), Vec<(String, String)>> = BTreeMap::new();
        if self.has_table("model_version_tags")? {
            let mut statement = self
                .connection
                .prepare("SELECT name, version, key, value FROM model_version_tags ORDER BY key")?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                version_tags
                    .entry((text(row, 0)?, row.get(1)?))
                    .or_default()
                    .push((text(row, 2)?, text(row, 3)?));
            }
        }
        let mut versions: BTreeMap<String, Vec<ModelVersion>> = BTreeMap::new();
        {
            let mut statement = self.connection.prepare(
                "SELECT name, version, run_id, source, description, creation_time FROM model_versions
                 WHERE current_stage IS NULL OR current_stage != 'Deleted_Internal' ORDER BY name, version",
            )?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                let name = text(row, 0)?;
                let version: u32 = row.get(1)?;
                versions.entry(name.clone()).or_default().push(ModelVersion {
                    version,
                    run_id: row.get::<_, Option<String>>(2)?.filter(|run| !run.is_empty()),
                    source: text(row, 3)?,
                    description: text(row, 4)?,
                    creation_time: row.get(5)?,
                    tags: version_tags.remove(&(name, version)).unwrap_or_default(),
                });
            }
        }
        let mut statement = self
            .connection
            .prepare("SELECT name, description, creation_time FROM registered_models ORDER BY name")?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let name = text(row, 0)?;
            tracking.registered_models.push(RegisteredModel {
                description: text(row, 1)?,
                creation_time: row.get(2)?,
                tags: tags.remove(&name).unwrap_or_default(),
                aliases: aliases.remove(&name).unwrap_or_default(),
                versions: versions.remove(&name).unwrap_or_default(),
                origin: self.place("registered_models", &format!("name {name}")),
                name,
            });
        }
        Ok(())
    }
}

/// A column as text: NULL reads as empty, numbers (experiment ids) as their digits.
fn text(row: &Row<'_>, index: usize) -> Sql<String> {
    use rusqlite::types::ValueRef;
    Ok(match row.get_ref(index)? {
        ValueRef::Null => String::new(),
        ValueRef::Integer(number) => number.to_string(),
        ValueRef::Real(number) => number.to_string(),
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => String::from_utf8_lossy(bytes).into_owned(),
    })
}
