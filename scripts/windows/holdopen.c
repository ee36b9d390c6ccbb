/* holdopen FILE SECONDS: opens FILE as most Windows programs open a file they read (sharing
 * reading and writing with others, but not deletion or renaming), says "held" on stdout, and
 * keeps it open for SECONDS. The Windows end-to-end tests use it to stand in for an
 * antivirus scan or a `Get-Content -Wait` holding a delivered file or the state file. */
#include <windows.h>
#include <stdio.h>
#include <wchar.h>

int wmain(int argc, wchar_t **argv)
{
    if (argc != 3) {
        fwprintf(stderr, L"usage: holdopen FILE SECONDS\n");
        return 2;
    }
    HANDLE file = CreateFileW(argv[1], GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
                              OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    if (file == INVALID_HANDLE_VALUE) {
        fwprintf(stderr, L"holdopen: cannot open %ls (error %lu)\n", argv[1], GetLastError());
        return 1;
    }
    wprintf(L"held\n");
    fflush(stdout);
    Sleep((DWORD)_wtoi(argv[2]) * 1000);
    CloseHandle(file);
    return 0;
}
