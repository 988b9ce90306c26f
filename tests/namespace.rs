//! A framework driver whose symbolic link takes a name a booted Windows already has: the
//! mistake a new user made (`\DosDevices\Pipe`, which passed every test of an empty simulated
//! namespace and failed to load under Wine). It must fail to load here too, with the status
//! Windows returns, and the framework must take back what init had created.

use wdm::{DeviceOptions, Dispatch, Driver, DriverObject, Irp, Outcome, Status, Unlocked, utf16};
use wdm_sim::Kernel;
use wdm_sys::STATUS_OBJECT_NAME_COLLISION;

fn ok<'irp, D>(_: &D, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    irp.complete(Status::SUCCESS, cx).into()
}

/// A pipe-flavoured driver: `L` picks the link, which the test varies.
struct Piper<const L: u8>;

impl<const L: u8> Driver for Piper<L> {
    const DISPATCH: Dispatch<Self> = Dispatch::new().create(ok).close(ok);

    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        let link = match L {
            0 => utf16!("\\DosDevices\\Pipe"),
            1 => utf16!("\\DosDevices\\Global\\nul"),
            _ => utf16!("\\DosDevices\\Piper"),
        };
        driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\Piper")).symbolic_link(link))?;
        Ok(Piper)
    }
}

#[test]
fn a_link_named_like_a_system_link_fails_to_load_and_leaves_nothing() {
    for (entry, link) in [
        (wdm::entry::<Piper<0>> as wdm_sim::DriverEntry, r"\DosDevices\Pipe"),
        (wdm::entry::<Piper<1>>, r"\DosDevices\Global\nul"),
    ] {
        let kernel = Kernel::new();
        let refused = kernel.load("piper", entry).map(|_| ()).unwrap_err();
        assert_eq!(refused, STATUS_OBJECT_NAME_COLLISION, "{link}");
        // The device init created is gone with the failed load: nothing opens it, and the
        // next driver can take its name.
        assert!(kernel.open(r"\Device\Piper").is_err(), "{link}");
        // No device, link or pool left, and no rule broken (the framework deleted only its own
        // device, not the system's link).
        kernel.assert_clean();
        let next = kernel
            .load("piper", wdm::entry::<Piper<2>>)
            .expect("the device name is free again");
        kernel.open(r"\\.\Piper").expect("a link of its own opens").close();
        next.unload();
        kernel.assert_clean();
    }
}
