//! The payloads of MLflow-style tracking facts: a run's logged models (MLflow 3) and the
//! tags of a run's inputs. Written in `payloads!`, which exports `tracking_fields!`, the
//! lookup `event_fields!` falls back to.

use super::values::*;
use crate::ids::*;
use serde::{Deserialize, Serialize};

payloads! {
    $ tracking_fields;

    /// A run logged its `number`-th model (numbers are never reused in a run); its files
    /// are the run's artifacts under `models/<model id>/`.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ModelLogged {
        pub run: RunId,
        pub number: u32,
        pub name: String,
        pub model_type: String,
        pub params: Vec<Param>,
        pub tags: Vec<Tag>,
    }

    /// A logged model's upload ended, as ready or failed.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct LoggedModelFinalized {
        pub run: RunId,
        pub number: u32,
        pub status: LoggedModelStatus,
    }

    /// Tags were set on a logged model (last write wins).
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct LoggedModelTagsSet {
        pub run: RunId,
        pub number: u32,
        pub tags: Vec<Tag>,
    }

    /// A tag was taken off a logged model.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct LoggedModelTagDeleted {
        pub run: RunId,
        pub number: u32,
        pub key: String,
    }

    /// Params were logged on a logged model (immutable, as a run's are).
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct LoggedModelParamsLogged {
        pub run: RunId,
        pub number: u32,
        pub params: Vec<Param>,
    }

    /// The run named its logged model as an output at `step`.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct ModelOutputRecorded {
        pub run: RunId,
        pub number: u32,
        pub step: i64,
    }

    /// A logged model was deleted; its files stay among the run's artifacts.
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct LoggedModelDeleted {
        pub run: RunId,
        pub number: u32,
    }

    /// Tags on one of a run's inputs (MLflow's `mlflow.data.context`: `training`, `eval`).
    #[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
    pub struct RunInputTagged {
        pub run: RunId,
        pub dataset: DatasetId,
        pub tags: Vec<Tag>,
    }
}
