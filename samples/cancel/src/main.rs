//! The driver image. The driver itself is in `lib.rs`.

#![no_std]
#![no_main]

wdm::driver_entry!(cancel::Cancel);
