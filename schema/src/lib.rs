//! Lineage's domain vocabulary: ids, entities, commands, events, the envelope and rejections.
//!
//! Layout:
//! - [`ids`]: typed identifiers, entity kinds, references to entities and their versions;
//! - [`time`]: the one timestamp type, microseconds since the Unix epoch in UTC;
//! - [`event`]: the `Event` enum, one past-tense payload per fact;
//! - [`command`]: the `Command` enum, one imperative request per action;
//! - [`envelope`]: the stored record around an event, its encoding and its hash;
//! - [`compact`]: record format 2, a record stored against the one before it, and
//!   [`varint`], the small-number encoding it shares with derived posting lists;
//! - [`entity`]: the current-state read model that projections build;
//! - [`error`]: `Rejection`, why a command was refused;
//! - [`demo`] and [`samples`]: data — the demo story as commands, one event of each kind.
//!
//! Architecture invariant: this crate does no I/O and knows nothing of storage,
//! HTTP or GraphQL. Everything else depends on it.

mod id_text;
#[macro_use]
mod payload;

pub mod canonical;
pub mod checkpoint;
pub mod command;
pub mod compact;
pub mod demo;
pub mod entity;
pub mod envelope;
pub mod error;
pub mod event;
pub mod ids;
pub mod lineage;
pub mod merkle;
pub mod samples;
pub mod time;
pub mod tlog;
pub mod varint;

pub use command::{Command, CommandEnvelope};
pub use entity::Entity;
pub use envelope::{Envelope, SCHEMA_VERSION};
pub use error::{Rejection, Result};
pub use event::Event;
pub use ids::*;
pub use time::Timestamp;
