// Only the framework makes the AddDevice context: a driver cannot fabricate one for a device
// object of its choosing (SDV PnpSameDeviceObject).
use wdm::pnp::NewDevice;

fn main() {
    let _forged: NewDevice<'static, ()> = NewDevice {
        device: core::ptr::NonNull::dangling(),
        pdo: core::ptr::NonNull::dangling(),
        lower: core::ptr::NonNull::dangling(),
        state: core::ptr::null(),
        _lent: core::marker::PhantomData,
    };
}
