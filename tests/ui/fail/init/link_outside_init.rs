// Creating a symbolic link writes the device header without a lock: only `init`, which alone
// has the `&mut DriverObject`, may do it (two dispatch routines doing it at once would race).
use wdm::{Device, Irp, Outcome, Status, Unlocked, utf16};

struct Late {
    device: Device,
}

impl Late {
    fn create<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        let _ = self.device.create_symbolic_link(utf16!("\\DosDevices\\Late"));
        irp.complete(Status::SUCCESS, cx).into()
    }
}

fn main() {
    let _ = Late::create;
}
