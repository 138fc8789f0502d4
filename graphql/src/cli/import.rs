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

pub(super) fn run_export(dir: &Path, account: Option<String>, since: u64) -> Result<()> {
    let filter = EventFilter {
        account: account.map(AccountId::new).transpose()?,
        stream: None,
    };
    let store = open_existing(dir)?;
    lineage_importer::lineage_format::export(&store, &filter, since, &mut |lines| {
        print!("{lines}");
        Ok(())
    })?;
    std::io::stdout().flush()?;
    Ok(())
}

pub(super) fn run_import_lineage(dir: &Path, file: &Path) -> Result<()> {
    let store = open(dir)?;
    let restored = lineage_importer::lineage_format::restore(&store, file, &mut progress_printer("restoring"))?;
    store.close()?;
    println!(
        "restored {} events; the log ends at seq {} with hash {}",
        restored.events, restored.head.seq, restored.head.hash
    );
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
    dir: &Path,
    path: &Path,
    target: &ImportTarget,
    model_account: Option<String>,
) -> Result<()> {
    let tracking = lineage_importer::mlflow::read(path)?;
    let store = open_existing(dir)?;
    let resolved = import_target(&store, target, model_account, "mlflow")?;
    let summary = lineage_importer::mlflow::import(
        &store,
        tracking,
        &resolved,
        target.strict,
        &mut progress_printer_of("importing", "records"),
    )?;
    store.close()?;
    print!("Imported {} into {}:\n{summary}", path.display(), dir.display());
    Ok(())
}

pub(super) fn run_import_openlineage(dir: &Path, file: &Path, target: &ImportTarget) -> Result<()> {
    let events = lineage_importer::openlineage::read_file(file)?;
    let store = open_existing(dir)?;
    let resolved = import_target(&store, target, None, "openlineage")?;
    let summary = lineage_importer::openlineage::import(
        &store,
        &resolved,
        &events,
        target.strict,
        &mut progress_printer_of("importing", "events"),
    )?;
    store.close()?;
    print!("Imported {} into {}:\n{summary}", file.display(), dir.display());
    Ok(())
}

pub(super) fn run_replay_lineage(dir: &Path, file: &Path) -> Result<()> {
    let store = open(dir)?;
    let replayed = lineage_importer::lineage_format::replay(&store, file)?;
    let head = store.head();
    store.close()?;
    println!(
        "replayed {} events ({} already here); the log ends at seq {} with hash {}",
        replayed.appended, replayed.already_here, head.seq, head.hash
    );
    Ok(())
}
