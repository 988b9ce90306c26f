/* siotest.sys: the test driver of the wdm project's Wine ntoskrnl.exe patch
 * (../ntoskrnl-startio-csq.patch). siotest.exe drives every case through IOCTLs and checks
 * the log this driver keeps; see siotest.h for the protocol and ../README.md.
 *
 * Written for Wine's ntoskrnl: no IRQL is raised (Wine has no IRQL model and mingw-w64's
 * KeRaiseIrql writes CR8), no KeGetCurrentThread or KeQueryTickCount (mingw-w64 inlines them
 * as reads of gs:[0x188] and of KUSER_SHARED_DATA). Part of the wdm project. */

#include <ntddk.h>
#include <csq.h>
#include "siotest.h"

#define DEVICES 3 /* plain, deferred, non-cancelable */

struct sio_device;

/* a cancel-safe queue kept by the driver: a list with a spin lock */
struct sio_queue
{
    IO_CSQ csq;
    struct sio_device *dev;
    KSPIN_LOCK lock;
    HANDLE volatile owner; /* thread holding the lock */
    LIST_ENTRY irps;
    int insert_cookie;     /* its address is the InsertContext */
    BOOLEAN saw_context;   /* InsertIrpEx was passed it */
    HANDLE racer;          /* the race thread's id (race queue only) */
    LONG cancel_first, insert_first, locked;
};

struct sio_device
{
    DEVICE_OBJECT *device;
    KSPIN_LOCK log_lock;
    struct siotest_log log;
    /* StartIo bookkeeping */
    LONG depth, max_depth, active, startio_calls, overlaps;
    IRP *volatile starting;  /* the IRP the dispatch routine passes to IoStartPacket */
    LIST_ENTRY stash;        /* SIOTEST_STASH packets */
    /* the hardware: finishes the held packet once released (credits) or cancelled */
    KEVENT kick;
    IRP *volatile held;
    ULONG held_tag;
    LONG credits;
    LONG volatile stop;
    PVOID thread;
    /* cancel-safe queues (plain device only) */
    struct sio_queue queue, queue_ex, race_queue;
    IO_CSQ_IRP_CONTEXT slots[SIOTEST_SLOTS];
    /* cancel racing insert */
    KEVENT race_go, race_done;
    IRP *volatile race_irp;
    LONG race_spin;
    PVOID racer;
};

static DEVICE_OBJECT *devices[DEVICES];
static const WCHAR *device_names[DEVICES] = { L"\\Device\\SioPlain", L"\\Device\\SioDeferred", L"\\Device\\SioNoCancel" };
static const WCHAR *link_names[DEVICES] = { L"\\DosDevices\\SioPlain", L"\\DosDevices\\SioDeferred", L"\\DosDevices\\SioNoCancel" };

static struct siotest_packet *packet_of( IRP *irp )
{
    return irp->AssociatedIrp.SystemBuffer;
}

static void log_event( struct sio_device *dev, ULONG event, ULONG tag, ULONG depth, ULONG flags, LONG status )
{
    KIRQL irql;

    KeAcquireSpinLock( &dev->log_lock, &irql );
    if (dev->log.count < SIOTEST_LOG_SIZE)
    {
        struct siotest_record *r = &dev->log.rec[dev->log.count++];
        r->event = event;
        r->tag = tag;
        r->depth = depth;
        r->flags = flags;
        r->status = status;
    }
    else dev->log.lost++;
    KeReleaseSpinLock( &dev->log_lock, irql );
}

static NTSTATUS complete_irp( IRP *irp, NTSTATUS status, ULONG_PTR information )
{
    irp->IoStatus.Status = status;
    irp->IoStatus.Information = information;
    IoCompleteRequest( irp, IO_NO_INCREMENT );
    return status;
}

/* ------------------------------------------------------------------------------------------
 * StartIo, the hardware thread and the cancel routine
 */

static void start_next( DEVICE_OBJECT *device, const struct siotest_packet *p )
{
    BOOLEAN cancelable = (p->flags & SIOTEST_CANCELABLE) != 0;

    if (p->flags & SIOTEST_KEY) IoStartNextPacketByKey( device, cancelable, p->key );
    else IoStartNextPacket( device, cancelable );
}

/* The driver is done with its current packet: completes it and starts the next one. A packet
 * whose Cancel flag is set is completed as cancelled. */
static void finish_packet( DEVICE_OBJECT *device, IRP *irp )
{
    struct sio_device *dev = device->DeviceExtension;
    struct siotest_packet p = *packet_of( irp );
    ULONG flags = device->CurrentIrp == irp ? SIOTEST_R_CURRENT : 0;
    NTSTATUS status;
    KIRQL irql;

    /* The cancel routine leaves the current IRP to us (it only wakes the hardware up). */
    IoAcquireCancelSpinLock( &irql );
    IoSetCancelRoutine( irp, NULL );
    status = irp->Cancel ? STATUS_CANCELLED : STATUS_SUCCESS;
    IoReleaseCancelSpinLock( irql );

    log_event( dev, SIOTEST_EV_DONE, p.tag, 0, flags, status );
    InterlockedExchange( &dev->active, 0 ); /* handed on: the next packet may start */
    complete_irp( irp, status, 0 );
    start_next( device, &p );
}

static void feed_stash( DEVICE_OBJECT *device )
{
    struct sio_device *dev = device->DeviceExtension;

    while (!IsListEmpty( &dev->stash ))
    {
        IRP *irp = CONTAINING_RECORD( RemoveHeadList( &dev->stash ), IRP, Tail.Overlay.ListEntry );
        struct siotest_packet *p = packet_of( irp );
        ULONG key = p->key;

        IoStartPacket( device, irp, (p->flags & SIOTEST_KEY) ? &key : NULL, NULL );
    }
}

static VOID NTAPI sio_start_io( DEVICE_OBJECT *device, IRP *irp )
{
    struct sio_device *dev = device->DeviceExtension;
    struct siotest_packet *p = packet_of( irp );
    LONG depth = InterlockedIncrement( &dev->depth ), max;
    ULONG flags = 0;

    InterlockedIncrement( &dev->startio_calls );
    while (depth > (max = dev->max_depth) && InterlockedCompareExchange( &dev->max_depth, depth, max ) != max)
        ;
    if (InterlockedExchange( &dev->active, 1 ))
    {
        InterlockedIncrement( &dev->overlaps );
        flags |= SIOTEST_R_OVERLAP;
    }
    if (device->CurrentIrp == irp) flags |= SIOTEST_R_CURRENT;
    if (irp->Cancel) flags |= SIOTEST_R_CANCEL;
    if (irp->CancelRoutine) flags |= SIOTEST_R_ROUTINE;
    log_event( dev, SIOTEST_EV_STARTIO, p->tag, depth, flags, 0 );

    if (p->flags & SIOTEST_FEED) feed_stash( device );

    /* A cancelled packet (IrpCancelField) and an inline one are finished right here; any
     * other one goes to the hardware. */
    if (irp->Cancel || (p->flags & SIOTEST_INLINE)) finish_packet( device, irp );
    else
    {
        dev->held_tag = p->tag;
        dev->held = irp;
        KeSetEvent( &dev->kick, IO_NO_INCREMENT, FALSE );
    }
    InterlockedDecrement( &dev->depth );
}

static VOID NTAPI sio_hardware( PVOID context )
{
    DEVICE_OBJECT *device = context;
    struct sio_device *dev = device->DeviceExtension;
    IRP *irp;

    for (;;)
    {
        KeWaitForSingleObject( &dev->kick, Executive, KernelMode, FALSE, NULL );
        if (dev->stop) break;
        while ((irp = dev->held) && (irp->Cancel || dev->credits > 0))
        {
            if (!irp->Cancel) InterlockedDecrement( &dev->credits );
            dev->held = NULL;
            finish_packet( device, irp ); /* may hand the next packet to StartIo, which holds it */
        }
    }
    PsTerminateSystemThread( STATUS_SUCCESS );
}

/* The cancel routine of the documentation's StartIo pattern. */
static VOID NTAPI sio_cancel( DEVICE_OBJECT *device, IRP *irp )
{
    struct sio_device *dev = device->DeviceExtension;
    ULONG tag = packet_of( irp )->tag;
    ULONG flags = dev->starting == irp ? SIOTEST_R_IN_START : 0;

    if (irp == device->CurrentIrp)
    {
        /* the hardware has it: wake it up, it completes the IRP */
        IoReleaseCancelSpinLock( irp->CancelIrql );
        log_event( dev, SIOTEST_EV_CANCEL, tag, 0, flags | SIOTEST_R_CURRENT, 0 );
        KeSetEvent( &dev->kick, IO_NO_INCREMENT, FALSE );
        return;
    }
    if (KeRemoveEntryDeviceQueue( &device->DeviceQueue, &irp->Tail.Overlay.DeviceQueueEntry ))
    {
        flags |= SIOTEST_R_REMOVED;
        if (device->DeviceQueue.Busy) flags |= SIOTEST_R_BUSY;
        IoReleaseCancelSpinLock( irp->CancelIrql );
        log_event( dev, SIOTEST_EV_CANCEL, tag, 0, flags, STATUS_CANCELLED );
        complete_irp( irp, STATUS_CANCELLED, 0 );
        return;
    }
    IoReleaseCancelSpinLock( irp->CancelIrql );
    log_event( dev, SIOTEST_EV_CANCEL, tag, 0, flags, 0 );
}

/* ------------------------------------------------------------------------------------------
 * Cancel-safe queues
 */

static struct sio_queue *queue_of( IO_CSQ *csq )
{
    return CONTAINING_RECORD( csq, struct sio_queue, csq );
}

static VOID NTAPI csq_insert( IO_CSQ *csq, IRP *irp )
{
    InsertTailList( &queue_of( csq )->irps, &irp->Tail.Overlay.ListEntry );
}

static NTSTATUS NTAPI csq_insert_ex( IO_CSQ *csq, IRP *irp, PVOID insert_context )
{
    struct sio_queue *queue = queue_of( csq );

    queue->saw_context = insert_context == &queue->insert_cookie;
    if (packet_of( irp )->flags & SIOTEST_REJECT) return STATUS_DEVICE_BUSY;
    InsertTailList( &queue->irps, &irp->Tail.Overlay.ListEntry );
    return STATUS_SUCCESS;
}

static VOID NTAPI csq_remove( IO_CSQ *csq, IRP *irp )
{
    RemoveEntryList( &irp->Tail.Overlay.ListEntry );
}

static PIRP NTAPI csq_peek( IO_CSQ *csq, IRP *irp, PVOID peek_context )
{
    struct sio_queue *queue = queue_of( csq );
    LIST_ENTRY *entry = irp ? irp->Tail.Overlay.ListEntry.Flink : queue->irps.Flink;

    for (; entry != &queue->irps; entry = entry->Flink)
    {
        IRP *next = CONTAINING_RECORD( entry, IRP, Tail.Overlay.ListEntry );
        if (!peek_context || packet_of( next )->tag == *(ULONG *)peek_context) return next;
    }
    return NULL;
}

static VOID NTAPI csq_acquire( IO_CSQ *csq, PKIRQL irql )
{
    struct sio_queue *queue = queue_of( csq );

    KeAcquireSpinLock( &queue->lock, irql );
    queue->owner = PsGetCurrentThreadId();
}

static VOID NTAPI csq_release( IO_CSQ *csq, KIRQL irql )
{
    struct sio_queue *queue = queue_of( csq );

    queue->owner = NULL;
    KeReleaseSpinLock( &queue->lock, irql );
}

static VOID NTAPI csq_complete_canceled( IO_CSQ *csq, IRP *irp )
{
    struct sio_queue *queue = queue_of( csq );
    BOOLEAN locked = queue->owner == PsGetCurrentThreadId();

    if (locked) InterlockedIncrement( &queue->locked );
    if (queue == &queue->dev->race_queue)
    {
        if (PsGetCurrentThreadId() == queue->racer) InterlockedIncrement( &queue->insert_first );
        else InterlockedIncrement( &queue->cancel_first );
    }
    else log_event( queue->dev, SIOTEST_EV_CSQ_CANCEL, packet_of( irp )->tag, 0,
                    locked ? SIOTEST_R_LOCKED : 0, STATUS_CANCELLED );
    complete_irp( irp, STATUS_CANCELLED, 0 );
}

static void init_queue( struct sio_device *dev, struct sio_queue *queue, BOOLEAN ex )
{
    queue->dev = dev;
    KeInitializeSpinLock( &queue->lock );
    InitializeListHead( &queue->irps );
    if (ex)
        IoCsqInitializeEx( &queue->csq, csq_insert_ex, csq_remove, csq_peek, csq_acquire, csq_release,
                           csq_complete_canceled );
    else
        IoCsqInitialize( &queue->csq, csq_insert, csq_remove, csq_peek, csq_acquire, csq_release,
                         csq_complete_canceled );
}

static BOOLEAN in_list( LIST_ENTRY *list, IRP *irp )
{
    LIST_ENTRY *entry;

    for (entry = list->Flink; entry != list; entry = entry->Flink)
        if (entry == &irp->Tail.Overlay.ListEntry) return TRUE;
    return FALSE;
}

static NTSTATUS csq_insert_packet( struct sio_device *dev, IRP *irp )
{
    struct siotest_packet *p = packet_of( irp );
    struct sio_queue *queue = (p->flags & SIOTEST_EX) ? &dev->queue_ex : &dev->queue;
    IO_CSQ_IRP_CONTEXT *context = p->slot < SIOTEST_SLOTS ? &dev->slots[p->slot] : NULL;
    ULONG tag = p->tag, flags = 0;
    NTSTATUS status = STATUS_PENDING;
    KIRQL irql;

    if (p->flags & SIOTEST_PRECANCEL) IoCancelIrp( irp );
    queue->saw_context = FALSE;
    if (p->flags & SIOTEST_EX) status = IoCsqInsertIrpEx( &queue->csq, irp, context, &queue->insert_cookie );
    else IoCsqInsertIrp( &queue->csq, irp, context );

    /* An IRP cancelled already is completed by now; otherwise it is queued, or refused. */
    if (NT_SUCCESS(status) && !(p->flags & SIOTEST_PRECANCEL))
    {
        csq_acquire( &queue->csq, &irql );
        if (in_list( &queue->irps, irp )) flags |= SIOTEST_R_QUEUED;
        if (IoGetCurrentIrpStackLocation( irp )->Control & SL_PENDING_RETURNED) flags |= SIOTEST_R_PENDING;
        if (irp->Tail.Overlay.DriverContext[3]) flags |= SIOTEST_R_CLAIMED;
        if (irp->CancelRoutine) flags |= SIOTEST_R_ARMED;
        if (queue->saw_context) flags |= SIOTEST_R_INSERT_CTX;
        csq_release( &queue->csq, irql );
    }
    else if (!NT_SUCCESS(status))
    {
        if (IoGetCurrentIrpStackLocation( irp )->Control & SL_PENDING_RETURNED) flags |= SIOTEST_R_PENDING;
        if (irp->Tail.Overlay.DriverContext[3] || (context && context->Irp)) flags |= SIOTEST_R_CLAIMED;
        if (irp->CancelRoutine) flags |= SIOTEST_R_ARMED;
        if (queue->saw_context) flags |= SIOTEST_R_INSERT_CTX;
    }
    log_event( dev, SIOTEST_EV_CSQ_INSERT, tag, 0, flags, status );
    if (!NT_SUCCESS(status)) return complete_irp( irp, status, 0 );
    return STATUS_PENDING;
}

/* completes an IRP taken off a cancel-safe queue; returns its tag */
static ULONG csq_finish( struct sio_device *dev, IRP *irp )
{
    ULONG tag = packet_of( irp )->tag;

    log_event( dev, SIOTEST_EV_CSQ_REMOVED, tag, 0, 0, STATUS_SUCCESS );
    complete_irp( irp, STATUS_SUCCESS, 0 );
    return tag;
}

static void add_result( struct siotest_results *res, const char *name, BOOLEAN ok )
{
    ULONG i;

    if (res->count >= SIOTEST_RESULTS) return;
    for (i = 0; name[i] && i < sizeof(res->r[0].name) - 1; i++) res->r[res->count].name[i] = name[i];
    res->r[res->count].name[i] = 0;
    res->r[res->count++].ok = ok;
}

/* IoCsqRemoveNextIrp and IoCsqRemoveIrp must skip an IRP whose cancel routine has started: the
 * state between IoCancelIrp taking the routine and the routine removing the IRP. The driver
 * makes that state itself by taking the routine away, checks, then completes the IRP. */
static void csq_skip_test( struct sio_device *dev, ULONG slot, struct siotest_results *res )
{
    struct sio_queue *queue = &dev->queue;
    IRP *victim, *next;
    KIRQL irql;

    victim = slot < SIOTEST_SLOTS ? dev->slots[slot].Irp : NULL;
    add_result( res, "the context of the IRP to skip points to it", victim != NULL );
    if (!victim) return;

    csq_acquire( &queue->csq, &irql );
    IoSetCancelRoutine( victim, NULL );
    csq_release( &queue->csq, irql );

    next = IoCsqRemoveNextIrp( &queue->csq, NULL );
    add_result( res, "IoCsqRemoveNextIrp skips an IRP whose cancel routine has started",
                next != NULL && next != victim );
    if (next && next != victim) csq_finish( dev, next );
    add_result( res, "IoCsqRemoveIrp returns NULL for an IRP whose cancel routine has started",
                IoCsqRemoveIrp( &queue->csq, &dev->slots[slot] ) == NULL );
    add_result( res, "... and leaves it queued", in_list( &queue->irps, victim ) );

    /* what the cancel routine would do */
    csq_acquire( &queue->csq, &irql );
    RemoveEntryList( &victim->Tail.Overlay.ListEntry );
    csq_release( &queue->csq, irql );
    dev->slots[slot].Irp = NULL;
    victim->Tail.Overlay.DriverContext[3] = NULL;
    log_event( dev, SIOTEST_EV_CSQ_CANCEL, packet_of( victim )->tag, 0, 0, STATUS_CANCELLED );
    complete_irp( victim, STATUS_CANCELLED, 0 );
}

/* ------------------------------------------------------------------------------------------
 * Cancel racing insert: driver-made IRPs, inserted by the dispatch thread while a system
 * thread cancels them.
 */

static NTSTATUS NTAPI race_completion( DEVICE_OBJECT *device, IRP *irp, PVOID context )
{
    InterlockedIncrement( (LONG *)context );
    return STATUS_MORE_PROCESSING_REQUIRED; /* the IRP is ours: IoFreeIrp later */
}

static void spin( LONG n )
{
    volatile LONG i;
    for (i = 0; i < n; i++) YieldProcessor();
}

static VOID NTAPI sio_racer( PVOID context )
{
    struct sio_device *dev = context;

    dev->race_queue.racer = PsGetCurrentThreadId();
    for (;;)
    {
        KeWaitForSingleObject( &dev->race_go, Executive, KernelMode, FALSE, NULL );
        if (dev->stop) break;
        spin( dev->race_spin );
        IoCancelIrp( dev->race_irp );
        KeSetEvent( &dev->race_done, IO_NO_INCREMENT, FALSE );
    }
    PsTerminateSystemThread( STATUS_SUCCESS );
}

static void csq_race( DEVICE_OBJECT *device, ULONG rounds, struct siotest_race *out )
{
    struct sio_device *dev = device->DeviceExtension;
    struct sio_queue *queue = &dev->race_queue;
    LONG delay = 0; /* the inserting thread's head start for the canceller, tuned to the race */
    ULONG i;

    RtlZeroMemory( out, sizeof(*out) );
    queue->cancel_first = queue->insert_first = queue->locked = 0;
    for (i = 0; i < rounds; i++)
    {
        IRP *irp = IoAllocateIrp( 1, FALSE );
        LONG completions = 0;
        KIRQL irql;
        BOOLEAN queued;

        if (!irp) break;
        IoSetCompletionRoutine( irp, race_completion, (PVOID)&completions, TRUE, TRUE, TRUE );
        IoSetNextIrpStackLocation( irp );
        IoGetCurrentIrpStackLocation( irp )->DeviceObject = device;
        IoGetCurrentIrpStackLocation( irp )->MajorFunction = IRP_MJ_DEVICE_CONTROL;

        dev->race_irp = irp;
        dev->race_spin = (i * 37) % 64;
        KeSetEvent( &dev->race_go, IO_NO_INCREMENT, FALSE );
        spin( delay + (LONG)((i * 11) % 64) );
        IoCsqInsertIrp( &queue->csq, irp, NULL );
        KeWaitForSingleObject( &dev->race_done, Executive, KernelMode, FALSE, NULL );
        /* the cancel came first: insert sooner next time; else later */
        if ((ULONG)queue->cancel_first > out->cancel_first) delay = delay > 64 ? delay - 64 : 0;
        else delay += 64;
        out->cancel_first = queue->cancel_first;

        csq_acquire( &queue->csq, &irql );
        queued = in_list( &queue->irps, irp );
        if (queued) RemoveEntryList( &irp->Tail.Overlay.ListEntry );
        csq_release( &queue->csq, irql );

        out->rounds++;
        if (queued) out->left_queued++;
        if (completions == 1 && irp->IoStatus.Status == STATUS_CANCELLED) out->completed_once++;
        IoFreeIrp( irp );
    }
    out->cancel_first = queue->cancel_first;
    out->insert_first = queue->insert_first;
    out->locked = queue->locked;
}

/* ------------------------------------------------------------------------------------------
 * Ke*DeviceQueue on a local queue
 */

static void keyq_test( struct siotest_results *res )
{
    KDEVICE_QUEUE q;
    KDEVICE_QUEUE_ENTRY e[8], *x;
    int i;

    RtlZeroMemory( e, sizeof(e) );
    KeInitializeDeviceQueue( &q );

    add_result( res, "KeInsertByKeyDeviceQueue on an idle queue: not queued, busy now",
                !KeInsertByKeyDeviceQueue( &q, &e[0], 50 ) && q.Busy && !e[0].Inserted && e[0].SortKey == 50 );
    add_result( res, "KeInsertByKeyDeviceQueue on a busy queue: queued",
                KeInsertByKeyDeviceQueue( &q, &e[1], 5 ) && e[1].Inserted );
    KeInsertByKeyDeviceQueue( &q, &e[2], 1 );
    KeInsertByKeyDeviceQueue( &q, &e[3], 3 );
    KeInsertByKeyDeviceQueue( &q, &e[4], 3 );
    KeInsertByKeyDeviceQueue( &q, &e[5], 9 );
    /* keys 1, 3, 3', 5, 9 */
    add_result( res, "KeRemoveByKeyDeviceQueue(3): the first of two equal keys",
                KeRemoveByKeyDeviceQueue( &q, 3 ) == &e[3] && !e[3].Inserted );
    add_result( res, "KeRemoveByKeyDeviceQueue(2): the first key >= 2", KeRemoveByKeyDeviceQueue( &q, 2 ) == &e[4] );
    add_result( res, "KeRemoveEntryDeviceQueue of a queued entry: TRUE",
                KeRemoveEntryDeviceQueue( &q, &e[1] ) && !e[1].Inserted );
    add_result( res, "KeRemoveEntryDeviceQueue of an entry not queued: FALSE",
                !KeRemoveEntryDeviceQueue( &q, &e[1] ) && !KeRemoveEntryDeviceQueue( &q, &e[0] ) );
    /* keys 1, 9: the DDI edge case, the key equal to the largest one with a smaller head */
    add_result( res, "KeRemoveByKeyDeviceQueue(9) with keys 1, 9: the 9 (DDI, not the head)",
                KeRemoveByKeyDeviceQueue( &q, 9 ) == &e[5] );
    KeInsertByKeyDeviceQueue( &q, &e[6], 4 );
    /* keys 1, 4 */
    add_result( res, "KeRemoveByKeyDeviceQueue(10) with no key >= 10: the head",
                KeRemoveByKeyDeviceQueue( &q, 10 ) == &e[2] );
    add_result( res, "KeRemoveEntryDeviceQueue emptying the queue keeps it busy",
                KeRemoveEntryDeviceQueue( &q, &e[6] ) && q.Busy && IsListEmpty( &q.DeviceListHead ) );
    add_result( res, "KeRemoveByKeyDeviceQueueIfBusy on a busy empty queue: NULL, idle now",
                KeRemoveByKeyDeviceQueueIfBusy( &q, 0 ) == NULL && !q.Busy );
    add_result( res, "KeRemoveByKeyDeviceQueueIfBusy on an idle queue: NULL, still idle",
                KeRemoveByKeyDeviceQueueIfBusy( &q, 0 ) == NULL && !q.Busy );
    KeInsertDeviceQueue( &q, &e[0] ); /* busy again */
    KeInsertByKeyDeviceQueue( &q, &e[1], 7 );
    KeInsertDeviceQueue( &q, &e[2] );  /* tail, whatever its key */
    x = KeRemoveDeviceQueue( &q );
    add_result( res, "KeInsertDeviceQueue appends; KeRemoveDeviceQueue takes the head", x == &e[1] && q.Busy );
    x = KeRemoveDeviceQueue( &q );
    add_result( res, "KeRemoveDeviceQueue of the last entry: busy still", x == &e[2] && q.Busy );
    add_result( res, "KeRemoveByKeyDeviceQueue on a busy empty queue: NULL, idle now",
                KeRemoveByKeyDeviceQueue( &q, 0 ) == NULL && !q.Busy );
    for (i = 0; i < 8; i++) if (e[i].Inserted) break;
    add_result( res, "no entry is left marked inserted", i == 8 );
}

/* ------------------------------------------------------------------------------------------
 * Dispatch
 */

/* The patch's two fixes to Wine's timers and DPCs: a timer DPC that sets its own timer again
 * (the startio sample's hardware DPC starting the next transfer) must neither deadlock nor
 * lose the second expiry, KeCancelTimer called from that DPC must not wait for itself, and
 * KeRemoveQueueDpc (every timer driver's unload) must return instead of aborting. */
static KTIMER test_timer;
static KDPC test_timer_dpc;
static KEVENT test_timer_done;
static LONG test_timer_runs;
static BOOLEAN test_timer_rearmed, test_timer_cancelled;

static VOID NTAPI test_timer_routine( KDPC *dpc, PVOID context, PVOID arg1, PVOID arg2 )
{
    LARGE_INTEGER due;
    LONG run = InterlockedIncrement( &test_timer_runs );

    due.QuadPart = -10000; /* 1 ms */
    if (run == 1)
        test_timer_rearmed = KeSetTimer( &test_timer, due, &test_timer_dpc );
    else if (run == 2)
    {
        due.QuadPart = -20 * 10000;
        KeSetTimer( &test_timer, due, &test_timer_dpc );
        test_timer_cancelled = KeCancelTimer( &test_timer );
        KeSetEvent( &test_timer_done, IO_NO_INCREMENT, FALSE );
    }
}

static void timer_test( struct siotest_results *res )
{
    LARGE_INTEGER due, timeout, pause;
    KDPC idle_dpc;
    NTSTATUS status;

    KeInitializeTimer( &test_timer );
    KeInitializeDpc( &test_timer_dpc, test_timer_routine, NULL );
    KeInitializeEvent( &test_timer_done, NotificationEvent, FALSE );
    test_timer_runs = 0;
    test_timer_rearmed = test_timer_cancelled = TRUE;
    due.QuadPart = -10000;
    add_result( res, "timer: KeSetTimer of a timer not set returns FALSE",
                !KeSetTimer( &test_timer, due, &test_timer_dpc ) );
    timeout.QuadPart = -5 * 10000000;
    status = KeWaitForSingleObject( &test_timer_done, Executive, KernelMode, FALSE, &timeout );
    add_result( res, "timer: set again from its own DPC, it expires again",
                status == STATUS_SUCCESS && test_timer_runs == 2 );
    add_result( res, "timer: KeSetTimer in the DPC of a one-shot timer returns FALSE",
                !test_timer_rearmed );
    add_result( res, "timer: KeCancelTimer in its own DPC returns TRUE, without waiting",
                test_timer_cancelled );
    pause.QuadPart = -50 * 10000;
    KeDelayExecutionThread( KernelMode, FALSE, &pause );
    add_result( res, "timer: the timer cancelled in its DPC does not expire", test_timer_runs == 2 );
    add_result( res, "timer: KeCancelTimer of an expired one-shot timer returns FALSE",
                !KeCancelTimer( &test_timer ) );
    KeInitializeDpc( &idle_dpc, test_timer_routine, NULL );
    add_result( res, "dpc: KeRemoveQueueDpc of a DPC not queued returns FALSE", !KeRemoveQueueDpc( &idle_dpc ) );
}

static NTSTATUS NTAPI sio_create_close( DEVICE_OBJECT *device, IRP *irp )
{
    return complete_irp( irp, STATUS_SUCCESS, 0 );
}

static ULONG queue_length( KDEVICE_QUEUE *queue )
{
    LIST_ENTRY *entry;
    ULONG n = 0;
    KIRQL irql;

    KeAcquireSpinLock( &queue->Lock, &irql );
    for (entry = queue->DeviceListHead.Flink; entry != &queue->DeviceListHead; entry = entry->Flink) n++;
    KeReleaseSpinLock( &queue->Lock, irql );
    return n;
}

static ULONG list_length( struct sio_queue *queue )
{
    LIST_ENTRY *entry;
    ULONG n = 0;
    KIRQL irql;

    if (!queue->dev) return 0;
    csq_acquire( &queue->csq, &irql );
    for (entry = queue->irps.Flink; entry != &queue->irps; entry = entry->Flink) n++;
    csq_release( &queue->csq, irql );
    return n;
}

static NTSTATUS NTAPI sio_ioctl( DEVICE_OBJECT *device, IRP *irp )
{
    IO_STACK_LOCATION *stack = IoGetCurrentIrpStackLocation( irp );
    struct sio_device *dev = device->DeviceExtension;
    ULONG in_len = stack->Parameters.DeviceIoControl.InputBufferLength;
    ULONG out_len = stack->Parameters.DeviceIoControl.OutputBufferLength;
    void *buf = irp->AssociatedIrp.SystemBuffer;
    BOOLEAN has_csq = dev->queue.dev != NULL;
    KIRQL irql;

    switch (stack->Parameters.DeviceIoControl.IoControlCode)
    {
    case IOCTL_SIOTEST_RESET:
        KeAcquireSpinLock( &dev->log_lock, &irql );
        RtlZeroMemory( &dev->log, sizeof(dev->log) );
        KeReleaseSpinLock( &dev->log_lock, irql );
        dev->max_depth = dev->startio_calls = dev->overlaps = dev->credits = 0;
        return complete_irp( irp, STATUS_SUCCESS, 0 );

    case IOCTL_SIOTEST_PACKET:
    {
        struct siotest_packet *p = buf;
        ULONG key;

        if (in_len < sizeof(*p)) return complete_irp( irp, STATUS_INVALID_PARAMETER, 0 );
        key = p->key;
        IoMarkIrpPending( irp );
        if (p->flags & SIOTEST_STASH)
        {
            InsertTailList( &dev->stash, &irp->Tail.Overlay.ListEntry );
            return STATUS_PENDING;
        }
        if (p->flags & SIOTEST_PRECANCEL) IoCancelIrp( irp );
        dev->starting = irp;
        IoStartPacket( device, irp, (p->flags & SIOTEST_KEY) ? &key : NULL,
                       (p->flags & SIOTEST_CANCELABLE) ? sio_cancel : NULL );
        dev->starting = NULL;
        return STATUS_PENDING;
    }

    case IOCTL_SIOTEST_RELEASE:
        if (in_len < sizeof(ULONG)) return complete_irp( irp, STATUS_INVALID_PARAMETER, 0 );
        InterlockedExchangeAdd( &dev->credits, *(ULONG *)buf );
        KeSetEvent( &dev->kick, IO_NO_INCREMENT, FALSE );
        return complete_irp( irp, STATUS_SUCCESS, 0 );

    case IOCTL_SIOTEST_LOG:
        if (out_len < sizeof(struct siotest_log)) return complete_irp( irp, STATUS_BUFFER_TOO_SMALL, 0 );
        KeAcquireSpinLock( &dev->log_lock, &irql );
        RtlCopyMemory( buf, &dev->log, sizeof(dev->log) );
        KeReleaseSpinLock( &dev->log_lock, irql );
        return complete_irp( irp, STATUS_SUCCESS, sizeof(struct siotest_log) );

    case IOCTL_SIOTEST_STATE:
    {
        struct siotest_state *s = buf;
        IRP *current, *held;

        if (out_len < sizeof(*s)) return complete_irp( irp, STATUS_BUFFER_TOO_SMALL, 0 );
        /* CurrentIrp can point to a completed IRP until the next start: compare, don't read it */
        IoAcquireCancelSpinLock( &irql );
        current = device->CurrentIrp;
        held = dev->held;
        IoReleaseCancelSpinLock( irql );
        s->current = !current ? SIOTEST_NONE : current == held ? dev->held_tag : SIOTEST_OTHER;
        s->busy = device->DeviceQueue.Busy;
        s->queued = queue_length( &device->DeviceQueue );
        s->startio_calls = dev->startio_calls;
        s->max_depth = dev->max_depth;
        s->overlaps = dev->overlaps;
        s->csq_queued = list_length( &dev->queue ) + list_length( &dev->queue_ex ) + list_length( &dev->race_queue );
        return complete_irp( irp, STATUS_SUCCESS, sizeof(*s) );
    }

    case IOCTL_SIOTEST_KEYQ:
        if (out_len < sizeof(struct siotest_results)) return complete_irp( irp, STATUS_BUFFER_TOO_SMALL, 0 );
        RtlZeroMemory( buf, sizeof(struct siotest_results) );
        keyq_test( buf );
        return complete_irp( irp, STATUS_SUCCESS, sizeof(struct siotest_results) );

    case IOCTL_SIOTEST_TIMER:
        if (out_len < sizeof(struct siotest_results)) return complete_irp( irp, STATUS_BUFFER_TOO_SMALL, 0 );
        RtlZeroMemory( buf, sizeof(struct siotest_results) );
        timer_test( buf );
        return complete_irp( irp, STATUS_SUCCESS, sizeof(struct siotest_results) );

    case IOCTL_SIOTEST_CSQ_INSERT:
        if (!has_csq || in_len < sizeof(struct siotest_packet)) return complete_irp( irp, STATUS_INVALID_PARAMETER, 0 );
        return csq_insert_packet( dev, irp );

    case IOCTL_SIOTEST_CSQ_REMOVE:
    {
        ULONG slot;
        IRP *found;

        if (!has_csq || in_len < sizeof(ULONG) || out_len < sizeof(ULONG))
            return complete_irp( irp, STATUS_INVALID_PARAMETER, 0 );
        slot = *(ULONG *)buf;
        if (slot >= SIOTEST_SLOTS) return complete_irp( irp, STATUS_INVALID_PARAMETER, 0 );
        /* the queue the context was inserted into */
        found = IoCsqRemoveIrp( dev->slots[slot].Csq ? dev->slots[slot].Csq : &dev->queue.csq, &dev->slots[slot] );
        *(ULONG *)buf = found ? csq_finish( dev, found ) : SIOTEST_NONE;
        return complete_irp( irp, STATUS_SUCCESS, sizeof(ULONG) );
    }

    case IOCTL_SIOTEST_CSQ_NEXT:
    {
        ULONG tag;
        IRP *found;

        if (!has_csq || in_len < sizeof(ULONG) || out_len < sizeof(ULONG))
            return complete_irp( irp, STATUS_INVALID_PARAMETER, 0 );
        tag = *(ULONG *)buf;
        found = IoCsqRemoveNextIrp( &dev->queue.csq, tag == SIOTEST_NONE ? NULL : &tag );
        *(ULONG *)buf = found ? csq_finish( dev, found ) : SIOTEST_NONE;
        return complete_irp( irp, STATUS_SUCCESS, sizeof(ULONG) );
    }

    case IOCTL_SIOTEST_CSQ_SKIP:
    {
        ULONG slot;

        if (!has_csq || in_len < sizeof(ULONG) || out_len < sizeof(struct siotest_results))
            return complete_irp( irp, STATUS_INVALID_PARAMETER, 0 );
        slot = *(ULONG *)buf;
        RtlZeroMemory( buf, sizeof(struct siotest_results) );
        csq_skip_test( dev, slot, buf );
        return complete_irp( irp, STATUS_SUCCESS, sizeof(struct siotest_results) );
    }

    case IOCTL_SIOTEST_CSQ_RACE:
    {
        ULONG rounds;

        if (!has_csq || in_len < sizeof(ULONG) || out_len < sizeof(struct siotest_race))
            return complete_irp( irp, STATUS_INVALID_PARAMETER, 0 );
        rounds = *(ULONG *)buf;
        csq_race( device, rounds, buf );
        return complete_irp( irp, STATUS_SUCCESS, sizeof(struct siotest_race) );
    }
    }
    return complete_irp( irp, STATUS_INVALID_DEVICE_REQUEST, 0 );
}

/* ------------------------------------------------------------------------------------------
 * Load and unload
 */

static PVOID start_thread( PKSTART_ROUTINE routine, PVOID context )
{
    HANDLE handle;
    PVOID thread = NULL;

    if (PsCreateSystemThread( &handle, THREAD_ALL_ACCESS, NULL, NULL, NULL, routine, context )) return NULL;
    ObReferenceObjectByHandle( handle, THREAD_ALL_ACCESS, NULL, KernelMode, &thread, NULL );
    ZwClose( handle );
    return thread;
}

static void stop_thread( PVOID thread, KEVENT *event )
{
    if (!thread) return;
    KeSetEvent( event, IO_NO_INCREMENT, FALSE );
    KeWaitForSingleObject( thread, Executive, KernelMode, FALSE, NULL );
    ObDereferenceObject( thread );
}

static VOID NTAPI sio_unload( DRIVER_OBJECT *driver )
{
    int i;

    for (i = 0; i < DEVICES; i++)
    {
        UNICODE_STRING link;
        struct sio_device *dev;

        if (!devices[i]) continue;
        dev = devices[i]->DeviceExtension;
        RtlInitUnicodeString( &link, link_names[i] );
        IoDeleteSymbolicLink( &link );
        dev->stop = 1;
        stop_thread( dev->thread, &dev->kick );
        stop_thread( dev->racer, &dev->race_go );
        IoDeleteDevice( devices[i] );
        devices[i] = NULL;
    }
    DbgPrint( "siotest: unloaded\n" );
}

NTSTATUS NTAPI DriverEntry( DRIVER_OBJECT *driver, UNICODE_STRING *registry )
{
    NTSTATUS status;
    int i;

    driver->MajorFunction[IRP_MJ_CREATE] = sio_create_close;
    driver->MajorFunction[IRP_MJ_CLOSE] = sio_create_close;
    driver->MajorFunction[IRP_MJ_CLEANUP] = sio_create_close;
    driver->MajorFunction[IRP_MJ_DEVICE_CONTROL] = sio_ioctl;
    driver->DriverStartIo = sio_start_io;
    driver->DriverUnload = sio_unload;

    for (i = 0; i < DEVICES; i++)
    {
        UNICODE_STRING name, link;
        struct sio_device *dev;

        RtlInitUnicodeString( &name, device_names[i] );
        RtlInitUnicodeString( &link, link_names[i] );
        status = IoCreateDevice( driver, sizeof(*dev), &name, SIOTEST_DEVICE_TYPE, 0, FALSE, &devices[i] );
        if (!NT_SUCCESS(status)) goto fail;
        dev = devices[i]->DeviceExtension;
        RtlZeroMemory( dev, sizeof(*dev) );
        dev->device = devices[i];
        KeInitializeSpinLock( &dev->log_lock );
        InitializeListHead( &dev->stash );
        KeInitializeEvent( &dev->kick, SynchronizationEvent, FALSE );
        if (i == 1) IoSetStartIoAttributes( devices[i], TRUE, FALSE );
        if (i == 2)
        {
            IoSetStartIoAttributes( devices[i], FALSE, TRUE );
            IoSetStartIoAttributes( devices[i], FALSE, FALSE ); /* must not clear NonCancelable */
        }
        if (i == 0)
        {
            init_queue( dev, &dev->queue, FALSE );
            init_queue( dev, &dev->queue_ex, TRUE );
            init_queue( dev, &dev->race_queue, FALSE );
            KeInitializeEvent( &dev->race_go, SynchronizationEvent, FALSE );
            KeInitializeEvent( &dev->race_done, SynchronizationEvent, FALSE );
            if (!(dev->racer = start_thread( sio_racer, dev ))) goto fail_thread;
        }
        if (!(dev->thread = start_thread( sio_hardware, devices[i] ))) goto fail_thread;
        devices[i]->Flags |= DO_BUFFERED_IO;
        devices[i]->Flags &= ~DO_DEVICE_INITIALIZING;
        status = IoCreateSymbolicLink( &link, &name );
        if (!NT_SUCCESS(status)) goto fail;
    }
    DbgPrint( "siotest: loaded\n" );
    return STATUS_SUCCESS;

fail_thread:
    status = STATUS_INSUFFICIENT_RESOURCES;
fail:
    sio_unload( driver );
    return status;
}
