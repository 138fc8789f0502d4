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
    // The command line runs on the store's own machine, with its files: it sees everything.
    crate::export::write(store, &filter, &|_| true, args.format, args.limit, &mut |text| {
        write!(out, "{text}")?;
        Ok(())
    })?;
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
    account: &str,
    month: &str,
    format: BillFormat,
    prices: &lineage_store::billing::PriceBook,
    out: &mut dyn Write,
) -> Result<()> {
    let account = AccountId::new(account)?;
    let month = lineage_store::billing::Month::parse(month)
        .with_context(|| format!("`{month}` is not a month like 2026-03"))?;
    let bill = store.bill(&account, month, prices)?;
    let events = |seqs: &[u64]| seqs.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
    match format {
        BillFormat::Csv => {
            writeln!(out, "description,quantity,unit_price,amount,events")?;
            for line in &bill.lines {
                writeln!(
                    out,
                    "\"{}\",{},{},{},{}",
                    line.description,
                    line.quantity,
                    money(line.unit_price),
                    money(line.amount),
                    events(&line.events)
                )?;
            }
            writeln!(out, "\"total\",,,{},", money(bill.total))?;
        }
        BillFormat::Table => {
            writeln!(
                out,
                "Bill for account {} — {} ({})",
                bill.account, bill.month, bill.currency
            )?;
            writeln!(out)?;
            writeln!(
                out,
                "{:<50} {:>20} {:>12} {:>12}  events",
                "line", "quantity", "unit price", "amount"
            )?;
            for line in &bill.lines {
                writeln!(
                    out,
                    "{:<50} {:>20} {:>12} {:>12}  {}",
                    line.description,
                    line.quantity,
                    money(line.unit_price),
                    money(line.amount),
                    events(&line.events)
                )?;
            }
            writeln!(out, "{:<50} {:>20} {:>12} {:>12}", "total", "", "", money(bill.total))?;
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
        }
    }
    Ok(())
}
