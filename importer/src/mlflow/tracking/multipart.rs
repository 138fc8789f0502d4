//! MLflow's multipart artifact uploads (`mlflow-artifacts/mpu/…`), served by Lineage
//! itself: `create` checks the run and the path and hands out one URL per part, each
//! naming the upload by a random id (like a cloud store's presigned URL, the id is what
//! lets a part in, so MLflow's client sends parts without credentials); the artifact is
//! the URL's folder and the name of the client's local file (`path`); parts land in
//! `artifacts/incoming/<id>/`; `complete`, by the principal that created the upload,
//! joins them into one content-addressed artifact exactly as a one-piece upload is
//! recorded; `abort` drops them.

use super::artifacts::content_dir;
use super::{codes, refused, Fields, Tracking};
use crate::error::{Error, Result};
use serde_json::{json, Value};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// At most this many parts in one upload, as S3 allows.
pub const MAX_PARTS: i64 = 10_000;

const MANIFEST: &str = "upload.json";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Read {
        path: path.to_path_buf(),
        source,
    }
}

fn unknown(id: &str) -> Error {
    refused(codes::NOT_FOUND, format!("No multipart upload '{id}' is under way."))
}

/// The folder of upload `id`, if `id` is one this server could have made.
fn upload_dir(data_dir: &Path, id: &str) -> Result<PathBuf> {
    let hex = id.strip_prefix("mpu-").unwrap_or_default();
    if hex.len() != 32 || !hex.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(unknown(id));
    }
    Ok(content_dir(data_dir).join("incoming").join(id))
}

fn random_id() -> Result<String> {
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .map_err(io(Path::new("/dev/urandom")))?;
    Ok(format!("mpu-{}", lineage_schema::checkpoint::hex(&bytes)))
}

/// One part on its way to disk.
#[derive(Debug)]
pub struct Part {
    file: File,
    temporary: PathBuf,
    target: PathBuf,
    hasher: blake3::Hasher,
    size: u64,
    limit: u64,
}

/// Starts receiving part `number` of upload `id` (no principal: the id admits it).
pub fn begin_part(data_dir: &Path, id: &str, number: u32, limit: u64) -> Result<Part> {
    let dir = upload_dir(data_dir, id)?;
    let manifest: Value = std::fs::read(dir.join(MANIFEST))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| unknown(id))?;
    let parts = manifest["parts"].as_u64().unwrap_or_default();
    if number == 0 || u64::from(number) > parts {
        return Err(refused(
            codes::INVALID,
            format!("Upload '{id}' has parts 1 to {parts}, not {number}."),
        ));
    }
    let temporary = dir.join(format!("{number}.partial"));
    let file = File::create(&temporary).map_err(io(&temporary))?;
    Ok(Part {
        file,
        temporary,
        target: dir.join(number.to_string()),
        hasher: blake3::Hasher::new(),
        size: 0,
        limit,
    })
}

impl Part {
    /// Adds the next bytes; past the artifact size limit the part is refused.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.size += bytes.len() as u64;
        if self.size > self.limit {
            return Err(refused(
                codes::INVALID,
                format!("A part is over the artifact limit of {} bytes.", self.limit),
            ));
        }
        self.hasher.update(bytes);
        self.file.write_all(bytes).map_err(io(&self.temporary))
    }

    /// Keeps the part; answers its ETag (its blake3 digest), which `complete` names.
    pub fn finish(self) -> Result<String> {
        self.file.sync_all().map_err(io(&self.temporary))?;
        std::fs::rename(&self.temporary, &self.target).map_err(io(&self.target))?;
        Ok(self.hasher.finalize().to_hex().to_string())
    }

    pub fn abandon(self) {
        drop(self.file);
        let _ = std::fs::remove_file(&self.temporary);
    }
}

/// Appends the part at `file` to `upload`; answers the part's digest.
fn copy_part(file: &Path, upload: &mut super::artifacts::Upload) -> Result<String> {
    let mut reader = File::open(file).map_err(io(file))?;
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let read = reader.read(&mut buffer).map_err(io(file))?;
        if read == 0 {
            return Ok(hasher.finalize().to_hex().to_string());
        }
        hasher.update(&buffer[..read]);
        upload.write(&buffer[..read])?;
    }
}

/// The artifact a step is about: MLflow's client names the folder in the URL and the
/// local file in `path`, whose name the artifact takes.
fn artifact_of(folder: &str, request: &Value) -> Result<String> {
    let local = Fields(request).text("path")?;
    let name = local.rsplit(['/', '\\']).next().unwrap_or(local);
    Ok(format!("{}/{name}", folder.trim_end_matches('/')))
}

impl Tracking<'_> {
    /// `mpu/create`: checks the run and the path (nothing is written for a bad one) and
    /// answers the upload's id and one URL per part under `parts_url`
    /// (`<parts_url>/<id>/<number>`).
    pub fn create_multipart(&self, folder: &str, request: &Value, parts_url: &str) -> Result<Value> {
        let path = &artifact_of(folder, request)?;
        let parts = Fields(request).integer("num_parts")?.unwrap_or(1);
        if !(1..=MAX_PARTS).contains(&parts) {
            return Err(refused(
                codes::INVALID,
                format!("Invalid value {parts} for parameter 'num_parts': it must be between 1 and {MAX_PARTS}."),
            ));
        }
        // The same checks as a one-piece upload, before anything is kept.
        self.begin_upload(path, 0)?.abandon();
        let id = random_id()?;
        let dir = upload_dir(self.store.dir(), &id)?;
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let manifest = json!({ "path": path, "actor": self.target.actor.as_str(), "parts": parts });
        let file = dir.join(MANIFEST);
        std::fs::write(&file, manifest.to_string()).map_err(io(&file))?;
        let credentials: Vec<Value> = (1..=parts)
            .map(|number| json!({ "url": format!("{parts_url}/{id}/{number}"), "part_number": number, "headers": {} }))
            .collect();
        Ok(json!({ "upload_id": id, "credentials": credentials }))
    }

    /// The folder of upload `id`, if this principal made it for `path`.
    fn own_upload(&self, path: &str, id: &str) -> Result<(PathBuf, u64)> {
        let dir = upload_dir(self.store.dir(), id)?;
        let manifest: Value = std::fs::read(dir.join(MANIFEST))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| unknown(id))?;
        let mine = manifest["actor"].as_str() == Some(self.target.actor.as_str());
        if !mine || manifest["path"].as_str() != Some(path) {
            return Err(unknown(id));
        }
        Ok((dir, manifest["parts"].as_u64().unwrap_or_default()))
    }

    /// `mpu/complete`: the parts named, in order 1, 2, …, each as uploaded (its ETag),
    /// become the artifact at `path`, recorded as a one-piece upload is.
    pub fn complete_multipart(&self, folder: &str, request: &Value, limit: u64) -> Result<Value> {
        let path = &artifact_of(folder, request)?;
        let fields = Fields(request);
        let id = fields.text("upload_id")?;
        let (dir, _) = self.own_upload(path, id)?;
        let mut upload = self.begin_upload(path, limit)?;
        for (index, part) in fields.list("parts").iter().enumerate() {
            let part = Fields(part);
            let number = part.integer("part_number")?.unwrap_or_default();
            let etag = part.optional_text("etag").unwrap_or_default().trim_matches('"');
            let copied = if number == index as i64 + 1 {
                copy_part(&dir.join(number.to_string()), &mut upload)
            } else {
                Err(refused(codes::INVALID, "parts are numbered 1, 2, … in order"))
            };
            let problem = match copied {
                Ok(digest) if etag.is_empty() || etag == digest => None,
                Ok(_) => Some(refused(
                    codes::INVALID,
                    format!("Part {number} of upload '{id}' does not match its ETag."),
                )),
                Err(Error::Read { .. }) => Some(refused(
                    codes::INVALID,
                    format!("Part {} of upload '{id}' was not uploaded.", index + 1),
                )),
                Err(error) => Some(error),
            };
            if let Some(problem) = problem {
                upload.abandon();
                return Err(problem);
            }
        }
        let answer = self.finish_upload(upload)?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok(answer)
    }

    /// `mpu/abort`: the parts are dropped.
    pub fn abort_multipart(&self, folder: &str, request: &Value) -> Result<Value> {
        let path = &artifact_of(folder, request)?;
        let id = Fields(request).text("upload_id")?;
        let (dir, _) = self.own_upload(path, id)?;
        std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
        Ok(json!({}))
    }
}
