//! MLflow's artifact proxy (`mlflow-artifacts:/<experiment>/<run>/artifacts/<path>`): a
//! run's files uploaded through Lineage, kept by content under the data directory's
//! `artifacts/` (`artifacts/<2 hex>/<blake3 hex>`, written and synced before the event
//! that records the file's path, size and digest is appended), listed, downloaded and
//! deleted. Content is only ever added: deleting an artifact appends an event and keeps
//! the bytes, which other runs (or history) may still name.

use super::answers::run_detail;
use super::{codes, refused, Tracking};
use crate::error::{Error, Result};
use lineage_schema::entity::{under, Entity};
use lineage_schema::event::*;
use lineage_schema::*;
use serde_json::{json, Value};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Uploads that make a new content file and those that remove one after a refused append
/// take turns, so one never removes a file another has just recorded.
static CONTENT: Mutex<()> = Mutex::new(());

/// An upload on its way to disk: a temporary file, hashed as it is written.
#[derive(Debug)]
pub struct Upload {
    run: RunId,
    path: String,
    temporary: PathBuf,
    file: File,
    hasher: blake3::Hasher,
    size: u64,
    limit: u64,
}

/// The folder content files live in.
pub fn content_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("artifacts")
}

/// Removes what uploads a crash or kill cut short left in `artifacts/incoming/`: a
/// one-piece upload's temporary file (`upload-…`) and a multipart part's (`mpu-…/N.partial`)
/// each live only for their request, so any found before the server serves is left over
/// and named by nothing in the log. Multipart uploads themselves (their folders, the parts
/// they received) are kept: they span requests until completed or aborted. Returns how
/// many files were removed.
pub fn remove_interrupted_uploads(data_dir: &Path) -> Result<usize> {
    let incoming = content_dir(data_dir).join("incoming");
    let mut removed = 0;
    for path in listed(&incoming)? {
        let name = path.file_name().and_then(|name| name.to_str()).unwrap_or_default();
        if name.starts_with("upload-") && path.is_file() {
            std::fs::remove_file(&path).map_err(io(&path))?;
            removed += 1;
        } else if name.starts_with("mpu-") && path.is_dir() {
            removed += remove_files_in(&path, |name| name.ends_with(".partial"))?;
        }
    }
    Ok(removed)
}

/// The entries of `dir` (none when it does not exist).
fn listed(dir: &Path) -> Result<Vec<PathBuf>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|entry| entry.map(|entry| entry.path()).map_err(io(dir)))
            .collect(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(io(dir)(error)),
    }
}

/// Removes the files in `dir` whose names `leftover` picks; how many.
fn remove_files_in(dir: &Path, leftover: fn(&str) -> bool) -> Result<usize> {
    let mut removed = 0;
    for path in listed(dir)? {
        let picked = path.file_name().and_then(|name| name.to_str()).is_some_and(leftover);
        if picked && path.is_file() {
            std::fs::remove_file(&path).map_err(io(&path))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Where the content with `digest` is kept.
pub fn content_path(data_dir: &Path, digest: &Digest) -> PathBuf {
    let hex = digest.to_hex();
    content_dir(data_dir).join(&hex[..2]).join(hex)
}

/// An artifact path as a run's artifacts are named: relative, `/`-separated, with no
/// empty, `.` or `..` segment (nothing can point outside the run).
fn checked_path(path: &str) -> Result<String> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.contains('\\')
        || path.contains('\0')
        || path
            .split('/')
            .any(|segment| segment.is_empty() || segment == "." || segment == "..");
    if bad {
        return Err(refused(
            codes::INVALID,
            format!("Invalid artifact path '{path}': a relative path of names, without '.', '..' or empty parts."),
        ));
    }
    Ok(path.to_string())
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Read {
        path: path.to_path_buf(),
        source,
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|dir| dir.sync_all()).map_err(io(dir))
}

impl Upload {
    /// Adds the next bytes; past the size limit, the upload is refused (and nothing kept).
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.size += bytes.len() as u64;
        if self.size > self.limit {
            return Err(refused(
                codes::INVALID,
                format!(
                    "The artifact '{}' is over the limit of {} bytes.",
                    self.path, self.limit
                ),
            ));
        }
        self.hasher.update(bytes);
        self.file.write_all(bytes).map_err(io(&self.temporary))
    }

    /// Drops what was written (a refused or interrupted upload stores nothing).
    pub fn abandon(self) {
        drop(self.file);
        let _ = std::fs::remove_file(&self.temporary);
    }
}

impl Tracking<'_> {
    /// The run an artifact path names (`<experiment>/<run>/artifacts/<path>`), if it is one
    /// of this tracking URI's, and the path inside it (empty: the run's root).
    fn artifact_place(&self, path: &str) -> Result<(RunId, Entity, String)> {
        let mut parts = path.trim_matches('/').splitn(4, '/');
        let (experiment, run, artifacts, rest) = (parts.next(), parts.next(), parts.next(), parts.next());
        let (Some(experiment), Some(run), Some("artifacts")) = (experiment, run, artifacts) else {
            return Err(refused(
                codes::NOT_FOUND,
                format!("'{path}' names no run's artifacts (expected <experiment>/<run>/artifacts/<path>)"),
            ));
        };
        let (run_id, entity) = self.run_by_id(run)?;
        if run_detail(&entity).is_none_or(|detail| detail.experiment.as_str() != experiment) {
            return Err(refused(codes::NOT_FOUND, format!("Run with id={run} not found")));
        }
        Ok((run_id, entity, rest.unwrap_or_default().to_string()))
    }

    /// Starts an upload to `path`, after checking the run and the path: a bad one is
    /// refused before anything is written.
    pub fn begin_upload(&self, path: &str, limit: u64) -> Result<Upload> {
        let (run, _, inside) = self.artifact_place(path)?;
        let inside = checked_path(&inside)?;
        let dir = content_dir(self.store.dir()).join("incoming");
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let temporary = dir.join(super::fresh_id("upload-", &[run.as_str(), &inside]));
        let file = File::create(&temporary).map_err(io(&temporary))?;
        Ok(Upload {
            run,
            path: inside,
            temporary,
            file,
            hasher: blake3::Hasher::new(),
            size: 0,
            limit,
        })
    }

    /// Makes the upload durable under its digest, then appends the event recording it.
    /// If the store refuses the event, content this upload added is removed again.
    pub fn finish_upload(&self, upload: Upload) -> Result<Value> {
        upload.file.sync_all().map_err(io(&upload.temporary))?;
        let digest = Digest(*upload.hasher.finalize().as_bytes());
        let target = content_path(self.store.dir(), &digest);
        let folder = target.parent().expect("content paths have a folder").to_path_buf();
        let _turn = CONTENT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let added = !target.exists();
        if added {
            std::fs::create_dir_all(&folder).map_err(io(&folder))?;
            std::fs::rename(&upload.temporary, &target).map_err(io(&target))?;
            sync_dir(&folder)?;
        } else {
            let _ = std::fs::remove_file(&upload.temporary);
        }
        let command = Command::RecordArtifacts(ArtifactsRecorded {
            run: upload.run,
            artifacts: vec![Artifact {
                path: upload.path,
                size: upload.size,
                digest,
            }],
        });
        if let Err(error) = self.execute(vec![command], None) {
            if added {
                let _ = std::fs::remove_file(&target);
            }
            return Err(error);
        }
        Ok(json!({}))
    }

    /// The content file of the artifact at `path`, and its size.
    pub fn artifact_file(&self, path: &str) -> Result<(PathBuf, u64)> {
        let (run, entity, inside) = self.artifact_place(path)?;
        let detail = run_detail(&entity).ok_or_else(|| refused(codes::NOT_FOUND, "not a run"))?;
        let artifact = detail
            .artifacts
            .iter()
            .find(|artifact| artifact.path == inside)
            .ok_or_else(|| refused(codes::NOT_FOUND, format!("No artifact '{inside}' in run {run}.")))?;
        Ok((content_path(self.store.dir(), &artifact.digest), artifact.size))
    }

    /// The files and folders directly inside `path`, as MLflow lists them.
    pub fn list_artifacts(&self, path: &str) -> Result<Value> {
        let (_, entity, inside) = self.artifact_place(path)?;
        let detail = run_detail(&entity).ok_or_else(|| refused(codes::NOT_FOUND, "not a run"))?;
        let prefix = if inside.is_empty() {
            String::new()
        } else {
            format!("{}/", inside.trim_end_matches('/'))
        };
        let mut files = std::collections::BTreeMap::new();
        for artifact in &detail.artifacts {
            if artifact.path == inside {
                // A file asked about is listed by its own name, as MLflow's server does
                // (its client then knows the path is a file, not a folder).
                let name = inside.rsplit('/').next().unwrap_or(&inside);
                return Ok(json!({ "files": [{ "path": name, "is_dir": false, "file_size": artifact.size }] }));
            }
            let Some(rest) = artifact.path.strip_prefix(&prefix) else {
                continue;
            };
            let entry = match rest.split_once('/') {
                Some((folder, _)) => json!({ "path": format!("{prefix}{folder}"), "is_dir": true }),
                None => json!({ "path": artifact.path, "is_dir": false, "file_size": artifact.size }),
            };
            let name = entry["path"].as_str().unwrap_or_default().to_string();
            files.entry(name).or_insert(entry);
        }
        // MLflow lists paths relative to the folder asked about.
        let files: Vec<Value> = files
            .into_values()
            .map(|mut entry| {
                let full = entry["path"].as_str().unwrap_or_default().to_string();
                entry["path"] = json!(full.strip_prefix(&prefix).unwrap_or(&full));
                entry
            })
            .collect();
        Ok(json!({ "files": files }))
    }

    /// Deletes the artifacts at `path` and under it (the run's root: all of them).
    pub fn delete_artifacts(&self, path: &str) -> Result<Value> {
        let (run, entity, inside) = self.artifact_place(path)?;
        let held = run_detail(&entity)
            .is_some_and(|detail| detail.artifacts.iter().any(|artifact| under(&artifact.path, &inside)));
        if !held {
            return Err(refused(
                codes::NOT_FOUND,
                format!("No artifact '{inside}' in run {run}."),
            ));
        }
        self.execute(
            vec![Command::DeleteArtifacts(ArtifactsDeleted {
                run,
                paths: vec![inside],
            })],
            None,
        )?;
        Ok(json!({}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupted_uploads_are_removed_and_multipart_uploads_kept() {
        let data = tempfile::tempdir().unwrap();
        assert_eq!(remove_interrupted_uploads(data.path()).unwrap(), 0, "no artifacts yet");
        let incoming = content_dir(data.path()).join("incoming");
        let upload = incoming.join(format!("mpu-{}", "a".repeat(32)));
        std::fs::create_dir_all(&upload).unwrap();
        for (path, bytes) in [
            (incoming.join("upload-0123"), &b"half"[..]),
            (incoming.join("upload-4567"), b""),
            (upload.join("3.partial"), b"part"),
            (upload.join("1"), b"a whole part"),
            (upload.join("upload.json"), b"{}"),
            (incoming.join("notes"), b"not ours"),
        ] {
            std::fs::write(path, bytes).unwrap();
        }
        assert_eq!(remove_interrupted_uploads(data.path()).unwrap(), 3);
        let mut left: Vec<String> = walk(&incoming);
        left.sort();
        assert_eq!(
            left,
            [
                "mpu-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/1",
                "mpu-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/upload.json",
                "notes"
            ]
        );
        assert_eq!(remove_interrupted_uploads(data.path()).unwrap(), 0);
    }

    fn walk(dir: &Path) -> Vec<String> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            if path.is_dir() {
                found.extend(walk(&path).into_iter().map(|inner| format!("{name}/{inner}")));
            } else {
                found.push(name);
            }
        }
        found
    }
}
