// The twins: take what is to be completed out under the lock, complete after it is released;
// the same for the cancel lock, and one lock after the other.
use wdm::start_io::HeldPacket;
use wdm::{CancelLock, DispatchLevel, Irp, Outcome, PendingIrp, SpinLock, Status, Unlocked};

fn handler<'irp>(slot: &SpinLock<Option<PendingIrp>>, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    let earlier = slot.with(cx, Option::take);
    if let Some(earlier) = earlier {
        earlier.complete(Status::CANCELLED, cx);
    }
    irp.complete(Status::SUCCESS, cx).into()
}

fn hardware_done(in_progress: &SpinLock<Option<HeldPacket>>, level: &DispatchLevel, cx: &mut Unlocked) {
    let packet = in_progress.with(cx, Option::take);
    if let Some(packet) = packet {
        packet.finish(Status::SUCCESS, 0, level, cx);
    }
}

fn cancel_after_the_lock(irp: PendingIrp, cx: &mut Unlocked) {
    let cancelled = CancelLock::with(cx, |_lock| irp.is_cancelled());
    irp.complete(if cancelled { Status::CANCELLED } else { Status::SUCCESS }, cx);
}

fn one_after_the_other(a: &SpinLock<u32>, b: &SpinLock<u32>, cx: &mut Unlocked) -> u32 {
    let first = a.with(cx, |a| *a);
    let second = b.with(cx, |b| *b);
    first + second
}

fn main() {
    let _ = (handler, hardware_done, cancel_after_the_lock, one_after_the_other);
}
