//! The administration socket's listener: `admin.sock` in the data directory, for the CLI
//! beside a live server (the exchange itself is `cli::admin`).

use super::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

/// Listens on the data directory's administration socket until dropped, when the socket
/// file goes too.
pub(super) struct AdminSocket {
    path: std::path::PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AdminSocket {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Starts listening, or says why not (the server then serves without it: the CLI beside
/// it says the directory is in use).
pub(super) fn listen(store: &Arc<Store>) -> anyhow::Result<AdminSocket> {
    let path = crate::cli::admin::socket_path(store.dir());
    // This process holds the data directory, so a socket file there is a dead server's.
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let owner = std::fs::metadata(store.dir())?.uid();
    let store = Arc::clone(store);
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            // The file's mode already keeps others out; the peer's user is checked too,
            // for systems that ignore a socket's mode.
            let allowed = stream
                .peer_cred()
                .is_ok_and(|peer| peer.uid() == owner || peer.uid() == 0);
            let Ok(stream) = stream.into_std() else { continue };
            if !allowed || stream.set_nonblocking(false).is_err() {
                tracing::warn!("refused an administration connection from another user");
                continue;
            }
            let store = Arc::clone(&store);
            tokio::task::spawn_blocking(move || crate::cli::admin::answer(&store, stream));
        }
    });
    Ok(AdminSocket { path, task })
}
