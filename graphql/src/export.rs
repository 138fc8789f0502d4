//! Audit exports as CSV and NDJSON, shared by the command line and `GET /audit`.

use anyhow::Context;
use lineage_schema::Envelope;
use lineage_store::audit::AuditFilter;
use lineage_store::Store;

/// The CSV header; one row per event follows.
pub const CSV_HEADER: &str = "seq,recorded_at,occurred_at,actor,account,entity,type,event_id,hash,prev_hash,payload\n";

/// Quotes a CSV field when it needs it (RFC 4180).
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn payload(envelope: &Envelope) -> String {
    let value = serde_json::to_value(&envelope.event).unwrap_or_default();
    value
        .as_object()
        .and_then(|object| object.values().next())
        .map(ToString::to_string)
        .unwrap_or_default()
}

pub fn csv_row(envelope: &Envelope) -> String {
    let cells = [
        envelope.seq.to_string(),
        envelope.recorded_at.to_string(),
        envelope.occurred_at.map(|at| at.to_string()).unwrap_or_default(),
        envelope.actor.to_string(),
        envelope.account.as_ref().map(ToString::to_string).unwrap_or_default(),
        envelope.stream.to_string(),
        envelope.event.name().to_string(),
        envelope.event_id.as_ref().map(ToString::to_string).unwrap_or_default(),
        envelope.hash.to_hex(),
        envelope.prev_hash.to_hex(),
        payload(envelope),
    ];
    let mut row = cells.iter().map(|cell| field(cell)).collect::<Vec<_>>().join(",");
    row.push('\n');
    row
}

pub fn ndjson_row(envelope: &Envelope) -> String {
    let mut row = String::from_utf8_lossy(&lineage_schema::tlog::entry(envelope)).into_owned();
    row.push('\n');
    row
}

/// An audit filter from text arguments, with errors in plain words.
pub fn filter(
    account: Option<&str>,
    actor: Option<&str>,
    entity: Option<&str>,
    kind: Option<&str>,
    event_type: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
) -> anyhow::Result<AuditFilter> {
    let time = |name: &str, text: Option<&str>| -> anyhow::Result<Option<lineage_schema::Timestamp>> {
        text.map(|text| {
            lineage_schema::Timestamp::parse(text).with_context(|| format!("--{name} `{text}` is not an RFC 3339 time"))
        })
        .transpose()
    };
    Ok(AuditFilter {
        account: account.map(lineage_schema::AccountId::new).transpose()?,
        actor: actor.map(lineage_schema::PrincipalId::new).transpose()?,
        entity: entity.map(lineage_schema::EntityRef::parse).transpose()?,
        kind: kind
            .map(|kind| lineage_schema::EntityKind::from_label(kind).with_context(|| format!("unknown kind `{kind}`")))
            .transpose()?,
        event_type: event_type.map(str::to_string),
        from: time("from", from)?,
        to: time("to", to)?,
    })
}

/// The export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Ndjson,
}

/// Writes every event passing `filter` that `allowed` lets through, page by page, to
/// `out` (at most `limit`), the next page read on another thread while one is written;
/// `progress` hears how far through the log it is (the last seq read, of the head when
/// it began).
pub fn write(
    store: &Store,
    filter: &AuditFilter,
    allowed: &dyn Fn(&Envelope) -> bool,
    (format, limit): (Format, usize),
    out: &mut dyn FnMut(&str) -> std::io::Result<()>,
    progress: &mut dyn FnMut(u64, u64),
) -> anyhow::Result<usize> {
    if format == Format::Csv {
        out(CSV_HEADER)?;
    }
    let head = store.head().seq;
    let mut after = 0;
    let mut next = || -> anyhow::Result<Option<Vec<Envelope>>> {
        let page = store.audit(filter, after, limit.min(1000))?;
        Ok(page.last().map(|last| last.seq).map(|last| {
            after = last;
            page
        }))
    };
    let mut written = 0;
    if limit > 0 {
        lineage_store::ahead::pages(&mut next, &mut |page: Vec<Envelope>| {
            let reached = page.last().map_or(0, |last| last.seq);
            let mut text = String::new();
            for envelope in page.iter().filter(|envelope| allowed(envelope)).take(limit - written) {
                text.push_str(&match format {
                    Format::Csv => csv_row(envelope),
                    Format::Ndjson => ndjson_row(envelope),
                });
                written += 1;
            }
            out(&text)?;
            progress(reached.min(head), head);
            Ok(written < limit)
        })?;
    }
    progress(head, head);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
