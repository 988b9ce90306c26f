// Hostile review row 1: StartIoCancel bypassed by implementing `Cancelability` for one's own
// type. The trait is sealed.
use wdm::start_io::{Cancelability, NoCancelRoutine};

struct Fake;

impl Cancelability<NoCancelRoutine> for Fake {
    const NON_CANCELABLE: bool = false;
}

fn main() {}
