//! The driver image.

#![no_std]
#![no_main]

wdm::driver_entry!(zero_cost_wdm::Reverse);
