/* Debian's LLVM libunwind.a (libunwind-14-dev), which the static musl build links, was compiled
 * against glibc with _FORTIFY_SOURCE and calls glibc's checked __fprintf_chk, which musl does
 * not have. This supplies it for that link only: the same as fprintf, without the check. */
#include <stdarg.h>
#include <stdio.h>

int __fprintf_chk(FILE *stream, int flag, const char *format, ...)
{
    va_list args;
    int written;
    (void)flag;
    va_start(args, format);
    written = vfprintf(stream, format, args);
    va_end(args);
    return written;
}
