//! `lineage audit` and `lineage bill`: the audit trail and bills from the command line.

use super::*;

#[derive(Debug, clap::Args)]
pub(super) struct AuditArgs {
    /// Only events billed and audited under this account.
    #[arg(long)]
    pub(super) account: Option<String>,
    /// Only events this principal caused.
    #[arg(long)]
    pub(super) actor: Option<String>,
    /// Only events of this entity, `kind/id`.
    #[arg(long)]
    pub(super) entity: Option<String>,
    /// Only events on entities of this kind (`run`, `service`, …).
    #[arg(long)]
    pub(super) kind: Option<String>,
    /// Only events of this type (`RunStarted`, …).
    #[arg(long = "type")]
    pub(super) event_type: Option<String>,
    /// Recorded at or after this time (RFC 3339).
    #[arg(long)]
    pub(super) from: Option<String>,
    /// Recorded before this time (RFC 3339).
    #[arg(long)]
    pub(super) to: Option<String>,
    #[arg(long, value_enum, default_value = "csv")]
    pub(super) format: crate::export::Format,
    /// Export at most this many events.
    #[arg(long, default_value_t = usize::MAX)]
    pub(super) limit: usize,
}

pub(super) fn run_audit(store: &Store, args: AuditArgs, out: &mut dyn Write) -> Result<()> {
    let filter = crate::export::filter(
        args.account.as_deref(),
        args.actor.as_deref(),
        args.entity.as_deref(),
        args.kind.as_deref(),
        args.event_type.as_deref(),
        args.from.as_deref(),
        args.to.as_deref(),
    )?;
    if let Some(account) = &args.account {
        store.known_account(&AccountId::new(account.as_str())?)?;
    }
    // The command line runs on the store's own machine, with its files: it sees everything.
    crate::export::write(
        store,
        &filter,
        &|_| true,
        (args.format, args.limit),
        &mut |text| write!(out, "{text}"),
        &mut count_printer("writing the audit trail", "events of the log"),
    )?;
    out.flush()?;
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum BillFormat {
    Table,
    Csv,
}

pub(super) fn money(cents: i64) -> String {
    format!(
        "{}{}.{:02}",
        if cents < 0 { "-" } else { "" },
        cents.abs() / 100,
        cents.abs() % 100
    )
}

pub(super) fn run_bill(
    store: &Store,
    (account, month): (&str, Option<&str>),
    format: BillFormat,
    prices: &lineage_store::billing::PriceBook,
    bundle: Option<&std::path::Path>,
    out: &mut dyn Write,
    notes: &mut dyn Write,
) -> Result<()> {
    let account = AccountId::new(account)?;
    let month = match month {
        Some(month) => lineage_store::billing::Month::parse(month)
            .with_context(|| format!("`{month}` is not a month like 2026-03"))?,
        None => {
            let latest = store.latest_billed_month(&account)?.with_context(|| {
                format!("nothing has been billed to {account} yet: name a month with --month 2026-03")
            })?;
            writeln!(
                notes,
                "no --month given: the bill for {latest}, the latest month with activity in {account} (--month YYYY-MM for another)"
            )?;
            latest
        }
    };
    if let Some(path) = bundle {
        let made = store.bill_bundle(&account, month, prices, None)?;
        std::fs::write(path, serde_json::to_string_pretty(&made)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
        writeln!(
            notes,
            "bundle of the bill with its {} events and their proofs written to {}",
            made.entries.len(),
            path.display()
        )?;
    }
    let bill = store.bill(&account, month, prices)?;
    let running = bill.running;
    let events = |seqs: &[u64]| seqs.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
    match format {
        BillFormat::Csv => {
            writeln!(
                out,
                "description,quantity,unit,unit_price,price_per,days_in_month,amount,events"
            )?;
            for line in &bill.lines {
                writeln!(
                    out,
                    "\"{}\",{},{},{},{},{},{},{}",
                    line.description,
                    line.quantity,
                    line.unit,
                    money(line.unit_price),
                    line.price_per,
                    line.days_in_month.map(|days| days.to_string()).unwrap_or_default(),
                    money(line.amount),
                    events(&line.events)
                )?;
            }
            let total = if running {
                "total so far (month running)"
            } else {
                "total"
            };
            writeln!(out, "\"{total}\",,,,,,{},", money(bill.total))?;
        }
        BillFormat::Table => bill_table(&bill, running, out)?,
    }
    Ok(())
}

/// A bill as a table for people: each line's quantity with its unit, and its price with
/// what it buys (and, for a month's price, the share of the month billed).
fn bill_table(bill: &lineage_store::billing::Bill, running: bool, out: &mut dyn Write) -> Result<()> {
    let events = |seqs: &[u64]| seqs.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
    let status = if running {
        ", month running: the bill so far"
    } else {
        ""
    };
    writeln!(
        out,
        "Bill for account {} — {} ({}{status})",
        bill.account, bill.month, bill.currency
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<50} {:>30} {:>24} {:>10}  events",
        "line", "quantity", "unit price", "amount"
    )?;
    for line in &bill.lines {
        let quantity = match line.days_in_month {
            Some(days) => format!("{} {} ({}/{days} month)", line.quantity, line.unit, line.quantity),
            None => format!("{} {}", line.quantity, line.unit),
        };
        let price = format!("{} per {}", money(line.unit_price), line.price_per);
        writeln!(
            out,
            "{:<50} {:>30} {:>24} {:>10}  {}",
            line.description,
            quantity,
            price,
            money(line.amount),
            events(&line.events)
        )?;
    }
    writeln!(out, "{:<50} {:>30} {:>24} {:>10}", "total", "", "", money(bill.total))?;
    if !bill.seats.is_empty() {
        writeln!(out)?;
        writeln!(out, "seats held (days of the month):")?;
        for seat in &bill.seats {
            writeln!(
                out,
                "  {:<16} {} days: {}",
                seat.principal.as_str(),
                seat.days.len(),
                seat.days.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
            )?;
        }
    }
    Ok(())
}
