//! The filter through system sleep and resume: it passes every power IRP down untouched; the
//! toaster below is the power policy owner and goes to D3 and back to D0.

use toaster::{HARDWARE_ID, Toaster};
use wdm_sim::Kernel;
use wdm_sys::_DEVICE_POWER_STATE::{PowerDeviceD0, PowerDeviceD3};
use wdm_sys::_SYSTEM_POWER_STATE::PowerSystemSleeping3;

#[test]
fn the_filter_passes_power_through_and_the_toaster_below_owns_the_policy() {
    let kernel = Kernel::new();
    let toaster = kernel.load("toaster", wdm::pnp::entry::<Toaster>).unwrap();
    let filter = kernel.load("filter", wdm::pnp::entry::<filter::Filter>).unwrap();
    let node = kernel.add_root_device(HARDWARE_ID);
    assert_eq!(node.add_driver(&toaster), 0);
    assert_eq!(node.add_driver(&filter), 0);
    assert_eq!(node.start(), 0);
    kernel.sleep(PowerSystemSleeping3).unwrap();
    let [fdo, filter_do] = [node.stack()[0], node.stack()[1]];
    assert_eq!(node.device_power_state(fdo), Some(PowerDeviceD3));
    assert_eq!(
        node.device_power_state(filter_do),
        None,
        "the filter does not call PoSetPowerState"
    );
    kernel.wake().unwrap();
    assert_eq!(node.device_power_state(node.stack()[0]), Some(PowerDeviceD0));
    node.query_remove_and_remove().unwrap();
    filter.unload();
    toaster.unload();
    kernel.assert_clean();
}
