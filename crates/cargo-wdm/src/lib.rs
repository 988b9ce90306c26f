//! `cargo wdm`: a driver author's commands for drivers written with `wdm`, from any Linux (or
//! Windows) host, without the WDK.
//!
//! | command | what it does | module |
//! |---|---|---|
//! | `cargo wdm new [--pnp] <name>` | a driver crate (legacy, or PnP on `wdm::pnp`) that builds and passes its tests as generated | [`new`] |
//! | `cargo wdm build [--release]` | the `.sys` for x86_64-pc-windows-msvc (rust-lld), then its image checks | [`sys`], [`image`] |
//! | `cargo wdm check <file.sys>` | the image checks alone, for any driver | [`image`] |
//! | `cargo wdm test` | the crate's simulator tests (stress scale by flag) | `main.rs` |
//! | `cargo wdm run --client <crate or .exe>` | the driver under Wine, with the client run against it (a PnP driver installed on a root device through SetupAPI) | [`wine`], [`wine_patch`], [`pnp`] |
//!
//! The library is also what the wdm repository's own `cargo xtask` builds, checks and runs its
//! samples with, so the samples and a user's crate go through one implementation.
//!
//! ```
//! // The image checks, on something that is not a driver:
//! let verdict = cargo_wdm::image::check(b"MZ", &cargo_wdm::image::Exports::bundled().unwrap());
//! assert!(!verdict.ok());
//! ```

pub mod image;
pub mod new;
pub mod pnp;
pub mod sys;
pub mod tools;
pub mod wine;
pub mod wine_patch;
