//! Commands as the API takes them: the mutation field and its input object for any
//! command, from its serde form — what the tests and benchmarks send, in one place.

use lineage_schema::Command;
use serde_json::{json, Value};

/// `StartRun` → `startRun`.
pub fn mutation_field(command: &Command) -> String {
    let name = command.name();
    name[..1].to_lowercase() + &name[1..]
}

/// `RemoteVm` → `REMOTE_VM`: a Rust variant name as a GraphQL enum value.
fn screaming(variant: &str) -> String {
    let mut out = String::new();
    let mut previous: Option<char> = None;
    for c in variant.chars() {
        if c.is_uppercase() && previous.is_some_and(|p| p.is_lowercase()) {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
        previous = Some(c);
    }
    out
}

fn camel(key: &str) -> String {
    let mut parts = key.split('_');
    let mut out = parts.next().unwrap_or_default().to_string();
    for part in parts {
        out.push_str(&part[..1].to_uppercase());
        out.push_str(&part[1..]);
    }
    out
}

/// A payload's serde JSON as a GraphQL input object: camelCase keys, enums as GraphQL
/// enum values, tagged variants as the input objects the API defines for them.
pub fn input_object(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| {
                    let converted = match (key.as_str(), value) {
                        ("kind", Value::String(variant)) => json!({ "kind": screaming(variant) }),
                        ("kind", Value::Object(tagged)) => {
                            let Some((variant, fields)) = tagged.iter().next() else {
                                return (camel(key), Value::Null);
                            };
                            let mut object = input_object(fields);
                            object["kind"] = json!(screaming(variant));
                            object
                        }
                        ("source", Value::Object(tagged)) => match tagged.iter().next() {
                            Some((variant, fields)) if variant == "Run" => input_object(fields),
                            Some((_, fields)) => {
                                json!({ "uploadedFrom": fields["location"], "digest": fields["digest"] })
                            }
                            None => Value::Null,
                        },
                        ("language" | "tier" | "status" | "role", Value::String(variant)) => json!(screaming(variant)),
                        _ => input_object(value),
                    };
                    (camel(key), converted)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(input_object).collect()),
        other => other.clone(),
    }
}

/// The command's fields as the mutation's `input`.
pub fn mutation_input(command: &Command) -> Value {
    let tagged = serde_json::to_value(command).expect("commands serialize");
    input_object(tagged.as_object().unwrap().values().next().unwrap())
}
