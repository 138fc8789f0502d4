//! `lineage export` and `lineage import`: Lineage's own NDJSON, MLflow stores and
//! OpenLineage files, and where imports land.

use super::*;

/// Where imported records land, and as whom.
#[derive(Debug, clap::Args)]
pub(super) struct ImportTarget {
    /// The experimentation account runs, experiments and datasets go to.
    #[arg(long)]
    pub(super) account: String,
    /// The workspace (in that account) experiments go to.
    #[arg(long)]
    pub(super) workspace: String,
    /// The project experiments go to, made if missing [default: the workspace's project
    /// named after the source, made if missing].
    #[arg(long)]
    pub(super) project: Option<String>,
    /// The principal the import acts as, recorded on every event [default: the store's
    /// administrator].
    #[arg(long = "as", value_name = "PRINCIPAL")]
    pub(super) actor: Option<String>,
    /// Stop at the first record that cannot be imported (by default it is skipped, named
    /// in the summary, and the rest is imported).
    #[arg(long)]
    pub(super) strict: bool,
}

#[derive(Debug, Subcommand)]
pub(super) enum ImportSource {
    /// Import an MLflow tracking store: a file store (an `mlruns/` folder, its model
    /// registry included) or a SQLite database (`mlflow.db`). Experiments, runs (params,
    /// metric histories, tags, dataset inputs, logged models), registered models with
    /// their versions, tags and aliases. Importing again adds only what is new.
    Mlflow {
        /// The `mlruns` folder (or the folder holding it), or the `mlflow.db` file.
        path: PathBuf,
        #[command(flatten)]
        target: ImportTarget,
        /// The model management account registered models go to [default: the only one
        /// in the account's subscription].
        #[arg(long)]
        model_account: Option<String>,
    },
    /// Import OpenLineage events (NDJSON, one event a line, as emitters write them):
    /// jobs become experiments in a project per job namespace (or in --project), runs
    /// become runs with their parents, datasets become datasets with their schema and
    /// version. Every line is checked before anything is appended; an event already
    /// imported (same run, type and time) appends nothing.
    Openlineage {
        file: PathBuf,
        #[command(flatten)]
        target: ImportTarget,
    },
    /// Restore an export of this kind of store (`lineage export`): into an empty store, or
    /// onto one whose log the export continues (an incremental backup). Every line is
    /// checked — JSON, positions, hash chain — before anything is appended.
    Lineage {
        file: PathBuf,
        /// Replay the export into this store instead — for one account's export
        /// (`export --account`) into another store: each event is recorded again by the
        /// same actor with the time it happened, at this store's next positions, all of
        /// it or none. Principals and subscriptions already here are kept.
        #[arg(long)]
        replay: bool,
    },
}

pub(super) fn run_export(
    store: &Store,
    account: Option<String>,
    since: u64,
    out: &mut dyn Write,
    notes: &mut dyn Write,
) -> Result<()> {
    let filter = EventFilter {
        account: account.map(AccountId::new).transpose()?,
        stream: None,
    };
    let exported = lineage_importer::lineage_format::export(
        store,
        &filter,
        since,
        &mut |lines| out.write_all(lines.as_bytes()),
        &mut count_printer("exporting", "events of the log"),
    )?;
    out.flush()?;
    // Beside the export (stderr), which stays pure NDJSON.
    writeln!(
        notes,
        "exported {} events: the log after seq {since} up to seq {} (the next incremental export: --since {})",
        exported.events, exported.upto, exported.upto
    )?;
    Ok(())
}

pub(super) fn run_import_lineage(store: &Store, file: &Path, out: &mut dyn Write) -> Result<()> {
    let restored = lineage_importer::lineage_format::restore(store, file, &mut count_printer("restoring", "events"))?;
    writeln!(
        out,
        "restored {} events; the log ends at seq {} with hash {}",
        restored.events, restored.head.seq, restored.head.hash
    )?;
    Ok(())
}

pub(super) fn import_target(
    store: &Store,
    target: &ImportTarget,
    model_account: Option<String>,
    source: &str,
) -> Result<lineage_importer::Target> {
    let actor = match &target.actor {
        Some(actor) => lineage_schema::PrincipalId::new(actor.clone())?,
        None => crate::auth::administrator(store)?,
    };
    let spec = lineage_importer::TargetSpec {
        actor,
        account: target.account.clone(),
        workspace: target.workspace.clone(),
        project: target.project.clone(),
        model_account,
    };
    // MLflow's experiments share one project; OpenLineage's jobs get one per namespace.
    Ok(lineage_importer::Target::prepare_with(
        store,
        &spec,
        source,
        source == "mlflow",
    )?)
}

pub(super) fn run_import_mlflow(
    store: &Store,
    path: &Path,
    target: &ImportTarget,
    model_account: Option<String>,
    out: &mut dyn Write,
) -> Result<()> {
    let tracking = lineage_importer::mlflow::read(path)?;
    let resolved = import_target(store, target, model_account, "mlflow")?;
    let summary = lineage_importer::mlflow::import(
        store,
        tracking,
        &resolved,
        target.strict,
        &mut count_printer("importing", "records"),
    )?;
    write!(
        out,
        "Imported {} into {}:\n{summary}",
        path.display(),
        store.dir().display()
    )?;
    Ok(())
}

pub(super) fn run_import_openlineage(
    store: &Store,
    file: &Path,
    target: &ImportTarget,
    out: &mut dyn Write,
) -> Result<()> {
    let mut read = lineage_importer::openlineage::read_file(file)?;
    if target.strict && !read.malformed.is_empty() {
        return Err(read.malformed.swap_remove(0).into());
    }
    if read.events.is_empty() {
        bail!(
            "{} holds no OpenLineage event{}: nothing to import",
            file.display(),
            if read.malformed.is_empty() {
                ""
            } else {
                " that can be read"
            }
        );
    }
    let resolved = import_target(store, target, None, "openlineage")?;
    let mut summary = lineage_importer::openlineage::import(
        store,
        &resolved,
        &read.events,
        target.strict,
        &mut count_printer("importing", "events"),
    )?;
    for line in read.malformed {
        summary.skip("a malformed line", line.to_string());
    }
    write!(
        out,
        "Imported {} into {}:\n{summary}",
        file.display(),
        store.dir().display()
    )?;
    Ok(())
}

pub(super) fn run_replay_lineage(store: &Store, file: &Path, out: &mut dyn Write) -> Result<()> {
    let replayed = lineage_importer::lineage_format::replay(store, file)?;
    let head = store.head();
    writeln!(
        out,
        "replayed {} events ({} already here); the log ends at seq {} with hash {}",
        replayed.appended, replayed.already_here, head.seq, head.hash
    )?;
    Ok(())
}
