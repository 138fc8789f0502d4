//! A throw-away PostgreSQL cluster for a test: Debian's `postgresql` binaries (`.ci/run`
//! installs them), `initdb` into a temporary directory as an unprivileged user, served on
//! a free loopback port, stopped when dropped. If it cannot start, the test fails and
//! says why: nothing is skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    /// `runuser -u postgres --` when running as root (PostgreSQL refuses root).
    runner: Vec<String>,
}

/// The newest installed PostgreSQL's `bin` directory.
fn binaries() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .unwrap_or_else(|error| {
            panic!(
                "PostgreSQL is not installed ({}: {error}); apt-get install postgresql (.ci/run does)",
                root.display()
            )
        })
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .unwrap_or_else(|| panic!("no PostgreSQL with initdb under {}", root.display()))
        .1
}

fn output(command: &mut Command, what: &str) -> String {
    let out = command
        .output()
        .unwrap_or_else(|error| panic!("{what}: cannot run {command:?}: {error}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

impl Postgres {
    /// A new cluster, started, with the superuser `lineage` trusted on loopback.
    pub(crate) fn start() -> Postgres {
        let bin = binaries();
        let dir = tempfile::tempdir().unwrap();
        let root = output(Command::new("id").arg("-u"), "id").trim() == "0";
        let runner: Vec<String> = if root {
            let uid: u32 = output(Command::new("id").args(["-u", "postgres"]), "the postgres user")
                .trim()
                .parse()
                .unwrap();
            std::os::unix::fs::chown(dir.path(), Some(uid), None).unwrap();
            vec!["runuser".into(), "-u".into(), "postgres".into(), "--".into()]
        } else {
            Vec::new()
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Postgres { dir, bin, port, runner };
        let data = cluster.data();
        output(
            &mut cluster.command(
                "initdb",
                &["-D", &data, "-U", "lineage", "--auth=trust", "-E", "UTF8", "--no-sync"],
            ),
            "initdb",
        );
        cluster.start_server();
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let program = self.bin.join(program).display().to_string();
        let mut command = match self.runner.split_first() {
            Some((first, rest)) => {
                let mut command = Command::new(first);
                command.args(rest).arg(program);
                command
            }
            None => Command::new(program),
        };
        command.args(args);
        command
    }

    fn start_server(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        output(
            &mut self.command(
                "pg_ctl",
                &[
                    "-D",
                    &self.data(),
                    "-l",
                    &log,
                    "-w",
                    "-t",
                    "30",
                    "-o",
                    &options,
                    "start",
                ],
            ),
            "starting PostgreSQL",
        );
    }

    /// Stops the server now (connections cut, as a crash or an operator would).
    pub(crate) fn stop(&self) {
        output(
            &mut self.command("pg_ctl", &["-D", &self.data(), "-w", "-m", "fast", "stop"]),
            "stopping PostgreSQL",
        );
    }

    /// Starts the server again after [`Postgres::stop`].
    pub(crate) fn restart(&self) {
        self.start_server();
    }

    /// A new, empty database and its address.
    pub(crate) fn database(&self, name: &str) -> String {
        self.sql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(name)
    }

    pub(crate) fn url(&self, database: &str) -> String {
        format!("postgres://lineage@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs SQL with psql; what it printed, or what it refused with as `Err`.
    pub(crate) fn try_sql(&self, database: &str, sql: &str) -> Result<String, String> {
        let port = self.port.to_string();
        let out = self
            .command(
                "psql",
                &[
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-U",
                    "lineage",
                    "-d",
                    database,
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-qAt",
                    "-c",
                    sql,
                ],
            )
            .output()
            .expect("psql runs");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    pub(crate) fn sql(&self, database: &str, sql: &str) -> String {
        self.try_sql(database, sql)
            .unwrap_or_else(|error| panic!("{sql}: {error}"))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl", &["-D", &self.data(), "-m", "immediate", "stop"])
            .output();
    }
}
