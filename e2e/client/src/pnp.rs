//! Finding a PnP driver's device from user mode, as Windows programs do: by the device
//! interface class the driver registers (IoRegisterDeviceInterface) and enables at START
//! (IoSetDeviceInterfaceState), with SetupDiGetClassDevs(DIGCF_DEVICEINTERFACE |
//! DIGCF_PRESENT) and SetupDiGetDeviceInterfaceDetailW. The path opens with CreateFileW
//! (`Device::open`). Under Wine 8 it is `\\?\root#<name>#0000#{guid}`.
//!
//! ```ignore
//! let path = pnp::wait_interface_path(&TOASTER_INTERFACE, Duration::from_secs(5))?;
//! let device = Device::open(&path)?;
//! ```

use std::time::{Duration, Instant};

use windows_sys::Win32::Devices::DeviceAndDriverInstallation::{
    DIGCF_DEVICEINTERFACE, DIGCF_PRESENT, SP_DEVICE_INTERFACE_DATA, SP_DEVICE_INTERFACE_DETAIL_DATA_W,
    SetupDiDestroyDeviceInfoList, SetupDiEnumDeviceInterfaces, SetupDiGetClassDevsW, SetupDiGetDeviceInterfaceDetailW,
};
use windows_sys::Win32::Foundation::{ERROR_NO_MORE_ITEMS, GetLastError, INVALID_HANDLE_VALUE};
use windows_sys::core::GUID;

/// The path of the first present interface of `class`; `Err` with the Win32 error
/// (ERROR_NO_MORE_ITEMS when there is none).
pub fn interface_path(class: &GUID) -> Result<String, u32> {
    // SAFETY: a valid GUID; no enumerator or window.
    let set = unsafe {
        SetupDiGetClassDevsW(
            class,
            std::ptr::null(),
            std::ptr::null_mut(),
            DIGCF_DEVICEINTERFACE | DIGCF_PRESENT,
        )
    };
    if set == INVALID_HANDLE_VALUE as isize {
        // SAFETY: no preconditions.
        return Err(unsafe { GetLastError() });
    }
    let result = (|| {
        // SAFETY: SP_DEVICE_INTERFACE_DATA is plain data; cbSize is set below.
        let mut iface: SP_DEVICE_INTERFACE_DATA = unsafe { std::mem::zeroed() };
        iface.cbSize = size_of::<SP_DEVICE_INTERFACE_DATA>() as u32;
        // SAFETY: a set this function owns; iface is sized.
        if unsafe { SetupDiEnumDeviceInterfaces(set, std::ptr::null(), class, 0, &mut iface) } == 0 {
            // SAFETY: no preconditions.
            return Err(unsafe { GetLastError() });
        }
        let mut size = 0u32;
        // SAFETY: a size query: no buffer.
        unsafe {
            SetupDiGetDeviceInterfaceDetailW(set, &iface, std::ptr::null_mut(), 0, &mut size, std::ptr::null_mut())
        };
        // u32s: the detail structure's alignment; its cbSize (the fixed part's size, as
        // SetupAPI requires), then the UTF-16 path.
        let mut buffer = vec![0u32; (size as usize).div_ceil(4).max(2)];
        buffer[0] = size_of::<SP_DEVICE_INTERFACE_DETAIL_DATA_W>() as u32;
        let detail = buffer.as_mut_ptr().cast::<SP_DEVICE_INTERFACE_DETAIL_DATA_W>();
        // SAFETY: the buffer holds at least `size` bytes, aligned for the structure.
        let ok = unsafe {
            SetupDiGetDeviceInterfaceDetailW(set, &iface, detail, size, std::ptr::null_mut(), std::ptr::null_mut())
        };
        if ok == 0 {
            // SAFETY: no preconditions.
            return Err(unsafe { GetLastError() });
        }
        // The NUL-terminated path after cbSize, two UTF-16 units a u32, low one first.
        let path: Vec<u16> = buffer[1..]
            .iter()
            .flat_map(|w| [*w as u16, (*w >> 16) as u16])
            .take_while(|&c| c != 0)
            .collect();
        Ok(String::from_utf16_lossy(&path))
    })();
    // SAFETY: the set from SetupDiGetClassDevsW, destroyed once.
    unsafe { SetupDiDestroyDeviceInfoList(set) };
    result
}

/// [`interface_path`], retried every 50 ms for up to `timeout` (the interface appears when the
/// driver's START_DEVICE enables it).
pub fn wait_interface_path(class: &GUID, timeout: Duration) -> Result<String, u32> {
    let started = Instant::now();
    loop {
        match interface_path(class) {
            Err(e) if e == ERROR_NO_MORE_ITEMS && started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(50))
            }
            other => return other,
        }
    }
}
