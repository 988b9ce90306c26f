//! C types with Windows (LLP64) sizes on every target.
//!
//! The bundled bindings name their C types through this module instead of `core::ffi`, so the
//! one generated file has Windows layouts on the Linux host too: `long` is 32-bit here, as in
//! the kernel, whatever the host's C ABI says.

#![allow(non_camel_case_types, missing_docs)]

pub type c_char = i8;
pub type c_schar = i8;
pub type c_uchar = u8;
pub type c_short = i16;
pub type c_ushort = u16;
pub type c_int = i32;
pub type c_uint = u32;
pub type c_long = i32;
pub type c_ulong = u32;
pub type c_longlong = i64;
pub type c_ulonglong = u64;
pub type wchar_t = u16;
pub use core::ffi::c_void;
