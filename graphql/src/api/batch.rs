//! `executeBatch`: many commands in one request, appended all or none, in order, with one
//! sync. What a client recording a whole lineage chain (dataset, run, model version,
//! manifest, image, service) sends instead of a round trip and a disk sync per command.

use super::error::{coded, from_store, invalid};
use super::inputs;
use super::mutation::{decode, envelope_of, MutationResult};
use async_graphql::{Context, ErrorExtensions, InputObject};
use lineage_schema::command::{AddManifestVersion, RegisterModelVersion, StartImageBuild};
use lineage_schema::event::*;
use lineage_schema::{Command, CommandEnvelope, PrincipalId};

/// The most commands one batch may hold (the request body's limit bounds it too).
pub(crate) const MAX_BATCH_COMMANDS: usize = 1000;

/// `BatchedCommand`: one optional field per command the single mutations take (named as
/// those mutations are), plus the arguments every single mutation has.
macro_rules! batched_command {
    (
        same: { $($variant:ident($payload:ident)),* $(,)? }
        access: { $($access:ident($access_payload:ident)),* $(,)? }
        numbered: { $($numbered:ident => $kind:ident . $field:ident),* $(,)? }
    ) => {
        batched_command! { @fields $($variant($payload),)* $($numbered($numbered),)* }
    };
    (@fields $($variant:ident($payload:ident),)*) => {
        pastey::paste! {
            /// One command of a batch: exactly one of the command fields, each the input of
            /// the mutation of the same name, and the arguments a single mutation takes.
            /// (Tokens and administrators have only their own mutations.)
            #[derive(InputObject, Debug)]
            pub(super) struct BatchedCommand {
                $(
                    #[doc = concat!("The input of `", stringify!([<$variant:lower_camel>]), "`.")]
                    [<$variant:snake>]: Option<inputs::[<$variant Input>]>,
                )*
                /// The stream version the caller saw (0: the entity must not exist yet).
                expected_version: Option<u64>,
                /// An idempotency key: a retry with the same key appends nothing.
                event_id: Option<String>,
                /// When the fact happened, if not now (RFC 3339).
                occurred_at: Option<String>,
            }

            impl BatchedCommand {
                /// The command it holds, named as its mutation is; exactly one must be given.
                fn command(&self) -> Result<(&'static str, Command), String> {
                    let mut given: Vec<(&'static str, Result<Command, String>)> = Vec::new();
                    $(
                        if let Some(input) = &self.[<$variant:snake>] {
                            let name = stringify!([<$variant:lower_camel>]);
                            let command = decode::<_, $payload>(name, input).map_err(|error| error.message);
                            given.push((name, command.map(Command::$variant)));
                        }
                    )*
                    match given.len() {
                        1 => {
                            let (name, command) = given.remove(0);
                            Ok((name, command?))
                        }
                        0 => Err("give one command field (such as `startRun`)".into()),
                        _ => {
                            let names: Vec<_> = given.iter().map(|(name, _)| format!("`{name}`")).collect();
                            Err(format!("give one command field, not {}", names.join(" and ")))
                        }
                    }
                }
            }
        }
    };
}

lineage_schema::for_each_command!(batched_command);

impl BatchedCommand {
    /// The command with its envelope, as `actor` sends it: which mutation it stands for and
    /// the envelope, or why it cannot be sent.
    fn envelope(&self, actor: &PrincipalId) -> Result<(&'static str, CommandEnvelope), String> {
        let (name, command) = self.command()?;
        let envelope = envelope_of(
            actor.clone(),
            command,
            self.expected_version,
            self.event_id.clone(),
            self.occurred_at.as_deref(),
        )?;
        Ok((name, envelope))
    }
}

/// A refusal that names the command of the batch it is about: `commands[3] (completeRun): …`,
/// with the index in `extensions.command` for programs.
fn refused_at(index: usize, name: Option<&str>, error: async_graphql::Error) -> async_graphql::Error {
    let message = match name {
        Some(name) => format!("commands[{index}] ({name}): {}", error.message),
        None => format!("commands[{index}]: {}", error.message),
    };
    let mut refused = async_graphql::Error::new(message);
    refused.extensions = error.extensions;
    refused.extend_with(|_, extensions| extensions.set("command", index as u64))
}

/// Appends every command of `commands` in order, all or none; each answer as the single
/// mutation's would be.
pub(super) async fn execute(
    ctx: &Context<'_>,
    commands: Vec<BatchedCommand>,
) -> async_graphql::Result<Vec<MutationResult>> {
    if commands.len() > MAX_BATCH_COMMANDS {
        return Err(coded(
            "LIMIT_EXCEEDED",
            format!(
                "a batch of {} commands exceeds the limit of {MAX_BATCH_COMMANDS}",
                commands.len()
            ),
        ));
    }
    let actor = super::acting(ctx)?.clone();
    let mut names = Vec::with_capacity(commands.len());
    let mut envelopes = Vec::with_capacity(commands.len());
    for (index, command) in commands.iter().enumerate() {
        let (name, envelope) = command
            .envelope(&actor)
            .map_err(|message| refused_at(index, None, invalid(message)))?;
        names.push(name);
        envelopes.push(envelope);
    }
    let store = super::store(ctx).clone();
    let appended = store.execute_batch_located(envelopes).await.map_err(|failure| {
        let error = from_store(failure.error);
        match failure.command {
            Some(index) => refused_at(index, Some(names[index]), error),
            None => error,
        }
    })?;
    // What each answer may show depends on what the actor may read; look only when asked.
    let selection = ctx.look_ahead();
    let shown = selection.field("entity").exists() || selection.field("version").exists();
    let entities = if shown {
        tokio::task::spawn_blocking({
            let streams: Vec<_> = appended.iter().map(|appended| appended.stream.clone()).collect();
            move || {
                let access = store.access(&actor)?;
                let view = store.view(&access);
                streams
                    .iter()
                    .map(|stream| view.entity(stream))
                    .collect::<lineage_store::Result<Vec<_>>>()
            }
        })
        .await
        .map_err(|_| coded("INTERNAL", "the answer was interrupted"))?
        .map_err(from_store)?
    } else {
        vec![None; appended.len()]
    };
    Ok(appended
        .into_iter()
        .zip(entities)
        .map(|(appended, entity)| MutationResult::new(appended, entity))
        .collect())
}
