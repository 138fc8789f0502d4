//! CPU time by thread, read from `/proc` (Linux): what `--insert-chains` spends per chain
//! in the writer, the flusher, the log's sync thread, the transparency builder and sled's
//! I/O threads, and in everything else (the bench's own writers, threads gone since).
//! On two cores the sum per chain bounds the rate whatever the threads' overlap.

use std::collections::HashMap;

/// What the kernel counts CPU time in for `/proc`: `USER_HZ`, 100 a second on Linux.
const TICKS_PER_SECOND: f64 = 100.0;

/// The threads shown by name (as the kernel keeps it: at most 15 bytes) and their labels;
/// a trailing `-N` is dropped first (sled's `sled-io-3`).
pub(super) const SHOWN: [(&str, &str); 5] = [
    ("lineage-writer", "writer"),
    ("lineage-flusher", "flusher"),
    ("lineage-log-syn", "log sync"),
    ("lineage-tlog", "transparency"),
    ("sled-io", "sled I/O"),
];

/// The process's CPU ticks in all, and each live thread's, by thread id.
#[derive(Clone, Debug)]
pub(super) struct Sample {
    total: u64,
    threads: HashMap<String, (String, u64)>,
}

/// Now's counts, or `None` where `/proc` does not say.
pub(super) fn sample() -> Option<Sample> {
    let total = ticks(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
    let mut threads = HashMap::new();
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let path = task.path();
        // A thread that ended meanwhile is counted in the total only.
        let (Ok(stat), Ok(name)) = (
            std::fs::read_to_string(path.join("stat")),
            std::fs::read_to_string(path.join("comm")),
        ) else {
            continue;
        };
        if let Some(used) = ticks(&stat) {
            let id = task.file_name().to_string_lossy().into_owned();
            threads.insert(id, (family(name.trim()).to_string(), used));
        }
    }
    Some(Sample { total, threads })
}

/// User and system ticks from a `stat` line: fields 14 and 15, counted after the name
/// in parentheses (which may hold spaces).
fn ticks(stat: &str) -> Option<u64> {
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// A thread's name without a trailing `-N`.
fn family(name: &str) -> &str {
    match name.rsplit_once('-') {
        Some((family, number)) if !number.is_empty() && number.bytes().all(|byte| byte.is_ascii_digit()) => family,
        _ => name,
    }
}

/// Milliseconds of CPU per `units` between two samples: each shown thread family's (in
/// `SHOWN`'s order), then the rest, then the total.
pub(super) fn per_unit(before: &Sample, after: &Sample, units: usize) -> Vec<f64> {
    let per_unit = |ticks: u64| ticks as f64 / TICKS_PER_SECOND * 1000.0 / units.max(1) as f64;
    let mut by_family: HashMap<&str, u64> = HashMap::new();
    for (id, (name, used)) in &after.threads {
        let earlier = before.threads.get(id).map_or(0, |(_, used)| *used);
        *by_family.entry(name.as_str()).or_default() += used.saturating_sub(earlier);
    }
    let total = after.total.saturating_sub(before.total);
    let shown: Vec<u64> = SHOWN
        .iter()
        .map(|(name, _)| by_family.get(name).copied().unwrap_or(0))
        .collect();
    let rest = total.saturating_sub(shown.iter().sum());
    shown.into_iter().chain([rest, total]).map(per_unit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_give_user_and_system_ticks_whatever_the_name() {
        let line = "4242 (sled io) 1) S 1 2 3 4 5 6 7 8 9 10 250 37 0 0 20 0 9 0 100 2000 30";
        assert_eq!(ticks(line), Some(287));
        assert_eq!(ticks("4242 (x) S 1 2"), None);
        assert_eq!(family("sled-io-12"), "sled-io");
        assert_eq!(family("lineage-writer"), "lineage-writer");
        assert_eq!(family("tokio-runtime-w"), "tokio-runtime-w");
    }

    #[test]
    fn the_parts_add_up_to_the_total_and_threads_born_meanwhile_count_whole() {
        let thread = |name: &str, used| (name.to_string(), used);
        let before = Sample {
            total: 100,
            threads: [
                ("1".to_string(), thread("lineage-writer", 40)),
                ("2".to_string(), thread("bench", 10)),
            ]
            .into(),
        };
        let after = Sample {
            total: 300,
            threads: [
                ("1".to_string(), thread("lineage-writer", 140)),
                ("2".to_string(), thread("bench", 30)),
                ("3".to_string(), thread("sled-io", 20)),
            ]
            .into(),
        };
        let figures = per_unit(&before, &after, 10);
        // 100 ticks of the writer over 10 chains: 100 ms each.
        assert_eq!(figures[0], 100.0);
        assert_eq!(figures[SHOWN.len() - 1], 20.0, "sled's thread, born in between");
        assert_eq!(figures[SHOWN.len()], 80.0, "the rest: the bench's and ended threads");
        assert_eq!(figures[SHOWN.len() + 1], 200.0);
        let parts: f64 = figures[..=SHOWN.len()].iter().sum();
        assert_eq!(parts, figures[SHOWN.len() + 1]);
    }
}
