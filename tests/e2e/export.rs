//! `export` page by page: how far it is through the log, and an output that fails
//! part way stopping it (the thread reading ahead with it) with that failure.

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
