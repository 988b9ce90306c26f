//! The toaster through system sleep and resume on the simulator: the framework, as power policy
//! owner, turns each S-IRP into the mapped D-IRP (D3 for S3, D0 for S0), calls PoSetPowerState,
//! runs the D0 hooks, and holds I/O while the device is out of D0; and, under the Wine profile,
//! the whole life of the device never calls PoRequestPowerIrp (Wine 8's stub kills the host).

use toaster::{GUID_DEVINTERFACE_TOASTER, HARDWARE_ID, IOCTL_TOASTER_GET_STATS, Stats, Toaster};
use wdm_sim::{Kernel, PowerType};
use wdm_sys::_DEVICE_POWER_STATE::{PowerDeviceD0, PowerDeviceD3};
use wdm_sys::_SYSTEM_POWER_STATE::{PowerSystemSleeping3, PowerSystemWorking};
use wdm_sys::{IRP_MN_QUERY_POWER, IRP_MN_SET_POWER};

fn stats(file: &wdm_sim::File<'_>) -> Stats {
    let r = file.ioctl(IOCTL_TOASTER_GET_STATS, &[], Stats::SIZE);
    assert_eq!(r.status, 0);
    Stats::from_bytes(r.data()).unwrap()
}

#[test]
fn sleep_and_resume_map_s_irps_to_d_irps_and_hold_io_in_d3() {
    let kernel = Kernel::new();
    let driver = kernel.load("toaster", wdm::pnp::entry::<Toaster>).unwrap();
    let node = kernel.add_root_device(HARDWARE_ID);
    assert_eq!(node.add_driver(&driver), 0);
    assert_eq!(node.start(), 0);
    let fdo = node.stack()[0];
    assert_eq!(node.device_power_state(fdo), Some(PowerDeviceD0), "START implies D0");
    let path = kernel.device_interfaces(&GUID_DEVINTERFACE_TOASTER.to_raw())[0].clone();
    let file = kernel.open(&path).unwrap();
    assert_eq!(file.write(b"before").status, 0);

    kernel.sleep(PowerSystemSleeping3).expect("the system sleeps");
    assert_eq!(node.device_power_state(fdo), Some(PowerDeviceD3), "S3 maps to D3");
    // I/O in D3 is held, and dispatched when the device is back in D0.
    let read = file.start_read(16);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(!read.is_done(), "held while the device is in D3");
    kernel.wake().expect("the system resumes");
    let r = read.wait();
    assert_eq!((r.status, r.data()), (0, &b"before"[..]));
    assert_eq!(node.device_power_state(fdo), Some(PowerDeviceD0));
    let s = stats(&file);
    assert_eq!((s.d0_exits, s.d0_entries), (1, 1));

    // The order the power manager saw: the S query, the D query it became, the S set, the D3
    // set; then the S0 set and the D0 set; every one succeeded.
    let log: Vec<(u8, PowerType, u32, bool)> = node
        .power_log()
        .iter()
        .filter(|p| p.minor != 0xFF)
        .map(|p| {
            assert_eq!(p.status, 0, "{p:?}");
            (p.minor, p.kind, p.state, p.requested)
        })
        .collect();
    let (q, s) = (IRP_MN_QUERY_POWER as u8, IRP_MN_SET_POWER as u8);
    assert_eq!(
        log,
        [
            (q, PowerType::System, PowerSystemSleeping3, false),
            (q, PowerType::Device, PowerDeviceD3, true),
            (s, PowerType::System, PowerSystemSleeping3, false),
            (s, PowerType::Device, PowerDeviceD3, true),
            (s, PowerType::System, PowerSystemWorking, false),
            (s, PowerType::Device, PowerDeviceD0, true),
        ]
    );
    file.close();
    node.surprise_remove();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn what_wine_sends_never_reaches_po_request_power_irp() {
    // Wine 8 sends START, I/O, SURPRISE_REMOVAL and REMOVE, and no power IRP. Under the Wine
    // profile a call to PoRequestPowerIrp (a stub that kills winedevice.exe there) is a fatal
    // report: the toaster's whole Wine life runs clean.
    let kernel = Kernel::new();
    kernel.wine_checks();
    let driver = kernel.load("toaster", wdm::pnp::entry::<Toaster>).unwrap();
    let node = kernel.add_root_device(HARDWARE_ID);
    assert_eq!(node.add_driver(&driver), 0);
    assert_eq!(node.start(), 0);
    let file = kernel.open_device(&node).unwrap();
    assert_eq!(file.write(b"wine").status, 0);
    node.surprise_remove();
    file.close();
    driver.unload();
    kernel.assert_clean();
    assert!(node.power_log().iter().all(|p| !p.requested), "no D-IRP was requested");
}

#[test]
fn a_system_sleep_under_the_wine_profile_would_call_the_stub() {
    // The other side: the one path that calls PoRequestPowerIrp is the S-IRP's, which Wine never
    // sends; sending one anyway under the Wine profile is caught.
    let kernel = Kernel::new();
    kernel.wine_checks();
    let driver = kernel.load("toaster", wdm::pnp::entry::<Toaster>).unwrap();
    let node = kernel.add_root_device(HARDWARE_ID);
    assert_eq!(node.add_driver(&driver), 0);
    assert_eq!(node.start(), 0);
    let caught = kernel.catch(|| kernel.sleep(PowerSystemSleeping3));
    let check = caught.expect_err("PoRequestPowerIrp is Wine's stub");
    assert_eq!(check.0.rule, wdm_sim::Rule::WineStubCalled);
    std::mem::forget(kernel); // the scenario ended like a bug check
}
