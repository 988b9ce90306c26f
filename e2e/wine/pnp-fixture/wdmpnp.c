/*
 * wdmpnp.exe: the PnP fixture's client. Finds the driver's device interface with
 * SetupDiGetClassDevs(DIGCF_DEVICEINTERFACE | DIGCF_PRESENT) + SetupDiGetDeviceInterfaceDetailW
 * (the lookup e2e/client's `pnp::interface_path` does in Rust), opens it and sends one IOCTL.
 * One "ok"/"FAIL" line per check, then "N passed, M failed"; exits 1 on any failure.
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <winioctl.h>
#include <initguid.h>
#include <setupapi.h>
#include <stdio.h>
#include <stdlib.h>
#include "wdmpnp.h"

static int passed, failed;

static void check(const char *what, BOOL ok, DWORD error)
{
    if (ok) {
        passed++;
        printf("ok   %s\n", what);
    } else {
        failed++;
        printf("FAIL %s (error %lu)\n", what, error);
    }
}

/* The path of the first present interface of the class, or NULL. */
static WCHAR *interface_path(const GUID *guid)
{
    SP_DEVICE_INTERFACE_DATA iface = {.cbSize = sizeof(iface)};
    SP_DEVICE_INTERFACE_DETAIL_DATA_W *detail;
    WCHAR *path = NULL;
    DWORD size = 0;
    HDEVINFO set = SetupDiGetClassDevsW(guid, NULL, NULL, DIGCF_DEVICEINTERFACE | DIGCF_PRESENT);
    if (set == INVALID_HANDLE_VALUE) return NULL;
    if (SetupDiEnumDeviceInterfaces(set, NULL, guid, 0, &iface)) {
        SetupDiGetDeviceInterfaceDetailW(set, &iface, NULL, 0, &size, NULL);
        detail = calloc(1, size);
        detail->cbSize = sizeof(*detail);
        if (SetupDiGetDeviceInterfaceDetailW(set, &iface, detail, size, NULL, NULL)) path = _wcsdup(detail->DevicePath);
        free(detail);
    }
    SetupDiDestroyDeviceInfoList(set);
    return path;
}

int main(void)
{
    WCHAR *path = interface_path(&GUID_WDMPNP_INTERFACE);
    HANDLE h;
    ULONG in = 0x1234, out = 0;
    DWORD got = 0;
    BOOL ok;

    setvbuf(stdout, NULL, _IONBF, 0);
    check("the device interface " WDMPNP_INTERFACE_TEXT " is present", path != NULL, GetLastError());
    if (!path) goto done;
    printf("     %ls\n", path);
    h = CreateFileW(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
    check("CreateFile on the interface", h != INVALID_HANDLE_VALUE, GetLastError());
    if (h == INVALID_HANDLE_VALUE) goto done;
    ok = DeviceIoControl(h, IOCTL_WDMPNP_ECHO, &in, sizeof(in), &out, sizeof(out), &got, NULL);
    check("IOCTL_WDMPNP_ECHO succeeds", ok, GetLastError());
    check("IOCTL_WDMPNP_ECHO returns 4 bytes, the input xor the key", ok && got == 4 && out == (in ^ WDMPNP_ECHO_KEY),
          out);
    ok = DeviceIoControl(h, CTL_CODE(FILE_DEVICE_UNKNOWN, 0x9ff, METHOD_BUFFERED, FILE_ANY_ACCESS), NULL, 0, NULL, 0,
                         &got, NULL);
    check("an unknown IOCTL fails with ERROR_INVALID_FUNCTION", !ok && GetLastError() == ERROR_INVALID_FUNCTION,
          GetLastError());
    check("CloseHandle", CloseHandle(h), GetLastError());
done:
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
