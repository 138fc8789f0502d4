//! The log's own commands: `demo`, `verify`, `checkpoint`, `proof`, `rebuild`,
//! `events`, `stats`.

use super::*;

#[derive(Debug, Subcommand)]
pub(super) enum ProofCommand {
    /// Event `--seq` is leaf `seq - 1` of the tree of `--size` events (default: all).
    Inclusion {
        #[arg(long)]
        seq: u64,
        #[arg(long)]
        size: Option<u64>,
    },
    /// The tree of `--from` events is a prefix of the tree of `--to` events (default: all).
    Consistency {
        #[arg(long)]
        from: u64,
        #[arg(long)]
        to: Option<u64>,
    },
}

pub(super) fn run_demo(store: &Store, out: &mut dyn Write) -> Result<()> {
    let dir = store.dir();
    let appended = demo::fill(store).context("the demo story was refused")?;
    let head = store.head().seq;
    if appended == 0 {
        writeln!(
            out,
            "The demo story is already in {} (log at seq {head}); nothing appended.",
            dir.display()
        )?;
    } else {
        writeln!(
            out,
            "Appended the demo story to {}: {appended} events, log now at seq {head}.",
            dir.display()
        )?;
    }
    Ok(())
}

pub(super) fn run_verify(dir: &Path, log: Option<&str>, out: &mut dyn Write) -> Result<()> {
    need_log(dir, log)?;
    let report = Store::verify_log(dir, log, &mut progress_printer("catching up projections")).map_err(named)?;
    print_scan(&report, log, out)
}

/// Refuses a data directory with no log when the log is not elsewhere.
fn need_log(dir: &Path, log: Option<&str>) -> Result<()> {
    if log.is_none() && !dir.join("log").is_dir() {
        bail!("no Lineage log in {}", dir.display());
    }
    Ok(())
}

/// What a check of every record found.
fn print_scan(report: &lineage_store::ScanReport, log: Option<&str>, out: &mut dyn Write) -> Result<()> {
    match log {
        Some(url) => writeln!(
            out,
            "ok: {} events in the PostgreSQL log at {} ({} bytes), chain intact",
            report.records,
            lineage_store::log::postgres::redacted(url),
            report.bytes
        )?,
        None => writeln!(
            out,
            "ok: {} events in {} segments ({} bytes), chain intact",
            report.records, report.segments, report.bytes
        )?,
    }
    writeln!(out, "head: seq {} hash {}", report.head.seq, report.head.hash)?;
    if report.torn_tail_bytes > 0 {
        writeln!(
            out,
            "note: {} bytes of an unacknowledged, torn last record will be cut off when the store next opens",
            report.torn_tail_bytes
        )?;
    }
    Ok(())
}

/// A check's error: damage named by its first bad position, a checkpoint that does not
/// hold said so, anything else as it is.
fn named(error: lineage_store::Error) -> anyhow::Error {
    match error {
        lineage_store::Error::Corruption {
            seq,
            segment,
            offset,
            reason,
        } => anyhow::anyhow!(
            "first bad position: seq {seq} ({}, byte {offset}): {reason}",
            segment.display()
        ),
        lineage_store::Error::Rejected(rejection) => anyhow::anyhow!("the checkpoint does not hold: {rejection}"),
        other => other.into(),
    }
}

pub(super) fn run_verify_checkpoint(
    dir: &Path,
    log: Option<&str>,
    file: &Path,
    public_key: Option<&str>,
    (verifier_keys, witnesses): (&[String], &[String]),
    out: &mut dyn Write,
) -> Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    if !text.trim_start().starts_with('{') {
        if public_key.is_some() {
            bail!(
                "{} is a checkpoint note: name its verifier key with --key, not --public-key",
                file.display()
            );
        }
        return run_verify_note(dir, log, &text, (verifier_keys, witnesses), out);
    }
    if !verifier_keys.is_empty() {
        bail!(
            "{} is a JSON checkpoint: name its key with --public-key (hex), not --key",
            file.display()
        );
    }
    let checkpoint: lineage_schema::checkpoint::Checkpoint =
        serde_json::from_str(&text).with_context(|| format!("{} is not a Lineage checkpoint", file.display()))?;
    need_log(dir, log)?;
    let mut progress = progress_printer("catching up projections");
    let check = Store::verify_checkpoint_in(dir, log, &checkpoint, public_key, &mut progress).map_err(named)?;
    print_scan(&check.log, log, out)?;
    if !check.matches {
        bail!(
            "history was rewritten: the first {} events have root {}, but the checkpoint of {} saw {}",
            checkpoint.size,
            check.root,
            checkpoint.time,
            checkpoint.root
        );
    }
    writeln!(
        out,
        "ok: the first {} events are the history the checkpoint of {} saw (root {})",
        checkpoint.size, checkpoint.time, checkpoint.root
    )?;
    Ok(())
}

/// Checks a C2SP checkpoint note against the log (its signature, then the root).
fn run_verify_note(
    dir: &Path,
    log: Option<&str>,
    note: &str,
    (verifier_keys, witnesses): (&[String], &[String]),
    out: &mut dyn Write,
) -> Result<()> {
    need_log(dir, log)?;
    let mut progress = progress_printer("catching up projections");
    let keys = (verifier_keys, witnesses);
    let (opened, check) = Store::verify_tlog_checkpoint_in(dir, log, note, keys, &mut progress).map_err(named)?;
    print_scan(&check.log, log, out)?;
    let root = lineage_schema::tlog::base64(&opened.root);
    if !check.matches {
        bail!(
            "history was rewritten: the first {} entries have root {}, but the checkpoint of {} saw {root}",
            opened.size,
            lineage_schema::tlog::base64(&check.root),
            opened.origin,
        );
    }
    writeln!(
        out,
        "ok: the first {} entries are the history the checkpoint of {} saw (root {root}; signed by {}{})",
        opened.size,
        opened.origin,
        opened.signed_by.join(", "),
        if opened.cosigned_by.is_empty() {
            String::new()
        } else {
            format!("; cosigned by {}", opened.cosigned_by.join(", "))
        }
    )?;
    Ok(())
}

/// Checks an auditor's bundle of a bill, offline.
pub(super) fn run_verify_bundle(
    file: &Path,
    (verifier_keys, witnesses): (&[String], &[String]),
    export: Option<&Path>,
    out: &mut dyn Write,
) -> Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let lines = match export {
        Some(export) => {
            Some(std::fs::read_to_string(export).with_context(|| format!("cannot read {}", export.display()))?)
        }
        None => None,
    };
    let checked = Store::verify_bundle(&text, verifier_keys, witnesses).and_then(|mut check| {
        if let Some(lines) = &lines {
            lineage_store::check_bundle_complete(&text, lines, &mut check)?;
        }
        Ok(check)
    });
    let check = match checked {
        Ok(check) => check,
        Err(lineage_store::Error::Rejected(rejection)) => bail!("the bundle does not hold: {rejection}"),
        Err(other) => return Err(other.into()),
    };
    writeln!(
        out,
        "ok: {} events in the log of {} at {} entries (signed by {}{}); all {} lines of the bill follow from them: total {} {}",
        check.events,
        check.checkpoint.origin,
        check.checkpoint.size,
        check.checkpoint.signed_by.join(", "),
        if check.checkpoint.cosigned_by.is_empty() {
            String::new()
        } else {
            format!("; cosigned by {}", check.checkpoint.cosigned_by.join(", "))
        },
        check.lines,
        check.currency,
        super::accounting::money(check.total)
    )?;
    if let Some(size) = check.complete {
        writeln!(
            out,
            "ok: the export is the log the checkpoint signs ({size} entries), and the bundle leaves out none of its events that bear on the bill"
        )?;
    }
    Ok(())
}

pub(super) fn run_checkpoint(
    store: &Store,
    file: Option<&Path>,
    format: super::CheckpointFormat,
    out: &mut dyn Write,
) -> Result<()> {
    if format == super::CheckpointFormat::Note {
        let note = store.tlog_checkpoint(None)?;
        match file {
            Some(path) => {
                std::fs::write(path, &note).with_context(|| format!("cannot write {}", path.display()))?;
                let size = note.lines().nth(1).unwrap_or("?");
                writeln!(out, "checkpoint note of {size} entries written to {}", path.display())?;
            }
            None => write!(out, "{note}")?,
        }
        return Ok(());
    }
    let checkpoint = store.checkpoint()?;
    let json = serde_json::to_string_pretty(&checkpoint)?;
    match file {
        Some(path) => {
            std::fs::write(path, format!("{json}\n")).with_context(|| format!("cannot write {}", path.display()))?;
            writeln!(
                out,
                "checkpoint of {} events (root {}) written to {}",
                checkpoint.size,
                checkpoint.root,
                path.display()
            )?;
        }
        None => writeln!(out, "{json}")?,
    }
    Ok(())
}

pub(super) fn hexes(proof: &[lineage_schema::Digest]) -> Vec<String> {
    proof.iter().map(|digest| digest.to_hex()).collect()
}

pub(super) fn run_proof(store: &Store, proof: ProofCommand, out: &mut dyn Write) -> Result<()> {
    let head = store.head().seq;
    let answer = match proof {
        ProofCommand::Inclusion { seq, size } => {
            let size = size.unwrap_or(head);
            let path = store.inclusion_proof(seq, size)?;
            let event = store.event(seq)?.context("no such event")?;
            serde_json::json!({ "seq": seq, "treeSize": size, "eventHash": event.hash, "root": store.merkle_root(size)?, "path": hexes(&path) })
        }
        ProofCommand::Consistency { from, to } => {
            let to = to.unwrap_or(head);
            let path = store.consistency_proof(from, to)?;
            serde_json::json!({ "from": from, "to": to, "fromRoot": store.merkle_root(from)?, "toRoot": store.merkle_root(to)?, "path": hexes(&path) })
        }
    };
    writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
    Ok(())
}

pub(super) fn run_rebuild(dir: &Path, log: Option<&str>, out: &mut dyn Write) -> Result<()> {
    if !dir.join("log").is_dir() {
        bail!("no Lineage log in {}", dir.display());
    }
    let held = || {
        anyhow::anyhow!(
            "cannot rebuild {}: a server (or another command) holds it; stop `lineage serve` first — a rebuild replaces the derived data it serves from",
            dir.display()
        )
    };
    if super::admin::connect(dir).is_some() {
        return Err(held());
    }
    let started = std::time::Instant::now();
    let store = match Store::rebuild(dir, &super::options(log), &mut progress_printer("rebuilding")) {
        Err(lineage_store::Error::Locked(_)) => return Err(held()),
        opened => opened.with_context(|| format!("cannot rebuild {}", dir.display()))?,
    };
    let events = store.opened().caught_up;
    store.close()?;
    writeln!(
        out,
        "rebuilt derived data from {events} events in {:.2?}",
        started.elapsed()
    )?;
    Ok(())
}

pub(super) fn run_events(
    store: &Store,
    after: u64,
    limit: Option<usize>,
    account: Option<String>,
    stream: Option<String>,
    out: &mut dyn Write,
) -> Result<()> {
    let filter = EventFilter {
        account: account.map(AccountId::new).transpose()?,
        stream: stream.as_deref().map(EntityRef::parse).transpose()?,
    };
    let mut position = after;
    let mut remaining = limit.unwrap_or(usize::MAX);
    // Page through the log so a large limit does not hold every event in memory.
    while remaining > 0 {
        let page = store.events(position, remaining.min(1000), &filter)?;
        let Some(last) = page.last() else { break };
        position = last.seq;
        remaining -= page.len();
        let mut lines = String::new();
        for envelope in &page {
            lines.push_str(std::str::from_utf8(&lineage_schema::tlog::entry(envelope))?);
            lines.push('\n');
        }
        write!(out, "{lines}")?;
    }
    out.flush()?;
    Ok(())
}

pub(super) fn run_stats(store: &Store, out: &mut dyn Write) -> Result<()> {
    let stats = store.stats()?;
    writeln!(out, "events        {}", stats.head)?;
    match store.log_url() {
        Some(url) => writeln!(
            out,
            "log           {} bytes in PostgreSQL at {} (table, index and TOAST)",
            stats.log_bytes,
            lineage_store::log::postgres::redacted(url)
        )?,
        None => writeln!(
            out,
            "log           {} bytes in {} segments",
            stats.log_bytes, stats.segments
        )?,
    }
    writeln!(out, "derived       {} bytes", stats.derived_bytes)?;
    if let Some(per_event) = stats.log_bytes.checked_div(stats.head) {
        writeln!(out, "per event     {per_event} bytes of log")?;
    }
    writeln!(out, "entities:")?;
    for (kind, count) in stats.entities.iter().filter(|(_, count)| *count > 0) {
        writeln!(out, "  {:<26} {count}", kind.label())?;
    }
    Ok(())
}
