pub mod namespace;
pub(crate) mod object;
