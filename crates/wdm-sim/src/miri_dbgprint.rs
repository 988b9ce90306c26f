//! `DbgPrintEx` in Rust, under `cfg(miri)` only (see docs/miri.md).
//!
//! The simulator's DbgPrint/DbgPrintEx are C (crates/wdm-sim/csrc/dbgprint.c: variadic functions
//! stable Rust cannot define), and Miri cannot call C. Miri runs on nightly, where Rust can
//! define them (`c_variadic`): this stand-in handles the one form the framework uses,
//! `DbgPrintEx(component, level, "%s", text)`, and hands the text to the simulator's recorder
//! as the C half does. Any other format is recorded as it stands.

/// The stand-in for the simulator's C `DbgPrintEx`.
///
/// # Safety
/// As `DbgPrintEx`: `format` is a NUL-terminated string and, when it is `"%s"`, the one
/// variadic argument is too.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn DbgPrintEx(
    component: u32,
    level: u32,
    format: *const core::ffi::c_char,
    mut args: ...
) -> u32 {
    // SAFETY: the caller passes a NUL-terminated format.
    let format = unsafe { core::ffi::CStr::from_ptr(format) };
    let text = if format.to_bytes() == b"%s" {
        // SAFETY: `%s` takes one string argument, NUL-terminated (the caller's contract).
        unsafe { core::ffi::CStr::from_ptr(args.next_arg::<*const core::ffi::c_char>()) }
    } else {
        format
    };
    let bytes = text.to_bytes();
    unsafe extern "C" {
        /// The simulator's recorder (crates/wdm-sim/src/debug.rs), which the C half calls.
        fn wdm_sim_debug_print(component: u32, level: u32, text: *const u8, len: usize);
    }
    // SAFETY: `bytes` is readable for its length.
    unsafe { wdm_sim_debug_print(component, level, bytes.as_ptr(), bytes.len()) };
    0
}
