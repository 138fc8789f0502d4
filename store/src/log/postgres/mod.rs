//! The log on PostgreSQL: a table of records any number of nodes append to and read.
//!
//! Each record is the same body the file log frames (the same bytes, so the same hashes,
//! Merkle tree and checkpoints), with its seq, stream, version, event id, account and
//! hash beside it for SQL readers. Commit order is the log's order because a seq is not
//! drawn from a sequence: an appender writes `head + 1, …` after reading the head, the
//! primary key refuses a seq taken meanwhile, and a trigger refuses any row whose
//! `prev_hash` is not the hash of the committed row before it — so a row can only commit
//! after its predecessor, no reader ever sees a gap, and no second writer can fork the
//! chain. Rows cannot be updated, deleted or truncated. An append that loses the race
//! fails with [`Error::Conflict`]: the writer folds in what others appended and decides
//! again. Every record read back is checked: its body's hash, its seq, and the chain.

use super::*;

mod append;
mod read;

pub use append::PgLog;
use futures_util::StreamExt;
use lineage_schema::envelope::{decode_record, hash_of_body, SCHEMA_VERSION};
pub(crate) use read::is_postgres;
#[cfg(test)]
use read::position_of;
#[cfg(test)]
use read::seq_of;
pub use read::PgLogReader;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::{AsyncMessage, Client, NoTls, Statement};

/// One group's rows, all in one statement (and so one transaction).
const INSERT: &str = "INSERT INTO lineage_log (seq, stream, version, event_id, account, schema, record, hash, prev_hash)
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::smallint[], $7::bytea[], $8::bytea[], $9::bytea[])";

/// The channel appends are announced on (the new head's seq as payload).
pub const CHANNEL: &str = "lineage_log";
/// The schema version this code creates and reads.
const SCHEMA: i32 = 1;
/// Rows read per query when scanning.
const SCAN_BATCH: i64 = 2000;
/// What marks a position as a PostgreSQL one: its seq, then this.
const MARK: u64 = u64::MAX;

const MIGRATE: &str = r#"
CREATE TABLE IF NOT EXISTS lineage_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS lineage_log (
    seq bigint PRIMARY KEY CHECK (seq > 0),
    stream text NOT NULL,
    version bigint NOT NULL,
    event_id text,
    account text,
    schema smallint NOT NULL,
    record bytea NOT NULL,
    hash bytea NOT NULL CHECK (length(hash) = 32),
    prev_hash bytea NOT NULL CHECK (length(prev_hash) = 32)
);
CREATE OR REPLACE FUNCTION lineage_log_continues() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    first bigint;
    last bigint;
    rows bigint;
    before bytea;
    broken bigint;
BEGIN
    -- Once per statement, over the rows it added: they are consecutive, the first
    -- continues the committed row before it (event 1 the empty chain), and each other one
    -- the row before it in the statement. The committed row is looked up by its key alone:
    -- the check costs the same on a log of any length.
    SELECT min(seq), max(seq), count(*) INTO first, last, rows FROM appended;
    IF last - first + 1 <> rows THEN
        RAISE EXCEPTION 'events % to % leave a gap', first, last USING ERRCODE = 'LG001';
    END IF;
    IF first = 1 THEN
        before := decode(repeat('00', 32), 'hex');
    ELSE
        SELECT hash INTO before FROM lineage_log WHERE seq = first - 1;
    END IF;
    IF before IS NULL OR before <> (SELECT prev_hash FROM appended WHERE seq = first) THEN
        RAISE EXCEPTION 'event % does not continue the chain at its head', first USING ERRCODE = 'LG001';
    END IF;
    SELECT min(n.seq) INTO broken
      FROM appended n JOIN appended p ON p.seq = n.seq - 1
     WHERE p.hash <> n.prev_hash;
    IF broken IS NOT NULL THEN
        RAISE EXCEPTION 'event % does not continue the chain at its head', broken USING ERRCODE = 'LG001';
    END IF;
    PERFORM pg_notify('lineage_log', last::text);
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION lineage_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the lineage log is append-only' USING ERRCODE = 'LG002';
END $$;
DROP TRIGGER IF EXISTS continues ON lineage_log;
CREATE TRIGGER continues AFTER INSERT ON lineage_log REFERENCING NEW TABLE AS appended FOR EACH STATEMENT EXECUTE FUNCTION lineage_log_continues();
DROP TRIGGER IF EXISTS append_only ON lineage_log;
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON lineage_log FOR EACH ROW EXECUTE FUNCTION lineage_log_is_append_only();
DROP TRIGGER IF EXISTS never_truncated ON lineage_log;
CREATE TRIGGER never_truncated BEFORE TRUNCATE ON lineage_log FOR EACH STATEMENT EXECUTE FUNCTION lineage_log_is_append_only();
DROP TRIGGER IF EXISTS announce ON lineage_log;
DROP FUNCTION IF EXISTS lineage_log_announce();
INSERT INTO lineage_meta (key, value) VALUES ('log_id', gen_random_uuid()::text) ON CONFLICT DO NOTHING;
INSERT INTO lineage_meta (key, value) VALUES ('schema', '1') ON CONFLICT DO NOTHING;
"#;

/// A connection to the log's database, used from any thread (async ones too): queries
/// run on a small runtime of its own and the caller waits for the answer. A lost
/// connection is made again on the next call.
pub struct PgLink {
    url: String,
    runtime: tokio::runtime::Runtime,
    /// Driven by the one thread that uses it (the writer's): its queries run on that
    /// thread, with no hand-off to another and back — the append path's hot loop.
    owned: bool,
    client: Mutex<Option<Arc<Client>>>,
    /// Statements prepared on the current connection, by their text (made again after a
    /// reconnect): a prepared statement saves a round trip per use.
    prepared: Mutex<Vec<(&'static str, Statement)>>,
}

impl std::fmt::Debug for PgLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLink").field("url", &redacted(&self.url)).finish()
    }
}

/// A connection address without its password, for messages.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user = &url[scheme + 3..at];
            let user = user.split(':').next().unwrap_or("");
            format!("{}{}@{}", &url[..scheme + 3], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

fn unavailable(url: &str, error: &tokio_postgres::Error) -> Error {
    let detail = error
        .as_db_error()
        .map(|db| db.message().to_string())
        .unwrap_or_else(|| error.to_string());
    Error::Unavailable(format!("the PostgreSQL log at {}: {detail}", redacted(url)))
}

impl PgLink {
    /// A link any thread may use, async ones included.
    pub fn new(url: &str) -> Result<PgLink> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("lineage-postgres")
            .enable_all()
            .build()
            .map_err(Error::io("starting the PostgreSQL client", url))?;
        Self::on(url, runtime, false)
    }

    /// A link for one thread that is never inside an async runtime (the writer's).
    fn owned(url: &str) -> Result<PgLink> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::io("starting the PostgreSQL client", url))?;
        Self::on(url, runtime, true)
    }

    fn on(url: &str, runtime: tokio::runtime::Runtime, owned: bool) -> Result<PgLink> {
        Ok(PgLink {
            url: url.to_string(),
            runtime,
            owned,
            client: Mutex::new(None),
            prepared: Mutex::new(Vec::new()),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// A connection, made now if there is none or it was lost.
    fn client(&self) -> Result<Arc<Client>> {
        let mut held = self.client.lock().expect("client lock");
        if let Some(client) = held.as_ref().filter(|client| !client.is_closed()) {
            return Ok(Arc::clone(client));
        }
        let url = self.url.clone();
        let client = self.wait(async move {
            let (client, connection) = tokio_postgres::connect(&url, NoTls).await?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok::<_, tokio_postgres::Error>(client)
        });
        let client = Arc::new(client.map_err(|error| unavailable(&self.url, &error))?);
        *held = Some(Arc::clone(&client));
        self.prepared.lock().expect("prepared lock").clear();
        Ok(client)
    }

    /// `sql` prepared on the current connection (once per connection).
    pub fn prepared(&self, sql: &'static str) -> Result<Statement> {
        let client = self.client()?;
        if let Some((_, statement)) = self
            .prepared
            .lock()
            .expect("prepared lock")
            .iter()
            .find(|(text, _)| *text == sql)
        {
            return Ok(statement.clone());
        }
        let statement = self
            .wait(async move { client.prepare(sql).await })
            .map_err(|error| unavailable(&self.url, &error))?;
        self.prepared
            .lock()
            .expect("prepared lock")
            .push((sql, statement.clone()));
        Ok(statement)
    }

    /// Runs `future` on the link's runtime and waits for it, from whatever thread.
    fn wait<T: Send + 'static>(&self, future: impl Future<Output = T> + Send + 'static) -> T {
        if self.owned {
            return self.runtime.block_on(future);
        }
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        self.runtime.spawn(async move {
            let _ = answer.send(future.await);
        });
        answered.recv().expect("the PostgreSQL runtime answers")
    }

    /// Runs `query` with a connection; a failure is `Unavailable` (or `Conflict` when it
    /// lost the race to append).
    pub fn run<T, F, Fut>(&self, query: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Client>) -> Fut,
        Fut: Future<Output = std::result::Result<T, tokio_postgres::Error>> + Send + 'static,
    {
        let client = self.client()?;
        self.wait(query(client)).map_err(|error| {
            let code = error.code();
            if code == Some(&SqlState::UNIQUE_VIOLATION) || code.map(SqlState::code) == Some("LG001") {
                Error::Conflict
            } else {
                unavailable(&self.url, &error)
            }
        })
    }

    /// Creates or migrates the log's tables (one node at a time) and returns the log's id.
    pub fn migrate(&self) -> Result<String> {
        let (log_id, schema) = self.run(|client| async move {
            // "Already exists, skipping" notices are not news.
            client
                .batch_execute("SET client_min_messages = warning; SELECT pg_advisory_lock(7275838451)")
                .await?;
            let done = async {
                let made: Option<String> = client
                    .query_one("SELECT to_regclass('lineage_meta')::text", &[])
                    .await?
                    .get(0);
                let schema: i32 = match made {
                    Some(_) => client
                        .query_opt("SELECT value::int FROM lineage_meta WHERE key = 'schema'", &[])
                        .await?
                        .map_or(SCHEMA, |row| row.get(0)),
                    None => SCHEMA,
                };
                // A log made by a newer Lineage is left as it is.
                if schema <= SCHEMA {
                    client.batch_execute(MIGRATE).await?;
                }
                let row = client
                    .query_one("SELECT value FROM lineage_meta WHERE key = 'log_id'", &[])
                    .await?;
                Ok::<_, tokio_postgres::Error>((row.get::<_, String>(0), schema))
            }
            .await;
            client.batch_execute("SELECT pg_advisory_unlock(7275838451)").await?;
            done
        })?;
        if schema > SCHEMA {
            return Err(Error::Unavailable(format!(
                "the PostgreSQL log at {} has schema {schema}, newer than this Lineage reads ({SCHEMA})",
                redacted(&self.url)
            )));
        }
        Ok(log_id)
    }

    /// Listens for appends: calls `wake(Some(seq))` with the new head's seq when one is
    /// announced, and `wake(None)` after each `tick` without one (announcements can be
    /// missed, so a reader also looks by itself). Returns when `wake` says stop (false), or
    /// with an error when the connection is lost.
    pub fn listen(&self, tick: Duration, mut wake: impl FnMut(Option<u64>) -> bool + Send + 'static) -> Result<()> {
        let url = self.url.clone();
        self.wait(async move {
            let (client, mut connection) = tokio_postgres::connect(&url, NoTls).await?;
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            let statement = format!("LISTEN {CHANNEL}");
            {
                let listening = client.batch_execute(&statement);
                let mut listening = std::pin::pin!(listening);
                // The connection is driven by reading its messages while the LISTEN goes out.
                loop {
                    tokio::select! {
                        done = &mut listening => { done?; break; }
                        message = messages.next() => match message {
                            Some(Ok(_)) => {}
                            Some(Err(error)) => return Err(error),
                            None => return Ok(()),
                        },
                    }
                }
            }
            loop {
                let seq = match tokio::time::timeout(tick, messages.next()).await {
                    Err(_) => None,
                    Ok(None) => return Ok(()),
                    Ok(Some(message)) => match message? {
                        AsyncMessage::Notification(note) => Some(note.payload().parse().unwrap_or(0)),
                        _ => continue,
                    },
                };
                if !wake(seq) {
                    return Ok(());
                }
            }
        })
        .map_err(|error| unavailable(&self.url, &error))
    }
}

/// Makes database `name` on the server `server_url` points at (any database there, e.g.
/// `…/postgres`) and returns its address: scratch logs for benchmarks.
pub fn create_database(server_url: &str, name: &str) -> Result<String> {
    drop_database(server_url, name)?;
    let statement = format!("CREATE DATABASE {name}");
    PgLink::new(server_url)?.run(move |client| async move { client.batch_execute(&statement).await })?;
    let base = server_url.rsplit_once('/').map_or(server_url, |(base, _)| base);
    Ok(format!("{base}/{name}"))
}

/// Removes database `name` from the server `server_url` points at, cutting its
/// connections (scratch logs, when a benchmark is done with them).
pub fn drop_database(server_url: &str, name: &str) -> Result<()> {
    // Names go into the statement as they are: plain ones only.
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Error::Unavailable(format!("`{name}` is not a plain database name")));
    }
    let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    PgLink::new(server_url)?.run(move |client| async move { client.batch_execute(&statement).await })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_said_without_their_password() {
        assert_eq!(redacted("postgres://u:secret@h:5432/db"), "postgres://u@h:5432/db");
        assert_eq!(redacted("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redacted("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn positions_of_the_table_are_told_from_a_file_logs() {
        let position = position_of(42);
        assert!(is_postgres(position) && !position.starts_run());
        assert_eq!(seq_of(position), 42);
        let file: Position = Location { segment: 1, offset: 16 }.into();
        assert!(!is_postgres(file));
    }
}
