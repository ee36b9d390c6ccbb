/* bcryptprimitives.dll for Wine versions that lack it (Wine 8 in Debian 12).
 *
 * Rust's standard library for Windows imports ProcessPrng from bcryptprimitives.dll, the
 * system's own random number source since Windows 10. This stand-in exports that one function
 * and answers it from BCryptGenRandom, which Wine does implement. It is loaded only inside the
 * Wine prefix scripts/test-windows makes; real Windows has the genuine DLL. */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE out, SIZE_T bytes)
{
    const SIZE_T most = 1u << 30; /* BCryptGenRandom takes a ULONG count */
    for (SIZE_T done = 0; done < bytes;) {
        ULONG step = (ULONG)(bytes - done < most ? bytes - done : most);
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, out + done, step,
                                            BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
            return FALSE;
        done += step;
    }
    return TRUE;
}
