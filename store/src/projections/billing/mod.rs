//! Bills: per account and calendar month (UTC), from the account's events — seats
//! pro-rated by day (the first two free), the model management plan by day, managed
//! models and active deployments beyond the plan's allowance by day, and run compute
//! hours by compute-target kind — priced by a price book, in integer minor units, each
//! line with the events behind it.

use crate::derived::overlay::TreeId;
use crate::derived::pending::Overlay;
use crate::error::Result;
use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use lineage_schema::event::*;
use lineage_schema::*;
use std::collections::BTreeMap;

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

    /// The month (UTC) that holds `time`.
    pub fn containing(time: Timestamp) -> Month {
        let date = time.datetime().date_naive();
        Month {
            year: date.year(),
            month: date.month(),
        }
    }

    /// Whether the month has begun by `now`.
    pub fn has_begun(self, now: Timestamp) -> bool {
        self.start() <= now
    }

    /// Whether the month is still under way at `now` (its bill can still grow).
    pub fn is_running(self, now: Timestamp) -> bool {
        self.has_begun(now) && now < self.end()
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

/// One line of a bill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BillLine {
    pub description: String,
    /// How much was used, a number of `unit`s: whole days, or hours to the thousandth.
    pub quantity: String,
    /// What `quantity` counts: `seat-days`, `unit-days`, `model-days`, `deployment-days`
    /// or `hours`.
    pub unit: &'static str,
    /// The price of one `price_per`, in minor units.
    pub unit_price: i64,
    /// What `unit_price` buys: a month of a seat, a plan unit, a model or a deployment
    /// (`seat-month`, …; the line's days are that many days' share of the month's
    /// `days_in_month`), or an `hour`.
    pub price_per: &'static str,
    /// For a line priced by the month, the days of that month (`quantity / days_in_month`
    /// months are billed); none for a line priced by the hour.
    pub days_in_month: Option<u32>,
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
    /// The month is not over: this is the bill so far.
    pub running: bool,
}

mod compute;
#[cfg(test)]
mod tests;

pub use compute::compute;
