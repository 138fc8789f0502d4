//! Bills: per account and calendar month (UTC), from the account's events — seats
//! pro-rated by day (the first two free), the model management plan by day, managed
//! models and active deployments beyond the plan's allowance by day, and run compute
//! hours by compute-target kind — priced by a price book, in integer minor units, each
//! line with the events behind it.

use crate::derived::overlay::{Overlay, TreeId};
use crate::error::Result;
use chrono::{NaiveDate, TimeZone, Utc};
use lineage_schema::event::*;
use lineage_schema::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The billing projection's tree: per account, the positions of the events a bill is
/// made of (seats, plans, models, deployments, runs starting and finishing) — a small
/// share of an account's events, most of which are metrics.
pub const TREE: TreeId = 5;

/// Whether an event changes what an account is billed.
pub fn bills(event: &Event) -> bool {
    matches!(
        event,
        Event::SeatAssigned(_)
            | Event::SeatRevoked(_)
            | Event::ModelManagementAccountCreated(_)
            | Event::ModelManagementPlanChanged(_)
            | Event::ModelCreated(_)
            | Event::ServiceDeployed(_)
            | Event::ServiceDeleted(_)
            | Event::RunStarted(_)
            | Event::RunCompleted(_)
            | Event::RunFailed(_)
            | Event::RunCanceled(_)
    )
}

/// Indexes one event if it is billed.
pub fn apply(overlay: &mut Overlay, envelope: &Envelope) -> Result<()> {
    if let (Some(account), true) = (&envelope.account, bills(&envelope.event)) {
        crate::projections::audit::post(overlay, TREE, b'b', account.as_str(), envelope.seq)?;
    }
    Ok(())
}

/// The positions of an account's billed events.
pub fn billed_events(view: &crate::derived::overlay::Trees, account: &AccountId) -> Result<Vec<u64>> {
    crate::projections::audit::postings_in(view, TREE, b'b', account.as_str(), 0)
}

/// A calendar month, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    /// Parses `2026-03`.
    pub fn parse(text: &str) -> Option<Month> {
        let (year, month) = text.split_once('-')?;
        let month = Month {
            year: year.parse().ok()?,
            month: month.parse().ok()?,
        };
        NaiveDate::from_ymd_opt(month.year, month.month, 1).map(|_| month)
    }

    fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("checked when parsed")
    }

    pub fn days(self) -> u32 {
        let next = if self.month == 12 {
            NaiveDate::from_ymd_opt(self.year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(self.year, self.month + 1, 1)
        };
        (next.expect("a valid month follows") - self.first_day()).num_days() as u32
    }

    /// The end of day `day` (1-based): the first instant of the next day.
    fn end_of_day(self, day: u32) -> Timestamp {
        let date = self.first_day() + chrono::Duration::days(day as i64);
        Timestamp::from_datetime(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight")))
    }

    fn start(self) -> Timestamp {
        self.end_of_day(0)
    }

    fn end(self) -> Timestamp {
        self.end_of_day(self.days())
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// Prices, in minor units (cents). The defaults model the original preview pricing for
/// seats ($50 a seat a month, the first two free); the rest are illustrative. A JSON file
/// may override any of them (`PriceBook::from_json`); what it leaves out keeps its default.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PriceBook {
    pub free_seats: u32,
    pub seat_per_month: i64,
    /// Per unit per month, by tier (`DevTest`, `S1`, `S2`, `S3`).
    pub plan_per_unit_month: BTreeMap<String, i64>,
    /// Managed models and active deployments each unit of a tier allows.
    pub allowance_per_unit: BTreeMap<String, (u64, u64)>,
    pub extra_model_per_month: i64,
    pub extra_deployment_per_month: i64,
    /// Per compute hour, by compute-target kind (`local`, `docker`, `remote-vm`, `spark-cluster`).
    pub compute_per_hour: BTreeMap<String, i64>,
}

impl Default for PriceBook {
    fn default() -> Self {
        let owned = |pairs: &[(&str, i64)]| pairs.iter().map(|(key, value)| (key.to_string(), *value)).collect();
        Self {
            free_seats: 2,
            seat_per_month: 5_000,
            plan_per_unit_month: owned(&[("DevTest", 0), ("S1", 10_000), ("S2", 60_000), ("S3", 200_000)]),
            allowance_per_unit: [
                ("DevTest", (10, 2)),
                ("S1", (100, 10)),
                ("S2", (1_000, 100)),
                ("S3", (10_000, 1_000)),
            ]
            .into_iter()
            .map(|(tier, allowance)| (tier.to_string(), allowance))
            .collect(),
            extra_model_per_month: 100,
            extra_deployment_per_month: 2_000,
            compute_per_hour: owned(&[("local", 0), ("docker", 0), ("remote-vm", 50), ("spark-cluster", 200)]),
        }
    }
}

impl PriceBook {
    /// A price book from JSON; fields left out keep their defaults, unknown ones are refused.
    pub fn from_json(text: &str) -> std::result::Result<Self, String> {
        let book: PriceBook = serde_json::from_str(text).map_err(|error| format!("not a price book: {error}"))?;
        let fixed = [
            book.seat_per_month,
            book.extra_model_per_month,
            book.extra_deployment_per_month,
        ];
        if fixed
            .iter()
            .chain(book.plan_per_unit_month.values())
            .chain(book.compute_per_hour.values())
            .any(|price| *price < 0)
        {
            return Err("prices cannot be negative".into());
        }
        Ok(book)
    }
}

fn tier_label(tier: Tier) -> &'static str {
    match tier {
        Tier::DevTest => "DevTest",
        Tier::S1 => "S1",
        Tier::S2 => "S2",
        Tier::S3 => "S3",
    }
}

/// One line of a bill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillLine {
    pub description: String,
    /// How much was used, in `unit`s (seat-days, unit-days, model-days, hours × 1000 …).
    pub quantity: String,
    pub unit_price: i64,
    pub amount: i64,
    /// The events that justify the line.
    pub events: Vec<u64>,
}

/// Who held a seat on which days of the month.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeatDays {
    pub principal: PrincipalId,
    pub days: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bill {
    pub account: AccountId,
    pub month: Month,
    pub currency: &'static str,
    pub lines: Vec<BillLine>,
    pub total: i64,
    pub seats: Vec<SeatDays>,
}

/// `numerator / denominator`, rounded half up: money is rounded once, per line.
fn round_div(numerator: i128, denominator: i128) -> i64 {
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
    let mut seats = Vec::new();
    let days_in_month = month.days() as i128;

    // Seats: per principal, the days it held one.
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
            quantity: format!("{billable_seat_days} seat-days"),
            unit_price: prices.seat_per_month,
            amount: round_div(
                billable_seat_days as i128 * prices.seat_per_month as i128,
                days_in_month,
            ),
            events: seat_seqs,
        });
    }

    // The model management plan, by the plan in force at the end of each day.
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
    let (mut model_overage, mut deployment_overage) = (0u64, 0u64);
    let (mut model_seqs, mut deployment_seqs) = (BTreeSet::new(), BTreeSet::new());
    for day in 1..=month.days() {
        let end = month.end_of_day(day);
        let Some((_, plan, seq)) = plan_at(end) else { continue };
        let tier = tier_label(plan.tier);
        let entry = plan_days.entry(tier).or_default();
        entry.0 += u64::from(plan.units);
        entry.1.insert(*seq);
        let (models_allowed, deployments_allowed) = prices.allowance_per_unit.get(tier).copied().unwrap_or_default();
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
        let extra_models = (models.len() as u64).saturating_sub(models_allowed * u64::from(plan.units));
        let extra_deployments = (live.len() as u64).saturating_sub(deployments_allowed * u64::from(plan.units));
        if extra_models > 0 {
            model_overage += extra_models;
            model_seqs.extend(models);
        }
        if extra_deployments > 0 {
            deployment_overage += extra_deployments;
            deployment_seqs.extend(live.values().copied());
        }
    }
    // Everything billed by the day at a monthly price: the plan by tier, then overage.
    let daily = |description: String, days: u64, unit: &str, price: i64, events: BTreeSet<u64>| BillLine {
        description,
        quantity: format!("{days} {unit}"),
        unit_price: price,
        amount: round_div(days as i128 * price as i128, days_in_month),
        events: events.into_iter().collect(),
    };
    for (tier, (unit_days, seqs)) in plan_days {
        let price = prices.plan_per_unit_month.get(tier).copied().unwrap_or_default();
        lines.push(daily(
            format!("model management plan {tier} (pro-rated by day)"),
            unit_days,
            "unit-days",
            price,
            seqs,
        ));
    }
    if model_overage > 0 {
        lines.push(daily(
            "managed models beyond the plan's allowance".into(),
            model_overage,
            "model-days",
            prices.extra_model_per_month,
            model_seqs,
        ));
    }
    if deployment_overage > 0 {
        lines.push(daily(
            "active deployments beyond the plan's allowance".into(),
            deployment_overage,
            "deployment-days",
            prices.extra_deployment_per_month,
            deployment_seqs,
        ));
    }

    // Run compute: each run's time between starting and finishing, within the month.
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
            quantity: format!("{:.3} hours", micros as f64 / 3.6e9),
            unit_price: price,
            amount: round_div(micros * price as i128, 3_600_000_000),
            events: seqs,
        });
    }

    let total = lines.iter().map(|line| line.amount).sum();
    Bill {
        account: account.clone(),
        month,
        currency: "USD",
        lines,
        total,
        seats,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lineage_schema::literal;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    fn envelope(seq: u64, when: &str, event: impl Into<Event>) -> Envelope {
        let event = event.into();
        Envelope {
            seq,
            stream: event.stream(),
            version: 1,
            event_id: None,
            recorded_at: at(when),
            occurred_at: None,
            actor: literal("u-admin"),
            account: Some(literal("acct")),
            event,
            prev_hash: Digest::ZERO,
            hash: Digest::ZERO,
        }
    }

    fn seat(seq: u64, when: &str, who: &str, assign: bool) -> Envelope {
        if assign {
            envelope(
                seq,
                when,
                SeatAssigned {
                    account: literal("acct"),
                    principal: literal(who),
                },
            )
        } else {
            envelope(
                seq,
                when,
                SeatRevoked {
                    account: literal("acct"),
                    principal: literal(who),
                },
            )
        }
    }

    fn bill(events: &[Envelope], month: &str) -> Bill {
        compute(
            &literal("acct"),
            events,
            &HashMap::new(),
            Month::parse(month).unwrap(),
            &PriceBook::default(),
        )
    }

    #[test]
    fn seats_are_pro_rated_by_day_across_a_month_boundary() {
        // Three seats all March: one beyond the free two, every day.
        let events = [
            seat(1, "2026-02-20T10:00:00Z", "a", true),
            seat(2, "2026-02-20T10:00:00Z", "b", true),
            seat(3, "2026-02-25T10:00:00Z", "c", true),
        ];
        let march = bill(&events, "2026-03");
        assert_eq!(march.lines[0].quantity, "31 seat-days");
        assert_eq!(march.lines[0].amount, 5_000);
        // February: c held a seat from the 25th to the 28th (4 days of 28).
        let february = bill(&events, "2026-02");
        assert_eq!(february.lines[0].quantity, "4 seat-days");
        assert_eq!(february.lines[0].amount, round_div(4 * 5_000, 28));
        assert_eq!(
            february.seats.iter().map(|s| s.days.len()).collect::<Vec<_>>(),
            [9, 9, 4]
        );
    }

    #[test]
    fn a_leap_february_has_29_days() {
        let events = [
            seat(1, "2028-01-01T00:00:00Z", "a", true),
            seat(2, "2028-01-01T00:00:00Z", "b", true),
            seat(3, "2028-02-29T12:00:00Z", "c", true),
        ];
        let leap = bill(&events, "2028-02");
        assert_eq!(Month::parse("2028-02").unwrap().days(), 29);
        assert_eq!(leap.lines[0].quantity, "1 seat-days");
        assert_eq!(leap.lines[0].amount, round_div(5_000, 29));
        assert_eq!(leap.seats[2].days, [29]);
    }

    #[test]
    fn a_seat_revoked_and_granted_again_the_same_day_counts_that_day_once() {
        let events = [
            seat(1, "2026-03-01T00:00:00Z", "a", true),
            seat(2, "2026-03-01T00:00:00Z", "b", true),
            seat(3, "2026-03-10T09:00:00Z", "c", true),
            seat(4, "2026-03-10T11:00:00Z", "c", false),
            seat(5, "2026-03-10T15:00:00Z", "c", true),
            seat(6, "2026-03-12T08:00:00Z", "c", false),
        ];
        let march = bill(&events, "2026-03");
        assert_eq!(march.seats[2].days, [10, 11, 12]);
        assert_eq!(march.lines[0].quantity, "3 seat-days");
        assert_eq!(march.lines[0].events, [1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn a_plan_changed_mid_month_bills_each_plan_for_its_days_and_totals_add_up() {
        let events = [
            envelope(
                1,
                "2026-02-01T00:00:00Z",
                ModelManagementAccountCreated {
                    account: literal("acct"),
                    subscription: literal("sub"),
                    name: Name::new("mm").unwrap(),
                    region: "r".into(),
                    plan: Plan {
                        tier: Tier::S1,
                        units: 1,
                    },
                },
            ),
            envelope(
                2,
                "2026-03-16T12:00:00Z",
                ModelManagementPlanChanged {
                    account: literal("acct"),
                    plan: Plan {
                        tier: Tier::S2,
                        units: 2,
                    },
                },
            ),
        ];
        let march = bill(&events, "2026-03");
        let s1 = march.lines.iter().find(|line| line.description.contains("S1")).unwrap();
        let s2 = march.lines.iter().find(|line| line.description.contains("S2")).unwrap();
        assert_eq!(s1.quantity, "15 unit-days");
        assert_eq!(s2.quantity, "32 unit-days");
        assert_eq!(s1.amount, round_div(15 * 10_000, 31));
        assert_eq!(s2.amount, round_div(32 * 60_000, 31));
        assert_eq!(s2.events, [2]);
        assert_eq!(march.total, march.lines.iter().map(|line| line.amount).sum::<i64>());
    }

    #[test]
    fn a_price_book_file_overrides_some_prices_and_keeps_the_rest() {
        let book = PriceBook::from_json(r#"{ "seat_per_month": 4200, "compute_per_hour": { "spark-cluster": 999 } }"#)
            .unwrap();
        assert_eq!(book.seat_per_month, 4200);
        assert_eq!(book.free_seats, 2);
        assert_eq!(book.compute_per_hour.get("spark-cluster"), Some(&999));
        assert!(
            PriceBook::from_json(r#"{ "seat_price": 1 }"#).is_err(),
            "unknown fields are refused"
        );
        assert!(PriceBook::from_json(r#"{ "seat_per_month": -1 }"#).is_err());
    }

    #[test]
    fn deployments_beyond_the_plan_allowance_are_billed_by_day() {
        let deploy = |seq, service: &str| {
            envelope(
                seq,
                "2026-03-20T08:00:00Z",
                ServiceDeployed {
                    service: literal(service),
                    account: literal("acct"),
                    name: Name::new(service).unwrap(),
                    image: ImageVersionRef {
                        image: literal("img"),
                        version: 1,
                    },
                    environment: literal("env"),
                    url: "http://x".into(),
                    replicas: 1,
                },
            )
        };
        let events = [
            envelope(
                1,
                "2026-03-01T00:00:00Z",
                ModelManagementAccountCreated {
                    account: literal("acct"),
                    subscription: literal("sub"),
                    name: Name::new("mm").unwrap(),
                    region: "r".into(),
                    plan: Plan {
                        tier: Tier::DevTest,
                        units: 1,
                    },
                },
            ),
            deploy(2, "svc-a"),
            deploy(3, "svc-b"),
            deploy(4, "svc-c"),
            envelope(
                5,
                "2026-03-25T08:00:00Z",
                ServiceDeleted {
                    service: literal("svc-c"),
                },
            ),
        ];
        let march = bill(&events, "2026-03");
        let extra = march
            .lines
            .iter()
            .find(|line| line.description.starts_with("active deployments"))
            .unwrap();
        // DevTest allows two: the third ran from the 20th to the 24th (deleted on the 25th).
        assert_eq!(extra.quantity, "5 deployment-days");
        assert_eq!(extra.amount, round_div(5 * 2_000, 31));
        assert_eq!(extra.events, [2, 3, 4]);
    }

    #[test]
    fn months_parse_and_refuse_nonsense() {
        assert_eq!(Month::parse("2026-03").unwrap().to_string(), "2026-03");
        assert!(Month::parse("2026-13").is_none());
        assert!(Month::parse("March").is_none());
    }
}
