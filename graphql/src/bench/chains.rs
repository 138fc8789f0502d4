//! `lineage bench --insert-chains`: lineage chains (dataset → run → model → manifest →
//! image → service, 13 commands) inserted by concurrent writers in-process, each chain
//! one all-or-none batch, acknowledged only once synced; chains/s per writer count.

use super::*;

/// Inserts chains `first..first + chains` from `writers` threads, each chain one batch;
/// chains/s.
pub(super) fn insert(store: &Arc<Store>, first: usize, chains: usize, writers: usize) -> Result<f64> {
    let writers = writers.clamp(1, chains.max(1));
    let started = Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|writer| {
            let store = Arc::clone(store);
            std::thread::spawn(move || -> Result<()> {
                for index in (first + writer..first + chains).step_by(writers) {
                    store.execute_batch(graph::chain(index, 0))?;
                }
                Ok(())
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("chain writer")?;
    }
    Ok(chains as f64 / started.elapsed().as_secs_f64())
}

pub(super) fn run(base: &Path, chains: usize, writers: &[usize], repeat: usize) -> Result<()> {
    println!("lineage bench --insert-chains: {chains} chains of 13 commands per measurement, median of {repeat} runs");
    println!();
    println!("| writers | chains/s | events/s |");
    println!("|--------:|---------:|---------:|");
    for &count in writers {
        let mut rates = Vec::new();
        for _ in 0..repeat.max(1) {
            let scratch = Scratch::new(base, &format!("chains{count}"))?;
            let store = Arc::new(Store::open(&scratch.0, &Options::default())?);
            store.execute_batch(lineage_store::demo::scaffold("u-bench", 0))?;
            rates.push(insert(&store, 0, chains, count)?);
            store.close()?;
        }
        let rate = median(rates);
        println!("| {count:>7} | {rate:>8.0} | {:>8.0} |", rate * 13.0);
    }
    Ok(())
}
