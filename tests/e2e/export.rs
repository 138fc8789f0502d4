//! `export` and the audit trail page by page: how far through the log they are, a limit,
//! and an output that fails part way stopping it (the thread reading ahead with it) with
//! that failure.

use crate::shared_log::metric;
use lineage_importer::lineage_format::export;
use lineage_store::{demo, EventFilter, Options, Store};

/// The demo story and enough metrics after it for several pages of a thousand.
fn filled(dir: &std::path::Path) -> Store {
    let store = Store::open(dir, &Options::default()).unwrap();
    demo::fill(&store).unwrap();
    let metrics = (0..3_500)
        .map(|step| metric("u-ada", &format!("m{step}"), step))
        .collect();
    store.execute_batch(metrics).unwrap();
    store
}

#[test]
fn an_export_reports_how_far_through_the_log_it_is_and_ends_at_the_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled(dir.path());
    let head = store.head().seq;
    for since in [0, 1_200] {
        let mut reports = Vec::new();
        let mut lines = 0;
        let exported = export(
            &store,
            &EventFilter::default(),
            since,
            &mut |text| {
                lines += text.lines().count() as u64;
                Ok(())
            },
            &mut |done, total| reports.push((done, total)),
        )
        .unwrap();
        assert_eq!((exported.events, exported.upto), (head - since, head));
        assert_eq!(lines, head - since);
        assert!(reports.len() > 3, "a report a page: {reports:?}");
        assert!(reports.iter().all(|&(_, total)| total == head - since), "{reports:?}");
        assert!(reports.windows(2).all(|pair| pair[0].0 <= pair[1].0), "{reports:?}");
        assert_eq!(reports.last(), Some(&(head - since, head - since)));
    }
}

#[test]
fn an_output_that_fails_part_way_stops_the_export_with_its_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled(dir.path());
    let mut pages = 0;
    let mut reports = 0;
    let error = export(
        &store,
        &EventFilter::default(),
        0,
        &mut |_| {
            pages += 1;
            if pages == 2 {
                Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            } else {
                Ok(())
            }
        },
        &mut |_, _| reports += 1,
    )
    .unwrap_err();
    assert!(error.to_string().contains("the output"), "{error}");
    assert_eq!(pages, 2, "nothing written after the failure");
    assert_eq!(reports, 1, "only the page written before it reported");
    // The store is still whole and usable: the reading thread let go.
    assert!(store.events(0, 10, &EventFilter::default()).unwrap().len() == 10);
}

/// The audit trail page by page: every event once, in order, how far through the log it
/// is, and a limit that ends it early.
#[test]
fn the_audit_trail_reports_how_far_it_is_and_stops_at_its_limit() {
    use lineage_graphql::export::{filter, write, Format};
    let dir = tempfile::tempdir().unwrap();
    let store = filled(dir.path());
    let head = store.head().seq;
    let everything = filter(None, None, None, None, None, None, None).unwrap();
    let mut reports = Vec::new();
    let mut seqs = Vec::new();
    let written = write(
        &store,
        &everything,
        &|_| true,
        (Format::Ndjson, usize::MAX),
        &mut |text| {
            for line in text.lines() {
                let row: serde_json::Value = serde_json::from_str(line).unwrap();
                seqs.push(row["seq"].as_u64().unwrap());
            }
            Ok(())
        },
        &mut |done, total| reports.push((done, total)),
    )
    .unwrap();
    assert_eq!(written as u64, head);
    assert_eq!(seqs, (1..=head).collect::<Vec<_>>());
    assert!(reports.len() > 3, "a report a page: {reports:?}");
    assert!(reports.windows(2).all(|pair| pair[0].0 <= pair[1].0), "{reports:?}");
    assert_eq!(reports.last(), Some(&(head, head)));

    let mut lines = 0;
    let written = write(
        &store,
        &everything,
        &|envelope| envelope.seq % 2 == 0,
        (Format::Csv, 1_500),
        &mut |text| {
            lines += text.lines().count();
            Ok(())
        },
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(written, 1_500);
    assert_eq!(lines, 1_501, "the header and the rows the limit allows");
}
