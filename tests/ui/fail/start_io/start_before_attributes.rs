// Packets start only once the StartIo attributes are set (the cancelability decision that
// StartIoCancel is about has been made).
use wdm::start_io::{NoCancelRoutine, StartIoState, Unset};
use wdm::{Device, Irp, Outcome, StartIo, Unlocked};

fn too_early<'irp, D: StartIo>(
    device: &Device<StartIoState<D, NoCancelRoutine, Unset>>,
    irp: Irp<'irp>,
    cx: &mut Unlocked,
) -> Outcome<'irp> {
    let (pending, pended) = irp.mark_pending();
    device.start_packet(pending, cx);
    pended.into()
}

fn main() {}
