/* bcryptprimitives.dll for Wine 8: Rust's standard library (1.78 and later) imports
 * ProcessPrng from it, and Wine 8.0 has no such DLL, so a Rust client would not start.
 * This one-function DLL provides ProcessPrng on top of advapi32's RtlGenRandom
 * (SystemFunction036). `cargo xtask e2e` builds it with mingw-w64 and puts it beside the client. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
