// Attack that fails: StartIo's `Device<Running>` is `Copy`; use it (kept in a static) to start
// packets or to configure StartIo again, bypassing the typestate.
use wdm::start_io::Running;
use wdm::{Device, PendingIrp, Unlocked};

fn restart(device: Device<Running>, irp: PendingIrp, cx: &Unlocked) {
    device.start_packet(irp, cx);
}

fn main() {
    let _ = restart;
}
