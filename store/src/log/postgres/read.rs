//! `PgLogReader`: reading the PostgreSQL log by seq, every record checked (hash, seq,
//! chain), and the positions that name its rows.

use super::*;

/// A row as stored: (seq, schema, record, hash).
type Row = (i64, i16, Vec<u8>, Vec<u8>);

pub(super) fn corrupt(seq: u64, reason: impl Into<String>) -> Error {
    Error::Corruption {
        seq,
        segment: PathBuf::from("lineage_log"),
        offset: 0,
        reason: reason.into(),
    }
}

/// Decodes a row and checks it: the body decodes, carries the row's seq, hashes to the
/// hash it carries and the row's, and (given the record before it) continues the chain.
fn checked((seq, schema, record, hash): Row, before: Option<&Digest>) -> Result<Envelope> {
    let seq = seq as u64;
    let envelope = decode_record(schema as u16, &record).map_err(|error| corrupt(seq, error.to_string()))?;
    if envelope.seq != seq {
        return Err(corrupt(seq, format!("the row holds event {}", envelope.seq)));
    }
    if hash_of_body(&record) != envelope.hash || hash.as_slice() != envelope.hash.0.as_slice() {
        return Err(corrupt(seq, "its hash does not match its content"));
    }
    if before.is_some_and(|hash| *hash != envelope.prev_hash) {
        return Err(corrupt(seq, "it does not continue the chain"));
    }
    Ok(envelope)
}

pub(crate) fn position_of(seq: u64) -> Position {
    let mut bytes = [0u8; Position::LEN];
    bytes[..8].copy_from_slice(&seq.to_be_bytes());
    bytes[8..].copy_from_slice(&MARK.to_be_bytes());
    Position(bytes)
}

pub(super) fn seq_of(position: Position) -> u64 {
    u64::from_be_bytes(position.0[..8].try_into().expect("eight bytes"))
}

/// Whether a position was given by a PostgreSQL log (a file log's offsets are far smaller).
pub(crate) fn is_postgres(position: Position) -> bool {
    position.0[8..] == MARK.to_be_bytes()
}

/// Reads the PostgreSQL log through a connection of its own, checking every record.
#[derive(Debug)]
pub struct PgLogReader {
    pub(super) link: PgLink,
}

impl PgLogReader {
    /// A reader for checking a log offline (`lineage verify --log …`).
    pub fn connect(url: &str) -> Result<PgLogReader> {
        Ok(PgLogReader {
            link: PgLink::new(url)?,
        })
    }

    /// The bytes the log takes in the database: the table, its index and its TOAST.
    pub fn table_bytes(&self) -> Result<u64> {
        let row = self.link.run(|client| async move {
            client
                .query_one("SELECT pg_total_relation_size('lineage_log')", &[])
                .await
        })?;
        Ok(row.get::<_, i64>(0).max(0) as u64)
    }

    /// The last record, checked.
    pub fn head(&self) -> Result<Head> {
        let row = self.link.run(|client| async move {
            client
                .query_opt(
                    "SELECT seq, schema, record, hash FROM lineage_log ORDER BY seq DESC LIMIT 1",
                    &[],
                )
                .await
        })?;
        Ok(match row {
            None => Head::EMPTY,
            Some(row) => {
                let envelope = checked((row.get(0), row.get(1), row.get(2), row.get(3)), None)?;
                Head {
                    seq: envelope.seq,
                    hash: envelope.hash,
                    recorded_at: envelope.recorded_at,
                }
            }
        })
    }

    fn rows(&self, from: u64, to: u64) -> Result<Vec<Row>> {
        let (from, to) = (from as i64, to as i64);
        let rows = self.link.run(move |client| async move {
            client
                .query(
                    "SELECT seq, schema, record, hash FROM lineage_log WHERE seq >= $1 AND seq <= $2 ORDER BY seq LIMIT $3",
                    &[&from, &to, &SCAN_BATCH],
                )
                .await
        })?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
            .collect())
    }

    /// Visits every record from `seq` to the head as it is now, checking each (and the
    /// chain from `before`, the hash of the record before `seq`, when known).
    pub fn scan_checked(
        &self,
        seq: u64,
        mut before: Option<Digest>,
        visit: &mut dyn FnMut(Envelope, Position) -> Result<bool>,
    ) -> Result<()> {
        let head = self.head()?.seq;
        let mut next = seq.max(1);
        while next <= head {
            let rows = self.rows(next, head)?;
            if rows.is_empty() || rows[0].0 as u64 != next {
                return Err(corrupt(next, "the record is missing below the head"));
            }
            for row in rows {
                let expected = next;
                if row.0 as u64 != expected {
                    return Err(corrupt(expected, "the record is missing below the head"));
                }
                let envelope = checked(row, before.as_ref())?;
                before = Some(envelope.hash);
                next += 1;
                if !visit(envelope, position_of(expected))? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Checks every record, as the file log's scan does: the report's head, record count
    /// and bytes (`segments` is 0: a table has none). `progress` hears the records checked
    /// so far and the head when the check began, last with the two equal; `hashes` each
    /// record's hash, in order, once it is checked.
    pub fn verify(&self, progress: &mut dyn FnMut(u64, u64), hashes: &mut dyn FnMut(&Digest)) -> Result<ScanReport> {
        let mut report = ScanReport {
            head: Head::EMPTY,
            records: 0,
            segments: 0,
            bytes: 0,
            torn_tail_bytes: 0,
        };
        // Records appended during the check are checked too; the display stops at the head.
        let total = self.head()?.seq;
        self.scan_checked(1, Some(Digest::ZERO), &mut |envelope, _| {
            report.records += 1;
            report.bytes += envelope.encode().len() as u64;
            hashes(&envelope.hash);
            report.head = Head {
                seq: envelope.seq,
                hash: envelope.hash,
                recorded_at: envelope.recorded_at,
            };
            if report.records.is_multiple_of(SCAN_BATCH as u64) {
                progress(report.records.min(total), total);
            }
            Ok(true)
        })?;
        progress(total, total);
        Ok(report)
    }

    fn one(&self, seq: u64) -> Result<Envelope> {
        let key = seq as i64;
        let row = self.link.run(move |client| async move {
            client
                .query_opt(
                    "SELECT seq, schema, record, hash FROM lineage_log WHERE seq = $1",
                    &[&key],
                )
                .await
        })?;
        let row = row.ok_or_else(|| corrupt(seq, "the record is missing below the head"))?;
        checked((row.get(0), row.get(1), row.get(2), row.get(3)), None)
    }
}

impl LogRead for PgLogReader {
    fn scan_from(&self, seq: u64, visit: &mut dyn FnMut(Envelope, Position) -> Result<bool>) -> Result<()> {
        // The chain is checked from the record before `seq` on.
        let before = match seq {
            0 | 1 => Some(Digest::ZERO),
            _ => Some(self.one(seq - 1)?.hash),
        };
        self.scan_checked(seq, before, visit)
    }

    fn read_at(&self, position: Position) -> Result<Envelope> {
        self.one(seq_of(position))
    }

    fn read_seq(&self, _anchor: Position, seq: u64) -> Result<Envelope> {
        self.one(seq)
    }
}
