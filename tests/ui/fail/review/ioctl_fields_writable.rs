// Was a FINDING (fixed: the fields are private; `code()`, `input_len()`, `output_len()` read
// them). `Ioctl::{code, input_len, output_len}` were `pub` and
// writable, and `buffered()` / the direct input slice the system buffer by them: a 64 KiB
// `&mut [u8]` over a 4-byte system buffer (tests/review.rs::forged_ioctl_fields). The lengths
// and the code should be read-only (methods, or private fields with getters).
use wdm::{Irp, Outcome, Status, Unlocked};

fn control<'irp>(mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
    if let Some(mut io) = irp.ioctl() {
        io.output_len = 1 << 16;
        io.code &= !3; // and any method is now METHOD_BUFFERED
        if let Ok(mut b) = io.buffered() {
            b.output().fill(0xAA); // out of bounds of the system buffer
        }
    }
    irp.complete(Status::SUCCESS, cx).into()
}

fn main() {
    let _ = control;
}
