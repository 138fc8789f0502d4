//! Bearer tokens: making them, and finding the principal behind a request.
//!
//! A token's secret is `lin_` and 64 hexadecimal digits of randomness; the log keeps only
//! its blake3 hash. A request without a valid token gets 401, except health checks.

use anyhow::{Context, Result};
use lineage_schema::event::{AdministratorDesignated, PrincipalRegistered, TokenIssued};
use lineage_schema::{Command, CommandEnvelope, Digest, Name, PrincipalId, TokenId};
use lineage_store::Store;
use std::io::Read;

/// A token as issued: its id, and the secret shown once.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub principal: PrincipalId,
    pub token: TokenId,
    pub secret: String,
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buffer = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut buffer))
        .context("reading randomness")?;
    Ok(lineage_schema::checkpoint::hex(&buffer))
}

/// The command that issues a new token to `principal`, and the token it will be.
pub fn issue_command(
    actor: &PrincipalId,
    principal: &PrincipalId,
    label: &str,
) -> Result<(CommandEnvelope, IssuedToken)> {
    let secret = format!("lin_{}", random_hex(32)?);
    let token = TokenId::new(format!("tok-{}", random_hex(6)?))?;
    let command = CommandEnvelope::new(
        actor.clone(),
        Command::IssueToken(TokenIssued {
            principal: principal.clone(),
            token: token.clone(),
            hash: Digest::of(secret.as_bytes()),
            label: label.into(),
        }),
    );
    Ok((
        command,
        IssuedToken {
            principal: principal.clone(),
            token,
            secret,
        },
    ))
}

/// Issues a token to `principal`, acting as `actor`.
pub fn issue(store: &Store, actor: &PrincipalId, principal: &PrincipalId, label: &str) -> Result<IssuedToken> {
    let (command, issued) = issue_command(actor, principal, label)?;
    store.execute(command)?;
    Ok(issued)
}

/// On a store with no administrator yet: registers `admin`, makes it the administrator
/// and issues its first token. Returns the token, or `None` if there was one already.
pub fn bootstrap(store: &Store) -> Result<Option<IssuedToken>> {
    if store.has_administrator()? {
        return Ok(None);
    }
    let admin = PrincipalId::new("admin")?;
    let exists = store
        .entity(&lineage_schema::EntityRef::new(
            lineage_schema::EntityKind::Principal,
            &admin,
        ))?
        .is_some();
    let mut commands = Vec::new();
    if !exists {
        commands.push(CommandEnvelope::new(
            admin.clone(),
            Command::RegisterPrincipal(PrincipalRegistered {
                principal: admin.clone(),
                name: Name::new("Administrator")?,
                email: String::new(),
            }),
        ));
    }
    commands.push(CommandEnvelope::new(
        admin.clone(),
        Command::DesignateAdministrator(AdministratorDesignated {
            principal: admin.clone(),
        }),
    ));
    let (issue, token) = issue_command(&admin, &admin, "first administrator token")?;
    commands.push(issue);
    match store.execute_batch(commands) {
        Ok(_) => {}
        // Another node on the same log made its administrator first.
        Err(error) if error.rejection().is_some() && store.has_administrator()? => return Ok(None),
        Err(error) => return Err(error.into()),
    }
    Ok(Some(token))
}

/// The first administrator, who acts for local commands (`lineage token …`).
pub fn administrator(store: &Store) -> Result<PrincipalId> {
    if let Some(token) = bootstrap(store)? {
        println!(
            "Created the administrator `admin`; its token (shown only now): {}",
            token.secret
        );
    }
    let mut after: Option<String> = None;
    loop {
        let page = store.entities(lineage_schema::EntityKind::Principal, after.as_deref(), 500)?;
        let Some(last) = page.last() else { break };
        after = Some(last.reference.id.to_string());
        for entity in page {
            if let lineage_schema::entity::Detail::Principal {
                administrator: true, ..
            } = entity.detail
            {
                return Ok(PrincipalId::new(entity.reference.id)?);
            }
        }
    }
    anyhow::bail!("the store has no administrator")
}

/// The secret in an `Authorization: Bearer …` value.
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, secret) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| secret.trim())
        .filter(|secret| !secret.is_empty())
}
