//! Rule violations: what the simulator reports, with the code Windows would show.

use std::fmt;

/// How bad a violation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    /// Windows bug-checks: the scenario ends, as the machine would.
    Fatal,
    /// Driver Verifier level-2 findings, SDV rule violations the kernel tolerates, leaks seen at
    /// unload: collected, and a test can assert on them.
    Warning,
}

/// A Windows stop code with its first parameter where the code has sub-types
/// (0xC4 and 0xC9 are families: `0xC4/0x62` is `code = 0xC4, subcode = Some(0x62)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StopCode {
    /// The bug-check code.
    pub code: u32,
    /// Parameter 1 for the code families that use it as a sub-type.
    pub subcode: Option<u32>,
}

impl StopCode {
    /// A code without sub-type.
    pub const fn new(code: u32) -> Self {
        Self { code, subcode: None }
    }
    /// A code with its sub-type (parameter 1).
    pub const fn sub(code: u32, subcode: u32) -> Self {
        Self {
            code,
            subcode: Some(subcode),
        }
    }
}

impl fmt::Display for StopCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.code == 0 {
            return write!(f, "(no stop code)");
        }
        match self.subcode {
            Some(s) => write!(f, "0x{:X}/0x{:X}", self.code, s),
            None => write!(f, "0x{:X}", self.code),
        }
    }
}

macro_rules! rules {
    ($($(#[$doc:meta])* $name:ident = $sev:ident, $code:expr, $sdv:expr, $title:expr;)*) => {
        /// Every violation the simulator can report.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Rule {
            $($(#[$doc])* $name,)*
        }

        impl Rule {
            /// Every rule, for documentation and tests.
            pub const ALL: &'static [Rule] = &[$(Rule::$name),*];

            /// Whether Windows would stop the machine.
            pub const fn severity(self) -> Severity {
                match self { $(Rule::$name => Severity::$sev,)* }
            }
            /// The stop code (or Verifier code) Windows uses for it.
            pub const fn stop_code(self) -> StopCode {
                match self { $(Rule::$name => $code,)* }
            }
            /// The SDV rule that catches the same mistake statically, if one does.
            pub const fn sdv_rule(self) -> Option<&'static str> {
                match self { $(Rule::$name => $sdv,)* }
            }
            /// A short description.
            pub const fn title(self) -> &'static str {
                match self { $(Rule::$name => $title,)* }
            }
        }
    };
}

rules! {
    /// `KeBugCheckEx` called by the driver (for a Rust driver: a panic). The driver's own code
    /// is in the report's message and parameters.
    DriverBugCheck = Fatal, StopCode::new(0), None, "the driver called KeBugCheckEx";
    /// An IRP completed a second time.
    DoubleCompletion = Fatal, StopCode::new(0x44), Some("DoubleCompletion"), "IRP completed twice (MULTIPLE_IRP_COMPLETE_REQUESTS)";
    /// IoCancelIrp found a cancel routine on an IRP that had already completed.
    CancelStateInCompletedIrp = Fatal, StopCode::new(0x48), None, "cancel routine found on a completed IRP (CANCEL_STATE_IN_COMPLETED_IRP)";
    /// A cancel routine returned still holding the cancel spin lock.
    ReturnedHoldingCancelLock = Fatal, StopCode::new(0x11B), Some("CancelSpinLock"), "cancel routine returned holding the cancel spin lock (DRIVER_RETURNED_HOLDING_CANCEL_LOCK)";
    /// A cancel routine released the cancel lock with another IRQL than Irp->CancelIrql.
    CancelIrqlNotRestored = Warning, StopCode::new(0), Some("CancelSpinLock"), "cancel routine did not restore Irp->CancelIrql (C28144)";
    /// KeRemoveDeviceQueue (IoStartNextPacket) on a device queue that is not busy.
    DeviceQueueNotBusy = Fatal, StopCode::new(0x2), None, "device queue not busy (DEVICE_QUEUE_NOT_BUSY)";
    /// A spin lock acquired by the processor that already holds it (a deadlock on Windows).
    SpinLockAlreadyOwned = Fatal, StopCode::new(0xF), Some("SpinLock"), "spin lock acquired twice by one processor (SPIN_LOCK_ALREADY_OWNED)";
    /// A spin lock released by a processor that does not hold it. (The 0xC4 page gives
    /// 0x4000A, the SpinlockRelease rule page 0x4000B: this uses the 0xC4 page.)
    SpinLockNotHeld = Fatal, StopCode::sub(0xC4, 0x4000A), Some("SpinlockRelease"), "spin lock released without being held";
    /// A spin lock released with the routine that does not match how it was acquired.
    SpinLockMismatchedRelease = Fatal, StopCode::sub(0xC4, 0x4000A), Some("SpinlockRelease"), "spin lock released with the wrong routine";
    /// A routine that requires IRQL <= DISPATCH_LEVEL called above it.
    IrqlTooHigh = Fatal, StopCode::sub(0xC4, 0x20011), Some("IrqlKeDispatchLte"), "called above DISPATCH_LEVEL";
    /// A routine that requires IRQL == DISPATCH_LEVEL called at another IRQL.
    IrqlNotDispatch = Fatal, StopCode::sub(0xC4, 0x20003), Some("IrqlDispatch"), "called at an IRQL other than DISPATCH_LEVEL";
    /// KeReleaseSpinLock (or the cancel lock's release) not at DISPATCH_LEVEL.
    ReleaseNotAtDispatch = Fatal, StopCode::sub(0xC4, 0x32), Some("IrqlKeReleaseSpinLock"), "spin lock released at an IRQL other than DISPATCH_LEVEL";
    /// KeAcquireSpinLockAtDpcLevel below DISPATCH_LEVEL.
    AcquireAtDpcBelowDispatch = Fatal, StopCode::sub(0xC4, 0x40), Some("IrqlDispatch"), "KeAcquireSpinLockAtDpcLevel below DISPATCH_LEVEL";
    /// KeRaiseIrql to a lower IRQL.
    IrqlNotRaise = Fatal, StopCode::sub(0xC4, 0x30), Some("IrqlKeRaiseLower"), "KeRaiseIrql to a lower IRQL";
    /// KeLowerIrql to a higher IRQL.
    IrqlNotLower = Fatal, StopCode::sub(0xC4, 0x31), Some("IrqlKeRaiseLower"), "KeLowerIrql to a higher IRQL";
    /// A dispatch routine (or StartIo, or DriverEntry) returned at another IRQL than it was
    /// called at.
    IrqlChangedAcrossCall = Fatal, StopCode::sub(0xC9, 0x05), Some("IrqlReturn"), "IRQL changed across a driver routine";
    /// A completion routine returned at another IRQL than it was called at.
    CompletionChangedIrql = Fatal, StopCode::sub(0xC4, 0xFA), None, "completion routine changed IRQL";
    /// IoCompleteRequest or IoStartNextPacket called while holding a spin lock.
    CalledHoldingSpinLock = Warning, StopCode::new(0), Some("SpinLockSafe"), "IoCompleteRequest/IoStartNextPacket called holding a spin lock";
    /// A dispatch routine returned holding a spin lock.
    ReturnedHoldingSpinLock = Warning, StopCode::new(0), Some("SpinLockDpc"), "dispatch routine returned holding a spin lock";
    /// Completing with IoStatus.Status STATUS_PENDING (or -1).
    CompletePending = Fatal, StopCode::sub(0xC9, 0x06), Some("CompleteRequestStatusCheck"), "IRP completed with STATUS_PENDING";
    /// Completing an IRP whose cancel routine is still set.
    CompleteWithCancelRoutine = Fatal, StopCode::sub(0xC9, 0x07), None, "IRP completed with its cancel routine still set";
    /// Completing above DISPATCH_LEVEL.
    CompleteAtHighIrql = Fatal, StopCode::sub(0xC9, 0x0E), None, "IRP completed above DISPATCH_LEVEL";
    /// IoCallDriver above DISPATCH_LEVEL.
    CallDriverAtHighIrql = Fatal, StopCode::sub(0xC9, 0x10), None, "IoCallDriver above DISPATCH_LEVEL";
    /// IoCallDriver with an IRP that already completed.
    ForwardCompletedIrp = Fatal, StopCode::new(0), Some("PendedCompletedRequest3"), "completed IRP passed to IoCallDriver";
    /// IoCallDriver with the IRP's cancel routine still set.
    ForwardWithCancelRoutine = Warning, StopCode::sub(0xC9, 0x203), None, "IRP forwarded with its cancel routine set";
    /// Returned STATUS_PENDING without marking the IRP pending (and without forwarding it).
    PendingNotMarked = Warning, StopCode::sub(0xC9, 0x23D), Some("MarkIrpPending2"), "STATUS_PENDING returned for an IRP not marked pending";
    /// Marked the IRP pending but returned another status.
    MarkedNotPending = Warning, StopCode::sub(0xC9, 0x23E), Some("MarkIrpPending"), "IRP marked pending but STATUS_PENDING not returned";
    /// Returned without completing, forwarding or pending the IRP.
    NotCompletedNotPending = Warning, StopCode::sub(0xC9, 0x226), Some("IrpProcessingComplete"), "dispatch returned without completing, forwarding or pending the IRP";
    /// Returned a status other than the one the IRP was completed with.
    ReturnStatusMismatch = Warning, StopCode::sub(0xC9, 0x224), None, "dispatch return value differs from IoStatus.Status";
    /// A completion routine that let completion continue did not propagate the pending mark.
    PendingNotPropagated = Warning, StopCode::sub(0xC9, 0x228), None, "completion routine did not propagate the pending mark";
    /// StartIo re-entered on the same processor through IoStartNextPacket (no DeferredStartIo).
    StartIoRecursion = Warning, StopCode::new(0), Some("StartIoRecursion"), "StartIo recursion without DeferredStartIo";
    /// StartIo running on two processors at once for one device.
    ConcurrentStartIo = Warning, StopCode::new(0), Some("StartIoCancel"), "two StartIo invocations at once for one device";
    /// Cancelable StartIo declared without a cancel routine ever armed.
    StartIoCancel = Warning, StopCode::new(0), Some("StartIoCancel"), "IoSetStartIoAttributes(NonCancelable=FALSE) without a cancel routine";
    /// IoStartNextPacket(Cancelable=FALSE) handing over IRPs that carry cancel routines.
    StartNextNotCancelable = Warning, StopCode::new(0), None, "IoStartNextPacket(FALSE) with cancelable IRPs queued";
    /// A wait (KeWaitForSingleObject, KeDelayExecutionThread) at DISPATCH_LEVEL or above.
    WaitAtDispatch = Fatal, StopCode::sub(0xC4, 0x3B), None, "wait at DISPATCH_LEVEL or above";
    /// A cancelled IRP was not completed in time.
    CancelledNotCompleted = Warning, StopCode::sub(0xC4, 0x135), None, "cancelled IRP not completed in time";
    /// IoCallDriver ran out of stack locations.
    NoMoreStackLocations = Fatal, StopCode::new(0x35), None, "no more IRP stack locations (NO_MORE_IRP_STACK_LOCATIONS)";
    /// A driver-allocated IRP completed all the way up instead of being freed.
    CompletedDriverIrp = Fatal, StopCode::new(0), Some("IoAllocateFree"), "driver-allocated IRP completed to the top of its stack";
    /// Pool freed that was never allocated, or already freed.
    BadPoolFree = Fatal, StopCode::sub(0xC4, 0x10), None, "freeing pool that was not allocated (or was already freed)";
    /// Pool still allocated when the driver unloads.
    PoolLeak = Warning, StopCode::sub(0xC4, 0x62), None, "driver unloaded without freeing its pool allocations";
    /// Pool freed with a tag other than the one it was allocated with.
    PoolTagMismatch = Warning, StopCode::new(0), None, "pool freed with a different tag than it was allocated with";
    /// Device objects still present when the driver unloads.
    DeviceLeak = Warning, StopCode::new(0), None, "driver unloaded without deleting its device objects";
    /// Symbolic links still present when the driver unloads.
    SymbolicLinkLeak = Warning, StopCode::new(0), None, "driver unloaded without deleting its symbolic links";
    /// IoDeleteSymbolicLink of a link the system created at boot (`\DosDevices\PIPE`, `NUL`,
    /// ...: [`crate::namespace`]). Windows deletes it (a kernel handle skips the access check),
    /// and what depends on it (named pipes, for PIPE) is broken until the next boot.
    SystemNameDeleted = Warning, StopCode::new(0), None, "IoDeleteSymbolicLink of a link the system created at boot";
    /// KeSetTimer(Ex) or KeCancelTimer called for a timer from inside that timer's own DPC, with
    /// Wine checks on ([`Kernel::wine_checks`](crate::Kernel::wine_checks)). Windows allows it;
    /// Wine 8's versions wait for the timer's running callbacks, so the call never returns there.
    WineTimerSelfWait = Warning, StopCode::new(0), None, "timer set or cancelled from its own DPC (deadlocks under Wine 8)";
    /// Timers or DPCs still queued when the driver unloads.
    PendingOperationsAtUnload = Fatal, StopCode::new(0xCE), None, "driver unloaded without cancelling pending operations (timers, DPCs)";
    /// IoReleaseRemoveLock with a tag that holds no acquisition of the lock (Driver Verifier's
    /// shadow lock; also a release with nothing acquired).
    RemoveLockReleaseUnheld = Fatal, StopCode::sub(0xC4, 0xD5), Some("RemoveLockRelease2"), "remove lock released with a tag that holds no acquisition";
    /// IoReleaseRemoveLockAndWait with a tag other than the acquisition still outstanding.
    RemoveLockWaitTagMismatch = Fatal, StopCode::sub(0xC4, 0xD6), Some("RemoveLockMnRemove"), "IoReleaseRemoveLockAndWait tag differs from the remaining acquisition";
    /// IoInitializeRemoveLock on a lock after IoReleaseRemoveLockAndWait.
    RemoveLockReinitialized = Fatal, StopCode::sub(0xC4, 0xD7), None, "remove lock re-initialized after IoReleaseRemoveLockAndWait";
    /// IoReleaseRemoveLockAndWait a second time on one lock (no documented code: a checked-kernel
    /// assert).
    RemoveLockWaitTwice = Warning, StopCode::new(0), Some("RemoveLockCheck"), "IoReleaseRemoveLockAndWait called twice";
    /// The remove lock's count reached 0 before ReleaseAndWait, or went negative (no documented
    /// code; with a tag, Driver Verifier reports 0xD5 first).
    RemoveLockUnderflow = Warning, StopCode::new(0), Some("RemoveLock"), "remove lock count underflow";
    /// A remove-lock routine on a lock IoInitializeRemoveLock never initialized (no documented
    /// code).
    RemoveLockUninitialized = Warning, StopCode::new(0), None, "remove lock used before IoInitializeRemoveLock";
    /// IoReleaseRemoveLockAndWait outside the handling of IRP_MN_REMOVE_DEVICE.
    ReleaseAndWaitOutsideRemove = Warning, StopCode::new(0), Some("IoReleaseRemoveLockAndWaitOutsideRemoveDevice"), "IoReleaseRemoveLockAndWait outside IRP_MN_REMOVE_DEVICE";
    /// IoReleaseRemoveLockAndWait still waiting after the simulator's limit: an acquisition is
    /// never released (a request kept, a guard leaked). Windows hangs in REMOVE for ever; no
    /// documented code, so the simulator stops the scenario instead.
    RemoveLockWaitHang = Fatal, StopCode::new(0), Some("RemoveLock"), "IoReleaseRemoveLockAndWait never returns: an acquisition is never released";
    /// AddDevice returned with DO_DEVICE_INITIALIZING still set on the device it attached.
    PnpDeviceInitializing = Warning, StopCode::sub(0xC9, 0x243), None, "AddDevice left DO_DEVICE_INITIALIZING set";
    /// A driver completed a PnP IRP of a minor code it does not know instead of passing it down.
    PnpUnknownIrpCompleted = Warning, StopCode::sub(0xC9, 0x22D), Some("PnpIrpCompletion"), "PnP IRP of an unknown minor code completed, not passed down";
    /// A driver changed IoStatus of a PnP IRP it does not handle.
    PnpUnknownIrpStatusChanged = Warning, StopCode::sub(0xC9, 0x213), None, "IoStatus changed on a PnP IRP the driver does not handle";
    /// QUERY_REMOVE, REMOVE or SURPRISE_REMOVAL left at (or failed with) STATUS_NOT_SUPPORTED by
    /// a driver above the PDO.
    PnpRemovalNotSupported = Warning, StopCode::sub(0xC9, 0x22F), Some("NsRemoveLockMnRemove"), "removal IRP left or failed as STATUS_NOT_SUPPORTED above the PDO";
    /// SURPRISE_REMOVAL, CANCEL_REMOVE, STOP or CANCEL_STOP failed.
    PnpMustSucceed = Fatal, StopCode::sub(0xC4, 0x43006), Some("PnpRemove"), "a PnP IRP that must succeed failed";
    /// REMOVE failed.
    PnpRemoveFailed = Warning, StopCode::sub(0xC9, 0x306), Some("PnpRemove"), "IRP_MN_REMOVE_DEVICE failed";
    /// A device still attached to the stack after REMOVE.
    PnpRemoveNotDetached = Warning, StopCode::sub(0xC9, 0x21D), None, "device not detached on REMOVE";
    /// A device not deleted on REMOVE.
    PnpRemoveNotDeleted = Warning, StopCode::sub(0xC9, 0x21E), None, "device not deleted on REMOVE";
    /// A device detached itself while handling SURPRISE_REMOVAL.
    PnpSurpriseRemoveDetached = Warning, StopCode::sub(0xC9, 0x241), Some("PnpSurpriseRemove"), "device detached on SURPRISE_REMOVAL";
    /// A device deleted while handling SURPRISE_REMOVAL.
    PnpSurpriseRemoveDeleted = Warning, StopCode::sub(0xC9, 0x242), Some("PnpSurpriseRemove"), "device deleted on SURPRISE_REMOVAL";
    /// A kernel routine received an argument it cannot accept.
    InvalidParameter = Fatal, StopCode::sub(0xC4, 0x16), None, "invalid argument to a kernel routine";
    /// A device interface still enabled once IRP_MN_REMOVE_DEVICE has completed (the driver
    /// disables it in SURPRISE_REMOVAL or REMOVE; the PnP manager then disables it itself).
    PnpInterfaceEnabledAfterRemove = Warning, StopCode::new(0), None, "device interface still enabled after REMOVE";
    /// IoSetDeviceInterfaceState(TRUE) on a device that is neither started nor starting.
    PnpInterfaceEnabledNotStarted = Warning, StopCode::new(0), None, "device interface enabled on a device that is not started";
    /// A driver other than the PDO completed a power IRP with success before the PDO had
    /// completed it (only the PDO completes a successful power IRP; a driver above may reclaim it
    /// with a completion routine and complete it again).
    PowerIrpCompletedAbovePdo = Fatal, StopCode::sub(0xC9, 0x231), None, "power IRP completed successfully by a driver other than the PDO";
    /// A driver other than the PDO failed a power IRP with STATUS_NOT_SUPPORTED (only the OS
    /// may leave it).
    PowerNotSupportedAbovePdo = Warning, StopCode::sub(0xC9, 0x232), None, "power IRP failed with STATUS_NOT_SUPPORTED above the PDO";
    /// A driver completed a power IRP of a minor code it does not know instead of passing it down.
    PowerUnknownIrpCompleted = Warning, StopCode::sub(0xC9, 0x230), None, "power IRP of an unknown minor code completed, not passed down";
    /// A function or filter driver failed a device IRP_MN_SET_POWER to D1-D3.
    PowerDownFail = Warning, StopCode::new(0), Some("PowerDownFail"), "device SET_POWER (power down) failed by an FDO or filter";
    /// A function or filter driver failed a device IRP_MN_SET_POWER to D0.
    PowerUpFail = Warning, StopCode::new(0), Some("PowerUpFail"), "device SET_POWER (power up) failed by an FDO or filter";
    /// A system IRP_MN_SET_POWER completed with a failure (no documented code).
    SystemSetPowerFailed = Warning, StopCode::new(0), None, "system SET_POWER failed";
    /// A power IRP was not completed within the power manager's watchdog
    /// ([`Kernel::set_power_watchdog`](crate::Kernel::set_power_watchdog)): DRIVER_POWER_STATE_FAILURE,
    /// p2 the PDO, p4 the blocked IRP.
    PowerIrpTimeout = Fatal, StopCode::sub(0x9F, 0x3), None, "power IRP not completed within the watchdog (DRIVER_POWER_STATE_FAILURE)";
    /// IoDeleteDevice of a device a power IRP is still pending on (p2 the device).
    DeleteWithPowerIrpPending = Fatal, StopCode::sub(0x9F, 0x1), None, "device deleted with a power IRP pending (DRIVER_POWER_STATE_FAILURE)";
    /// PoRequestPowerIrp(QUERY_POWER or SET_POWER) with a non-NULL Irp out-pointer (it is for
    /// WAIT_WAKE only).
    RequestedPowerIrp = Fatal, StopCode::sub(0xC4, 0x4100B), Some("RequestedPowerIrp"), "PoRequestPowerIrp with a non-NULL Irp pointer for QUERY/SET";
    /// PoCallDriver with an IRP whose next location is not IRP_MJ_POWER (a checked-build assert;
    /// no documented code).
    PoCallDriverNotPower = Warning, StopCode::new(0), None, "PoCallDriver with an IRP that is not IRP_MJ_POWER";
    /// With Wine checks on ([`Kernel::wine_checks`](crate::Kernel::wine_checks)), a routine Wine 8
    /// exports only as an unimplemented stub: calling it raises Wine's unimplemented-function
    /// exception, which kills winedevice.exe with every driver in it. Windows has no such stop.
    WineStubCalled = Fatal, StopCode::new(0), None, "routine Wine 8 only stubs called (kills winedevice.exe)";
    /// A driver allocated pool while the system goes to sleep (an S0 -> Sx SET_POWER and the
    /// D-IRPs it causes are in flight): the paging device may already be off.
    PowerDownAllocate = Warning, StopCode::new(0), Some("PowerDownAllocate"), "pool allocated during an S0 -> Sx SET_POWER";
    /// A driver above the PDO called PoSetPowerState out of order: a lower state after the
    /// lower drivers finished the power-down IRP (it must announce it before passing it down),
    /// or D0 before they finished the power-up IRP (the device is not powered yet).
    PoSetPowerStateOutOfOrder = Warning, StopCode::new(0), None, "PoSetPowerState out of order with the device SET_POWER";
    /// A WMI IRP completed by a device other than the one its ProviderId names (a driver handles
    /// only its own device's WMI IRPs and passes the others down).
    WmiCompletedByOther = Warning, StopCode::sub(0xC9, 0x220), Some("WmiForward"), "WMI IRP completed by a device other than its ProviderId";
    /// A WMI IRP completed by the device its ProviderId names, which never registered with
    /// IoWMIRegistrationControl (a driver that is no provider forwards WMI IRPs).
    WmiCompletedUnregistered = Warning, StopCode::new(0), Some("WmiForward"), "WMI IRP completed by a device not registered with WMI";
    /// A WMI IRP for another provider reached the PDO with IoStatus changed.
    WmiStatusChanged = Warning, StopCode::sub(0xC9, 0x210), None, "IoStatus changed on a WMI IRP for another provider";
    /// The driver unloaded with a device still registered with WMI.
    WmiRegisteredAtUnload = Fatal, StopCode::sub(0xC4, 0xDA), None, "driver unloaded with a device still registered with WMI";
    /// IoDeleteDevice of a device still registered with WMI.
    WmiRegisteredAtDelete = Fatal, StopCode::sub(0xC4, 0xDB), None, "device deleted while registered with WMI";
    /// A routine that takes a PDO (IoInvalidateDeviceState, IoInvalidateDeviceRelations) called
    /// with something else (PNP_DETECTED_FATAL_ERROR, invalid PDO).
    PnpInvalidPdo = Fatal, StopCode::sub(0xCA, 0x2), None, "a routine that takes a PDO called with something else";
}

/// One reported violation: what happened, where, and to which object.
#[derive(Clone, Debug)]
pub struct Report {
    /// The rule broken.
    pub rule: Rule,
    /// What happened, in words.
    pub message: String,
    /// The kernel routine (or phase) that detected it.
    pub routine: &'static str,
    /// The IRP concerned, if any (its address).
    pub irp: Option<usize>,
    /// The simulated processor it happened on.
    pub processor: u32,
    /// The IRQL at the time.
    pub irql: u8,
    /// The bug-check parameters Windows would show.
    pub parameters: [usize; 4],
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.rule.severity() {
            Severity::Fatal => "BUG CHECK",
            Severity::Warning => "warning",
        };
        write!(f, "{kind} {} {:?}: {}", self.rule.stop_code(), self.rule, self.message)?;
        write!(
            f,
            " [in {} on CPU {} at IRQL {}",
            self.routine, self.processor, self.irql
        )?;
        if let Some(irp) = self.irp {
            write!(f, ", IRP {irp:#x}")?;
        }
        if let Some(sdv) = self.rule.sdv_rule() {
            write!(f, ", SDV rule {sdv}")?;
        }
        write!(f, "]")
    }
}

/// The unwind payload of a simulated bug check: the scenario ends here.
#[derive(Clone, Debug)]
pub struct BugCheck(pub Report);

impl fmt::Display for BugCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
