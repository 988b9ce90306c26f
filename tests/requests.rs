//! Request data through the safe API: buffers by method, with lengths checked.

use wdm::sys::ntddk::CTL_CODE;
use wdm::sys::{
    FILE_ANY_ACCESS, FILE_DEVICE_UNKNOWN, METHOD_BUFFERED, METHOD_IN_DIRECT, METHOD_NEITHER, METHOD_OUT_DIRECT,
};
use wdm::{DeviceOptions, Dispatch, Driver, DriverObject, IoMethod, Irp, Outcome, SpinLock, Status, Unlocked, utf16};
use wdm_sim::Kernel;

const REVERSE: u32 = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS);
const SUM_IN: u32 = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x801, METHOD_IN_DIRECT, FILE_ANY_ACCESS);
const FILL_OUT: u32 = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x802, METHOD_OUT_DIRECT, FILE_ANY_ACCESS);
const NEITHER: u32 = CTL_CODE(FILE_DEVICE_UNKNOWN, 0x803, METHOD_NEITHER, FILE_ANY_ACCESS);

struct Echo {
    stored: SpinLock<([u8; 16], usize)>,
}

impl Driver for Echo {
    const DISPATCH: Dispatch<Self> = Dispatch::new()
        .create(Self::ok)
        .close(Self::ok)
        .read(Self::read)
        .write(Self::write)
        .device_control(Self::ioctl);

    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        for (name, link, method) in [
            (
                utf16!("\\Device\\EchoB"),
                utf16!("\\DosDevices\\EchoB"),
                IoMethod::Buffered,
            ),
            (
                utf16!("\\Device\\EchoD"),
                utf16!("\\DosDevices\\EchoD"),
                IoMethod::Direct,
            ),
            (
                utf16!("\\Device\\EchoN"),
                utf16!("\\DosDevices\\EchoN"),
                IoMethod::Neither,
            ),
        ] {
            driver.create_device(&DeviceOptions::new().name(name).symbolic_link(link).io_method(method))?;
        }
        Ok(Echo {
            stored: SpinLock::new(([0; 16], 0)),
        })
    }
}

impl Echo {
    fn ok<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        irp.complete(Status::SUCCESS, cx).into()
    }

    fn write<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        let n = match irp.data() {
            Ok(data) if data.len() <= 16 => self.stored.with(cx, |s| {
                s.0[..data.len()].copy_from_slice(data);
                s.1 = data.len();
                data.len()
            }),
            Ok(_) => return irp.complete(Status::BUFFER_TOO_SMALL, cx).into(),
            Err(e) => return irp.complete(e, cx).into(),
        };
        irp.complete_with(Status::SUCCESS, n, cx).into()
    }

    fn read<'irp>(&self, mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        let n = match irp.data_mut() {
            Ok(data) => self.stored.with(cx, |s| {
                let n = data.len().min(s.1);
                data[..n].copy_from_slice(&s.0[..n]);
                n
            }),
            Err(e) => return irp.complete(e, cx).into(),
        };
        irp.complete_with(Status::SUCCESS, n, cx).into()
    }

    fn ioctl<'irp>(&self, mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        let Some(ioctl) = irp.ioctl() else {
            return irp.complete(Status::INVALID_DEVICE_REQUEST, cx).into();
        };
        let result = match ioctl.code {
            REVERSE => ioctl.buffered().and_then(|mut b| {
                if b.output().len() < b.input().len() {
                    return Err(Status::BUFFER_TOO_SMALL);
                }
                let input: Vec<u8> = b.input().iter().rev().copied().collect();
                b.output()[..input.len()].copy_from_slice(&input);
                Ok(input.len())
            }),
            SUM_IN => ioctl.in_direct().and_then(|d| {
                let out = d.input.first().copied().ok_or(Status::INVALID_PARAMETER)?;
                let sum = d.data.iter().fold(out, |a, b| a.wrapping_add(*b));
                d.data.first().map(|_| ()).ok_or(Status::INVALID_PARAMETER)?;
                Ok(usize::from(sum))
            }),
            FILL_OUT => ioctl.out_direct().map(|d| {
                d.output.fill(0xAB);
                d.output.len()
            }),
            NEITHER => Err(Status::NOT_SUPPORTED),
            _ => Err(Status::INVALID_DEVICE_REQUEST),
        };
        match result {
            Ok(n) => irp.complete_with(Status::SUCCESS, n, cx).into(),
            Err(e) => irp.complete(e, cx).into(),
        }
    }
}

#[test]
fn reads_and_writes_on_buffered_and_direct_devices() {
    let kernel = Kernel::new();
    let driver = kernel.load("echo", wdm::entry::<Echo>).unwrap();
    for name in ["EchoB", "EchoD"] {
        let file = kernel.open(&format!(r"\\.\{name}")).unwrap();
        assert_eq!(file.write(b"0123456789").information, 10);
        assert_eq!(file.read(16).data(), b"0123456789");
        assert_eq!(file.read(0).information, 0);
        assert_eq!(
            file.write(&[0; 17]).status,
            Status::BUFFER_TOO_SMALL.raw(),
            "{name}: too long is an error"
        );
        file.close();
    }
    let neither = kernel.open(r"\\.\EchoN").unwrap();
    assert_eq!(
        neither.read(4).status,
        Status::INVALID_DEVICE_REQUEST.raw(),
        "no safe access to user buffers"
    );
    neither.close();
    driver.unload();
    kernel.assert_clean();
}

#[test]
fn ioctl_buffers_by_method_with_lengths_checked() {
    let kernel = Kernel::new();
    let driver = kernel.load("echo", wdm::entry::<Echo>).unwrap();
    let file = kernel.open(r"\\.\EchoB").unwrap();
    let r = file.ioctl(REVERSE, b"abc", 8);
    assert_eq!((r.status, r.data()), (Status::SUCCESS.raw(), &b"cba"[..]));
    assert_eq!(file.ioctl(REVERSE, b"abcdef", 2).status, Status::BUFFER_TOO_SMALL.raw());
    let r = file.ioctl(FILL_OUT, &[], 4);
    assert_eq!(r.data(), [0xAB; 4]);
    let r = file.call(
        wdm::sys::IRP_MJ_DEVICE_CONTROL,
        SUM_IN,
        wdm_sim::Buffers {
            input: vec![1],
            output: vec![2, 3],
        },
    );
    assert_eq!((r.status, r.information), (Status::SUCCESS.raw(), 6));
    assert_eq!(
        file.ioctl(SUM_IN, &[], 0).status,
        Status::INVALID_PARAMETER.raw(),
        "missing input is an error"
    );
    assert_eq!(file.ioctl(NEITHER, b"x", 1).status, Status::NOT_SUPPORTED.raw());
    assert_eq!(file.ioctl(0x1234, &[], 0).status, Status::INVALID_DEVICE_REQUEST.raw());
    file.close();
    driver.unload();
    kernel.assert_clean();
}

/// METHOD_NEITHER buffers are handed out only in the dispatch routine: from a pended IRP (a
/// DPC, a worker, another process's context) `user_buffers` refuses.
mod neither_outside_dispatch {
    use wdm::{
        DeviceOptions, Dispatch, Driver, DriverObject, FILE_ANY_ACCESS, FILE_DEVICE_UNKNOWN, Irp, Method, Outcome,
        Status, Unlocked, ctl_code, utf16,
    };
    use wdm_sim::Kernel;

    const NEITHER: u32 = ctl_code(FILE_DEVICE_UNKNOWN, 0x801, Method::Neither, FILE_ANY_ACCESS);

    struct Late;

    impl Driver for Late {
        const DISPATCH: Dispatch<Self> = Dispatch::new()
            .create(Self::ok)
            .close(Self::ok)
            .device_control(Self::late);

        fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            driver.create_device(&DeviceOptions::new().name(utf16!("\\Device\\Late")))?;
            Ok(Late)
        }
    }

    impl Late {
        fn ok<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            irp.complete(Status::SUCCESS, cx).into()
        }

        fn late<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            let (mut pending, pended) = irp.mark_pending();
            let status = match pending.ioctl().map(|i| i.user_buffers().map(|_| ())) {
                Some(Err(status)) => status,
                _ => Status::UNSUCCESSFUL,
            };
            pending.complete(status, cx);
            pended.into()
        }
    }

    #[test]
    fn a_pended_irp_gets_no_user_buffers() {
        let kernel = Kernel::new();
        let driver = kernel.load("late", wdm::entry::<Late>).unwrap();
        let file = kernel.open(r"\Device\Late").unwrap();
        let r = file.ioctl(NEITHER, b"in", 8);
        assert_eq!(r.status, Status::INVALID_DEVICE_REQUEST.raw());
        file.close();
        driver.unload();
        kernel.assert_clean();
    }
}

/// A driver must create a device: the framework finds its state through the devices at unload.
mod deviceless {
    use wdm::{Dispatch, Driver, DriverObject, Status};
    use wdm_sim::Kernel;

    struct Nothing;

    impl Driver for Nothing {
        const DISPATCH: Dispatch<Self> = Dispatch::new();

        fn init(_driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            Ok(Nothing)
        }
    }

    #[test]
    fn loading_fails_with_invalid_device_state_and_leaves_nothing() {
        let kernel = Kernel::new();
        let loaded = kernel.load("nothing", wdm::entry::<Nothing>);
        assert_eq!(loaded.err(), Some(Status::INVALID_DEVICE_STATE.raw()));
        kernel.assert_clean();
    }
}
