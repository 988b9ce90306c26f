//! Items the bundled headers lack, declared by hand.
//!
//! mingw-w64's DDK headers (and its `libntoskrnl.a`) predate a few routines that current
//! drivers use. Each is listed here with the Windows version that added it; the `.sys` import
//! check accepts exactly these names beyond the mingw export lists (see
//! `exports/supplement.txt`).

pub mod constants;
pub mod routines;
