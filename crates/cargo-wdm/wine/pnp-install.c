/*
 * pnp-install: installs and removes a root-enumerated PnP device and its driver through
 * SetupAPI, as Device Manager's "add legacy hardware" or devcon would, for Wine (and Windows).
 * Part of cargo-wdm (MIT OR Apache-2.0); built by cargo_wdm::pnp::installer with mingw:
 *     x86_64-w64-mingw32-gcc -O2 -o pnp-install.exe pnp-install.c -lsetupapi -lnewdev
 *
 *   pnp-install install <inf> <hardware-id> [upper-filter]
 *       creates the device ROOT\<last part of the hardware ID>\NNNN (DICD_GENERATE_ID) in the
 *       INF's class, registers it (DIF_REGISTERDEVICE), sets its hardware ID (and, when given,
 *       its UpperFilters), then installs the INF's driver on it
 *       (UpdateDriverForPlugAndPlayDevicesW, INSTALLFLAG_FORCE), which starts the service:
 *       AddDevice and START_DEVICE have run when it returns. On a failure after the device
 *       was registered, the device is removed again.
 *   pnp-install remove <hardware-id>
 *       DIF_REMOVE on every device listing that hardware ID (Wine and Windows send
 *       SURPRISE_REMOVAL or QUERY_REMOVE, then REMOVE_DEVICE).
 *   pnp-install find <interface-class-guid> [timeout-ms]
 *       prints the path of the first present interface of that class (waiting up to timeout-ms,
 *       default 5000); with timeout-ms 0, exits 3 when there is none (for "it is gone").
 *
 * Each command prints one line: "pnp-install: ok ..." or "pnp-install: FAIL <step>: error <n>"
 * (the Win32 error), and exits 0 on success, 1 on failure, 2 on bad usage.
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <setupapi.h>
#include <newdev.h>
#include <stdio.h>
#include <stdlib.h>
#include <wchar.h>

#define CLASS_NAME_LEN 64
#define ID_LEN 400

static int fail(const char *step)
{
    DWORD e = GetLastError();
    printf("pnp-install: FAIL %s: error %lu (0x%08lx)\n", step, e, e);
    return 1;
}

/* fail(), after removing the device registered so far: no half-installed device stays. */
static int undo(HDEVINFO set, SP_DEVINFO_DATA *dev, const char *step)
{
    DWORD e = GetLastError();
    SetupDiCallClassInstaller(DIF_REMOVE, set, dev);
    SetupDiDestroyDeviceInfoList(set);
    SetLastError(e);
    return fail(step);
}

/* The hardware ID as a REG_MULTI_SZ (one string, two terminating NULs). */
static WCHAR *multi_sz(const WCHAR *s, DWORD *bytes)
{
    size_t n = wcslen(s);
    WCHAR *m = calloc(n + 2, sizeof(WCHAR));
    memcpy(m, s, n * sizeof(WCHAR));
    *bytes = (DWORD)((n + 2) * sizeof(WCHAR));
    return m;
}

static int install(const WCHAR *inf_arg, const WCHAR *hwid, const WCHAR *filter)
{
    WCHAR inf[MAX_PATH], class_name[CLASS_NAME_LEN], instance[ID_LEN];
    const WCHAR *name;
    GUID class_guid;
    SP_DEVINFO_DATA dev = {.cbSize = sizeof(dev)};
    HDEVINFO set;
    BOOL reboot = FALSE;
    DWORD bytes;
    WCHAR *ids;
    ULONGLONG t0 = GetTickCount64();

    if (!GetFullPathNameW(inf_arg, MAX_PATH, inf, NULL)) return fail("GetFullPathNameW(inf)");
    if (!SetupDiGetINFClassW(inf, &class_guid, class_name, CLASS_NAME_LEN, NULL))
        return fail("SetupDiGetINFClassW");
    set = SetupDiCreateDeviceInfoList(&class_guid, NULL);
    if (set == INVALID_HANDLE_VALUE) return fail("SetupDiCreateDeviceInfoList");
    /* ROOT\<name>\NNNN: the name is the hardware ID's last part ("root\wdmtoaster" -> wdmtoaster). */
    name = wcsrchr(hwid, L'\\') ? wcsrchr(hwid, L'\\') + 1 : hwid;
    if (!SetupDiCreateDeviceInfoW(set, name, &class_guid, NULL, NULL, DICD_GENERATE_ID, &dev))
        return fail("SetupDiCreateDeviceInfoW");
    if (!SetupDiGetDeviceInstanceIdW(set, &dev, instance, ID_LEN, NULL))
        return fail("SetupDiGetDeviceInstanceIdW");
    if (!SetupDiCallClassInstaller(DIF_REGISTERDEVICE, set, &dev)) return fail("DIF_REGISTERDEVICE");
    ids = multi_sz(hwid, &bytes);
    if (!SetupDiSetDeviceRegistryPropertyW(set, &dev, SPDRP_HARDWAREID, (BYTE *)ids, bytes))
        return undo(set, &dev, "SetupDiSetDeviceRegistryPropertyW(SPDRP_HARDWAREID)");
    free(ids);
    if (filter) {
        ids = multi_sz(filter, &bytes);
        if (!SetupDiSetDeviceRegistryPropertyW(set, &dev, SPDRP_UPPERFILTERS, (BYTE *)ids, bytes))
            return undo(set, &dev, "SetupDiSetDeviceRegistryPropertyW(SPDRP_UPPERFILTERS)");
        free(ids);
    }
    if (!UpdateDriverForPlugAndPlayDevicesW(NULL, hwid, inf, INSTALLFLAG_FORCE, &reboot))
        return undo(set, &dev, "UpdateDriverForPlugAndPlayDevicesW");
    /* Wine 8 returns TRUE when the INF has no model for the ID, having installed nothing: the
     * device must now have a service (what Wine's PnP manager loads). */
    {
        WCHAR service[256] = {0};
        SP_DEVINFO_DATA now = {.cbSize = sizeof(now)};
        HDEVINFO fresh = SetupDiCreateDeviceInfoList(&class_guid, NULL);
        BOOL has = fresh != INVALID_HANDLE_VALUE && SetupDiOpenDeviceInfoW(fresh, instance, NULL, 0, &now)
                   && SetupDiGetDeviceRegistryPropertyW(fresh, &now, SPDRP_SERVICE, NULL, (BYTE *)service,
                                                        sizeof(service) - sizeof(WCHAR), NULL);
        if (fresh != INVALID_HANDLE_VALUE) SetupDiDestroyDeviceInfoList(fresh);
        if (!has) {
            SetLastError(ERROR_NO_DRIVER_SELECTED);
            return undo(set, &dev, "UpdateDriverForPlugAndPlayDevicesW installed no driver (no model for the "
                                   "hardware ID in the INF?)");
        }
    }
    SetupDiDestroyDeviceInfoList(set);
    printf("pnp-install: ok installed %ls as %ls (class %ls%s) in %llu ms\n", hwid, instance, class_name,
           reboot ? ", reboot requested" : "", GetTickCount64() - t0);
    return 0;
}

/* Whether a REG_MULTI_SZ lists s (case-insensitively). */
static BOOL lists(const WCHAR *m, const WCHAR *s)
{
    for (; *m; m += wcslen(m) + 1)
        if (!_wcsicmp(m, s)) return TRUE;
    return FALSE;
}

static int remove_devices(const WCHAR *hwid)
{
    SP_DEVINFO_DATA dev = {.cbSize = sizeof(dev)};
    HDEVINFO set = SetupDiGetClassDevsW(NULL, NULL, NULL, DIGCF_ALLCLASSES);
    ULONGLONG t0 = GetTickCount64();
    DWORD i, removed = 0;

    if (set == INVALID_HANDLE_VALUE) return fail("SetupDiGetClassDevsW");
    for (i = 0; SetupDiEnumDeviceInfo(set, i, &dev); i++) {
        WCHAR ids[1024] = {0}, instance[ID_LEN] = {0};
        if (!SetupDiGetDeviceRegistryPropertyW(set, &dev, SPDRP_HARDWAREID, NULL, (BYTE *)ids,
                                               sizeof(ids) - 2 * sizeof(WCHAR), NULL)
            || !lists(ids, hwid))
            continue;
        SetupDiGetDeviceInstanceIdW(set, &dev, instance, ID_LEN, NULL);
        if (!SetupDiCallClassInstaller(DIF_REMOVE, set, &dev)) {
            char step[400];
            snprintf(step, sizeof(step), "DIF_REMOVE of %ls", instance);
            return fail(step);
        }
        removed++;
    }
    SetupDiDestroyDeviceInfoList(set);
    if (!removed) {
        printf("pnp-install: FAIL remove: no device lists the hardware ID %ls\n", hwid);
        return 1;
    }
    printf("pnp-install: ok removed %lu device(s) with hardware ID %ls in %llu ms\n", removed, hwid,
           GetTickCount64() - t0);
    return 0;
}

static int find(const WCHAR *guid_text, DWORD timeout_ms)
{
    WCHAR braced[64];
    GUID guid;
    ULONGLONG t0 = GetTickCount64();
    unsigned int d[11], i;
    int used = 0;

    /* The braced form or the bare one. */
    swprintf(braced, 64, guid_text[0] == L'{' ? L"%ls" : L"{%ls}", guid_text);
    if (swscanf(braced, L"{%8x-%4x-%4x-%2x%2x-%2x%2x%2x%2x%2x%2x}%n", &d[0], &d[1], &d[2], &d[3], &d[4], &d[5],
                &d[6], &d[7], &d[8], &d[9], &d[10], &used) != 11
        || used != 38 || braced[38]) {
        printf("pnp-install: FAIL find: %ls is not a GUID\n", guid_text);
        return 2;
    }
    guid.Data1 = d[0];
    guid.Data2 = (USHORT)d[1];
    guid.Data3 = (USHORT)d[2];
    for (i = 0; i < 8; i++) guid.Data4[i] = (UCHAR)d[3 + i];
    for (;;) {
        HDEVINFO set = SetupDiGetClassDevsW(&guid, NULL, NULL, DIGCF_DEVICEINTERFACE | DIGCF_PRESENT);
        SP_DEVICE_INTERFACE_DATA iface = {.cbSize = sizeof(iface)};
        if (set != INVALID_HANDLE_VALUE) {
            if (SetupDiEnumDeviceInterfaces(set, NULL, &guid, 0, &iface)) {
                DWORD size = 0;
                SP_DEVICE_INTERFACE_DETAIL_DATA_W *detail;
                SetupDiGetDeviceInterfaceDetailW(set, &iface, NULL, 0, &size, NULL);
                detail = calloc(1, size);
                detail->cbSize = sizeof(*detail);
                if (!SetupDiGetDeviceInterfaceDetailW(set, &iface, detail, size, NULL, NULL))
                    return fail("SetupDiGetDeviceInterfaceDetailW");
                printf("pnp-install: ok interface %ls after %llu ms\n", detail->DevicePath, GetTickCount64() - t0);
                return 0;
            }
            SetupDiDestroyDeviceInfoList(set);
        }
        if (GetTickCount64() - t0 >= timeout_ms) break;
        Sleep(50);
    }
    printf("pnp-install: none: no present interface of class %ls after %llu ms\n", braced, GetTickCount64() - t0);
    return 3;
}

int wmain(int argc, WCHAR **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc >= 4 && argc <= 5 && !wcscmp(argv[1], L"install")) return install(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
    if (argc == 3 && !wcscmp(argv[1], L"remove")) return remove_devices(argv[2]);
    if (argc >= 3 && argc <= 4 && !wcscmp(argv[1], L"find")) return find(argv[2], argc == 4 ? wcstoul(argv[3], NULL, 10) : 5000);
    printf("usage: pnp-install install <inf> <hardware-id> [upper-filter] | remove <hardware-id> | find <interface-guid> [timeout-ms]\n");
    return 2;
}
