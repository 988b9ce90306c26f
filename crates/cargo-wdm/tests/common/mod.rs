//! What the integration tests share.

#![allow(dead_code)] // each test crate uses part of it

use std::path::{Path, PathBuf};

/// The crate docs/guide.md makes (`cargo wdm new first-driver`). tests/new.rs builds and tests
/// exactly this crate, and tests/guide.rs checks that every code block of the guide is part of
/// it: so every block of the guide compiles.
pub const GUIDE_NAME: &str = "first-driver";

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
