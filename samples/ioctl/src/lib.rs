//! The `general/ioctl/wdm` (sioctl) pattern: one control code per buffering method.
//!
//! Each IOCTL takes a text from the caller (printed with `DbgPrintEx`) and answers with
//! [`DATA`]. What differs is how the buffers travel (see `wdm::Ioctl`):
//!
//! | code | method | input | output |
//! |---|---|---|---|
//! | [`IOCTL_SIOCTL_METHOD_BUFFERED`] | buffered | system buffer | same system buffer, copied back |
//! | [`IOCTL_SIOCTL_METHOD_IN_DIRECT`] | in-direct | system buffer | an MDL the driver *reads*, read-only (printed too); Information = its length |
//! | [`IOCTL_SIOCTL_METHOD_OUT_DIRECT`] | out-direct | system buffer | an MDL the driver writes |
//! | [`IOCTL_SIOCTL_METHOD_NEITHER`] | neither | caller's address | caller's address, written by a checked, fault-tolerant copy |
//!
//! Every bad input gets a status, never a fault: an empty input or output or an input longer
//! than [`MAX_INPUT`] is STATUS_INVALID_PARAMETER, an output shorter than [`DATA`] is
//! STATUS_BUFFER_TOO_SMALL (except in-direct, whose second buffer is read), a METHOD_NEITHER address outside user space is
//! STATUS_INVALID_USER_BUFFER and one that faults is STATUS_ACCESS_VIOLATION, an unknown code is
//! STATUS_INVALID_DEVICE_REQUEST.

#![no_std]

use wdm::{
    DeviceOptions, Dispatch, Driver, DriverObject, FILE_ANY_ACCESS, Irp, Method, Outcome, Status, Unlocked, ctl_code,
    kprint, utf16,
};

/// The device type sioctl uses (vendor range).
pub const SIOCTL_TYPE: u32 = 40000;
/// METHOD_IN_DIRECT.
pub const IOCTL_SIOCTL_METHOD_IN_DIRECT: u32 = ctl_code(SIOCTL_TYPE, 0x900, Method::InDirect, FILE_ANY_ACCESS);
/// METHOD_OUT_DIRECT.
pub const IOCTL_SIOCTL_METHOD_OUT_DIRECT: u32 = ctl_code(SIOCTL_TYPE, 0x901, Method::OutDirect, FILE_ANY_ACCESS);
/// METHOD_BUFFERED.
pub const IOCTL_SIOCTL_METHOD_BUFFERED: u32 = ctl_code(SIOCTL_TYPE, 0x902, Method::Buffered, FILE_ANY_ACCESS);
/// METHOD_NEITHER.
pub const IOCTL_SIOCTL_METHOD_NEITHER: u32 = ctl_code(SIOCTL_TYPE, 0x903, Method::Neither, FILE_ANY_ACCESS);

/// What every IOCTL answers (NUL-terminated, as the C sample's string).
pub const DATA: &[u8] = b"This String is from Device Driver !!!\0";

/// The longest input accepted.
pub const MAX_INPUT: usize = 256;

/// The device's options.
pub const DEVICE: DeviceOptions = DeviceOptions::new()
    .name(utf16!("\\Device\\SIOCTL"))
    .symbolic_link(utf16!("\\DosDevices\\IoctlTest"));

/// The driver. It has no state.
pub struct Ioctl;

impl Driver for Ioctl {
    const DISPATCH: Dispatch<Self> = Dispatch::new()
        .create(Self::create_close)
        .close(Self::create_close)
        .device_control(Self::device_control);

    fn init(driver: &mut DriverObject<Self>) -> Result<Self, Status> {
        driver.create_device(&DEVICE)?;
        kprint!("ioctl: loaded\n");
        Ok(Ioctl)
    }

    fn unload(&mut self, _cx: &mut Unlocked) {
        kprint!("ioctl: unloading\n");
    }
}

/// The text of a caller's buffer, up to its first NUL.
fn text(bytes: &[u8]) -> &str {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    core::str::from_utf8(&bytes[..end]).unwrap_or("<not UTF-8>")
}

/// The checks every IOCTL makes on its lengths. (With METHOD_IN_DIRECT the second buffer is
/// read, not written, so it only has to be there.)
pub fn check_lengths(code: u32, input_len: usize, output_len: usize) -> Result<(), Status> {
    if input_len == 0 || output_len == 0 || input_len > MAX_INPUT {
        return Err(Status::INVALID_PARAMETER);
    }
    if output_len < DATA.len() && code != IOCTL_SIOCTL_METHOD_IN_DIRECT {
        return Err(Status::BUFFER_TOO_SMALL);
    }
    Ok(())
}

impl Ioctl {
    fn create_close<'irp>(&self, irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        irp.complete(Status::SUCCESS, cx).into()
    }

    fn device_control<'irp>(&self, mut irp: Irp<'irp>, cx: &mut Unlocked) -> Outcome<'irp> {
        let result = match irp.ioctl() {
            None => Err(Status::INVALID_DEVICE_REQUEST),
            Some(ioctl) => {
                let code = ioctl.code();
                match check_lengths(code, ioctl.input_len(), ioctl.output_len()) {
                    Err(status) if is_known(code) => Err(status),
                    _ => match code {
                        IOCTL_SIOCTL_METHOD_BUFFERED => ioctl.buffered().map(|mut b| {
                            kprint!("ioctl: buffered: {}\n", text(b.input()));
                            b.output()[..DATA.len()].copy_from_slice(DATA);
                            DATA.len()
                        }),
                        // The second buffer is the caller's data, read in place (read-only).
                        IOCTL_SIOCTL_METHOD_IN_DIRECT => ioctl.in_direct().map(|d| {
                            kprint!("ioctl: in-direct: {} / {}\n", text(d.input), text(d.data));
                            d.data.len()
                        }),
                        IOCTL_SIOCTL_METHOD_OUT_DIRECT => ioctl.out_direct().map(|d| {
                            kprint!("ioctl: out-direct: {}\n", text(d.input));
                            d.output[..DATA.len()].copy_from_slice(DATA);
                            DATA.len()
                        }),
                        IOCTL_SIOCTL_METHOD_NEITHER => ioctl.user_buffers().and_then(|mut user| {
                            let mut input = [0u8; MAX_INPUT];
                            let n = user.read_input(&mut input, cx)?;
                            kprint!("ioctl: neither: {}\n", text(&input[..n]));
                            user.write_output(DATA, cx)
                        }),
                        _ => Err(Status::INVALID_DEVICE_REQUEST),
                    },
                }
            }
        };
        match result {
            Ok(information) => irp.complete_with(Status::SUCCESS, information, cx).into(),
            Err(status) => irp.complete(status, cx).into(),
        }
    }
}

fn is_known(code: u32) -> bool {
    matches!(
        code,
        IOCTL_SIOCTL_METHOD_BUFFERED
            | IOCTL_SIOCTL_METHOD_IN_DIRECT
            | IOCTL_SIOCTL_METHOD_OUT_DIRECT
            | IOCTL_SIOCTL_METHOD_NEITHER
    )
}
