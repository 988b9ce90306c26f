// The twins of tests/ui/fail/buffers: a METHOD_IN_DIRECT second buffer and a write's data are
// read; a METHOD_OUT_DIRECT output and a read's buffer are written.
use wdm::start_io::{HeldPacket, Packet};
use wdm::{DispatchLevel, Irp, Outcome, PendingIrp, Status, Unlocked};

fn in_direct<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    let result = irp.ioctl().ok_or(Status::INVALID_DEVICE_REQUEST).and_then(|i| i.in_direct()).map(|d| {
        let _checksum = d.data.iter().fold(0u8, |a, b| a.wrapping_add(*b));
        d.data.len()
    });
    match result {
        Ok(n) => irp.complete_with(Status::SUCCESS, n, cx).into(),
        Err(status) => irp.complete(status, cx).into(),
    }
}

fn out_direct<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    let result = irp.ioctl().ok_or(Status::INVALID_DEVICE_REQUEST).and_then(|i| i.out_direct()).map(|d| {
        d.output.fill(0);
        d.output.len()
    });
    match result {
        Ok(n) => irp.complete_with(Status::SUCCESS, n, cx).into(),
        Err(status) => irp.complete(status, cx).into(),
    }
}

fn write<'irp>(irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    let n = irp.data().map(|data| data.len()).unwrap_or(0);
    irp.complete_with(Status::SUCCESS, n, cx).into()
}

fn read<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    let n = irp.data_mut().map(|buffer| {
        buffer.fill(0xFF);
        buffer.len()
    });
    irp.complete_with(Status::SUCCESS, n.unwrap_or(0), cx).into()
}

fn pended(mut request: PendingIrp, cx: &Unlocked) {
    let _consumed = request.data().map(<[u8]>::len);
    if let Ok(buffer) = request.data_mut() {
        buffer.reverse();
    }
    request.complete(Status::SUCCESS, cx);
}

fn start_io(mut packet: Packet<'_>, cx: &Unlocked) {
    let _consumed = packet.data().map(<[u8]>::len);
    if let Ok(buffer) = packet.data_mut() {
        buffer.fill(0);
    }
    packet.finish(Status::SUCCESS, 0, cx);
}

fn hardware_done(mut packet: HeldPacket, level: &DispatchLevel, cx: &Unlocked) {
    let _consumed = packet.data().map(<[u8]>::len);
    if let Ok(buffer) = packet.data_mut() {
        buffer.fill(0);
    }
    packet.finish(Status::SUCCESS, 0, level, cx);
}

fn main() {
    let _ = (in_direct, out_direct, write, read, pended, start_io, hardware_done);
}
