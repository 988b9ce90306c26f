// The DISPATCH_LEVEL proof holds for the closure `at_dispatch` runs, not after it lowers the
// IRQL again.
use wdm::{DispatchLevel, at_dispatch};

fn keep() -> &'static DispatchLevel {
    at_dispatch(|level| level)
}

fn main() {
    let _ = keep;
}
