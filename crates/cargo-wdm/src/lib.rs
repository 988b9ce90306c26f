//! `cargo wdm`: the developer commands for drivers written on `wdm`.

pub mod new;
