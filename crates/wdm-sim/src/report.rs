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
    /// `KeBugCheckEx` called by the driver (for a Rust driver: a panic).
    DriverBugCheck = Fatal, StopCode::new(0), None, "the driver called KeBugCheckEx";
    /// An IRP completed a second time.
    DoubleCompletion = Fatal, StopCode::new(0x44), Some("DoubleCompletion"), "IRP completed twice (MULTIPLE_IRP_COMPLETE_REQUESTS)";
    /// Pool freed that was never allocated, or already freed.
    BadPoolFree = Fatal, StopCode::sub(0xC4, 0x10), None, "freeing pool that was not allocated (or was already freed)";
    /// Pool still allocated when the driver unloads.
    PoolLeak = Warning, StopCode::sub(0xC4, 0x62), None, "driver unloaded without freeing its pool allocations";
    /// Pool freed with a tag other than the one it was allocated with.
    PoolTagMismatch = Warning, StopCode::new(0xC2), None, "pool freed with a different tag than it was allocated with";
    /// Device objects still present when the driver unloads.
    DeviceLeak = Warning, StopCode::new(0xCE), None, "driver unloaded without deleting its device objects";
    /// Symbolic links still present when the driver unloads.
    SymbolicLinkLeak = Warning, StopCode::new(0xCE), None, "driver unloaded without deleting its symbolic links";
    /// IoCallDriver ran out of stack locations.
    NoMoreStackLocations = Fatal, StopCode::new(0x35), None, "no more IRP stack locations (NO_MORE_IRP_STACK_LOCATIONS)";
    /// Completing with IoStatus.Status STATUS_PENDING (or -1).
    CompletePending = Fatal, StopCode::sub(0xC9, 0x06), Some("CompleteRequestStatusCheck"), "IRP completed with STATUS_PENDING";
    /// Completing an IRP whose cancel routine is still set.
    CompleteWithCancelRoutine = Fatal, StopCode::sub(0xC9, 0x07), None, "IRP completed with its cancel routine still set";
    /// A driver-allocated IRP completed all the way up instead of being freed.
    CompletedDriverIrp = Fatal, StopCode::new(0xC9), Some("IoAllocateFree"), "driver-allocated IRP completed to the top of its stack";
    /// KeRaiseIrql to a lower IRQL.
    IrqlNotRaise = Fatal, StopCode::sub(0xC4, 0x30), Some("IrqlKeRaiseLower"), "KeRaiseIrql to a lower IRQL";
    /// KeLowerIrql to a higher IRQL.
    IrqlNotLower = Fatal, StopCode::sub(0xC4, 0x31), Some("IrqlKeRaiseLower"), "KeLowerIrql to a higher IRQL";
    /// A kernel routine received an argument it cannot accept.
    InvalidParameter = Fatal, StopCode::sub(0xC4, 0x16), None, "invalid argument to a kernel routine";
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
