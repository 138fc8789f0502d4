//! The mutation root: one mutation per command. Each takes the command's input object,
//! an optional expected stream version, idempotency key and time of the fact, and answers
//! with the log position and the entity as it now stands.

use super::error::{from_store, invalid};
use super::inputs;
use super::store;
use super::types::EntityObject;
use async_graphql::{Context, Object, SimpleObject, ID};
use lineage_schema::command::{AddManifestVersion, RegisterModelVersion, StartImageBuild};
use lineage_schema::entity::Entity;
use lineage_schema::event::*;
use lineage_schema::{Command, CommandEnvelope, EventId, PrincipalId, Timestamp};
use lineage_store::Appended;

#[derive(Debug)]
pub struct Mutation;

/// Where a mutation's event landed.
#[derive(SimpleObject, Clone, Debug)]
pub(super) struct MutationResult {
    /// The event's position in the log.
    pub seq: u64,
    /// The entity it changed, `kind/id`.
    pub stream: ID,
    /// The entity's version after it; null, like `entity`, when the caller may not read
    /// the entity (how many events another principal's record holds is its own).
    pub version: Option<u64>,
    pub event_id: Option<String>,
    /// The event id was already in the log: nothing new was appended.
    pub duplicate: bool,
    /// The entity as it stands now; null when the caller may not read it (a principal
    /// other than itself, say).
    pub entity: Option<EntityObject>,
}

/// The command payload an input object stands for; the schema crate checks ids, names,
/// digests and times on the way.
pub(super) fn decode<I: serde::Serialize, T: serde::de::DeserializeOwned>(
    name: &str,
    input: &I,
) -> async_graphql::Result<T> {
    let value = serde_json::to_value(input).map_err(|error| invalid(format!("{name} input: {error}")))?;
    serde_json::from_value(value).map_err(|error| invalid(format!("{name} input: {error}")))
}

async fn execute(
    ctx: &Context<'_>,
    command: Command,
    expected_version: Option<u64>,
    event_id: Option<String>,
    occurred_at: Option<String>,
) -> async_graphql::Result<MutationResult> {
    let actor = super::acting(ctx)?.clone();
    let envelope = envelope_of(actor, command, expected_version, event_id, occurred_at.as_deref()).map_err(invalid)?;
    execute_envelope(ctx, envelope).await
}

/// The command as `actor` sends it with a mutation's arguments, or why they are invalid.
pub(super) fn envelope_of(
    actor: PrincipalId,
    command: Command,
    expected_version: Option<u64>,
    event_id: Option<String>,
    occurred_at: Option<&str>,
) -> Result<CommandEnvelope, String> {
    let mut envelope = CommandEnvelope::new(actor, command);
    envelope.expected_version = expected_version;
    envelope.event_id = event_id
        .map(EventId::new)
        .transpose()
        .map_err(|rejection| rejection.to_string())?;
    envelope.occurred_at = occurred_at
        .map(|text| Timestamp::parse(text).ok_or_else(|| format!("occurredAt `{text}` is not an RFC 3339 time")))
        .transpose()?;
    Ok(envelope)
}

/// A token as `issueToken` answers it.
#[derive(SimpleObject, Clone, Debug)]
pub(super) struct IssuedToken {
    /// The token's id (for listing and revoking).
    pub token: String,
    /// The bearer secret. Shown only now; the store keeps its hash.
    pub secret: String,
    pub seq: u64,
}

async fn execute_envelope(ctx: &Context<'_>, envelope: CommandEnvelope) -> async_graphql::Result<MutationResult> {
    // The store refuses anything in an account the actor cannot read as it refuses an
    // unknown id; the answer below shows only what the actor may read once it is appended.
    let store = store(ctx).clone();
    let actor = envelope.actor.clone();
    // Appending waits for a disk sync: keep it off the async workers.
    let (appended, entity) = tokio::task::spawn_blocking(move || {
        let appended = store.execute(envelope)?;
        let access = store.access(&actor)?;
        let entity = store.view(&access).entity(&appended.stream)?;
        Ok::<_, lineage_store::Error>((appended, entity))
    })
    .await
    .map_err(|_| super::error::coded("INTERNAL", "the append was interrupted"))?
    .map_err(from_store)?;
    Ok(MutationResult::new(appended, entity))
}

impl MutationResult {
    /// The answer for an appended event, showing the entity (and its version) only when
    /// the caller may read it.
    pub(super) fn new(appended: Appended, entity: Option<Entity>) -> Self {
        Self {
            seq: appended.seq,
            stream: ID(appended.stream.to_string()),
            version: entity.is_some().then_some(appended.version),
            event_id: appended.event_id.map(|id| id.to_string()),
            duplicate: appended.duplicate,
            entity: entity.map(EntityObject),
        }
    }
}

/// One mutation per command of the schema crate's list (`for_each_command!`), named after
/// it (`StartRun` → `startRun`, input `StartRunInput`); the access commands have
/// hand-made mutations of their own above the generated ones.
macro_rules! mutations {
    (
        same: { $($variant:ident($payload:ident)),* $(,)? }
        access: { $($access:ident($access_payload:ident)),* $(,)? }
        numbered: { $($numbered:ident => $kind:ident . $field:ident),* $(,)? }
    ) => {
        mutations! { @fields $($variant($payload),)* $($numbered($numbered),)* }
    };
    (@fields $($variant:ident($payload:ident),)*) => {
        pastey::paste! {
        #[Object]
        impl Mutation {
            /// Issues an API token to a principal (itself, or any as an administrator). The
            /// secret is in the answer and nowhere else: keep it.
            async fn issue_token(&self, ctx: &Context<'_>, principal: String, #[graphql(default)] label: String) -> async_graphql::Result<IssuedToken> {
                let actor = super::acting(ctx)?.clone();
                let principal = lineage_schema::PrincipalId::new(principal).map_err(|rejection| invalid(rejection.to_string()))?;
                let (command, issued) = crate::auth::issue_command(&actor, &principal, &label).map_err(|error| super::error::coded("INTERNAL", error.to_string()))?;
                let result = execute_envelope(ctx, command).await?;
                Ok(IssuedToken { token: issued.token.to_string(), secret: issued.secret, seq: result.seq })
            }

            /// Revokes a token at once: the next request with it is refused.
            async fn revoke_token(&self, ctx: &Context<'_>, principal: String, token: String) -> async_graphql::Result<MutationResult> {
                let payload: TokenRevoked = decode("revokeToken", &serde_json::json!({ "principal": principal, "token": token }))?;
                execute(ctx, Command::RevokeToken(payload), None, None, None).await
            }

            /// Appends every command in order, all or none, with one disk sync: a later
            /// command sees the earlier ones' effects. Answers as the single mutations
            /// would, in order; a refusal names the command (`extensions.command`, its
            /// index) and appends nothing. At most 1000 commands.
            async fn execute_batch(&self, ctx: &Context<'_>, commands: Vec<super::batch::BatchedCommand>) -> async_graphql::Result<Vec<MutationResult>> {
                super::batch::execute(ctx, commands).await
            }

            /// Makes a principal an administrator (by an administrator).
            async fn designate_administrator(&self, ctx: &Context<'_>, principal: String) -> async_graphql::Result<MutationResult> {
                let payload: AdministratorDesignated = decode("designateAdministrator", &serde_json::json!({ "principal": principal }))?;
                execute(ctx, Command::DesignateAdministrator(payload), None, None, None).await
            }
            $(
                #[doc = concat!("Records `", stringify!($payload), "` if the store accepts the command.")]
                async fn [<$variant:snake>](
                    &self,
                    ctx: &Context<'_>,
                    input: inputs::[<$variant Input>],
                    #[graphql(desc = "The stream version the caller saw (0: the entity must not exist yet).")] expected_version: Option<u64>,
                    #[graphql(desc = "An idempotency key: a retry with the same key appends nothing.")] event_id: Option<String>,
                    #[graphql(desc = "When the fact happened, if not now (RFC 3339).")] occurred_at: Option<String>,
                ) -> async_graphql::Result<MutationResult> {
                    let payload: $payload = decode(stringify!([<$variant:snake>]), &input)?;
                    execute(ctx, Command::$variant(payload), expected_version, event_id, occurred_at).await
                }
            )*
        }
        }
    };
}

lineage_schema::for_each_command!(mutations);
