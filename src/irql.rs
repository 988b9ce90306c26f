//! IRQL as capabilities.
//!
//! Some kernel routines may only be called at exactly DISPATCH_LEVEL (SDV IrqlDispatch:
//! IoStartNextPacket, KeAcquireSpinLockAtDpcLevel, ...). In `wdm` they take a `&DispatchLevel`: proof
//! that the caller runs at DISPATCH_LEVEL. Nobody outside the framework can make one; it is
//! lent to code that runs there (StartIo, DPCs, cancel routines, the holder of a spin lock) and
//! by [`at_dispatch`]. It is neither `Send` nor `Sync`, so it cannot leave the processor.

use core::marker::PhantomData;

/// Proof that the current processor runs at DISPATCH_LEVEL, for as long as the borrow lasts.
///
/// ```
/// use wdm::{CancelLock, DispatchLevel, Unlocked, at_dispatch};
///
/// fn needs_dispatch(_level: &DispatchLevel) {}
///
/// fn two_ways(cx: &mut Unlocked) {
///     at_dispatch(|level| needs_dispatch(level)); // raised for the closure
///     CancelLock::with(cx, |lock| needs_dispatch(lock.dispatch())); // a lock holder is there
/// }
/// ```
pub struct DispatchLevel {
    _not_send: PhantomData<*mut ()>,
}

impl DispatchLevel {
    /// # Safety
    /// The caller must run at DISPATCH_LEVEL for the whole lifetime `'a`.
    pub(crate) unsafe fn assume<'a>() -> &'a DispatchLevel {
        const TOKEN: DispatchLevel = DispatchLevel { _not_send: PhantomData };
        &TOKEN
    }
}

/// Runs `f` at DISPATCH_LEVEL (KeRaiseIrql ... KeLowerIrql), lending it the proof.
///
/// ```
/// use wdm::{Status, Unlocked, at_dispatch, start_io::HeldPacket};
///
/// // Finishing a held StartIo packet calls IoStartNextPacket, which needs DISPATCH_LEVEL:
/// // `finish` takes the proof, so it cannot be called without it (SDV IrqlDispatch).
/// fn hardware_done(packet: HeldPacket, cx: &Unlocked) {
///     at_dispatch(|level| packet.finish(Status::SUCCESS, 0, level, cx));
/// }
/// ```
pub fn at_dispatch<R>(f: impl FnOnce(&DispatchLevel) -> R) -> R {
    let level = wdm_sys::DISPATCH_LEVEL as wdm_sys::KIRQL;
    // SAFETY: raising to DISPATCH_LEVEL from a level at or below it (drivers call this from
    // PASSIVE or APC level; raising from DISPATCH is a no-op).
    let old = unsafe { wdm_sys::ntddk::KfRaiseIrql(level) };
    // SAFETY: we are at DISPATCH_LEVEL until the lower below, and `f` cannot keep the borrow.
    let r = f(unsafe { DispatchLevel::assume() });
    // SAFETY: back to the IRQL the raise returned.
    unsafe { wdm_sys::ntddk::KeLowerIrql(old) };
    r
}
