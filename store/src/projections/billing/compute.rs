//! Working out a bill from an account's events: seat-days, plan unit-days and overage,
//! and run compute hours, each line priced once and rounded once.

use super::{Bill, BillLine, Month, PriceBook, SeatDays};
use lineage_schema::event::*;
use lineage_schema::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};

fn tier_label(tier: Tier) -> &'static str {
    match tier {
        Tier::DevTest => "DevTest",
        Tier::S1 => "S1",
        Tier::S2 => "S2",
        Tier::S3 => "S3",
    }
}

/// `numerator / denominator`, rounded half up: money is rounded once, per line.
pub(super) fn round_div(numerator: i128, denominator: i128) -> i64 {
    ((numerator * 2 + denominator) / (denominator * 2)) as i64
}

/// For each day of the month, whether `holds` (a step function of time, changed by the
/// given moments) is true at some point of the day.
fn days_held(month: Month, changes: &[(Timestamp, bool)]) -> Vec<u32> {
    let mut days = Vec::new();
    for day in 1..=month.days() {
        let (start, end) = (month.end_of_day(day - 1), month.end_of_day(day));
        let before = changes
            .iter()
            .rfind(|(at, _)| *at < start)
            .is_some_and(|(_, holds)| *holds);
        let during = changes.iter().any(|(at, holds)| *at >= start && *at < end && *holds);
        if before || during {
            days.push(day);
        }
    }
    days
}

/// A run's time on a compute target, and the events that say so.
#[derive(Default)]
struct RunSpan {
    started: Option<Timestamp>,
    finished: Option<Timestamp>,
    kind: String,
    seqs: Vec<u64>,
}

/// The bill of `account` for `month`, from every event of the account (in log order) and
/// the kinds of its compute targets.
pub fn compute(
    account: &AccountId,
    events: &[Envelope],
    compute_kinds: &HashMap<String, String>,
    month: Month,
    prices: &PriceBook,
) -> Bill {
    let mut lines = Vec::new();
    let seats = seat_lines(events, month, prices, &mut lines);
    plan_lines(events, month, prices, &mut lines);
    compute_lines(events, compute_kinds, month, prices, &mut lines);
    let total = lines.iter().map(|line| line.amount).sum();
    Bill {
        account: account.clone(),
        month,
        currency: "USD",
        lines,
        total,
        seats,
        running: false,
    }
}

/// Seats: per principal, the days it held one; one line for the seat-days beyond the
/// free seats of each day. Answers who held a seat when.
fn seat_lines(events: &[Envelope], month: Month, prices: &PriceBook, lines: &mut Vec<BillLine>) -> Vec<SeatDays> {
    let mut seats = Vec::new();
    let mut seat_changes: BTreeMap<PrincipalId, Vec<(Timestamp, bool)>> = BTreeMap::new();
    let mut seat_events: BTreeMap<PrincipalId, Vec<u64>> = BTreeMap::new();
    for event in events {
        let (principal, holds) = match &event.event {
            Event::SeatAssigned(e) => (&e.principal, true),
            Event::SeatRevoked(e) => (&e.principal, false),
            _ => continue,
        };
        seat_changes
            .entry(principal.clone())
            .or_default()
            .push((event.effective_time(), holds));
        seat_events.entry(principal.clone()).or_default().push(event.seq);
    }
    let mut per_day = vec![0u32; month.days() as usize + 1];
    let mut seat_seqs = Vec::new();
    for (principal, changes) in &seat_changes {
        let days = days_held(month, changes);
        if days.is_empty() {
            continue;
        }
        for day in &days {
            per_day[*day as usize] += 1;
        }
        seat_seqs.extend(seat_events[principal].iter().copied());
        seats.push(SeatDays {
            principal: principal.clone(),
            days,
        });
    }
    let billable_seat_days: u32 = per_day.iter().map(|held| held.saturating_sub(prices.free_seats)).sum();
    if !seat_changes.is_empty() {
        seat_seqs.sort_unstable();
        lines.push(BillLine {
            description: format!("seats beyond the first {} (pro-rated by day)", prices.free_seats),
            quantity: billable_seat_days.to_string(),
            unit: "seat-days",
            unit_price: prices.seat_per_month,
            price_per: "seat-month",
            days_in_month: Some(month.days()),
            amount: round_div(
                billable_seat_days as i128 * prices.seat_per_month as i128,
                month.days() as i128,
            ),
            events: seat_seqs,
        });
    }
    seats
}

/// What one day of a plan costs beyond the plan itself: the models and live deployments
/// over its allowance, with the events behind them.
#[derive(Default)]
struct Overage {
    model_days: u64,
    deployment_days: u64,
    model_seqs: BTreeSet<u64>,
    deployment_seqs: BTreeSet<u64>,
}

impl Overage {
    /// Counts the day ending at `end` under `plan`.
    fn add_day(&mut self, events: &[Envelope], end: Timestamp, plan: &Plan, allowance: (u64, u64)) {
        let models: Vec<u64> = events
            .iter()
            .filter(|e| e.effective_time() < end && matches!(e.event, Event::ModelCreated(_)))
            .map(|e| e.seq)
            .collect();
        let mut live: BTreeMap<&ServiceId, u64> = BTreeMap::new();
        for event in events.iter().filter(|e| e.effective_time() < end) {
            match &event.event {
                Event::ServiceDeployed(e) => {
                    live.insert(&e.service, event.seq);
                }
                Event::ServiceDeleted(e) => {
                    live.remove(&e.service);
                }
                _ => {}
            }
        }
        let (models_allowed, deployments_allowed) = allowance;
        let extra_models = (models.len() as u64).saturating_sub(models_allowed * u64::from(plan.units));
        let extra_deployments = (live.len() as u64).saturating_sub(deployments_allowed * u64::from(plan.units));
        if extra_models > 0 {
            self.model_days += extra_models;
            self.model_seqs.extend(models);
        }
        if extra_deployments > 0 {
            self.deployment_days += extra_deployments;
            self.deployment_seqs.extend(live.values().copied());
        }
    }
}

/// The model management plan, by the plan in force at the end of each day, then the
/// overage: everything billed by the day at a monthly price.
fn plan_lines(events: &[Envelope], month: Month, prices: &PriceBook, lines: &mut Vec<BillLine>) {
    let plans: Vec<(Timestamp, Plan, u64)> = events
        .iter()
        .filter_map(|event| match &event.event {
            Event::ModelManagementAccountCreated(e) => Some((event.effective_time(), e.plan, event.seq)),
            Event::ModelManagementPlanChanged(e) => Some((event.effective_time(), e.plan, event.seq)),
            _ => None,
        })
        .collect();
    let plan_at = |end: Timestamp| plans.iter().rfind(|(at, ..)| *at < end);
    let mut plan_days: BTreeMap<&'static str, (u64, BTreeSet<u64>)> = BTreeMap::new();
    let mut overage = Overage::default();
    for day in 1..=month.days() {
        let end = month.end_of_day(day);
        let Some((_, plan, seq)) = plan_at(end) else { continue };
        let tier = tier_label(plan.tier);
        let entry = plan_days.entry(tier).or_default();
        entry.0 += u64::from(plan.units);
        entry.1.insert(*seq);
        let allowance = prices.allowance_per_unit.get(tier).copied().unwrap_or_default();
        overage.add_day(events, end, plan, allowance);
    }
    let days_in_month = month.days() as i128;
    let daily = |description: String,
                 days: u64,
                 (unit, price_per): (&'static str, &'static str),
                 price: i64,
                 events: BTreeSet<u64>| BillLine {
        description,
        quantity: days.to_string(),
        unit,
        unit_price: price,
        price_per,
        days_in_month: Some(month.days()),
        amount: round_div(days as i128 * price as i128, days_in_month),
        events: events.into_iter().collect(),
    };
    for (tier, (unit_days, seqs)) in plan_days {
        let price = prices.plan_per_unit_month.get(tier).copied().unwrap_or_default();
        lines.push(daily(
            format!("model management plan {tier} (pro-rated by day)"),
            unit_days,
            ("unit-days", "unit-month"),
            price,
            seqs,
        ));
    }
    if overage.model_days > 0 {
        lines.push(daily(
            "managed models beyond the plan's allowance".into(),
            overage.model_days,
            ("model-days", "model-month"),
            prices.extra_model_per_month,
            overage.model_seqs,
        ));
    }
    if overage.deployment_days > 0 {
        lines.push(daily(
            "active deployments beyond the plan's allowance".into(),
            overage.deployment_days,
            ("deployment-days", "deployment-month"),
            prices.extra_deployment_per_month,
            overage.deployment_seqs,
        ));
    }
}

/// Run compute: each run's time between starting and finishing, within the month, by
/// compute-target kind.
fn compute_lines(
    events: &[Envelope],
    compute_kinds: &HashMap<String, String>,
    month: Month,
    prices: &PriceBook,
    lines: &mut Vec<BillLine>,
) {
    let mut runs: BTreeMap<&RunId, RunSpan> = BTreeMap::new();
    for event in events {
        let at = event.effective_time();
        match &event.event {
            Event::RunStarted(e) => {
                let entry = runs.entry(&e.run).or_default();
                entry.started = Some(at);
                entry.kind = compute_kinds
                    .get(e.compute_target.as_str())
                    .cloned()
                    .unwrap_or_else(|| "local".into());
                entry.seqs.push(event.seq);
            }
            Event::RunCompleted(RunCompleted { run })
            | Event::RunFailed(RunFailed { run, .. })
            | Event::RunCanceled(RunCanceled { run }) => {
                let entry = runs.entry(run).or_default();
                entry.finished = Some(at);
                entry.seqs.push(event.seq);
            }
            _ => {}
        }
    }
    let mut by_kind: BTreeMap<String, (i128, Vec<u64>)> = BTreeMap::new();
    for RunSpan {
        started,
        finished,
        kind,
        seqs,
    } in runs.into_values()
    {
        let (Some(started), Some(finished)) = (started, finished) else {
            continue;
        };
        let (from, until) = (started.max(month.start()), finished.min(month.end()));
        if until > from {
            let entry = by_kind.entry(kind).or_default();
            entry.0 += (until.micros() - from.micros()) as i128;
            entry.1.extend(seqs);
        }
    }
    for (kind, (micros, mut seqs)) in by_kind {
        let price = prices.compute_per_hour.get(kind.as_str()).copied().unwrap_or_default();
        seqs.sort_unstable();
        lines.push(BillLine {
            description: format!("run compute on {kind} targets"),
            quantity: format!("{:.3}", micros as f64 / 3.6e9),
            unit: "hours",
            unit_price: price,
            price_per: "hour",
            days_in_month: None,
            amount: round_div(micros * price as i128, 3_600_000_000),
            events: seqs,
        });
    }
}
