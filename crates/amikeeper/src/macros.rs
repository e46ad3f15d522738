//! Macros the crate's modules share.

/// Declares a field-less enum whose variants are named in reports by fixed strings: the enum
/// serializes as those strings, and gets `as_str` and `Display` from the same list.
///
/// ```ignore
/// named_enum! {
///     /// What became of one copy.
///     pub enum CopyStatus {
///         /// Copied now.
///         Copied = "copied",
///     }
/// }
/// ```
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$variant_meta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// The name reports (and JSON) give the variant.
            pub const fn as_str(&self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// Declares a public options struct: `#[non_exhaustive]`, so a new option is not a breaking
/// change, and built from outside the crate with `Default` and one chainable setter per field,
/// named after it (`SweepOptions::default().apply(true)`). A setter takes anything that converts
/// into the field, so an `Option<T>` field takes a `T` or an `Option<T>`.
///
/// ```ignore
/// options! {
///     /// Options for one sweep.
///     #[derive(Debug, Clone, Default)]
///     pub struct SweepOptions {
///         /// Act on the plan.
///         pub apply: bool,
///     }
/// }
/// ```
macro_rules! options {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($(#[$field_meta:meta])* pub $field:ident: $ty:ty,)+
        }
    ) => {
        $(#[$meta])*
        #[non_exhaustive]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $ty,)+
        }

        impl $name {
            $(
                $(#[$field_meta])*
                #[must_use]
                pub fn $field(mut self, value: impl Into<$ty>) -> Self {
                    self.$field = value.into();
                    self
                }
            )+
        }
    };
}
