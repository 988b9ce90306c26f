//! The IRP lifecycle log: what happened to each IRP, on which processor, at which IRQL, and
//! when. Off by default (it costs time on every IRP); [`Kernel::trace`](crate::Kernel::trace)
//! turns it on. It prints as a timeline and exports as Chrome trace JSON, which Perfetto
//! (ui.perfetto.dev) and chrome://tracing open.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use wdm_sys::{NTSTATUS, PIRP};

use crate::kernel::{State, lock, processor};
use crate::report::Report;

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The IRP was allocated (by the I/O manager for a request, or by IoAllocateIrp).
    Allocated,
    /// IoCallDriver sent it to a dispatch routine for this major function.
    Dispatched(u8),
    /// The dispatch routine returned STATUS_PENDING.
    Pended,
    /// It went into a device queue (IoStartPacket found the device busy).
    Queued,
    /// StartIo received it.
    Started,
    /// IoCancelIrp was called for it.
    CancelRequested,
    /// Its cancel routine was called.
    CancelRoutine,
    /// IoCompleteRequest with this status.
    Completed(NTSTATUS),
    /// A completion routine returned STATUS_MORE_PROCESSING_REQUIRED and took it back.
    Reclaimed,
    /// The I/O manager freed it.
    Freed,
    /// A violation was reported (the rule's name and stop code).
    Violation(String),
}

/// One entry of the log.
#[derive(Clone, Debug)]
pub struct TraceEvent {
    /// Nanoseconds since the kernel was created.
    pub nanos: u64,
    /// The simulated processor.
    pub processor: u32,
    /// The IRQL at the time.
    pub irql: u8,
    /// The IRP's address (0 for events that concern none).
    pub irp: usize,
    /// What happened.
    pub event: Event,
}

pub(crate) struct Trace {
    enabled: AtomicBool,
    start: Instant,
    events: Mutex<Vec<TraceEvent>>,
}

impl Default for Trace {
    fn default() -> Self {
        Self {
            enabled: AtomicBool::new(false),
            start: Instant::now(),
            events: Mutex::new(Vec::new()),
        }
    }
}

impl Trace {
    pub(crate) fn enable(&self) {
        self.enabled.store(true, Ordering::Relaxed);
    }

    pub(crate) fn events(&self) -> Vec<TraceEvent> {
        lock(&self.events).clone()
    }

    fn push(&self, irp: usize, event: Event) {
        let e = TraceEvent {
            nanos: self.start.elapsed().as_nanos() as u64,
            processor: processor(),
            irql: crate::irql::get(),
            irp,
            event,
        };
        lock(&self.events).push(e);
    }
}

/// Records `event` for `irp` if tracing is on.
pub(crate) fn irp(k: &State, irp: PIRP, event: Event) {
    if k.trace.enabled.load(Ordering::Relaxed) {
        k.trace.push(irp as usize, event);
    }
}

/// Records a violation if tracing is on.
pub(crate) fn report(k: &State, r: &Report) {
    if k.trace.enabled.load(Ordering::Relaxed) {
        k.trace.push(
            r.irp.unwrap_or(0),
            Event::Violation(format!("{:?} {}", r.rule, r.rule.stop_code())),
        );
    }
}

fn describe(event: &Event) -> String {
    match event {
        Event::Allocated => "allocated".into(),
        Event::Dispatched(major) => format!("dispatched ({})", major_name(*major)),
        Event::Pended => "pended (dispatch returned STATUS_PENDING)".into(),
        Event::Queued => "queued (device busy)".into(),
        Event::Started => "started (StartIo)".into(),
        Event::CancelRequested => "cancel requested (IoCancelIrp)".into(),
        Event::CancelRoutine => "cancel routine run".into(),
        Event::Completed(status) => format!("completed, status {:#010x}", *status as u32),
        Event::Reclaimed => "reclaimed by a completion routine".into(),
        Event::Freed => "freed".into(),
        Event::Violation(what) => format!("VIOLATION {what}"),
    }
}

/// The `IRP_MJ_*` name of a major function code.
pub fn major_name(major: u8) -> &'static str {
    const NAMES: [&str; 28] = [
        "CREATE",
        "CREATE_NAMED_PIPE",
        "CLOSE",
        "READ",
        "WRITE",
        "QUERY_INFORMATION",
        "SET_INFORMATION",
        "QUERY_EA",
        "SET_EA",
        "FLUSH_BUFFERS",
        "QUERY_VOLUME_INFORMATION",
        "SET_VOLUME_INFORMATION",
        "DIRECTORY_CONTROL",
        "FILE_SYSTEM_CONTROL",
        "DEVICE_CONTROL",
        "INTERNAL_DEVICE_CONTROL",
        "SHUTDOWN",
        "LOCK_CONTROL",
        "CLEANUP",
        "CREATE_MAILSLOT",
        "QUERY_SECURITY",
        "SET_SECURITY",
        "POWER",
        "SYSTEM_CONTROL",
        "DEVICE_CHANGE",
        "QUERY_QUOTA",
        "SET_QUOTA",
        "PNP",
    ];
    NAMES.get(usize::from(major)).copied().unwrap_or("?")
}

/// A readable timeline: one line per event, IRPs numbered in order of appearance.
pub(crate) fn timeline(events: &[TraceEvent]) -> String {
    let mut ids: Vec<usize> = Vec::new();
    let mut out = String::new();
    for e in events {
        let who = if e.irp == 0 {
            "      ".to_owned()
        } else {
            let n = ids.iter().position(|&a| a == e.irp).unwrap_or_else(|| {
                ids.push(e.irp);
                ids.len() - 1
            });
            format!("IRP#{n:<2}")
        };
        let _ = writeln!(
            out,
            "{:>10.3} µs  CPU{:<2} IRQL {}  {who} {}",
            e.nanos as f64 / 1000.0,
            e.processor,
            e.irql,
            describe(&e.event)
        );
    }
    out
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Chrome trace-event JSON: each IRP is an async span from allocation to free (one track per
/// IRP), and each event an instant on the processor's track.
pub(crate) fn chrome_json(events: &[TraceEvent]) -> String {
    let mut out = String::from("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n");
    let mut first = true;
    let mut push = |s: String| {
        if !first {
            out.push_str(",\n");
        }
        first = false;
        out.push_str(&s);
    };
    for e in events {
        let ts = e.nanos as f64 / 1000.0;
        let name = json_string(&describe(&e.event));
        let args = format!("{{\"irp\":\"{:#x}\",\"irql\":{}}}", e.irp, e.irql);
        push(format!(
            "{{\"name\":{name},\"ph\":\"i\",\"s\":\"t\",\"ts\":{ts:.3},\"pid\":1,\"tid\":{},\"args\":{args}}}",
            e.processor
        ));
        let span = match e.event {
            Event::Allocated => Some("b"),
            Event::Freed => Some("e"),
            _ => None,
        };
        if let Some(ph) = span {
            push(format!(
                "{{\"name\":\"IRP {:#x}\",\"cat\":\"irp\",\"ph\":\"{ph}\",\"id\":\"{:#x}\",\"ts\":{ts:.3},\"pid\":1,\"tid\":{}}}",
                e.irp, e.irp, e.processor
            ));
        }
    }
    out.push_str("\n]}\n");
    out
}
