//! The names `ntoskrnl.exe` and `HAL.dll` export, as text: mingw-w64's import lists
//! (`cargo xtask bindings` regenerates them) and the documented supplement (routines added in
//! later Windows versions). Image checkers (`cargo wdm check`) read them to reject a driver
//! importing a name the kernel does not export.
//!
//! Each list has one name per line; `#` lines are comments. The supplement's lines are
//! `<dll> <name> <since which Windows>`.
//!
//! ```
//! assert!(wdm_sys::exports::NTOSKRNL.lines().any(|l| l == "IoCreateDevice"));
//! assert!(wdm_sys::exports::HAL.lines().any(|l| !l.starts_with('#')));
//! ```

/// `ntoskrnl.exe`'s exports.
pub const NTOSKRNL: &str = include_str!("../exports/ntoskrnl.exe.txt");
/// `HAL.dll`'s exports.
pub const HAL: &str = include_str!("../exports/HAL.dll.txt");
/// Exports the lists above lack, with the Windows version that added them.
pub const SUPPLEMENT: &str = include_str!("../exports/supplement.txt");
