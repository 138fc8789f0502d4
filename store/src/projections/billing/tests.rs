//! Bills worked out from hand-made event lists: seats, plans, overage and compute.

use super::compute::round_div;
use super::*;
use lineage_schema::literal;
use std::collections::HashMap;

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
    assert_eq!(
        (march.lines[0].quantity.as_str(), march.lines[0].unit),
        ("31", "seat-days")
    );
    assert_eq!(march.lines[0].amount, 5_000);
    // February: c held a seat from the 25th to the 28th (4 days of 28).
    let february = bill(&events, "2026-02");
    assert_eq!(
        (february.lines[0].quantity.as_str(), february.lines[0].unit),
        ("4", "seat-days")
    );
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
    assert_eq!(
        (leap.lines[0].quantity.as_str(), leap.lines[0].unit),
        ("1", "seat-days")
    );
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
    assert_eq!(
        (march.lines[0].quantity.as_str(), march.lines[0].unit),
        ("3", "seat-days")
    );
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
    assert_eq!((s1.quantity.as_str(), s1.unit), ("15", "unit-days"));
    assert_eq!((s2.quantity.as_str(), s2.unit), ("32", "unit-days"));
    assert_eq!(s1.amount, round_div(15 * 10_000, 31));
    assert_eq!(s2.amount, round_div(32 * 60_000, 31));
    assert_eq!(s2.events, [2]);
    assert_eq!(march.total, march.lines.iter().map(|line| line.amount).sum::<i64>());
}

#[test]
fn a_price_book_file_overrides_some_prices_and_keeps_the_rest() {
    let book =
        PriceBook::from_json(r#"{ "seat_per_month": 4200, "compute_per_hour": { "spark-cluster": 999 } }"#).unwrap();
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
    assert_eq!((extra.quantity.as_str(), extra.unit), ("5", "deployment-days"));
    assert_eq!(extra.amount, round_div(5 * 2_000, 31));
    assert_eq!(extra.events, [2, 3, 4]);
}

#[test]
fn months_parse_and_refuse_nonsense() {
    assert_eq!(Month::parse("2026-03").unwrap().to_string(), "2026-03");
    assert!(Month::parse("2026-13").is_none());
    assert!(Month::parse("March").is_none());
}
