//! What the integration tests share.

#![allow(dead_code)] // each test crate uses part of it

use std::path::{Path, PathBuf};

/// The crate docs/guide.md makes (`cargo wdm new first-driver`). tests/new.rs builds and tests
/// exactly this crate, and tests/guide.rs checks that every code block of the guide is part of
/// it: so every block of the guide compiles.
pub const GUIDE_NAME: &str = "first-driver";

/// The PnP crate docs/guide.md's second part makes (`cargo wdm new --pnp first-pnp`), the same
/// way: tests/new.rs builds and tests it, tests/guide.rs checks the guide's blocks against it.
pub const GUIDE_PNP_NAME: &str = "first-pnp";

/// The interface class of the guide's PnP crate (`cargo wdm new --pnp` makes a random one; the
/// guide shows this one).
pub const GUIDE_PNP_GUID: cargo_wdm::new::Guid = cargo_wdm::new::Guid(0x5c1d_9e2a_7b40_4f3e_9a61_0d8c_e2b7_4f15);

/// The wdm repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A fresh, empty folder under the system's temporary folder (outside the workspace, so cargo
/// does not take a generated crate for one of its members).
pub fn fresh_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cargo-wdm-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let dir = dir.canonicalize().unwrap();
    assert!(!dir.starts_with(repo()), "{} is inside the workspace", dir.display());
    dir
}
