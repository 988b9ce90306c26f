// Attaching writes the device header without a lock: only `init`, which alone has the
// `&mut DriverObject`, may do it.
use wdm::{Device, Irp, Outcome, Status, Unlocked};

struct Late {
    filter: Device,
    target: Device,
}

impl Late {
    fn create<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        let _ = self.filter.attach_to(&self.target);
        irp.complete(Status::SUCCESS, cx).into()
    }
}

fn main() {
    let _ = Late::create;
}
