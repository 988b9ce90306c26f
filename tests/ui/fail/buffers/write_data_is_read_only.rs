// A write's data is the caller's (on a direct-I/O device, its own pages, locked for read access
// only): no accessor lends it mutably, whether from the dispatch routine, a pended IRP or a
// StartIo packet. (`data_mut`, which a read's buffer needs, refuses a write at run time.)
// Twin: tests/ui/pass/buffers_access.rs.
use wdm::start_io::{HeldPacket, Packet};
use wdm::{DispatchLevel, Irp, Outcome, PendingIrp, Status, Unlocked};

fn write<'irp>(irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    if let Ok(data) = irp.data() {
        data[0] ^= 0xFF;
    }
    irp.complete(Status::SUCCESS, cx).into()
}

fn pended_write(write: PendingIrp, cx: &Unlocked) {
    if let Ok(data) = write.data() {
        data.reverse();
    }
    write.complete(Status::SUCCESS, cx);
}

fn start_io(packet: Packet<'_>, cx: &Unlocked) {
    if let Ok(data) = packet.data() {
        data.fill(0);
    }
    packet.finish(Status::SUCCESS, 0, cx);
}

fn hardware_done(packet: HeldPacket, level: &DispatchLevel, cx: &Unlocked) {
    if let Ok(data) = packet.data() {
        data.copy_from_slice(b"overwritten");
    }
    packet.finish(Status::SUCCESS, 0, level, cx);
}

fn main() {
    let _ = (write, pended_write, start_io, hardware_done);
}
