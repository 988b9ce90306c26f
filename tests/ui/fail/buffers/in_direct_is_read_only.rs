// METHOD_IN_DIRECT: the second buffer is the caller's memory, locked for read access only (it may
// be read-only in the caller's process); answering in it, as a METHOD_OUT_DIRECT handler does,
// does not compile. Twin: tests/ui/pass/buffers_access.rs.
use wdm::{Irp, Outcome, Status, Unlocked};

fn in_direct<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    let result = irp.ioctl().ok_or(Status::INVALID_DEVICE_REQUEST).and_then(|i| i.in_direct()).map(|d| {
        d.data.fill(0);
        d.data.len()
    });
    match result {
        Ok(n) => irp.complete_with(Status::SUCCESS, n, cx).into(),
        Err(status) => irp.complete(status, cx).into(),
    }
}

fn main() {
    let _ = in_direct;
}
