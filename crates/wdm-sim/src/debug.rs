//! Debug output: what the driver printed with DbgPrint/DbgPrintEx, captured per kernel.

use crate::kernel::{lock, processor, try_current};

/// One line of debug output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebugLine {
    /// `ComponentId` (`u32::MAX` for plain DbgPrint).
    pub component: u32,
    /// `Level`.
    pub level: u32,
    /// The simulated processor that printed it.
    pub processor: u32,
    /// The formatted text.
    pub text: String,
}

/// Called by the C half of DbgPrint/DbgPrintEx with the formatted text.
///
/// # Safety
/// `text` must point to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wdm_sim_debug_print(component: u32, level: u32, text: *const u8, len: usize) {
    // SAFETY: the C caller passes its own buffer and the length it wrote.
    let bytes = unsafe { std::slice::from_raw_parts(text, len) };
    let text = String::from_utf8_lossy(bytes).into_owned();
    if std::env::var_os("WDM_SIM_ECHO").is_some() {
        eprint!("{text}");
    }
    // Debug output must never unwind into C: a thread without a kernel just drops the line.
    if let Some(k) = try_current() {
        lock(&k.debug).push(DebugLine {
            component,
            level,
            processor: processor(),
            text,
        });
    }
}
