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
        let result = match ioctl.code() {
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
        r.output,
        [2, 3],
        "the second buffer is the caller's, left as it passed it"
    );
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

/// METHOD_IN_DIRECT end to end: the driver consumes the caller's second buffer in place,
/// through `&[u8]` (writing it does not compile: tests/ui/fail/buffers), and the caller gets it
/// back as it passed it, on any device and however long.
#[test]
fn in_direct_second_buffer_is_consumed_in_place_and_left_unchanged() {
    let kernel = Kernel::new();
    let driver = kernel.load("echo", wdm::entry::<Echo>).unwrap();
    for name in ["EchoB", "EchoD", "EchoN"] {
        let file = kernel.open(&format!(r"\\.\{name}")).unwrap();
        for data in [&b"x"[..], b"read-only data", &[0xFF; 4096]] {
            let r = file.call(
                wdm::sys::IRP_MJ_DEVICE_CONTROL,
                SUM_IN,
                wdm_sim::Buffers {
                    input: vec![7],
                    output: data.to_vec(),
                },
            );
            let sum = data.iter().fold(7u8, |a, b| a.wrapping_add(*b));
            assert_eq!(
                (r.status, r.information),
                (Status::SUCCESS.raw(), usize::from(sum)),
                "{name}"
            );
            assert_eq!(r.output, data, "{name}: the caller's data comes back untouched");
        }
        assert_eq!(
            file.ioctl(SUM_IN, &[7], 0).status,
            Status::INVALID_PARAMETER.raw(),
            "{name}: no second buffer: an empty slice, refused by the driver"
        );
        file.close();
    }
    driver.unload();
    kernel.assert_clean();
}

/// Each request-buffer accessor hands out only what the request is, with the access the I/O
/// manager granted: a write's data read-only (`data_mut` refuses it), a read's buffer to fill,
/// each IOCTL method's buffers only through its own accessor; every other combination, and
/// every missing or short buffer a kernel-mode sender can forge, is a status.
mod by_direction {
    use std::sync::atomic::Ordering::SeqCst;
    use std::sync::atomic::{AtomicPtr, AtomicU8};

    use wdm::sys::ntddk::*;
    use wdm::sys::*;
    use wdm::{
        DeviceOptions, Dispatch, Driver, DriverObject, IoMethod, Irp, Method, Outcome, SpinLock, Status, Unlocked,
        ctl_code, utf16,
    };
    use wdm_sim::{Buffers, Kernel};

    /// The accessor an IOCTL exercises: its function number is 0x800 + one of these.
    const DATA: u32 = 0;
    const DATA_MUT: u32 = 1;
    const BUFFERED: u32 = 2;
    const IN_DIRECT: u32 = 3;
    const OUT_DIRECT: u32 = 4;
    const USER_BUFFERS: u32 = 5;
    const ACCESSORS: [u32; 6] = [DATA, DATA_MUT, BUFFERED, IN_DIRECT, OUT_DIRECT, USER_BUFFERS];
    const METHODS: [Method; 4] = [Method::Buffered, Method::InDirect, Method::OutDirect, Method::Neither];

    fn code(accessor: u32, method: Method) -> u32 {
        ctl_code(FILE_DEVICE_UNKNOWN, 0x800 + accessor, method, wdm::FILE_ANY_ACCESS)
    }

    /// Keeps the last write; a read returns it.
    struct Direction {
        stored: SpinLock<([u8; 16], usize)>,
    }

    impl Driver for Direction {
        const DISPATCH: Dispatch<Self> = Dispatch::new()
            .create(Self::ok)
            .close(Self::ok)
            .read(Self::read)
            .write(Self::write)
            .device_control(Self::control);

        fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
            for (name, link, method) in [
                (
                    utf16!("\\Device\\DirB"),
                    utf16!("\\DosDevices\\DirB"),
                    IoMethod::Buffered,
                ),
                (utf16!("\\Device\\DirD"), utf16!("\\DosDevices\\DirD"), IoMethod::Direct),
                (
                    utf16!("\\Device\\DirN"),
                    utf16!("\\DosDevices\\DirN"),
                    IoMethod::Neither,
                ),
            ] {
                driver.create_device(&DeviceOptions::new().name(name).symbolic_link(link).io_method(method))?;
            }
            Ok(Direction {
                stored: SpinLock::new(([0; 16], 0)),
            })
        }
    }

    impl Direction {
        fn ok<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            irp.complete(Status::SUCCESS, cx).into()
        }

        /// A write's data is the caller's, to read only: `data_mut` must refuse it (before it
        /// looks at any buffer), `data` lends it.
        fn write<'irp>(&self, mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            let refused = irp.data_mut().err();
            let result = match refused {
                Some(status) if status == Status::INVALID_DEVICE_REQUEST => irp.data().and_then(|data| {
                    let n = data.len();
                    if n > 16 {
                        return Err(Status::INVALID_BUFFER_SIZE);
                    }
                    self.stored.with(cx, |s| {
                        s.0[..n].copy_from_slice(data);
                        s.1 = n;
                    });
                    Ok(n)
                }),
                Some(other) => Err(other),
                None => Err(Status::UNSUCCESSFUL), // a write lent mutably: what this test is for
            };
            match result {
                Ok(n) => irp.complete_with(Status::SUCCESS, n, cx).into(),
                Err(status) => irp.complete(status, cx).into(),
            }
        }

        /// A read's buffer is filled through `data_mut`; `data` sees the same bytes, read-only.
        fn read<'irp>(&self, mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            let shared = irp.data().map(|d| (d.as_ptr(), d.len()));
            let result = irp.data_mut().and_then(|buffer| {
                if shared != Ok((buffer.as_ptr(), buffer.len())) {
                    return Err(Status::UNSUCCESSFUL);
                }
                Ok(self.stored.with(cx, |s| {
                    let n = buffer.len().min(s.1);
                    buffer[..n].copy_from_slice(&s.0[..n]);
                    n
                }))
            });
            match result {
                Ok(n) => irp.complete_with(Status::SUCCESS, n, cx).into(),
                Err(status) => irp.complete(status, cx).into(),
            }
        }

        /// Answers with the status of the accessor the code names; on success the buffers must
        /// be exactly as long as the request says (STATUS_UNSUCCESSFUL otherwise).
        fn control<'irp>(&self, mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
            let Some((code, lengths)) = irp.ioctl().map(|i| (i.code(), (i.input_len(), i.output_len()))) else {
                return irp.complete(Status::INVALID_DEVICE_REQUEST, cx).into();
            };
            let accessor = ((code >> 2) & 0xFFF).wrapping_sub(0x800);
            let got = match (accessor, irp.ioctl()) {
                (DATA, _) => irp.data().map(|_| (usize::MAX, 0)),
                (DATA_MUT, _) => irp.data_mut().map(|_| (usize::MAX, 0)),
                (_, None) => Err(Status::INVALID_DEVICE_REQUEST),
                (BUFFERED, Some(i)) => i.buffered().map(|mut b| (b.input().len(), b.output().len())),
                (IN_DIRECT, Some(i)) => i.in_direct().map(|d| (d.input.len(), d.data.len())),
                (OUT_DIRECT, Some(i)) => i.out_direct().map(|d| (d.input.len(), d.output.len())),
                (USER_BUFFERS, Some(i)) => i.user_buffers().map(|u| (u.input_len(), u.output_len())),
                (_, Some(_)) => Err(Status::INVALID_DEVICE_REQUEST),
            };
            let status = match got {
                Ok(lens) if lens == lengths => Status::SUCCESS,
                Ok(_) => Status::UNSUCCESSFUL,
                Err(status) => status,
            };
            irp.complete(status, cx).into()
        }
    }

    #[test]
    fn a_write_is_consumed_read_only_and_a_read_filled_on_buffered_and_direct_devices() {
        let kernel = Kernel::new();
        let driver = kernel.load("direction", wdm::entry::<Direction>).unwrap();
        for name in ["DirB", "DirD"] {
            let file = kernel.open(&format!(r"\\.\{name}")).unwrap();
            let w = file.write(b"direct write");
            assert_eq!((w.status, w.information), (Status::SUCCESS.raw(), 12), "{name}: write");
            let r = file.read(16);
            assert_eq!(
                (r.status, r.data()),
                (Status::SUCCESS.raw(), &b"direct write"[..]),
                "{name}: read"
            );
            assert_eq!(file.read(4).data(), b"dire", "{name}: a short read");
            assert_eq!(
                file.write(&[0; 17]).status,
                Status::INVALID_BUFFER_SIZE.raw(),
                "{name}: the driver's own length check"
            );
            let empty = file.write(&[]);
            assert_eq!(
                (empty.status, empty.information),
                (Status::SUCCESS.raw(), 0),
                "{name}: empty write"
            );
            let r = file.read(16);
            assert_eq!(
                (r.status, r.information),
                (Status::SUCCESS.raw(), 0),
                "{name}: nothing stored"
            );
            let r = file.read(0);
            assert_eq!(
                (r.status, r.information),
                (Status::SUCCESS.raw(), 0),
                "{name}: empty read"
            );
            file.close();
        }
        let neither = kernel.open(r"\\.\DirN").unwrap();
        let refused = Status::INVALID_DEVICE_REQUEST.raw();
        assert_eq!(neither.write(b"x").status, refused, "neither I/O: no data");
        assert_eq!(neither.read(4).status, refused, "neither I/O: no buffer");
        neither.close();
        driver.unload();
        kernel.assert_clean();
    }

    #[test]
    fn each_accessor_answers_only_its_own_method_with_every_length() {
        let kernel = Kernel::new();
        let driver = kernel.load("direction", wdm::entry::<Direction>).unwrap();
        let file = kernel.open(r"\\.\DirD").unwrap();
        for method in METHODS {
            for accessor in ACCESSORS {
                let expected = match (accessor, method) {
                    (DATA | DATA_MUT, _) => Status::INVALID_DEVICE_REQUEST,
                    (BUFFERED, Method::Buffered)
                    | (IN_DIRECT, Method::InDirect)
                    | (OUT_DIRECT, Method::OutDirect)
                    | (USER_BUFFERS, Method::Neither) => Status::SUCCESS,
                    _ => Status::INVALID_PARAMETER,
                };
                for (input, output) in [(0, 0), (3, 0), (0, 5), (3, 5)] {
                    let buffers = Buffers {
                        input: vec![1; input],
                        output: vec![2; output],
                    };
                    let r = file.call(IRP_MJ_DEVICE_CONTROL, code(accessor, method), buffers);
                    assert_eq!(
                        r.status,
                        expected.raw(),
                        "accessor {accessor}, {method:?}, lengths ({input}, {output})"
                    );
                    if method == Method::InDirect {
                        assert_eq!(
                            r.output,
                            vec![2; output],
                            "the IN_DIRECT second buffer is never written"
                        );
                    }
                }
            }
        }
        file.close();
        driver.unload();
        kernel.assert_clean();
    }

    // A kernel-mode sender's forgeries, made by a raw upper filter on each device: what the
    // I/O manager never builds, a driver above can.
    const GENUINE: u8 = 0;
    const SHORT_MDL: u8 = 1;
    const NULL_MDL: u8 = 2;
    const NULL_SYSTEM_BUFFER: u8 = 3;
    /// What the filter does to the next requests (one test uses it).
    static FORGE: AtomicU8 = AtomicU8::new(GENUINE);
    /// The driver whose devices the filter attaches to.
    static TARGET: AtomicPtr<DRIVER_OBJECT> = AtomicPtr::new(std::ptr::null_mut());

    #[allow(clippy::multiple_unsafe_ops_per_block)]
    unsafe extern "C-unwind" fn forge(device: PDEVICE_OBJECT, irp: PIRP) -> NTSTATUS {
        // SAFETY: the IRP we were given, changed as a buggy kernel-mode sender would and passed
        // to the device below (whose buffers the simulator's I/O manager owns and frees).
        unsafe {
            let lower = *(*device).DeviceExtension.cast::<PDEVICE_OBJECT>();
            let mdl = (*irp).MdlAddress;
            match FORGE.load(SeqCst) {
                SHORT_MDL if !mdl.is_null() => (*mdl).ByteCount -= 1,
                NULL_MDL => (*irp).MdlAddress = std::ptr::null_mut(),
                NULL_SYSTEM_BUFFER => (*irp).AssociatedIrp.SystemBuffer = std::ptr::null_mut(),
                _ => {}
            }
            IoSkipCurrentIrpStackLocation(irp);
            IoCallDriver(lower, irp)
        }
    }

    #[allow(clippy::multiple_unsafe_ops_per_block)]
    unsafe extern "C-unwind" fn forger_unload(driver: PDRIVER_OBJECT) {
        // SAFETY: the forger's own devices, each attached to one of the target's.
        unsafe {
            let mut device = (*driver).DeviceObject;
            while !device.is_null() {
                let next = (*device).NextDevice;
                IoDetachDevice(*(*device).DeviceExtension.cast::<PDEVICE_OBJECT>());
                IoDeleteDevice(device);
                device = next;
            }
        }
    }

    #[allow(clippy::multiple_unsafe_ops_per_block)]
    unsafe extern "C-unwind" fn forger_entry(driver: PDRIVER_OBJECT, _registry: PUNICODE_STRING) -> NTSTATUS {
        // SAFETY: a fresh driver object; the target driver and its devices are loaded.
        unsafe {
            let mut target = (*TARGET.load(SeqCst)).DeviceObject;
            while !target.is_null() {
                let mut device = std::ptr::null_mut();
                let status = IoCreateDevice(
                    driver,
                    size_of::<PDEVICE_OBJECT>() as u32,
                    std::ptr::null_mut(),
                    FILE_DEVICE_UNKNOWN,
                    0,
                    0,
                    &mut device,
                );
                assert_eq!(status, STATUS_SUCCESS);
                let lower = IoAttachDeviceToDeviceStack(device, target);
                assert!(!lower.is_null());
                (*device).DeviceExtension.cast::<PDEVICE_OBJECT>().write(lower);
                (*device).Flags |= (*lower).Flags & (DO_BUFFERED_IO | DO_DIRECT_IO);
                (*device).Flags &= !DO_DEVICE_INITIALIZING;
                target = (*target).NextDevice;
            }
            for m in 0..=IRP_MJ_MAXIMUM_FUNCTION {
                (*driver).MajorFunction[m as usize] = Some(forge);
            }
            (*driver).DriverUnload = Some(forger_unload);
        }
        STATUS_SUCCESS
    }

    enum Request {
        Write(usize),
        Read(usize),
        Ioctl(u32, Method, usize, usize),
    }

    #[test]
    fn a_missing_or_short_buffer_from_a_kernel_mode_sender_is_invalid_parameter() {
        use Request::*;
        let kernel = Kernel::new();
        let driver = kernel.load("direction", wdm::entry::<Direction>).unwrap();
        TARGET.store(driver.object(), SeqCst);
        let forger = kernel.load("forger", forger_entry).unwrap();
        let (buffered, direct) = (kernel.open(r"\\.\DirB").unwrap(), kernel.open(r"\\.\DirD").unwrap());
        let (ok, invalid) = (Status::SUCCESS, Status::INVALID_PARAMETER);
        let cases = [
            // The genuine requests succeed (the filter passes them on untouched).
            (GENUINE, &direct, Write(4), ok),
            (GENUINE, &direct, Read(4), ok),
            (GENUINE, &buffered, Write(4), ok),
            (GENUINE, &buffered, Read(4), ok),
            (GENUINE, &buffered, Ioctl(BUFFERED, Method::Buffered, 1, 4), ok),
            (GENUINE, &buffered, Ioctl(IN_DIRECT, Method::InDirect, 1, 4), ok),
            (GENUINE, &buffered, Ioctl(OUT_DIRECT, Method::OutDirect, 1, 4), ok),
            // An MDL describing fewer bytes than the request's length.
            (SHORT_MDL, &direct, Write(4), invalid),
            (SHORT_MDL, &direct, Read(4), invalid),
            (SHORT_MDL, &buffered, Ioctl(IN_DIRECT, Method::InDirect, 1, 4), invalid),
            (
                SHORT_MDL,
                &buffered,
                Ioctl(OUT_DIRECT, Method::OutDirect, 1, 4),
                invalid,
            ),
            // No MDL for a non-empty buffer; an empty one needs none.
            (NULL_MDL, &direct, Write(4), invalid),
            (NULL_MDL, &direct, Read(4), invalid),
            (NULL_MDL, &buffered, Ioctl(IN_DIRECT, Method::InDirect, 1, 4), invalid),
            (NULL_MDL, &buffered, Ioctl(OUT_DIRECT, Method::OutDirect, 1, 4), invalid),
            (NULL_MDL, &direct, Write(0), ok),
            (NULL_MDL, &direct, Read(0), ok),
            (NULL_MDL, &buffered, Ioctl(IN_DIRECT, Method::InDirect, 1, 0), ok),
            (NULL_MDL, &buffered, Ioctl(OUT_DIRECT, Method::OutDirect, 1, 0), ok),
            // No system buffer for a non-empty one; an empty one needs none.
            (NULL_SYSTEM_BUFFER, &buffered, Write(4), invalid),
            (NULL_SYSTEM_BUFFER, &buffered, Read(4), invalid),
            (
                NULL_SYSTEM_BUFFER,
                &buffered,
                Ioctl(BUFFERED, Method::Buffered, 1, 4),
                invalid,
            ),
            (
                NULL_SYSTEM_BUFFER,
                &buffered,
                Ioctl(BUFFERED, Method::Buffered, 0, 4),
                invalid,
            ),
            (
                NULL_SYSTEM_BUFFER,
                &buffered,
                Ioctl(IN_DIRECT, Method::InDirect, 1, 4),
                invalid,
            ),
            (
                NULL_SYSTEM_BUFFER,
                &buffered,
                Ioctl(OUT_DIRECT, Method::OutDirect, 1, 4),
                invalid,
            ),
            (NULL_SYSTEM_BUFFER, &buffered, Write(0), ok),
            (
                NULL_SYSTEM_BUFFER,
                &buffered,
                Ioctl(BUFFERED, Method::Buffered, 0, 0),
                ok,
            ),
            (
                NULL_SYSTEM_BUFFER,
                &buffered,
                Ioctl(IN_DIRECT, Method::InDirect, 0, 4),
                ok,
            ),
            (
                NULL_SYSTEM_BUFFER,
                &buffered,
                Ioctl(OUT_DIRECT, Method::OutDirect, 0, 4),
                ok,
            ),
        ];
        for (forgery, file, request, expected) in cases {
            FORGE.store(forgery, SeqCst);
            let (what, r) = match request {
                Write(n) => ("write", file.write(&vec![b'w'; n])),
                Read(n) => ("read", file.read(n)),
                Ioctl(accessor, method, input, output) => {
                    let buffers = Buffers {
                        input: vec![1; input],
                        output: vec![2; output],
                    };
                    (
                        "ioctl",
                        file.call(IRP_MJ_DEVICE_CONTROL, code(accessor, method), buffers),
                    )
                }
            };
            assert_eq!(r.status, expected.raw(), "forgery {forgery}: {what}");
        }
        FORGE.store(GENUINE, SeqCst);
        buffered.close();
        direct.close();
        forger.unload();
        driver.unload();
        kernel.assert_clean();
    }
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
