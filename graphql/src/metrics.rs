//! Request counts and latencies by operation, in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Latency bucket bounds, in seconds.
const BUCKETS: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5];

#[derive(Debug, Default)]
struct Series {
    count: u64,
    errors: u64,
    sum: f64,
    buckets: [u64; BUCKETS.len()],
}

/// What the server counts. Operations are keyed by name, so the number of series is
/// bounded by the clients' vocabulary; unnamed operations share one.
#[derive(Debug, Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<String, Series>>,
}

/// The most distinct operation names tracked; the rest are counted as `other`.
const MAX_OPERATIONS: usize = 256;

impl Metrics {
    pub fn record(&self, operation: &str, elapsed: Duration, failed: bool) {
        let mut series = self.series.lock().expect("metrics lock");
        let name = if series.contains_key(operation) || series.len() < MAX_OPERATIONS {
            operation
        } else {
            "other"
        };
        let entry = series.entry(name.to_string()).or_default();
        let seconds = elapsed.as_secs_f64();
        entry.count += 1;
        entry.errors += u64::from(failed);
        entry.sum += seconds;
        for (bucket, bound) in entry.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
    }

    /// The text exposition, with the store's gauges.
    pub fn render(&self, head: u64, flushed: u64) -> String {
        let mut out = String::new();
        let series = self.series.lock().expect("metrics lock");
        out.push_str("# HELP lineage_graphql_requests_total GraphQL requests by operation.\n# TYPE lineage_graphql_requests_total counter\n");
        for (operation, s) in series.iter() {
            let _ = writeln!(
                out,
                "lineage_graphql_requests_total{{operation=\"{}\"}} {}",
                escape(operation),
                s.count
            );
        }
        out.push_str("# HELP lineage_graphql_errors_total GraphQL requests that answered with errors.\n# TYPE lineage_graphql_errors_total counter\n");
        for (operation, s) in series.iter() {
            let _ = writeln!(
                out,
                "lineage_graphql_errors_total{{operation=\"{}\"}} {}",
                escape(operation),
                s.errors
            );
        }
        out.push_str("# HELP lineage_graphql_request_seconds GraphQL request latency by operation.\n# TYPE lineage_graphql_request_seconds histogram\n");
        for (operation, s) in series.iter() {
            let operation = escape(operation);
            for (bound, count) in BUCKETS.iter().zip(s.buckets) {
                let _ = writeln!(
                    out,
                    "lineage_graphql_request_seconds_bucket{{operation=\"{operation}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "lineage_graphql_request_seconds_bucket{{operation=\"{operation}\",le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "lineage_graphql_request_seconds_sum{{operation=\"{operation}\"}} {}",
                s.sum
            );
            let _ = writeln!(
                out,
                "lineage_graphql_request_seconds_count{{operation=\"{operation}\"}} {}",
                s.count
            );
        }
        let _ = writeln!(out, "# HELP lineage_log_head_seq Position of the last durable event.\n# TYPE lineage_log_head_seq gauge\nlineage_log_head_seq {head}");
        let _ = writeln!(
            out,
            "# HELP lineage_projection_lag_events Durable events whose derived changes are not yet written to disk (they are served from memory).\n# TYPE lineage_projection_lag_events gauge\nlineage_projection_lag_events {}",
            head.saturating_sub(flushed)
        );
        out
    }
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
