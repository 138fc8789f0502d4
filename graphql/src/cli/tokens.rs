//! `lineage token`: API tokens created, listed and revoked as the administrator.

use super::*;

#[derive(Debug, Subcommand)]
pub(super) enum TokenCommand {
    /// Issue a token to a principal and print its secret (shown only now).
    Create {
        #[arg(long)]
        principal: String,
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List tokens (never their secrets), of one principal or all.
    List {
        #[arg(long)]
        principal: Option<String>,
    },
    /// Revoke a token: the next request with it is refused.
    Revoke {
        #[arg(long)]
        principal: String,
        #[arg(long)]
        token: String,
    },
}

pub(super) fn run_token(store: &Store, command: TokenCommand, out: &mut dyn Write) -> Result<()> {
    let admin = crate::auth::administrator(store)?;
    match command {
        TokenCommand::Create { principal, label } => {
            let issued = crate::auth::issue(store, &admin, &lineage_schema::PrincipalId::new(principal)?, &label)?;
            writeln!(
                out,
                "token {} for {} (the secret is shown only now):\n{}",
                issued.token, issued.principal, issued.secret
            )?;
        }
        TokenCommand::List { principal } => {
            let mut after: Option<String> = None;
            writeln!(
                out,
                "{:<16} {:<20} {:<28} {:<28} label",
                "principal", "token", "issued", "revoked"
            )?;
            loop {
                let page = store.entities(lineage_schema::EntityKind::Principal, after.as_deref(), 500)?;
                let Some(last) = page.last() else { break };
                after = Some(last.reference.id.to_string());
                for entity in page
                    .iter()
                    .filter(|entity| principal.as_deref().is_none_or(|p| entity.reference.id == p))
                {
                    if let lineage_schema::entity::Detail::Principal { tokens, .. } = &entity.detail {
                        for token in tokens {
                            let revoked = token
                                .revoked
                                .as_ref()
                                .map(|stamp| stamp.at.to_string())
                                .unwrap_or_else(|| "-".into());
                            writeln!(
                                out,
                                "{:<16} {:<20} {:<28} {:<28} {}",
                                entity.reference.id,
                                token.token,
                                token.issued.at.to_string(),
                                revoked,
                                token.label
                            )?;
                        }
                    }
                }
            }
        }
        TokenCommand::Revoke { principal, token } => {
            let command = lineage_schema::CommandEnvelope::new(
                admin,
                lineage_schema::Command::RevokeToken(lineage_schema::event::TokenRevoked {
                    principal: lineage_schema::PrincipalId::new(principal)?,
                    token: lineage_schema::TokenId::new(token)?,
                }),
            );
            let appended = store.execute(command)?;
            writeln!(out, "revoked (log position {})", appended.seq)?;
        }
    }
    Ok(())
}
