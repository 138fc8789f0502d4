//! `Store`: the one handle to a data directory — the log, the group-commit writer, the
//! derived trees, and the reads over them.

mod accounting;
mod bundle;
mod proofs;
mod shared;
mod sizes;
mod tlog;
pub use bundle::{check_bundle_complete, BillBundle, BundleCheck, BundledBill, BundledEntry, BundledLine};
pub use sizes::TableSize;

use shared::{follow, open_log};

use crate::derived::overlay::{decode, Trees};
use crate::derived::pending::Overlay;
use crate::error::{Error, Result};
use crate::log::{self, EventLog, FileLog, Head, LogRead, OpenReport, ScanReport};
use crate::progress::{Progress, Reporter, Stage, Unit};
use crate::projections;
use crate::projections::index;
use crate::projections::state;
use crate::write::writer::{Appended, BatchFailure, Job, Reply, Shared, Writer};
use lineage_schema::event::MetricPoint;
use lineage_schema::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::broadcast;

/// How a store is opened.
#[derive(Clone, Debug)]
pub struct Options {
    /// A segment is closed once the next record would take it past this size.
    pub max_segment_bytes: u64,
    /// The most commands decided and synced together in one group.
    pub max_group: usize,
    /// How long opening waits for the data directory's lock: sled's background flusher
    /// lets go of it a moment after the previous handle in this process is dropped.
    pub lock_wait: Duration,
    /// What the log reads and writes through: the real disk, or one injecting faults.
    pub disk: Arc<dyn crate::log::disk::Disk>,
    /// The log on PostgreSQL (`postgres://USER@HOST:PORT/DB`) instead of the data
    /// directory's files; the directory keeps this node's projections.
    pub log_url: Option<String>,
    /// How much of the derived data sled keeps in memory, in bytes. Reads of a working
    /// set larger than this go to the page cache and the disk.
    pub cache_bytes: u64,
}

/// sled's own default is a gibibyte, which a busy store fills: memory would grow with the
/// log rather than with what is read.
pub const DEFAULT_CACHE_BYTES: u64 = 64 << 20;

impl Default for Options {
    fn default() -> Self {
        Self {
            max_segment_bytes: log::DEFAULT_SEGMENT_BYTES,
            max_group: 4096,
            lock_wait: Duration::from_secs(3),
            disk: Arc::new(crate::log::disk::RealDisk),
            log_url: None,
            cache_bytes: DEFAULT_CACHE_BYTES,
        }
    }
}

/// What opening the store found and did.
#[derive(Clone, Debug)]
pub struct Opened {
    pub log: OpenReport,
    /// Events replayed into projections that lagged the log.
    pub caught_up: u64,
    /// Where derived data that sled could no longer read was moved (a crash can leave
    /// sled's own files damaged); the projections were then rebuilt from the log.
    pub derived_set_aside: Option<PathBuf>,
}

/// Numbers about a store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    pub head: u64,
    pub log_bytes: u64,
    pub segments: usize,
    pub derived_bytes: u64,
    pub entities: Vec<(EntityKind, u64)>,
    pub appended_since_open: u64,
    pub groups_since_open: u64,
}

/// Which events a read wants.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub account: Option<AccountId>,
    pub stream: Option<EntityRef>,
}

impl EventFilter {
    pub fn matches(&self, envelope: &Envelope) -> bool {
        self.account
            .as_ref()
            .is_none_or(|account| envelope.account.as_ref() == Some(account))
            && self.stream.as_ref().is_none_or(|stream| &envelope.stream == stream)
    }
}

#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    db: sled::Db,
    view: Trees,
    reader: Arc<dyn LogRead>,
    shared: Arc<Shared>,
    jobs: Arc<Mutex<Option<mpsc::SyncSender<Job>>>>,
    log_url: Option<String>,
    writer: Mutex<Option<JoinHandle<()>>>,
    opened: Opened,
    access: crate::projections::access::Cache,
    /// The transparency tree, and the thread folding the log into it.
    tlog: tlog::Builder,
}

impl std::fmt::Debug for dyn LogRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogRead")
    }
}

fn log_dir(dir: &Path) -> PathBuf {
    dir.join("log")
}

/// Opens sled; if its files are damaged (sled 0.34 can leave a torn snapshot after a
/// SIGKILL), moves them aside and starts empty — everything in them is derived, and
/// opening replays the log into it. Says where they went.
fn open_db_or_set_aside(dir: &Path, options: &Options) -> Result<(sled::Db, Option<PathBuf>)> {
    match open_sled(dir, options) {
        Err(Error::Sled(sled::Error::Corruption { .. })) => {
            let seconds = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_secs());
            let aside = dir.join(format!("derived.damaged-{seconds}"));
            std::fs::rename(dir.join("derived"), &aside)
                .map_err(Error::io("setting damaged derived data aside", &aside))?;
            // A journal finishes a write into the damaged trees, not into new ones.
            crate::derived::journal::remove(&dir.join(crate::derived::journal::FILE))?;
            Ok((open_sled(dir, options)?, Some(aside)))
        }
        opened => opened.map(|db| (db, None)),
    }
}

fn open_sled(dir: &Path, options: &Options) -> Result<sled::Db> {
    let path = dir.join("derived");
    let started = std::time::Instant::now();
    loop {
        let config = sled::Config::new()
            .path(&path)
            .flush_every_ms(Some(1000))
            .cache_capacity(options.cache_bytes.max(1 << 20));
        match config.open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(source))
                if source.kind() == std::io::ErrorKind::WouldBlock || source.to_string().contains("lock") =>
            {
                if started.elapsed() >= options.lock_wait {
                    return Err(Error::Locked(dir.to_path_buf()));
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(other) => return Err(Error::Sled(other)),
        }
    }
}

impl Store {
    /// Opens (creating if needed) the store in `dir`: checks the log, cuts a torn tail,
    /// brings projections level with the log, and starts the writer.
    pub fn open(dir: &Path, options: &Options) -> Result<Store> {
        Self::open_with_progress(dir, options, &mut |_| {})
    }

    /// As [`Store::open`], telling `progress` how far the log's check and the
    /// projections' catching up are.
    pub fn open_with_progress(dir: &Path, options: &Options, progress: Reporter) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(Error::io("creating the data directory", dir))?;
        let (db, derived_set_aside) = open_db_or_set_aside(dir, options)?;
        let (event_log, log_report) = open_log(dir, &db, options, progress)?;
        let head = event_log.head();
        let journal = dir.join(crate::derived::journal::FILE);
        if projections::ensure_format(&db)? {
            // Cleared trees are rebuilt from the log; a journal would put a part back.
            crate::derived::journal::remove(&journal)?;
        }
        let view = projections::open_view(&db, journal)?;
        view.recover_journal()?;
        view.arm_key_filter()?;
        for (tree, name) in view.sled_trees().iter().zip(projections::NAMES) {
            let checkpoint = crate::derived::overlay::checkpoint(tree)?;
            if checkpoint > head.seq {
                return Err(Error::Derived(format!(
                    "projection `{name}` is at seq {checkpoint} but the log ends at {}",
                    head.seq
                )));
            }
        }
        let reader = event_log.reader();
        let catching_up = Progress::of(Stage::CatchingUp, Unit::Events);
        let caught_up = projections::catch_up(reader.as_ref(), &view, head, &mut |done, total| {
            progress(catching_up(done, total))
        })?;
        let (feed, _) = broadcast::channel(4096);
        let shared = Arc::new(Shared {
            head: Mutex::new(head),
            feed,
            appended_events: 0.into(),
            groups: 0.into(),
            access_generation: 0.into(),
            log_head: head.seq.into(),
        });
        let (tlog_feed, tlog_fed) = mpsc::sync_channel(tlog::FED_GROUPS);
        let writer = Writer {
            tlog_feed: Some(tlog_feed),
            sight: Default::default(),
            log: event_log,
            reader: Arc::clone(&reader),
            overlay: Overlay::new(view.clone()),
            flusher: crate::derived::flusher::Flusher::start(view.clone())?,
            projections: projections::all(),
            shared: Arc::clone(&shared),
            max_group: options.max_group.max(1),
            broken: None,
            layered_events: 0,
            layered_since: None,
            in_flight: None,
        };
        // A bounded queue: when the writer falls behind, senders wait instead of piling up.
        let (jobs, receiver) = mpsc::sync_channel(options.max_group.max(64));
        let handle = std::thread::Builder::new()
            .name("lineage-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(Error::io("starting the writer thread", dir))?;
        let jobs = Arc::new(Mutex::new(Some(jobs)));
        if let Some(url) = &options.log_url {
            follow(url, Arc::clone(&jobs), Arc::clone(&shared), dir)?;
        }
        let tlog = tlog::Builder::start(&db, Arc::clone(&reader), Arc::clone(&shared), tlog_fed, dir)?;
        Ok(Store {
            tlog,
            dir: dir.to_path_buf(),
            db,
            view,
            reader,
            shared,
            jobs,
            log_url: options.log_url.clone(),
            writer: Mutex::new(Some(handle)),
            opened: Opened {
                log: log_report,
                caught_up,
                derived_set_aside,
            },
            access: Default::default(),
        })
    }

    /// Whether the writer still takes appends (false once closed).
    pub fn is_open(&self) -> bool {
        self.jobs.lock().expect("jobs lock").is_some()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What opening found (torn tail cut, events caught up).
    pub fn opened(&self) -> &Opened {
        &self.opened
    }

    /// Appends one command's event, durably, or rejects it.
    pub fn execute(&self, command: CommandEnvelope) -> Result<Appended> {
        let mut appended = self.execute_batch(vec![command])?;
        Ok(appended.remove(0))
    }

    /// Appends every command's event, all or none, in order: a later command sees the
    /// earlier ones' effects. Durable when it returns.
    pub fn execute_batch(&self, commands: Vec<CommandEnvelope>) -> Result<Vec<Appended>> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(Job::Append {
            commands,
            reply: Reply::Blocking(reply),
        })?;
        Ok(answer.recv().map_err(|_| Error::Closed)??)
    }

    /// As [`Store::execute_batch`], awaited rather than blocking a thread: an async server
    /// waits for the group's sync without handing the request to another thread and back.
    /// Handing the job over blocks only while the writer's queue is full (backpressure):
    /// the queue holds at least as many jobs as the server has connections by default.
    pub async fn execute_batch_awaited(&self, commands: Vec<CommandEnvelope>) -> Result<Vec<Appended>> {
        Ok(self.execute_batch_located(commands).await?)
    }

    /// As [`Store::execute_batch_awaited`], saying which command's refusal sank the batch
    /// (its index), for callers that send many at once.
    pub async fn execute_batch_located(&self, commands: Vec<CommandEnvelope>) -> Result<Vec<Appended>, BatchFailure> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(Job::Append {
            commands,
            reply: Reply::Awaited(reply),
        })?;
        answer.await.map_err(|_| Error::Closed)?
    }

    /// Appends events exported from another store, exactly as they were, continuing this
    /// store's log (seq, previous hash); all of the batch or none of it.
    pub fn restore(&self, records: Vec<Envelope>) -> Result<Vec<Appended>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(Job::Restore {
            records,
            reply: Reply::Blocking(reply),
        })?;
        Ok(answer.recv().map_err(|_| Error::Closed)??)
    }

    fn send(&self, job: Job) -> Result<()> {
        let sender = self.jobs.lock().expect("jobs lock").clone().ok_or(Error::Closed)?;
        sender.send(job).map_err(|_| Error::Closed)
    }

    /// Writes every derived change still held in memory to sled. (They are safe without
    /// this: the log has every event, and opening catches sled up.)
    pub fn flush(&self) -> Result<()> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(Job::Flush { reply })?;
        answer.recv().map_err(|_| Error::Closed)?
    }

    /// The last durable event.
    pub fn head(&self) -> Head {
        *self.shared.head.lock().expect("head lock")
    }

    /// How many events the shared log holds that this node has not folded in yet (as
    /// last heard; 0 for a log of files).
    pub fn lag(&self) -> u64 {
        self.shared
            .log_head
            .load(Ordering::Relaxed)
            .saturating_sub(self.head().seq)
    }

    /// The PostgreSQL log this store appends to, if not the data directory's files.
    pub fn log_url(&self) -> Option<&str> {
        self.log_url.as_deref()
    }

    /// Waits until this node has folded in event `seq` (reads on one node may lag another
    /// node's writes), at most `timeout`; whether it has.
    pub async fn reach(&self, seq: u64, timeout: Duration) -> bool {
        let mut feed = self.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        while self.head().seq < seq {
            match tokio::time::timeout_at(deadline, feed.recv()).await {
                Err(_) => return self.head().seq >= seq,
                Ok(Err(broadcast::error::RecvError::Closed)) => return false,
                Ok(_) => {}
            }
        }
        true
    }

    /// Every event appended from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Envelope>> {
        self.shared.feed.subscribe()
    }

    pub fn entity(&self, reference: &EntityRef) -> Result<Option<Entity>> {
        state::entity(&self.view, reference)
    }

    /// Entities of one kind in id order, after `after`, at most `limit`.
    pub fn entities(&self, kind: EntityKind, after: Option<&str>, limit: usize) -> Result<Vec<Entity>> {
        let prefix = state::kind_prefix(kind);
        let start = match after {
            Some(id) => {
                let mut key = state::entity_key(&EntityRef::new(kind, id));
                key.push(0);
                key
            }
            None => prefix.clone(),
        };
        self.view
            .range(state::TREE, &prefix, &start, limit)?
            .iter()
            .map(|(_, value)| decode(value))
            .collect()
    }

    /// The entities of one kind directly inside `parent`.
    pub fn children(&self, parent: &EntityRef, kind: EntityKind) -> Result<Vec<Entity>> {
        state::children(&self.view, parent, kind)
    }

    /// The entity with this name in a scope (`None`: principals and subscriptions).
    pub fn find_by_name(&self, scope: Option<&EntityRef>, kind: EntityKind, name: &str) -> Result<Option<Entity>> {
        match self.view.get(state::TREE, &state::name_key(scope, kind, name))? {
            Some(id) => self.entity(&EntityRef::new(kind, String::from_utf8_lossy(&id))),
            None => Ok(None),
        }
    }

    /// The seqs of a stream's events, oldest first.
    pub fn stream_seqs(&self, stream: &EntityRef) -> Result<Vec<u64>> {
        Ok(index::history(&self.view, stream, 1, usize::MAX)?
            .into_iter()
            .map(|(seq, _)| seq)
            .collect())
    }

    /// Every event of one entity, oldest first.
    pub fn history(&self, stream: &EntityRef) -> Result<Vec<Envelope>> {
        self.history_page(stream, 1, usize::MAX)
    }

    /// Up to `limit` events of one entity from its version `from_version` (1-based) on.
    pub fn history_page(&self, stream: &EntityRef, from_version: u64, limit: usize) -> Result<Vec<Envelope>> {
        let positions: Vec<crate::log::Position> = index::history(&self.view, stream, from_version, limit)?
            .into_iter()
            .map(|(_, position)| position)
            .collect();
        self.reader.read_many(&positions)
    }

    /// One event by position.
    pub fn event(&self, seq: u64) -> Result<Option<Envelope>> {
        if seq == 0 || seq > self.head().seq {
            return Ok(None);
        }
        let (_, anchor) =
            index::anchor(&self.view, seq)?.ok_or_else(|| Error::Derived(format!("no anchor for seq {seq}")))?;
        self.reader.read_seq(anchor, seq).map(Some)
    }

    /// The seq of the event with this idempotency key, if it is in the log.
    pub fn seq_of_event(&self, actor: &PrincipalId, event_id: &EventId) -> Result<Option<u64>> {
        index::seq_of_event_in(&self.view, actor, event_id)
    }

    /// Up to `limit` events after `after` that pass `filter`, in log order.
    pub fn events(&self, after: u64, limit: usize, filter: &EventFilter) -> Result<Vec<Envelope>> {
        let mut found = Vec::new();
        let head = self.head().seq;
        if limit == 0 || after >= head {
            return Ok(found);
        }
        self.reader.scan_from(after + 1, &mut |envelope, _| {
            let seq = envelope.seq;
            if filter.matches(&envelope) {
                found.push(envelope);
            }
            Ok(found.len() < limit && seq < head)
        })?;
        Ok(found)
    }

    /// A run's metric points in the order they were logged: one metric, or all. Read from
    /// the run's events: the log holds the history, the state only the latest values.
    pub fn metric_history(&self, run: &RunId, name: Option<&str>) -> Result<Vec<MetricPoint>> {
        let mut points = Vec::new();
        for envelope in self.history(&EntityRef::new(EntityKind::Run, run))? {
            if let Event::MetricsLogged(logged) = envelope.event {
                points.extend(
                    logged
                        .points
                        .into_iter()
                        .filter(|point| name.is_none_or(|name| point.name == name)),
                );
            }
        }
        Ok(points)
    }

    /// The last seq whose derived changes are all written to sled (the rest are served
    /// from memory and replayed from the log after a crash).
    pub fn flushed_seq(&self) -> Result<u64> {
        let mut lowest = u64::MAX;
        for tree in self.view.sled_trees() {
            lowest = lowest.min(crate::derived::overlay::checkpoint(tree)?);
        }
        Ok(if lowest == u64::MAX { 0 } else { lowest })
    }

    /// How many keys sled holds in the derived trees (what a layer reached sled as; call
    /// `flush` first to count everything appended). Reads every key: for benchmarks.
    pub fn derived_keys(&self) -> Result<u64> {
        Ok(self.view.all_sled_trees().map(|tree| tree.len() as u64).sum())
    }

    /// The derived trees as readers see them.
    #[cfg(test)]
    pub(crate) fn trees(&self) -> &Trees {
        &self.view
    }

    /// The lineage graph.
    pub fn lineage(&self) -> crate::projections::lineage::Reader<'_> {
        crate::projections::lineage::Reader { view: &self.view }
    }

    /// A digest of all derived data: equal digests mean equal projections.
    pub fn projection_digest(&self) -> Result<Digest> {
        self.flush()?;
        projections::digest(self.view.all_sled_trees())
    }

    /// How many groups (one log sync each) the writer has appended since the store opened;
    /// without the scans [`Store::stats`] makes.
    pub fn groups_since_open(&self) -> u64 {
        self.shared.groups.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> Result<Stats> {
        let report = match &self.log_url {
            Some(url) => (log::postgres::PgLogReader::connect(url)?.table_bytes()?, 0),
            None => log::scan_sizes(&log_dir(&self.dir))?,
        };
        let mut entities = Vec::new();
        for kind in EntityKind::ALL {
            let prefix = state::kind_prefix(kind);
            let count = self.view.range(state::TREE, &prefix, &prefix, usize::MAX)?.len() as u64;
            entities.push((kind, count));
        }
        Ok(Stats {
            head: self.head().seq,
            log_bytes: report.0,
            segments: report.1,
            derived_bytes: self.db.size_on_disk()?,
            entities,
            appended_since_open: self.shared.appended_events.load(Ordering::Relaxed),
            groups_since_open: self.groups_since_open(),
        })
    }

    /// Stops the writer after the requests already queued and flushes derived data.
    pub fn close(&self) -> Result<()> {
        self.jobs.lock().expect("jobs lock").take();
        if let Some(handle) = self.writer.lock().expect("writer lock").take() {
            let _ = handle.join();
        }
        self.tlog.stop();
        self.db.flush()?;
        Ok(())
    }

    /// Drops every derived tree and replays the whole log into it.
    pub fn rebuild(dir: &Path, options: &Options, progress: Reporter) -> Result<Store> {
        {
            // Damaged trees are set aside here too: a rebuild is what they need.
            let (db, _) = open_db_or_set_aside(dir, options)?;
            projections::drop_all(&db)?;
            db.flush()?;
            crate::derived::journal::remove(&dir.join(crate::derived::journal::FILE))?;
        }
        Self::open_with_progress(dir, options, progress)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
