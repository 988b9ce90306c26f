/* siotest: the tests of the wdm project's Wine ntoskrnl.exe patch (../ntoskrnl-startio-csq.patch).
 * Shared between the driver (siotest_drv.c -> siotest.sys) and the client (siotest.c ->
 * siotest.exe).
 *
 * The client drives every case with IOCTLs; the driver logs what it observes (StartIo entries,
 * cancel routine calls, completions, CSQ callbacks) and the client reads the log back and
 * checks it. Timing never decides an outcome: a packet handed to StartIo without
 * SIOTEST_INLINE is "held by the hardware" (a system thread of the driver) until the client
 * releases it or it is cancelled. */

#ifndef SIOTEST_H
#define SIOTEST_H

/* Devices: \\.\SioPlain (no StartIo attributes), \\.\SioDeferred (IoSetStartIoAttributes
 * deferred), \\.\SioNoCancel (non-cancelable, then IoSetStartIoAttributes(FALSE, FALSE), which
 * must not clear it). */
#define SIOTEST_DEVICE_TYPE 0x8123
#define SIOTEST_IOCTL(n) CTL_CODE(SIOTEST_DEVICE_TYPE, 0x800 + (n), METHOD_BUFFERED, FILE_ANY_ACCESS)

#define IOCTL_SIOTEST_RESET      SIOTEST_IOCTL(0)  /* clear the log and the counters */
#define IOCTL_SIOTEST_PACKET     SIOTEST_IOCTL(1)  /* in: siotest_packet; IoStartPacket, stays pending */
#define IOCTL_SIOTEST_RELEASE    SIOTEST_IOCTL(2)  /* in: ULONG n; the hardware may finish n packets */
#define IOCTL_SIOTEST_LOG        SIOTEST_IOCTL(3)  /* out: siotest_log */
#define IOCTL_SIOTEST_STATE      SIOTEST_IOCTL(4)  /* out: siotest_state */
#define IOCTL_SIOTEST_KEYQ       SIOTEST_IOCTL(5)  /* out: siotest_results; Ke*DeviceQueue on a local queue */
#define IOCTL_SIOTEST_CSQ_INSERT SIOTEST_IOCTL(6)  /* in: siotest_packet; IoCsqInsertIrp(Ex) */
#define IOCTL_SIOTEST_CSQ_REMOVE SIOTEST_IOCTL(7)  /* in: ULONG slot; out: ULONG tag or SIOTEST_NONE */
#define IOCTL_SIOTEST_CSQ_NEXT   SIOTEST_IOCTL(8)  /* in: ULONG tag or SIOTEST_NONE (any); out: ULONG tag */
#define IOCTL_SIOTEST_CSQ_SKIP   SIOTEST_IOCTL(9)  /* in: ULONG slot; out: siotest_results */
#define IOCTL_SIOTEST_CSQ_RACE   SIOTEST_IOCTL(10) /* in: ULONG rounds; out: siotest_race */
#define IOCTL_SIOTEST_TIMER      SIOTEST_IOCTL(11) /* out: siotest_results; KeSetTimer from its own DPC, KeRemoveQueueDpc */

#define SIOTEST_NONE  0xffffffff
#define SIOTEST_OTHER 0xfffffffe /* siotest_state.current: an IRP the hardware does not hold */

/* siotest_packet.flags */
#define SIOTEST_KEY        0x0001 /* IoStartPacket with &key; the next packet is started by this key */
#define SIOTEST_CANCELABLE 0x0002 /* IoStartPacket with the cancel routine; start-next with Cancelable */
#define SIOTEST_PRECANCEL  0x0004 /* IoCancelIrp on it first (no cancel routine yet: sets Cancel only) */
#define SIOTEST_INLINE     0x0008 /* StartIo completes it and starts the next packet itself */
#define SIOTEST_STASH      0x0010 /* kept aside; the next SIOTEST_FEED packet's StartIo starts it */
#define SIOTEST_FEED       0x0020 /* StartIo first calls IoStartPacket for the stashed packets */
#define SIOTEST_EX         0x0040 /* CSQ: the queue made with IoCsqInitializeEx */
#define SIOTEST_REJECT     0x0080 /* CSQ: its InsertIrpEx callback refuses it (STATUS_DEVICE_BUSY) */

struct siotest_packet
{
    ULONG tag;   /* the client's name for the request */
    ULONG flags; /* SIOTEST_* */
    ULONG key;   /* the sort key, with SIOTEST_KEY */
    ULONG slot;  /* CSQ: the IO_CSQ_IRP_CONTEXT slot (0..SIOTEST_SLOTS-1), or SIOTEST_NONE */
};

#define SIOTEST_SLOTS 16

/* siotest_record.event */
#define SIOTEST_EV_STARTIO     1 /* StartIo entered; depth = nesting on this device */
#define SIOTEST_EV_DONE        2 /* the driver completed a StartIo packet; status */
#define SIOTEST_EV_CANCEL      3 /* the StartIo cancel routine ran */
#define SIOTEST_EV_CSQ_INSERT  4 /* IoCsqInsertIrp(Ex) returned; status */
#define SIOTEST_EV_CSQ_CANCEL  5 /* CompleteCanceledIrp was called */
#define SIOTEST_EV_CSQ_REMOVED 6 /* IoCsqRemoveIrp / IoCsqRemoveNextIrp returned it; the driver completes it */

/* siotest_record.flags */
#define SIOTEST_R_CURRENT   0x0001 /* STARTIO, DONE: CurrentIrp == irp; CANCEL: it was the current IRP */
#define SIOTEST_R_CANCEL    0x0002 /* STARTIO: Irp->Cancel was already set */
#define SIOTEST_R_ROUTINE   0x0004 /* STARTIO: Irp->CancelRoutine was set */
#define SIOTEST_R_OVERLAP   0x0008 /* STARTIO: entered before the previous packet was handed on */
#define SIOTEST_R_IN_START  0x0010 /* CANCEL: called from inside IoStartPacket for this IRP */
#define SIOTEST_R_REMOVED   0x0020 /* CANCEL: KeRemoveEntryDeviceQueue returned TRUE */
#define SIOTEST_R_BUSY      0x0040 /* CANCEL: DeviceQueue.Busy after KeRemoveEntryDeviceQueue */
#define SIOTEST_R_LOCKED    0x0080 /* CSQ_CANCEL: the calling thread held the queue's lock */
#define SIOTEST_R_PENDING   0x0100 /* CSQ_INSERT: the IRP is marked pending */
#define SIOTEST_R_QUEUED    0x0200 /* CSQ_INSERT: the IRP is in the driver's list */
#define SIOTEST_R_CLAIMED   0x0400 /* CSQ_INSERT: DriverContext[3] or the context's Irp is set */
#define SIOTEST_R_ARMED     0x0800 /* CSQ_INSERT: Irp->CancelRoutine is set */
#define SIOTEST_R_INSERT_CTX 0x1000 /* CSQ_INSERT: InsertIrpEx saw the InsertContext passed */

struct siotest_record
{
    ULONG event;
    ULONG tag;
    ULONG depth;
    ULONG flags;
    LONG status;
};

#define SIOTEST_LOG_SIZE 96

struct siotest_log
{
    ULONG count;
    ULONG lost; /* records that did not fit */
    struct siotest_record rec[SIOTEST_LOG_SIZE];
};

struct siotest_state
{
    ULONG busy;          /* DeviceQueue.Busy */
    ULONG queued;        /* entries in DeviceQueue */
    ULONG current;       /* tag of CurrentIrp, or SIOTEST_NONE */
    ULONG startio_calls;
    ULONG max_depth;
    ULONG overlaps;      /* StartIo entries before the previous packet was handed on */
    ULONG csq_queued;    /* IRPs in the driver's CSQ lists */
};

#define SIOTEST_RESULTS 24

/* named checks the driver makes itself */
struct siotest_results
{
    ULONG count;
    struct
    {
        char name[72];
        ULONG ok;
    } r[SIOTEST_RESULTS];
};

struct siotest_race
{
    ULONG rounds;
    ULONG completed_once;   /* rounds whose IRP completed exactly once, cancelled */
    ULONG cancel_first;     /* IoCsqInsertIrp found it cancelled already */
    ULONG insert_first;     /* the cancel routine removed it */
    ULONG left_queued;      /* rounds that left it in the queue */
    ULONG locked;           /* CompleteCanceledIrp calls made holding the queue lock */
};

#endif
