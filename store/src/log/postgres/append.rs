//! `PgLog`: appending a group of records to the PostgreSQL log in one statement, and
//! folding in what other writers appended.

use super::read::position_of;
use super::*;

/// The log on PostgreSQL, appended through one connection.
#[derive(Debug)]
pub struct PgLog {
    link: PgLink,
    reader: Arc<PgLogReader>,
    head: Head,
    log_id: String,
}

impl PgLog {
    /// Connects, creates or migrates the tables, and reads the head (checking it).
    pub fn open(url: &str) -> Result<PgLog> {
        // Its link is driven by the thread using it, which must not be inside an async
        // runtime: opening (which may be called from one) happens on a thread of its own.
        std::thread::scope(|scope| {
            scope
                .spawn(|| Self::open_here(url))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    fn open_here(url: &str) -> Result<PgLog> {
        let link = PgLink::owned(url)?;
        let log_id = link.migrate()?;
        let reader = Arc::new(PgLogReader {
            link: PgLink::new(url)?,
        });
        let head = reader.head()?;
        Ok(PgLog {
            link,
            reader,
            head,
            log_id,
        })
    }

    /// The id the log was created with: projections derived from it name it.
    pub fn log_id(&self) -> &str {
        &self.log_id
    }

    pub fn pg_reader(&self) -> Arc<PgLogReader> {
        Arc::clone(&self.reader)
    }
}

impl EventLog for PgLog {
    fn head(&self) -> Head {
        self.head
    }

    fn append(&mut self, records: &[Sealed]) -> Result<Vec<Position>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let mut head = self.head;
        let mut columns = Columns::default();
        for Sealed { envelope, body } in records {
            assert_eq!(envelope.seq, head.seq + 1, "appends continue the log");
            assert_eq!(envelope.prev_hash, head.hash, "appends continue the chain");
            columns.push(envelope, body);
            head = Head {
                seq: envelope.seq,
                hash: envelope.hash,
                recorded_at: envelope.recorded_at,
            };
        }
        let insert = self.link.prepared(INSERT)?;
        self.link.run(move |client| async move {
            client
                .execute(
                    &insert,
                    &[
                        &columns.seq,
                        &columns.stream,
                        &columns.version,
                        &columns.event_id,
                        &columns.account,
                        &columns.schema,
                        &columns.record,
                        &columns.hash,
                        &columns.prev_hash,
                    ],
                )
                .await
        })?;
        self.head = head;
        Ok(records.iter().map(|record| position_of(record.envelope.seq)).collect())
    }

    fn reader(&self) -> Arc<dyn LogRead> {
        Arc::clone(&self.reader) as Arc<dyn LogRead>
    }

    fn newer(&mut self) -> Result<Vec<(Envelope, Position)>> {
        let mut found = Vec::new();
        let mut before = self.head.hash;
        self.reader
            .scan_checked(self.head.seq + 1, Some(before), &mut |envelope, position| {
                before = envelope.hash;
                found.push((envelope, position));
                Ok(true)
            })?;
        if let Some((last, _)) = found.last() {
            self.head = Head {
                seq: last.seq,
                hash: before,
                recorded_at: last.recorded_at,
            };
        }
        Ok(found)
    }
}

/// One group's rows, column by column, for one `unnest` insert.
#[derive(Default)]
struct Columns {
    seq: Vec<i64>,
    stream: Vec<String>,
    version: Vec<i64>,
    event_id: Vec<Option<String>>,
    account: Vec<Option<String>>,
    schema: Vec<i16>,
    record: Vec<Vec<u8>>,
    hash: Vec<Vec<u8>>,
    prev_hash: Vec<Vec<u8>>,
}

impl Columns {
    fn push(&mut self, envelope: &Envelope, body: &[u8]) {
        self.seq.push(envelope.seq as i64);
        self.stream.push(envelope.stream.to_string());
        self.version.push(envelope.version as i64);
        self.event_id.push(envelope.event_id.as_ref().map(ToString::to_string));
        self.account.push(envelope.account.as_ref().map(ToString::to_string));
        self.schema.push(SCHEMA_VERSION as i16);
        self.record.push(body.to_vec());
        self.hash.push(envelope.hash.0.to_vec());
        self.prev_hash.push(envelope.prev_hash.0.to_vec());
    }
}
