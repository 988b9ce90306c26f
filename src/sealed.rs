//! The supertrait that seals the framework's proof-bearing traits.
//!
//! A trait whose implementation is a claim the framework relies on (a StartIo mode, a
//! cancelability allowed in a Cancel-routine state, a completion status) has `Sealed` as a
//! supertrait. `Sealed` is public, so it may appear in public bounds, but lives in a private
//! module: no crate but `wdm` can name it, so none can implement it, so none can implement the
//! sealed traits for its own types and forge the claim. docs/soundness.md lists every public
//! trait, sealed or not, and why.

/// Implemented only by `wdm`'s own types.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot implement this `wdm` trait: it is sealed, because an implementation would be a proof only the framework may make",
    label = "not a `wdm` type",
    note = "use the framework's own types (for example `Cancelable`, `NonCancelable`, `Status`); see docs/soundness.md"
)]
#[doc(hidden)]
pub trait Sealed {}
