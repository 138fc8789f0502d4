//! Codes for the errors async-graphql raises itself, given by the phase they come from
//! (parse, validation, limits, execution) rather than by their wording.

use super::Limits;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ErrorExtensions, Response, ServerError, ServerResult, ValidationResult, Variables};
use std::sync::Arc;

/// The one wording async-graphql's validation gives a wrongly typed argument or variable
/// (its `ArgumentsOfCorrectType` rule, the only rule that judges values). Its errors carry
/// no kind, and to a caller a wrong value is bad input like every other; the e2e refusal
/// tests pin the wording, so a change in the library shows there.
const WRONG_VALUE: &str = "Invalid value for argument";

/// Installs the phase hooks and enforces the depth and complexity limits, comparing the
/// numbers validation measured (so the refusal is ours, with our code and wording).
pub(super) struct PhaseCodes(pub(super) Limits);

impl ExtensionFactory for PhaseCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PhaseCodesExtension(self.0.clone()))
    }
}

struct PhaseCodesExtension(Limits);

fn with_code(mut error: ServerError, code: &'static str) -> ServerError {
    if error
        .extensions
        .as_ref()
        .and_then(|extensions| extensions.get("code"))
        .is_none()
    {
        error.extensions.get_or_insert_with(Default::default).set("code", code);
    }
    error
}

fn limit_exceeded(message: String) -> Vec<ServerError> {
    vec![async_graphql::Error::new(message)
        .extend_with(|_, extensions| extensions.set("code", "LIMIT_EXCEEDED"))
        .into_server_error(Default::default())]
}

#[async_graphql::async_trait::async_trait]
impl Extension for PhaseCodesExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables)
            .await
            .map_err(|error| with_code(error, "GRAPHQL_PARSE_FAILED"))
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let measured = next.run(ctx).await.map_err(|errors| {
            let errors = errors.into_iter();
            errors
                .map(|error| match error.message.starts_with(WRONG_VALUE) {
                    true => with_code(error, "INVALID_INPUT"),
                    false => with_code(error, "GRAPHQL_VALIDATION_FAILED"),
                })
                .collect::<Vec<_>>()
        })?;
        let Limits {
            max_depth,
            max_complexity,
            ..
        } = self.0;
        if measured.depth > max_depth {
            return Err(limit_exceeded(format!(
                "the query is nested too deep: {} levels, at most {max_depth}",
                measured.depth
            )));
        }
        if measured.complexity > max_complexity {
            return Err(limit_exceeded(format!(
                "the query is too complex: {} fields, at most {max_complexity}",
                measured.complexity
            )));
        }
        Ok(measured)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        // Every error our resolvers raise has a code; one without is async-graphql failing
        // to read an argument's value, which is bad input.
        let mut response = next.run(ctx, operation_name).await;
        response.errors = response
            .errors
            .into_iter()
            .map(|error| with_code(error, "INVALID_INPUT"))
            .collect();
        response
    }
}
