/* siotest.exe: the client of siotest.sys, the test driver of the wdm project's Wine
 * ntoskrnl.exe patch (../ntoskrnl-startio-csq.patch). Drives each case through IOCTLs, reads
 * the driver's log back and checks it; one "ok"/"FAIL" line per check, then
 * "N passed, M failed". Exits 1 if anything failed. See siotest.h and ../README.md. */

#include <windows.h>
#include <winioctl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "siotest.h"

#define WAIT_MS 5000   /* for something that must happen */
#define QUIET_MS 300   /* for something that must not happen */

static int passed, failed;

static void check( BOOL ok, const char *format, ... )
{
    va_list args;

    printf( ok ? "ok   " : "FAIL " );
    va_start( args, format );
    vprintf( format, args );
    va_end( args );
    printf( "\n" );
    fflush( stdout );
    if (ok) passed++;
    else failed++;
}

static HANDLE plain, deferred, nocancel;

static HANDLE open_device( const char *name )
{
    char path[64];

    snprintf( path, sizeof(path), "\\\\.\\%s", name );
    return CreateFileA( path, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING, FILE_FLAG_OVERLAPPED, NULL );
}

/* a synchronous IOCTL on an overlapped handle; also a barrier: the driver host dispatches the
 * requests of a client in order, so every request sent before has been dispatched */
static BOOL ioctl( HANDLE device, DWORD code, const void *in, DWORD in_len, void *out, DWORD out_len )
{
    OVERLAPPED ov = {0};
    DWORD bytes;
    BOOL ok;

    ov.hEvent = CreateEventA( NULL, TRUE, FALSE, NULL );
    ok = DeviceIoControl( device, code, (void *)in, in_len, out, out_len, &bytes, &ov );
    if (!ok && GetLastError() == ERROR_IO_PENDING) ok = GetOverlappedResult( device, &ov, &bytes, TRUE );
    CloseHandle( ov.hEvent );
    return ok;
}

static BOOL ioctl_ulong( HANDLE device, DWORD code, ULONG in, ULONG *out )
{
    ULONG buffer = in;
    BOOL ok = ioctl( device, code, &buffer, sizeof(buffer), &buffer, sizeof(buffer) );

    if (out) *out = ok ? buffer : SIOTEST_NONE - 1;
    return ok;
}

/* an asynchronous request */
struct request
{
    HANDLE device;
    OVERLAPPED ov;
    ULONG tag;
    DWORD error;   /* the initial result of DeviceIoControl, then the final one */
    BOOL done;
};

#define MAX_REQUESTS 64
static struct request requests[MAX_REQUESTS];
static int request_count;

static struct request *submit( HANDLE device, DWORD code, ULONG tag, ULONG flags, ULONG key, ULONG slot )
{
    struct request *r = &requests[request_count++ % MAX_REQUESTS];
    struct siotest_packet packet = { tag, flags, key, slot };
    DWORD bytes;

    if (r->ov.hEvent && !r->done) printf( "warning: request slot reused while pending\n" );
    if (r->ov.hEvent) CloseHandle( r->ov.hEvent );
    memset( r, 0, sizeof(*r) );
    r->device = device;
    r->tag = tag;
    r->ov.hEvent = CreateEventA( NULL, TRUE, FALSE, NULL );
    if (DeviceIoControl( device, code, &packet, sizeof(packet), NULL, 0, &bytes, &r->ov ))
    {
        r->error = ERROR_SUCCESS;
        r->done = TRUE;
    }
    else
    {
        r->error = GetLastError();
        r->done = r->error != ERROR_IO_PENDING;
    }
    return r;
}

static struct request *packet( HANDLE device, ULONG tag, ULONG flags, ULONG key )
{
    return submit( device, IOCTL_SIOTEST_PACKET, tag, flags, key, SIOTEST_NONE );
}

/* the final result: ERROR_SUCCESS, an error, or WAIT_TIMEOUT while still pending */
static DWORD wait_request( struct request *r, DWORD ms )
{
    DWORD bytes;

    if (r->done) return r->error;
    if (WaitForSingleObject( r->ov.hEvent, ms ) != WAIT_OBJECT_0) return WAIT_TIMEOUT;
    r->error = GetOverlappedResult( r->device, &r->ov, &bytes, FALSE ) ? ERROR_SUCCESS : GetLastError();
    r->done = TRUE;
    return r->error;
}

static BOOL pending( struct request *r )
{
    return wait_request( r, 0 ) == WAIT_TIMEOUT;
}

static BOOL cancel( struct request *r )
{
    return CancelIoEx( r->device, &r->ov ) || GetLastError() == ERROR_NOT_FOUND;
}

static void reset( HANDLE device )
{
    ioctl( device, IOCTL_SIOTEST_RESET, NULL, 0, NULL, 0 );
}

static void release( HANDLE device, ULONG n )
{
    ioctl_ulong( device, IOCTL_SIOTEST_RELEASE, n, NULL );
}

static struct siotest_state state( HANDLE device )
{
    struct siotest_state s;

    memset( &s, 0xcc, sizeof(s) );
    ioctl( device, IOCTL_SIOTEST_STATE, NULL, 0, &s, sizeof(s) );
    return s;
}

static struct siotest_log log_buffer;

static void read_log( HANDLE device )
{
    memset( &log_buffer, 0, sizeof(log_buffer) );
    ioctl( device, IOCTL_SIOTEST_LOG, NULL, 0, &log_buffer, sizeof(log_buffer) );
}

static const struct siotest_record *find( ULONG event, ULONG tag )
{
    ULONG i;

    for (i = 0; i < log_buffer.count; i++)
        if (log_buffer.rec[i].event == event && log_buffer.rec[i].tag == tag) return &log_buffer.rec[i];
    return NULL;
}

static ULONG flags_of( ULONG event, ULONG tag )
{
    const struct siotest_record *r = find( event, tag );
    return r ? r->flags : 0;
}

/* the tags of one kind of event in log order, as text */
static const char *sequence( ULONG event )
{
    static char text[512];
    ULONG i;
    int len = 0;

    text[0] = 0;
    for (i = 0; i < log_buffer.count && len < (int)sizeof(text) - 16; i++)
        if (log_buffer.rec[i].event == event)
            len += sprintf( text + len, len ? " %lu" : "%lu", (unsigned long)log_buffer.rec[i].tag );
    return text;
}

/* whether every request finishes with the given result */
static BOOL all_finish( struct request **r, int n, DWORD result )
{
    BOOL ok = TRUE;
    int i;

    for (i = 0; i < n; i++) if (wait_request( r[i], WAIT_MS ) != result) ok = FALSE;
    return ok;
}

/* The hardware thread completes a packet before it calls IoStartNextPacket: what follows a
 * completion is polled for. */
static BOOL idle( HANDLE device )
{
    DWORD start = GetTickCount();
    struct siotest_state s;

    for (;;)
    {
        s = state( device );
        if (!s.busy && !s.queued && s.current == SIOTEST_NONE) return !s.overlaps;
        if (GetTickCount() - start > WAIT_MS) return FALSE;
        Sleep( 10 );
    }
}

/* reads the log until it has the event */
static const struct siotest_record *wait_event( HANDLE device, ULONG event, ULONG tag )
{
    DWORD start = GetTickCount();
    const struct siotest_record *r;

    for (;;)
    {
        read_log( device );
        if ((r = find( event, tag )) || GetTickCount() - start > WAIT_MS) return r;
        Sleep( 10 );
    }
}

/* ------------------------------------------------------------------------------------------ */

static void test_device_queue_routines(void)
{
    struct siotest_results res;
    ULONG i;

    memset( &res, 0, sizeof(res) );
    if (!ioctl( plain, IOCTL_SIOTEST_KEYQ, NULL, 0, &res, sizeof(res) )) res.count = 0;
    check( res.count > 0, "device queue: the driver ran its KDEVICE_QUEUE checks (%lu)", (unsigned long)res.count );
    for (i = 0; i < res.count && i < SIOTEST_RESULTS; i++) check( res.r[i].ok, "device queue: %s", res.r[i].name );
}

static void test_timer(void)
{
    struct siotest_results res;
    ULONG i;

    memset( &res, 0, sizeof(res) );
    if (!ioctl( plain, IOCTL_SIOTEST_TIMER, NULL, 0, &res, sizeof(res) )) res.count = 0;
    check( res.count > 0, "timer: the driver ran its timer and DPC checks (%lu)", (unsigned long)res.count );
    for (i = 0; i < res.count && i < SIOTEST_RESULTS; i++) check( res.r[i].ok, "%s", res.r[i].name );
}

static void test_fifo(void)
{
    struct request *r[4];
    struct siotest_state s;
    int i;

    reset( plain );
    for (i = 0; i < 4; i++) r[i] = packet( plain, i, 0, 0 );
    s = state( plain );
    check( s.current == 0 && s.busy && s.queued == 3,
           "fifo: the first packet is current, three wait in the device queue (current %lu, busy %lu, queued %lu)",
           (unsigned long)s.current, (unsigned long)s.busy, (unsigned long)s.queued );
    check( pending( r[0] ) && pending( r[1] ) && pending( r[2] ) && pending( r[3] ),
           "fifo: all four are pending while the hardware holds the first" );
    release( plain, 4 );
    check( all_finish( r, 4, ERROR_SUCCESS ), "fifo: all four complete once released" );
    read_log( plain );
    check( !strcmp( sequence( SIOTEST_EV_STARTIO ), "0 1 2 3" ), "fifo: StartIo order is FIFO (%s)",
           sequence( SIOTEST_EV_STARTIO ) );
    check( (flags_of( SIOTEST_EV_STARTIO, 0 ) & flags_of( SIOTEST_EV_STARTIO, 1 ) & flags_of( SIOTEST_EV_STARTIO, 2 )
            & flags_of( SIOTEST_EV_STARTIO, 3 ) & SIOTEST_R_CURRENT),
           "fifo: CurrentIrp is the IRP inside StartIo, from IoStartPacket and IoStartNextPacket" );
    check( (flags_of( SIOTEST_EV_DONE, 0 ) & flags_of( SIOTEST_EV_DONE, 1 ) & flags_of( SIOTEST_EV_DONE, 2 )
            & flags_of( SIOTEST_EV_DONE, 3 ) & SIOTEST_R_CURRENT),
           "fifo: CurrentIrp is still the held IRP when the hardware finishes it (dispatching others left it alone)" );
    check( idle( plain ), "fifo: the device is idle again (not busy, CurrentIrp NULL)" );
}

static void test_serialisation(void)
{
    struct request *r[16];
    struct siotest_state s;
    char expect[64];
    int round, i, len;
    BOOL ok = TRUE, fifo = TRUE;

    /* credits first: the hardware thread starts the next packets while the dispatch thread is
     * still calling IoStartPacket for later ones */
    for (round = 0; round < 4; round++)
    {
        reset( plain );
        release( plain, 16 );
        for (i = 0; i < 16; i++) r[i] = packet( plain, 200 + i, 0, 0 );
        if (!all_finish( r, 16, ERROR_SUCCESS )) ok = FALSE;
        read_log( plain );
        for (i = len = 0; i < 16; i++) len += sprintf( expect + len, i ? " %d" : "%d", 200 + i );
        if (strcmp( sequence( SIOTEST_EV_STARTIO ), expect )) fifo = FALSE;
        s = state( plain );
        if (s.overlaps || s.startio_calls != 16) ok = FALSE;
    }
    check( ok, "serialisation: 4 x 16 packets started from two threads at once: all complete, never two StartIo at once" );
    check( fifo, "serialisation: ... in FIFO order" );
    check( idle( plain ), "serialisation: idle afterwards" );
}

static void test_by_key(void)
{
    static const ULONG keys[6] = { 0, 5, 1, 3, 3, 2 };
    struct request *r[6];
    int i;

    reset( plain );
    for (i = 0; i < 6; i++) r[i] = packet( plain, 10 + i, SIOTEST_KEY, keys[i] );
    state( plain );
    release( plain, 6 );
    check( all_finish( r, 6, ERROR_SUCCESS ), "by key: all complete" );
    read_log( plain );
    /* each start-next is by the finished packet's key: 0 -> 1 -> 2 -> 3 -> 3' -> 5 */
    check( !strcmp( sequence( SIOTEST_EV_STARTIO ), "10 12 15 13 14 11" ),
           "by key: keys 5 1 3 3' 2 queued behind key 0 start as 1 2 3 3' 5 (%s)", sequence( SIOTEST_EV_STARTIO ) );

    /* the DDI edge case: the key equal to the largest one, with a smaller key at the head */
    reset( plain );
    r[0] = packet( plain, 20, SIOTEST_KEY, 8 );
    r[1] = packet( plain, 21, SIOTEST_KEY, 2 );
    r[2] = packet( plain, 22, SIOTEST_KEY, 8 );
    state( plain );
    release( plain, 3 );
    check( all_finish( r, 3, ERROR_SUCCESS ), "by key: edge case: all complete" );
    read_log( plain );
    check( !strcmp( sequence( SIOTEST_EV_STARTIO ), "20 22 21" ),
           "by key: IoStartNextPacketByKey(8) with keys 2, 8 queued starts the 8, then wraps to the 2 (%s)",
           sequence( SIOTEST_EV_STARTIO ) );
    check( idle( plain ), "by key: idle afterwards" );
}

static void test_recursion(void)
{
    struct request *r[5];
    struct siotest_state s;
    int i;

    /* one held packet, four that StartIo completes itself before calling IoStartNextPacket */
    reset( plain );
    r[0] = packet( plain, 30, 0, 0 );
    for (i = 1; i < 5; i++) r[i] = packet( plain, 30 + i, SIOTEST_INLINE, 0 );
    state( plain );
    release( plain, 1 );
    check( all_finish( r, 5, ERROR_SUCCESS ), "recursion: all complete on the plain device" );
    s = state( plain );
    check( s.max_depth == 4, "recursion: without DeferredStartIo, StartIo nests 4 deep (%lu)", (unsigned long)s.max_depth );

    reset( deferred );
    r[0] = packet( deferred, 30, 0, 0 );
    for (i = 1; i < 5; i++) r[i] = packet( deferred, 30 + i, SIOTEST_INLINE, 0 );
    state( deferred );
    release( deferred, 1 );
    check( all_finish( r, 5, ERROR_SUCCESS ), "deferred: all complete" );
    s = state( deferred );
    read_log( deferred );
    check( s.max_depth == 1 && s.startio_calls == 5,
           "deferred: with DeferredStartIo, StartIo never nests (depth %lu, %lu calls)",
           (unsigned long)s.max_depth, (unsigned long)s.startio_calls );
    check( !strcmp( sequence( SIOTEST_EV_STARTIO ), "30 31 32 33 34" ), "deferred: FIFO order (%s)",
           sequence( SIOTEST_EV_STARTIO ) );
    check( idle( deferred ), "deferred: idle afterwards" );

    /* StartIo entered from IoStartPacket counts too: it queues three packets, completes itself
     * and calls IoStartNextPacket */
    for (i = 0; i < 2; i++)
    {
        HANDLE device = i ? deferred : plain;
        struct request *f[4];
        int j;

        reset( device );
        for (j = 0; j < 3; j++) f[j] = packet( device, 40 + j, SIOTEST_STASH | SIOTEST_INLINE, 0 );
        f[3] = packet( device, 43, SIOTEST_FEED | SIOTEST_INLINE, 0 );
        check( all_finish( f, 4, ERROR_SUCCESS ), "%s: StartIo from IoStartPacket starting more packets: all complete",
               i ? "deferred" : "recursion" );
        s = state( device );
        read_log( device );
        if (i)
            check( s.max_depth == 1 && !strcmp( sequence( SIOTEST_EV_STARTIO ), "43 40 41 42" ),
                   "deferred: the StartIo call IoStartPacket makes counts: no nesting (depth %lu, order %s)",
                   (unsigned long)s.max_depth, sequence( SIOTEST_EV_STARTIO ) );
        else
            check( s.max_depth == 4 && !strcmp( sequence( SIOTEST_EV_STARTIO ), "43 40 41 42" ),
                   "recursion: ... nests 4 deep without DeferredStartIo (depth %lu, order %s)",
                   (unsigned long)s.max_depth, sequence( SIOTEST_EV_STARTIO ) );
    }
}

static void test_noncancelable(void)
{
    struct request *a, *b, *c;

    /* NonCancelable: set with IoSetStartIoAttributes(FALSE, TRUE), then (FALSE, FALSE) */
    reset( nocancel );
    a = packet( nocancel, 50, SIOTEST_CANCELABLE, 0 );
    b = packet( nocancel, 51, SIOTEST_CANCELABLE, 0 );
    c = packet( nocancel, 52, SIOTEST_CANCELABLE, 0 );
    state( nocancel );
    read_log( nocancel );
    check( find( SIOTEST_EV_STARTIO, 50 ) && !(flags_of( SIOTEST_EV_STARTIO, 50 ) & SIOTEST_R_ROUTINE),
           "noncancelable: IoStartPacket (idle) clears the cancel routine before StartIo" );
    check( cancel( b ) && wait_request( b, WAIT_MS ) == ERROR_OPERATION_ABORTED,
           "noncancelable: a queued packet is still cancelable" );
    read_log( nocancel );
    check( flags_of( SIOTEST_EV_CANCEL, 51 ) & SIOTEST_R_REMOVED,
           "noncancelable: ... its cancel routine removed it with KeRemoveEntryDeviceQueue" );
    release( nocancel, 1 );
    check( wait_request( a, WAIT_MS ) == ERROR_SUCCESS, "noncancelable: the first packet completes" );
    check( wait_event( nocancel, SIOTEST_EV_STARTIO, 52 ) && !(flags_of( SIOTEST_EV_STARTIO, 52 ) & SIOTEST_R_ROUTINE),
           "noncancelable: IoStartNextPacket(TRUE) clears the cancel routine before StartIo" );
    check( cancel( c ) && wait_request( c, QUIET_MS ) == WAIT_TIMEOUT,
           "noncancelable: cancelling the current packet only sets Cancel (still pending)" );
    read_log( nocancel );
    check( !find( SIOTEST_EV_CANCEL, 52 ), "noncancelable: ... no cancel routine ran for it" );
    release( nocancel, 1 );
    check( wait_request( c, WAIT_MS ) == ERROR_OPERATION_ABORTED,
           "noncancelable: ... the driver saw Cancel when it finished it" );
    check( idle( nocancel ), "noncancelable: idle afterwards" );

    /* the plain device leaves the routine set on both paths */
    reset( plain );
    a = packet( plain, 55, SIOTEST_CANCELABLE, 0 );
    b = packet( plain, 56, SIOTEST_CANCELABLE, 0 );
    state( plain );
    release( plain, 2 );
    check( wait_request( a, WAIT_MS ) == ERROR_SUCCESS && wait_request( b, WAIT_MS ) == ERROR_SUCCESS,
           "cancelable: both complete" );
    read_log( plain );
    check( (flags_of( SIOTEST_EV_STARTIO, 55 ) & SIOTEST_R_ROUTINE) && (flags_of( SIOTEST_EV_STARTIO, 56 ) & SIOTEST_R_ROUTINE),
           "cancelable: without NonCancelable StartIo gets the IRP with its cancel routine, on both paths" );
}

static void test_cancel_queued(void)
{
    struct request *a, *b, *c;
    struct siotest_state s;

    reset( plain );
    a = packet( plain, 60, SIOTEST_CANCELABLE, 0 );
    b = packet( plain, 61, SIOTEST_CANCELABLE, 0 );
    state( plain );
    check( cancel( b ) && wait_request( b, WAIT_MS ) == ERROR_OPERATION_ABORTED && pending( a ),
           "cancel queued: a queued packet is cancelled at once, the current one goes on" );
    read_log( plain );
    check( (flags_of( SIOTEST_EV_CANCEL, 61 ) & (SIOTEST_R_REMOVED | SIOTEST_R_CURRENT)) == SIOTEST_R_REMOVED,
           "cancel queued: the cancel routine found it in the device queue (KeRemoveEntryDeviceQueue TRUE)" );
    check( flags_of( SIOTEST_EV_CANCEL, 61 ) & SIOTEST_R_BUSY,
           "cancel queued: KeRemoveEntryDeviceQueue emptying the queue left it busy" );
    s = state( plain );
    check( s.busy && !s.queued && s.current == 60, "cancel queued: busy, empty, current packet unchanged (%lu %lu %lu)",
           (unsigned long)s.busy, (unsigned long)s.queued, (unsigned long)s.current );
    c = packet( plain, 62, SIOTEST_CANCELABLE, 0 );
    s = state( plain );
    read_log( plain );
    check( s.queued == 1 && !find( SIOTEST_EV_STARTIO, 62 ),
           "cancel queued: a packet started next is queued, not handed to StartIo beside the current one" );
    release( plain, 2 );
    check( wait_request( a, WAIT_MS ) == ERROR_SUCCESS && wait_request( c, WAIT_MS ) == ERROR_SUCCESS,
           "cancel queued: the others complete" );
    read_log( plain );
    check( !strcmp( sequence( SIOTEST_EV_STARTIO ), "60 62" ) && !find( SIOTEST_EV_STARTIO, 61 ),
           "cancel queued: the cancelled packet never reached StartIo (%s)", sequence( SIOTEST_EV_STARTIO ) );
    check( idle( plain ), "cancel queued: idle afterwards" );
}

static void test_cancel_current(void)
{
    struct request *a, *b;

    reset( plain );
    a = packet( plain, 70, SIOTEST_CANCELABLE, 0 );
    b = packet( plain, 71, SIOTEST_CANCELABLE, 0 );
    state( plain );
    check( cancel( a ) && wait_request( a, WAIT_MS ) == ERROR_OPERATION_ABORTED,
           "cancel current: the held packet is cancelled without a release" );
    read_log( plain );
    check( flags_of( SIOTEST_EV_CANCEL, 70 ) & SIOTEST_R_CURRENT,
           "cancel current: its cancel routine saw it as CurrentIrp" );
    check( wait_event( plain, SIOTEST_EV_STARTIO, 71 ) && pending( b ), "cancel current: the next packet was started" );
    release( plain, 1 );
    check( wait_request( b, WAIT_MS ) == ERROR_SUCCESS, "cancel current: ... and completes" );
    check( idle( plain ), "cancel current: idle afterwards" );
}

static void test_precancelled(void)
{
    struct request *a, *b, *c;

    /* idle: IoStartPacket does not look at Cancel; StartIo gets the cancelled IRP */
    reset( plain );
    a = packet( plain, 80, SIOTEST_CANCELABLE | SIOTEST_PRECANCEL, 0 );
    check( wait_request( a, WAIT_MS ) == ERROR_OPERATION_ABORTED, "pre-cancelled, idle: completed as cancelled" );
    read_log( plain );
    check( flags_of( SIOTEST_EV_STARTIO, 80 ) & SIOTEST_R_CANCEL, "pre-cancelled, idle: StartIo received it, Cancel set" );
    check( !find( SIOTEST_EV_CANCEL, 80 ), "pre-cancelled, idle: the cancel routine was not called" );
    check( idle( plain ), "pre-cancelled, idle: idle afterwards" );

    /* busy: queued, then the cancel routine runs inside IoStartPacket */
    reset( plain );
    a = packet( plain, 85, SIOTEST_CANCELABLE, 0 );
    b = packet( plain, 86, SIOTEST_CANCELABLE | SIOTEST_PRECANCEL, 0 );
    c = packet( plain, 87, SIOTEST_PRECANCEL, 0 );
    check( wait_request( b, WAIT_MS ) == ERROR_OPERATION_ABORTED && pending( a ),
           "pre-cancelled, busy: completed as cancelled while the current packet goes on" );
    read_log( plain );
    check( (flags_of( SIOTEST_EV_CANCEL, 86 ) & (SIOTEST_R_IN_START | SIOTEST_R_REMOVED)) == (SIOTEST_R_IN_START | SIOTEST_R_REMOVED),
           "pre-cancelled, busy: the cancel routine ran inside IoStartPacket and dequeued it" );
    check( pending( c ), "pre-cancelled, busy, no cancel routine: IoStartPacket ignores Cancel and queues it" );
    release( plain, 1 );
    check( wait_request( a, WAIT_MS ) == ERROR_SUCCESS && wait_request( c, WAIT_MS ) == ERROR_OPERATION_ABORTED,
           "pre-cancelled, busy, no cancel routine: ... StartIo gets it later and completes it as cancelled" );
    read_log( plain );
    check( !find( SIOTEST_EV_STARTIO, 86 ) && (flags_of( SIOTEST_EV_STARTIO, 87 ) & SIOTEST_R_CANCEL),
           "pre-cancelled, busy: StartIo order %s", sequence( SIOTEST_EV_STARTIO ) );
    check( idle( plain ), "pre-cancelled, busy: idle afterwards" );
}

static struct request *csq_insert( ULONG tag, ULONG flags, ULONG slot )
{
    return submit( plain, IOCTL_SIOTEST_CSQ_INSERT, tag, flags, 0, slot );
}

static ULONG csq_remove( ULONG slot )
{
    ULONG tag;
    ioctl_ulong( plain, IOCTL_SIOTEST_CSQ_REMOVE, slot, &tag );
    return tag;
}

static ULONG csq_next( ULONG tag )
{
    ioctl_ulong( plain, IOCTL_SIOTEST_CSQ_NEXT, tag, &tag );
    return tag;
}

static void test_csq(void)
{
    const ULONG queued = SIOTEST_R_QUEUED | SIOTEST_R_PENDING | SIOTEST_R_CLAIMED | SIOTEST_R_ARMED;
    struct siotest_results res;
    struct siotest_race race;
    struct request *r[8];
    ULONG i, rounds = 2000;
    BOOL ok;

    reset( plain );
    for (i = 0; i < 4; i++) r[i] = csq_insert( 100 + i, 0, i );
    state( plain );
    check( pending( r[0] ) && pending( r[1] ) && pending( r[2] ) && pending( r[3] ), "csq: four inserted IRPs are pending" );
    read_log( plain );
    for (i = 0, ok = TRUE; i < 4; i++) if ((flags_of( SIOTEST_EV_CSQ_INSERT, 100 + i ) & queued) != queued) ok = FALSE;
    check( ok, "csq: IoCsqInsertIrp queued each, marked it pending, armed the cancel routine, set the context" );

    check( cancel( r[1] ) && wait_request( r[1], WAIT_MS ) == ERROR_OPERATION_ABORTED, "csq: a queued IRP is cancelled" );
    read_log( plain );
    check( find( SIOTEST_EV_CSQ_CANCEL, 101 ) && !(flags_of( SIOTEST_EV_CSQ_CANCEL, 101 ) & SIOTEST_R_LOCKED),
           "csq: ... through CompleteCanceledIrp, called without the queue lock" );
    check( state( plain ).csq_queued == 3, "csq: ... and removed from the queue" );
    check( csq_remove( 2 ) == 102 && wait_request( r[2], WAIT_MS ) == ERROR_SUCCESS, "csq: IoCsqRemoveIrp by context" );
    check( csq_remove( 2 ) == SIOTEST_NONE, "csq: IoCsqRemoveIrp of a context already removed: NULL" );
    check( csq_remove( 1 ) == SIOTEST_NONE, "csq: IoCsqRemoveIrp of a cancelled IRP's context: NULL" );
    check( csq_next( 103 ) == 103 && wait_request( r[3], WAIT_MS ) == ERROR_SUCCESS,
           "csq: IoCsqRemoveNextIrp with a peek context takes the matching IRP, not the first" );
    check( csq_next( SIOTEST_NONE ) == 100 && wait_request( r[0], WAIT_MS ) == ERROR_SUCCESS,
           "csq: IoCsqRemoveNextIrp drains the rest" );
    check( csq_next( SIOTEST_NONE ) == SIOTEST_NONE && state( plain ).csq_queued == 0,
           "csq: IoCsqRemoveNextIrp on an empty queue: NULL" );

    /* skipping an IRP whose cancel routine has started */
    r[4] = csq_insert( 104, 0, 4 );
    r[5] = csq_insert( 105, 0, 5 );
    memset( &res, 0, sizeof(res) );
    i = 4;
    if (!ioctl( plain, IOCTL_SIOTEST_CSQ_SKIP, &i, sizeof(i), &res, sizeof(res) )) res.count = 0;
    check( res.count == 4, "csq: the skip checks ran (%lu)", (unsigned long)res.count );
    for (i = 0; i < res.count && i < SIOTEST_RESULTS; i++) check( res.r[i].ok, "csq: %s", res.r[i].name );
    check( wait_request( r[5], WAIT_MS ) == ERROR_SUCCESS && wait_request( r[4], WAIT_MS ) == ERROR_OPERATION_ABORTED,
           "csq: ... both IRPs complete" );

    /* cancelled before the insert: IoCsqInsertIrp completes it itself */
    reset( plain );
    r[6] = csq_insert( 106, SIOTEST_PRECANCEL, 6 );
    check( wait_request( r[6], WAIT_MS ) == ERROR_OPERATION_ABORTED, "csq: an IRP cancelled before the insert is completed" );
    read_log( plain );
    check( find( SIOTEST_EV_CSQ_CANCEL, 106 ) && !(flags_of( SIOTEST_EV_CSQ_CANCEL, 106 ) & SIOTEST_R_LOCKED),
           "csq: ... by IoCsqInsertIrp through CompleteCanceledIrp, after releasing the queue lock" );
    check( state( plain ).csq_queued == 0 && csq_remove( 6 ) == SIOTEST_NONE, "csq: ... and not left queued" );

    /* IoCsqInsertIrpEx refused by the driver's InsertIrpEx */
    r[7] = csq_insert( 107, SIOTEST_EX | SIOTEST_REJECT, 7 );
    check( r[7]->done && r[7]->error == ERROR_BUSY,
           "csq ex: a refused insert returns InsertIrpEx's status, the dispatch routine completes it (%lu)",
           (unsigned long)r[7]->error );
    read_log( plain );
    check( find( SIOTEST_EV_CSQ_INSERT, 107 ) && find( SIOTEST_EV_CSQ_INSERT, 107 )->status == (LONG)0x80000011L,
           "csq ex: IoCsqInsertIrpEx returned STATUS_DEVICE_BUSY" );
    check( !(flags_of( SIOTEST_EV_CSQ_INSERT, 107 ) & (SIOTEST_R_PENDING | SIOTEST_R_ARMED | SIOTEST_R_CLAIMED)),
           "csq ex: ... the IRP is not marked pending, has no cancel routine, no context claim (flags %#lx)",
           (unsigned long)flags_of( SIOTEST_EV_CSQ_INSERT, 107 ) );
    check( flags_of( SIOTEST_EV_CSQ_INSERT, 107 ) & SIOTEST_R_INSERT_CTX, "csq ex: InsertIrpEx got the InsertContext" );
    r[0] = csq_insert( 108, SIOTEST_EX, 8 );
    state( plain );
    read_log( plain );
    check( pending( r[0] ) && (flags_of( SIOTEST_EV_CSQ_INSERT, 108 ) & (queued | SIOTEST_R_INSERT_CTX)) == (queued | SIOTEST_R_INSERT_CTX)
           && find( SIOTEST_EV_CSQ_INSERT, 108 )->status == 0,
           "csq ex: an accepted insert is queued and pending, IoCsqInsertIrpEx returns STATUS_SUCCESS" );
    check( cancel( r[0] ) && wait_request( r[0], WAIT_MS ) == ERROR_OPERATION_ABORTED, "csq ex: ... and cancelable" );

    /* cancel racing insert, with IRPs the driver makes */
    memset( &race, 0, sizeof(race) );
    ioctl( plain, IOCTL_SIOTEST_CSQ_RACE, &rounds, sizeof(rounds), &race, sizeof(race) );
    check( race.rounds == rounds && race.completed_once == rounds && !race.left_queued,
           "csq race: %lu cancels racing inserts: each IRP completed once, cancelled, none left queued"
           " (cancel first %lu, insert first %lu)", (unsigned long)race.rounds,
           (unsigned long)race.cancel_first, (unsigned long)race.insert_first );
    check( race.cancel_first + race.insert_first == race.rounds && !race.locked,
           "csq race: CompleteCanceledIrp called once per IRP, never with the queue lock held" );
    check( state( plain ).csq_queued == 0, "csq: every queue is empty at the end" );
}

int main(void)
{
    plain = open_device( "SioPlain" );
    deferred = open_device( "SioDeferred" );
    nocancel = open_device( "SioNoCancel" );
    check( plain != INVALID_HANDLE_VALUE && deferred != INVALID_HANDLE_VALUE && nocancel != INVALID_HANDLE_VALUE,
           "open \\\\.\\SioPlain, SioDeferred, SioNoCancel (error %lu)", GetLastError() );
    if (plain == INVALID_HANDLE_VALUE || deferred == INVALID_HANDLE_VALUE || nocancel == INVALID_HANDLE_VALUE)
        goto done;

    test_device_queue_routines();
    test_fifo();
    test_serialisation();
    test_by_key();
    test_recursion();
    test_noncancelable();
    test_cancel_queued();
    test_cancel_current();
    test_precancelled();
    test_csq();
    test_timer();

    read_log( plain );
    check( !log_buffer.lost, "the driver's log never overflowed" );

    /* leave nothing pending, so that the service can stop */
    release( plain, 64 );
    release( deferred, 64 );
    release( nocancel, 64 );
    {
        int i;
        for (i = 0; i < MAX_REQUESTS; i++)
            if (requests[i].ov.hEvent && !requests[i].done && wait_request( &requests[i], 0 ) == WAIT_TIMEOUT)
            {
                cancel( &requests[i] );
                wait_request( &requests[i], WAIT_MS );
            }
    }

done:
    printf( "%d passed, %d failed\n", passed, failed );
    return failed ? 1 : 0;
}
