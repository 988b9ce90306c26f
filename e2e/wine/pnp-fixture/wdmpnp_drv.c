/*
 * wdmpnp.sys: the PnP fixture for cargo-wdm's SetupAPI installer (`cargo xtask wine-pnp`).
 * A root-enumerated WDM function driver: AddDevice attaches an FDO and registers a device
 * interface; START_DEVICE is forwarded and waited for, then the interface is enabled; one
 * IOCTL; SURPRISE_REMOVAL disables the interface; REMOVE_DEVICE waits on the remove lock,
 * forwards, detaches and deletes; DriverUnload. Every PnP step is logged with DbgPrint as
 * "wdmpnp: <event>", which the xtask checks.
 *
 * Built with -DWDMPNP_FILTER it is wdmpnpflt.sys instead: an upper filter that logs
 * "wdmpnpflt: AddDevice" and passes everything down (the filter experiment).
 */
#include <ntddk.h>
#include <initguid.h>
#include "wdmpnp.h"

#ifdef WDMPNP_FILTER
#define NAME "wdmpnpflt"
#else
#define NAME "wdmpnp"
#endif
#define LOG(fmt, ...) DbgPrint(NAME ": " fmt "\n", ##__VA_ARGS__)

typedef struct {
    DEVICE_OBJECT *lower;
    IO_REMOVE_LOCK lock;
    UNICODE_STRING link;
    BOOLEAN enabled;
} EXT;

static NTSTATUS complete(IRP *irp, NTSTATUS status, ULONG_PTR info)
{
    irp->IoStatus.Status = status;
    irp->IoStatus.Information = info;
    IoCompleteRequest(irp, IO_NO_INCREMENT);
    return status;
}

static NTSTATUS pass_down(EXT *e, IRP *irp)
{
    IoSkipCurrentIrpStackLocation(irp);
    return IoCallDriver(e->lower, irp);
}

#ifndef WDMPNP_FILTER
static NTSTATUS NTAPI signal(DEVICE_OBJECT *dev, IRP *irp, void *event)
{
    (void)dev;
    if (irp->PendingReturned) KeSetEvent((KEVENT *)event, IO_NO_INCREMENT, FALSE);
    return STATUS_MORE_PROCESSING_REQUIRED;
}

/* Forwards the IRP and waits for the lower driver to complete it; the IRP is ours again. */
static NTSTATUS forward_and_wait(EXT *e, IRP *irp)
{
    KEVENT event;
    NTSTATUS status;
    KeInitializeEvent(&event, NotificationEvent, FALSE);
    IoCopyCurrentIrpStackLocationToNext(irp);
    IoSetCompletionRoutine(irp, signal, &event, TRUE, TRUE, TRUE);
    status = IoCallDriver(e->lower, irp);
    if (status == STATUS_PENDING) {
        KeWaitForSingleObject(&event, Executive, KernelMode, FALSE, NULL);
        status = irp->IoStatus.Status;
    }
    return status;
}

static void set_interface(EXT *e, BOOLEAN on)
{
    if (e->enabled != on) {
        NTSTATUS status = IoSetDeviceInterfaceState(&e->link, on);
        LOG("interface %s (%#lx)", on ? "enabled" : "disabled", status);
        e->enabled = on;
    }
}
#endif

static NTSTATUS NTAPI pnp(DEVICE_OBJECT *dev, IRP *irp)
{
    EXT *e = dev->DeviceExtension;
    UCHAR minor = IoGetCurrentIrpStackLocation(irp)->MinorFunction;
    NTSTATUS status = IoAcquireRemoveLock(&e->lock, irp);
    if (!NT_SUCCESS(status)) return complete(irp, status, 0);
    switch (minor) {
#ifndef WDMPNP_FILTER
    case IRP_MN_START_DEVICE:
        status = forward_and_wait(e, irp);
        LOG("START_DEVICE (lower %#lx)", status);
        if (NT_SUCCESS(status)) set_interface(e, TRUE);
        complete(irp, status, irp->IoStatus.Information);
        IoReleaseRemoveLock(&e->lock, irp);
        return status;
    case IRP_MN_SURPRISE_REMOVAL:
        LOG("SURPRISE_REMOVAL");
        set_interface(e, FALSE);
        irp->IoStatus.Status = STATUS_SUCCESS;
        break;
    case IRP_MN_QUERY_REMOVE_DEVICE:
    case IRP_MN_CANCEL_REMOVE_DEVICE:
        irp->IoStatus.Status = STATUS_SUCCESS;
        break;
#endif
    case IRP_MN_REMOVE_DEVICE:
        LOG("REMOVE_DEVICE");
#ifndef WDMPNP_FILTER
        set_interface(e, FALSE);
#endif
        IoReleaseRemoveLockAndWait(&e->lock, irp);
        irp->IoStatus.Status = STATUS_SUCCESS;
        status = pass_down(e, irp);
        IoDetachDevice(e->lower);
        RtlFreeUnicodeString(&e->link);
        IoDeleteDevice(dev);
        return status;
    default:
        break;
    }
    status = pass_down(e, irp);
    IoReleaseRemoveLock(&e->lock, irp);
    return status;
}

static NTSTATUS NTAPI other(DEVICE_OBJECT *dev, IRP *irp)
{
    EXT *e = dev->DeviceExtension;
    IO_STACK_LOCATION *sp = IoGetCurrentIrpStackLocation(irp);
    NTSTATUS status = IoAcquireRemoveLock(&e->lock, irp);
    if (!NT_SUCCESS(status)) return complete(irp, status, 0);
#ifdef WDMPNP_FILTER
    LOG("major %u passed down", sp->MajorFunction);
    status = pass_down(e, irp);
#else
    switch (sp->MajorFunction) {
    case IRP_MJ_CREATE:
    case IRP_MJ_CLOSE:
    case IRP_MJ_CLEANUP:
        LOG("%s", sp->MajorFunction == IRP_MJ_CREATE ? "CREATE" : sp->MajorFunction == IRP_MJ_CLOSE ? "CLOSE" : "CLEANUP");
        status = complete(irp, STATUS_SUCCESS, 0);
        break;
    case IRP_MJ_DEVICE_CONTROL:
        if (sp->Parameters.DeviceIoControl.IoControlCode == IOCTL_WDMPNP_ECHO
            && sp->Parameters.DeviceIoControl.InputBufferLength >= sizeof(ULONG)
            && sp->Parameters.DeviceIoControl.OutputBufferLength >= sizeof(ULONG)) {
            ULONG *buffer = irp->AssociatedIrp.SystemBuffer;
            LOG("ECHO %#lx", *buffer);
            *buffer ^= WDMPNP_ECHO_KEY;
            status = complete(irp, STATUS_SUCCESS, sizeof(ULONG));
        } else {
            status = complete(irp, STATUS_INVALID_DEVICE_REQUEST, 0);
        }
        break;
    case IRP_MJ_POWER:
        PoStartNextPowerIrp(irp);
        IoSkipCurrentIrpStackLocation(irp);
        status = PoCallDriver(e->lower, irp);
        break;
    default:
        status = pass_down(e, irp);
        break;
    }
#endif
    IoReleaseRemoveLock(&e->lock, irp);
    return status;
}

static NTSTATUS NTAPI add_device(DRIVER_OBJECT *driver, DEVICE_OBJECT *pdo)
{
    DEVICE_OBJECT *dev;
    EXT *e;
    NTSTATUS status = IoCreateDevice(driver, sizeof(EXT), NULL, FILE_DEVICE_UNKNOWN, FILE_DEVICE_SECURE_OPEN,
                                     FALSE, &dev);
    LOG("AddDevice (%#lx)", status);
    if (!NT_SUCCESS(status)) return status;
    e = dev->DeviceExtension;
    RtlZeroMemory(e, sizeof(*e));
    IoInitializeRemoveLock(&e->lock, 0x77706e70 /* 'pnpw' */, 0, 0);
    e->lower = IoAttachDeviceToDeviceStack(dev, pdo);
    if (!e->lower) {
        IoDeleteDevice(dev);
        return STATUS_NO_SUCH_DEVICE;
    }
#ifndef WDMPNP_FILTER
    status = IoRegisterDeviceInterface(pdo, &GUID_WDMPNP_INTERFACE, NULL, &e->link);
    LOG("interface registered (%#lx) %.*ls", status, e->link.Length / 2, e->link.Buffer);
    if (!NT_SUCCESS(status)) {
        IoDetachDevice(e->lower);
        IoDeleteDevice(dev);
        return status;
    }
#endif
    dev->Flags |= DO_BUFFERED_IO | (e->lower->Flags & DO_POWER_PAGABLE);
    dev->Flags &= ~DO_DEVICE_INITIALIZING;
    return STATUS_SUCCESS;
}

static void NTAPI unload(DRIVER_OBJECT *driver)
{
    (void)driver;
    LOG("DriverUnload");
}

NTSTATUS NTAPI DriverEntry(DRIVER_OBJECT *driver, UNICODE_STRING *path)
{
    ULONG i;
    (void)path;
    LOG("DriverEntry");
    driver->DriverExtension->AddDevice = add_device;
    driver->DriverUnload = unload;
    for (i = 0; i <= IRP_MJ_MAXIMUM_FUNCTION; i++) driver->MajorFunction[i] = other;
    driver->MajorFunction[IRP_MJ_PNP] = pnp;
    return STATUS_SUCCESS;
}
