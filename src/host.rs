//! A driver's binary on a host (simulator) build: instead of an image nobody can load, it is a
//! program that loads the driver into a simulated machine, opens and closes each of its named
//! devices, unloads it, and prints what happened. `cargo run -p <sample>` does this.

extern crate std;

use std::format;
use std::string::String;
use std::vec::Vec;

use wdm_sim::Kernel;

use crate::Driver;

/// Loads `D` as `name`, exercises it, and returns the process exit code: 0 when the machine is
/// clean afterwards.
pub fn run<D: Driver>(name: &str) -> i32 {
    let kernel = Kernel::new();
    std::println!("{name}: loading into the simulator");
    let driver = match kernel.load(name, crate::entry::<D>) {
        Ok(d) => d,
        Err(status) => {
            std::println!("{name}: DriverEntry failed with {:#010x}", status as u32);
            return 1;
        }
    };
    let devices = driver.device_names();
    std::println!("{name}: devices {}", devices.join(", "));
    for device in &devices {
        match kernel.open(device) {
            Ok(file) => {
                file.close();
                std::println!("{name}: opened and closed {device}");
            }
            Err(status) => std::println!("{name}: open {device}: {:#010x}", status as u32),
        }
    }
    driver.unload();
    let output: Vec<String> = kernel.debug_output().into_iter().map(|l| l.text).collect();
    if !output.is_empty() {
        std::print!("{name}: debug output:\n{}", output.concat());
    }
    let reports: Vec<String> = kernel.reports().iter().map(|r| format!("  {r}")).collect();
    if reports.is_empty() && kernel.pool().is_empty() {
        std::println!("{name}: unloaded; nothing leaked, nothing reported");
        0
    } else {
        std::println!("{name}: unloaded with reports:\n{}", reports.join("\n"));
        1
    }
}

/// Loads the PnP driver of `D` as `name`, gives it a root-enumerated device, starts it, opens
/// and closes it, surprise-removes it (SURPRISE_REMOVAL, then REMOVE), unloads, and returns the
/// process exit code: 0 when the machine is clean afterwards.
pub fn run_pnp<D: crate::pnp::PnpDevice>(name: &str) -> i32 {
    let kernel = Kernel::new();
    std::println!("{name}: loading into the simulator");
    let driver = match kernel.load(name, crate::pnp::entry::<D>) {
        Ok(d) => d,
        Err(status) => {
            std::println!("{name}: DriverEntry failed with {:#010x}", status as u32);
            return 1;
        }
    };
    let node = kernel.add_root_device(&format!("ROOT\\{}", name.to_uppercase()));
    let added = node.add_driver(&driver);
    std::println!("{name}: AddDevice returned {:#010x}", added as u32);
    if added >= 0 {
        let started = node.start();
        std::println!("{name}: START returned {:#010x}", started as u32);
        match kernel.open_device(&node) {
            Ok(file) => {
                file.close();
                std::println!("{name}: opened and closed the device");
            }
            Err(status) => std::println!("{name}: open: {:#010x}", status as u32),
        }
        let removed = node.surprise_remove();
        std::println!(
            "{name}: SURPRISE_REMOVAL returned {:#010x}, then REMOVE",
            removed as u32
        );
    }
    driver.unload();
    let output: Vec<String> = kernel.debug_output().into_iter().map(|l| l.text).collect();
    if !output.is_empty() {
        std::print!("{name}: debug output:\n{}", output.concat());
    }
    let reports: Vec<String> = kernel.reports().iter().map(|r| format!("  {r}")).collect();
    if reports.is_empty() && kernel.pool().is_empty() {
        std::println!("{name}: unloaded; nothing leaked, nothing reported");
        0
    } else {
        std::println!("{name}: unloaded with reports:\n{}", reports.join("\n"));
        1
    }
}
