//! The CLI beside a live server: `lineage serve` listens on a Unix socket in its data
//! directory (`admin.sock`), and a command that finds the directory held sends its words
//! there; the server runs it on its open store and streams the output back.
//!
//! Who may connect is who may administer: the socket is readable and writable by its
//! owner only, and the server also checks the peer's user (the data directory's owner,
//! or root) — as PostgreSQL's peer authentication or Docker's socket. The command runs as
//! the CLI would on a stopped store: as the administrator, seeing everything.
//!
//! The exchange: the CLI sends one JSON line, `{"args": [...], "cwd": "..."}` (relative
//! paths are the CLI's, so they are resolved against its folder); the server answers with
//! frames — a kind byte, a little-endian u32 length, the bytes: output, notes (stderr),
//! then the end: success, or failure with its message.

use super::*;
use std::io::{BufRead, BufReader, BufWriter, Read};
use std::os::unix::net::UnixStream;

/// The socket's name in the data directory.
pub const SOCKET: &str = "admin.sock";

/// The largest request line a server reads (the words of one command).
const MAX_REQUEST_BYTES: u64 = 1 << 20;

/// The most one frame carries; longer output goes in several.
const MAX_FRAME_BYTES: usize = 1 << 20;

const OUTPUT: u8 = 1;
const NOTE: u8 = 2;
const DONE: u8 = 3;
const FAILED: u8 = 4;

/// Where the server holding `dir` listens for commands.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(SOCKET)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Request {
    args: Vec<String>,
    cwd: PathBuf,
}

/// The server holding `dir`, if one answers on its socket (a socket file a crashed
/// server left behind answers nothing).
pub(super) fn connect(dir: &Path) -> Option<UnixStream> {
    UnixStream::connect(socket_path(dir)).ok()
}

/// Why a command cannot run on `dir`, held by a process that does not answer on the socket.
pub(super) fn unanswered(dir: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "the data directory {} is in use by another process, and no `lineage serve` answers at {}: \
         stop that process, or run this command again once the server is up",
        dir.display(),
        socket_path(dir).display()
    )
}

/// Sends a command to the server on `stream` and relays its answer: output to `out`,
/// notes to `notes`, a failure as this command's error.
pub(super) fn ask(
    mut stream: UnixStream,
    args: &[std::ffi::OsString],
    out: &mut dyn Write,
    notes: &mut dyn Write,
) -> Result<()> {
    let path = stream
        .peer_addr()
        .ok()
        .and_then(|address| address.as_pathname().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from(SOCKET));
    let args = args
        .iter()
        .map(|arg| arg.clone().into_string())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|arg| anyhow::anyhow!("{arg:?} is not UTF-8: a live server takes only UTF-8 words"))?;
    let request = Request {
        args,
        cwd: std::env::current_dir().context("cannot tell the current folder")?,
    };
    let mut line = serde_json::to_vec(&request)?;
    line.push(b'\n');
    stream
        .write_all(&line)
        .with_context(|| format!("cannot send the command to {}", path.display()))?;
    let mut frames = BufReader::new(stream);
    loop {
        let (kind, bytes) =
            read_frame(&mut frames).with_context(|| format!("the server at {} stopped answering", path.display()))?;
        match kind {
            OUTPUT => out.write_all(&bytes)?,
            NOTE => notes.write_all(&bytes)?,
            DONE => return Ok(out.flush()?),
            FAILED => bail!("{}", String::from_utf8_lossy(&bytes)),
            other => bail!("the server at {} sent a frame of unknown kind {other}", path.display()),
        }
    }
}

fn read_frame(from: &mut impl Read) -> std::io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 5];
    from.read_exact(&mut head)?;
    let len = u32::from_le_bytes(head[1..].try_into().expect("four bytes")) as usize;
    let mut bytes = vec![0u8; len];
    from.read_exact(&mut bytes)?;
    Ok((head[0], bytes))
}

fn write_frame(to: &mut impl Write, kind: u8, bytes: &[u8]) -> std::io::Result<()> {
    let len = u32::try_from(bytes.len()).map_err(|_| std::io::Error::other("a frame over 4 GiB"))?;
    let mut frame = Vec::with_capacity(5 + bytes.len());
    frame.push(kind);
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(bytes);
    to.write_all(&frame)
}

/// Frames of one kind, written to the connection.
struct Frames<'a> {
    stream: &'a UnixStream,
    kind: u8,
}

impl Write for Frames<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let bytes = &bytes[..bytes.len().min(MAX_FRAME_BYTES)];
        write_frame(&mut self.stream, self.kind, bytes)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

/// Runs one connection's command on `store` (on a blocking thread: commands read and
/// append synchronously). A CLI that hangs up mid-answer stops the command.
pub fn answer(store: &Store, stream: UnixStream) {
    let outcome = run_request(store, &stream);
    let mut end = &stream;
    let _ = match outcome {
        Ok(()) => write_frame(&mut end, DONE, &[]),
        Err(error) => write_frame(&mut end, FAILED, plain_words(&error).as_bytes()),
    };
}

fn run_request(store: &Store, stream: &UnixStream) -> Result<()> {
    let mut line = String::new();
    BufReader::new(stream.take(MAX_REQUEST_BYTES))
        .read_line(&mut line)
        .context("cannot read the command")?;
    let request: Request = serde_json::from_str(&line).context("the command is not a request of `lineage`")?;
    let cli = Cli::try_parse_from(&request.args)?;
    let mut command = cli.command;
    rooted(&mut command, &request.cwd);
    let mut out = BufWriter::with_capacity(64 * 1024, Frames { stream, kind: OUTPUT });
    let mut notes = Frames { stream, kind: NOTE };
    match command {
        Command::Serve(_) => bail!("the data directory is already served by this process"),
        Command::Rebuild => bail!(
            "the data directory is in use by `lineage serve`: stop it first (a rebuild replaces the derived data it serves from)"
        ),
        Command::Verify { .. } | Command::Key { .. } | Command::Bench(_) => {
            bail!("this command needs no server: it runs beside one by itself")
        }
        command => run_on(store, command, &mut out, &mut notes)?,
    }
    out.flush()?;
    Ok(())
}

/// Makes the command's relative paths the CLI's: relative to the folder it ran in.
fn rooted(command: &mut Command, cwd: &Path) {
    let root = |path: &mut PathBuf| {
        if path.is_relative() {
            *path = cwd.join(&*path);
        }
    };
    match command {
        Command::Checkpoint { out: Some(path), .. }
        | Command::Bill {
            price_book: Some(path), ..
        }
        | Command::Import {
            source:
                ImportSource::Lineage { file: path, .. }
                | ImportSource::Mlflow { path, .. }
                | ImportSource::Openlineage { file: path, .. },
        } => root(path),
        _ => {}
    }
}
