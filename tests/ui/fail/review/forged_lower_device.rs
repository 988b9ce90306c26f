// Attack that fails: build a `LowerDevice` for a device the driver never attached to (or with
// another driver's state pointer), to forward into it or confuse completion contexts.
use wdm::LowerDevice;

struct Mine;

fn forge(raw: *mut wdm::sys::DEVICE_OBJECT) -> LowerDevice<Mine> {
    LowerDevice {
        raw: core::ptr::NonNull::new(raw).unwrap(),
        state: core::ptr::null(),
    }
}

fn main() {
    let _ = forge;
}
