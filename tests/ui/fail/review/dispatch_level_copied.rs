// Attack that fails: copy the DISPATCH_LEVEL proof out of StartIo by value, to keep it after
// StartIo returns. It is neither `Copy` nor `Clone`.
use wdm::DispatchLevel;

fn keep(level: &DispatchLevel) -> DispatchLevel {
    level.clone()
}

fn main() {
    let _ = keep;
}
