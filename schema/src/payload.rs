//! `payloads!`: payload structs defined once, with a lookup macro of their fields for the
//! crates that mirror them (the GraphQL input objects), so a field added here reaches them.

/// Defines the structs exactly as written and exports `$lookup!`, which answers a struct's
/// name with its fields: `$lookup!(Name, callback! { args })` expands to
/// `callback! { args { field: Type, … } }`, each field with its doc attributes. The first
/// token is a literal `$`, which the nested macro definition needs for its own variables.
macro_rules! payloads {
    // `$ lookup else next;`: a name `lookup!` does not know is asked of `next!` (payloads
    // defined in another module), so one lookup answers for all of them.
    (
        $d:tt $lookup:ident $(else $next:ident)?;
        $(
            $(#[$meta:meta])*
            pub struct $name:ident {
                $( $(#[$field_meta:meta])* pub $field:ident : $ty:ty ),* $(,)?
            }
        )*
    ) => {
        $(
            $(#[$meta])*
            pub struct $name {
                $( $(#[$field_meta])* pub $field: $ty, )*
            }
        )*

        /// The fields of a payload struct, by name, handed to a callback macro.
        #[macro_export]
        macro_rules! $lookup {
            $(
                ($name, $d callback:ident ! { $d ($d args:tt)* }) => {
                    $d callback! { $d ($d args)* { $( $(#[$field_meta])* $field : $ty ),* } }
                };
            )*
            $(
                ($d other:ident, $d ($d rest:tt)*) => {
                    $d crate::$next! { $d other, $d ($d rest)* }
                };
            )?
        }
    };
}
