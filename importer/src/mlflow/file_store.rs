//! Reads MLflow's file store: an `mlruns/` folder of `meta.yaml` files, one file per
//! param, tag and metric, deleted experiments under `.trash/`, the model registry under
//! `models/`.

use super::model::*;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use yaml_rust2::{Yaml, YamlLoader};

/// Reads the whole store. A malformed experiment, run or model is left out whole and
/// named in `unreadable`; only an unreadable root is an error.
/// Whether `root` has the shape of an MLflow file store: an experiment folder (with its
/// meta.yaml), a model registry (`models/`) or MLflow's `.trash/`.
pub fn looks_like_one(root: &Path) -> bool {
    root.join(".trash").is_dir()
        || root.join("models").is_dir()
        || std::fs::read_dir(root)
            .is_ok_and(|entries| entries.flatten().any(|entry| entry.path().join("meta.yaml").is_file()))
}

pub fn read(root: &Path) -> Result<Tracking> {
    let mut tracking = Tracking::default();
    let mut experiment_dirs = Vec::new();
    for (folder, deleted_place) in [(root.to_path_buf(), false), (root.join(".trash"), true)] {
        if deleted_place && !folder.exists() {
            continue;
        }
        for entry in list(&folder)? {
            if entry.join("meta.yaml").is_file() && entry.file_name().is_some_and(|name| name != "models") {
                experiment_dirs.push(entry);
            }
        }
    }
    experiment_dirs.sort();
    for dir in experiment_dirs {
        match experiment(&dir) {
            Ok(found) => {
                let runs = runs_of(&dir, &found, &mut tracking.unreadable);
                tracking.experiments.push(found);
                tracking.runs.extend(runs);
            }
            Err(error) => tracking.unreadable.push(error),
        }
    }
    let registry = root.join("models");
    if registry.is_dir() {
        for dir in list(&registry)? {
            match registered_model(&dir) {
                Ok(model) => tracking.registered_models.push(model),
                Err(error) => tracking.unreadable.push(error),
            }
        }
    }
    Ok(tracking)
}

/// The sub-folders of `dir`, sorted.
fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let read_error = |source| Error::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_error)? {
        let path = entry.map_err(read_error)?.path();
        if path.is_dir() {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs)
}

fn text_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn yaml(path: &Path) -> Result<Yaml> {
    let text = text_file(path)?;
    let mut documents = YamlLoader::load_from_str(&text)
        .map_err(|error| Error::malformed(path.display().to_string(), format!("not YAML: {error}")))?;
    match documents.pop() {
        Some(document @ Yaml::Hash(_)) => Ok(document),
        _ => Err(Error::malformed(path.display().to_string(), "not a YAML mapping")),
    }
}

/// A field as text: MLflow writes ids both quoted and bare, so numbers read as text too.
fn field(document: &Yaml, key: &str) -> Option<String> {
    scalar(&document[key])
}

fn scalar(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(text) => Some(text.clone()),
        Yaml::Integer(number) => Some(number.to_string()),
        Yaml::Real(text) => Some(text.clone()),
        Yaml::Boolean(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn required(document: &Yaml, key: &str, path: &Path) -> Result<String> {
    field(document, key).ok_or_else(|| Error::malformed(path.display().to_string(), format!("no `{key}`")))
}

fn millis(document: &Yaml, key: &str, path: &Path) -> Result<Option<i64>> {
    match field(document, key) {
        None => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|_| Error::malformed(path.display().to_string(), format!("`{key}` is not a time: `{text}`"))),
    }
}

/// A folder of one file per key (params, tags): keys with `/` are nested folders.
fn key_files(dir: &Path) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    if !dir.is_dir() {
        return Ok(pairs);
    }
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let read_error = |source| Error::Read {
            path: folder.clone(),
            source,
        };
        for entry in std::fs::read_dir(&folder).map_err(read_error)? {
            let path = entry.map_err(read_error)?.path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let key = path
                .strip_prefix(dir)
                .expect("walked from dir")
                .to_string_lossy()
                .into_owned();
            pairs.push((key, text_file(&path)?));
        }
    }
    pairs.sort();
    Ok(pairs)
}

fn experiment(dir: &Path) -> Result<Experiment> {
    let meta_path = dir.join("meta.yaml");
    let meta = yaml(&meta_path)?;
    Ok(Experiment {
        id: required(&meta, "experiment_id", &meta_path)?,
        name: required(&meta, "name", &meta_path)?,
        deleted: field(&meta, "lifecycle_stage").as_deref() == Some("deleted"),
        creation_time: millis(&meta, "creation_time", &meta_path)?,
        last_update_time: millis(&meta, "last_update_time", &meta_path)?,
        tags: key_files(&dir.join("tags"))?,
        origin: meta_path.display().to_string(),
    })
}

/// The runs of one experiment folder; an unreadable run is recorded and left out.
fn runs_of(dir: &Path, experiment: &Experiment, unreadable: &mut Vec<Error>) -> Vec<Run> {
    let datasets = match datasets_of(dir) {
        Ok(datasets) => datasets,
        Err(error) => {
            unreadable.push(error);
            Vec::new()
        }
    };
    let logged_models = match logged_models_of(dir) {
        Ok(models) => models,
        Err(error) => {
            unreadable.push(error);
            Vec::new()
        }
    };
    let mut runs = Vec::new();
    let Ok(folders) = list(dir) else {
        return runs;
    };
    for folder in folders {
        let name = folder.file_name().unwrap_or_default().to_string_lossy().into_owned();
        if ["tags", "datasets", "models", "traces"].contains(&name.as_str()) || !folder.join("meta.yaml").is_file() {
            continue;
        }
        match run(&folder, experiment, &datasets, &logged_models) {
            Ok(run) => runs.push(run),
            Err(error) => unreadable.push(error),
        }
    }
    runs
}

fn datasets_of(dir: &Path) -> Result<Vec<(String, Dataset)>> {
    let folder = dir.join("datasets");
    if !folder.is_dir() {
        return Ok(Vec::new());
    }
    let mut datasets = Vec::new();
    for dataset_dir in list(&folder)? {
        let path = dataset_dir.join("meta.yaml");
        let meta = yaml(&path)?;
        let id = dataset_dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        datasets.push((
            id,
            Dataset {
                name: required(&meta, "name", &path)?,
                digest: required(&meta, "digest", &path)?,
                source_type: field(&meta, "source_type").unwrap_or_default(),
                source: required(&meta, "source", &path)?,
                schema: field(&meta, "schema").filter(|schema| !schema.is_empty()),
            },
        ));
    }
    Ok(datasets)
}

/// Logged models by their source run.
fn logged_models_of(dir: &Path) -> Result<Vec<(String, LoggedModel)>> {
    let folder = dir.join("models");
    if !folder.is_dir() {
        return Ok(Vec::new());
    }
    let mut models = Vec::new();
    for model_dir in list(&folder)? {
        let path = model_dir.join("meta.yaml");
        let meta = yaml(&path)?;
        let Some(run) = field(&meta, "source_run_id") else {
            continue;
        };
        models.push((
            run,
            LoggedModel {
                id: required(&meta, "model_id", &path)?,
                name: required(&meta, "name", &path)?,
            },
        ));
    }
    Ok(models)
}

fn run(
    dir: &Path,
    experiment: &Experiment,
    datasets: &[(String, Dataset)],
    logged_models: &[(String, LoggedModel)],
) -> Result<Run> {
    let meta_path = dir.join("meta.yaml");
    let meta = yaml(&meta_path)?;
    let place = meta_path.display().to_string();
    let id = field(&meta, "run_id")
        .or_else(|| field(&meta, "run_uuid"))
        .ok_or_else(|| Error::malformed(&place, "no `run_id`"))?;
    let status_text = required(&meta, "status", &meta_path)?;
    let status = RunStatus::parse(&status_text)
        .ok_or_else(|| Error::malformed(&place, format!("unknown run status `{status_text}`")))?;
    let mut inputs = Vec::new();
    let inputs_dir = dir.join("inputs");
    if inputs_dir.is_dir() {
        for input_dir in list(&inputs_dir)? {
            let path = input_dir.join("meta.yaml");
            let input = yaml(&path)?;
            if field(&input, "source_type").as_deref() != Some("DATASET") {
                continue;
            }
            let source = required(&input, "source_id", &path)?;
            let dataset = datasets
                .iter()
                .find(|(id, _)| *id == source)
                .map(|(_, dataset)| dataset.clone())
                .ok_or_else(|| {
                    Error::malformed(
                        path.display().to_string(),
                        format!("names dataset {source}, which the experiment does not have"),
                    )
                })?;
            let context = input["tags"]["mlflow.data.context"].as_str().map(str::to_string);
            inputs.push(DatasetInput { dataset, context });
        }
    }
    let run_name = field(&meta, "run_name").unwrap_or_default();
    Ok(Run {
        experiment_id: experiment.id.clone(),
        name: run_name,
        status,
        deleted: field(&meta, "lifecycle_stage").as_deref() == Some("deleted"),
        start_time: millis(&meta, "start_time", &meta_path)?,
        end_time: millis(&meta, "end_time", &meta_path)?,
        user: field(&meta, "user_id").unwrap_or_default(),
        source_type: field(&meta, "source_type").unwrap_or_default(),
        source_name: field(&meta, "source_name").unwrap_or_default(),
        entry_point: field(&meta, "entry_point_name").unwrap_or_default(),
        params: key_files(&dir.join("params"))?,
        tags: key_files(&dir.join("tags"))?,
        metrics: metrics(&dir.join("metrics"))?,
        inputs,
        logged_models: logged_models
            .iter()
            .filter(|(run, _)| *run == id)
            .map(|(_, model)| model.clone())
            .collect(),
        origin: place,
        id,
    })
}

/// One file per metric, a line per point: `timestamp value step`, with
/// `dataset_name dataset_digest` after them when the point was logged with a dataset
/// (MLflow 3), and without a step in old stores.
fn metrics(dir: &Path) -> Result<Vec<MetricRow>> {
    let mut rows = Vec::new();
    for (key, text) in key_files(dir)? {
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let broken = |reason: &str| Error::Line {
                path: dir.join(&key),
                line: index + 1,
                reason: reason.to_string(),
            };
            let parts: Vec<&str> = line.split_whitespace().collect();
            if ![2, 3, 5].contains(&parts.len()) {
                return Err(broken(
                    "expected `timestamp value step`, optionally followed by `dataset_name dataset_digest`",
                ));
            }
            rows.push(MetricRow {
                key: key.clone(),
                timestamp: parts[0].parse().map_err(|_| broken("the timestamp is not a number"))?,
                value: parts[1].parse().map_err(|_| broken("the value is not a number"))?,
                step: match parts.get(2) {
                    Some(step) => step.parse().map_err(|_| broken("the step is not a number"))?,
                    None => 0,
                },
                dataset: match parts.as_slice() {
                    [_, _, _, name, digest] => Some((name.to_string(), digest.to_string())),
                    _ => None,
                },
            });
        }
    }
    Ok(rows)
}

fn registered_model(dir: &Path) -> Result<RegisteredModel> {
    let meta_path = dir.join("meta.yaml");
    let meta = yaml(&meta_path)?;
    let mut aliases: Vec<(String, u32)> = Vec::new();
    let alias_place = |alias: &str| format!("{} (alias {alias})", meta_path.display());
    for (alias, version) in key_files(&dir.join("aliases"))? {
        let number = version
            .trim()
            .parse()
            .map_err(|_| Error::malformed(alias_place(&alias), format!("`{version}` is not a version")))?;
        aliases.push((alias, number));
    }
    if let Some(hash) = meta["aliases"].as_hash() {
        for (alias, version) in hash {
            let (Some(alias), Some(version)) = (alias.as_str(), scalar(version)) else {
                continue;
            };
            if aliases.iter().all(|(known, _)| known != alias) {
                let number = version
                    .parse()
                    .map_err(|_| Error::malformed(alias_place(alias), format!("`{version}` is not a version")))?;
                aliases.push((alias.to_string(), number));
            }
        }
    }
    aliases.sort();
    let mut versions = Vec::new();
    for version_dir in list(dir)? {
        let folder = version_dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if !folder.starts_with("version-") {
            continue;
        }
        let path = version_dir.join("meta.yaml");
        let version = yaml(&path)?;
        if field(&version, "current_stage").as_deref() == Some("Deleted_Internal") {
            continue;
        }
        let number = required(&version, "version", &path)?;
        versions.push(ModelVersion {
            version: number
                .parse()
                .map_err(|_| Error::malformed(path.display().to_string(), format!("`{number}` is not a version")))?,
            run_id: field(&version, "run_id").filter(|run| !run.is_empty()),
            source: field(&version, "source").unwrap_or_default(),
            description: field(&version, "description").unwrap_or_default(),
            creation_time: millis(&version, "creation_timestamp", &path)?,
            tags: key_files(&version_dir.join("tags"))?,
        });
    }
    versions.sort_by_key(|version| version.version);
    Ok(RegisteredModel {
        name: required(&meta, "name", &meta_path)?,
        description: field(&meta, "description").unwrap_or_default(),
        creation_time: millis(&meta, "creation_timestamp", &meta_path)?,
        tags: key_files(&dir.join("tags"))?,
        aliases,
        versions,
        origin: meta_path.display().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_lines_of_every_mlflow_version_are_read() {
        let dir = std::env::temp_dir().join(format!("lineage-metric-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("acc"),
            "1700000000000 0.5\n1700000000001 0.6 1\n1700000000002 0.7 2 customers 5c4b9e1a\n",
        )
        .unwrap();
        let rows = metrics(&dir).unwrap();
        assert_eq!(
            rows.iter()
                .map(|row| (row.step, row.value, row.dataset.clone()))
                .collect::<Vec<_>>(),
            vec![
                (0, 0.5, None),
                (1, 0.6, None),
                (2, 0.7, Some(("customers".to_string(), "5c4b9e1a".to_string()))),
            ]
        );
        std::fs::write(dir.join("acc"), "1700000000000 0.5 1 customers\n").unwrap();
        let error = metrics(&dir).unwrap_err().to_string();
        assert!(
            error.contains("line 1") && error.contains("dataset_name dataset_digest"),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
