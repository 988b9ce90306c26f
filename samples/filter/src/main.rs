//! The driver image. The driver itself is in `lib.rs`.

#![no_std]
#![no_main]

wdm::pnp_driver_entry!(filter::Filter);
