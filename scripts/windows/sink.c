/* sink: a stand-in for an --exec consumer in the Windows end-to-end tests, doing what the
 * shell sink of the Linux tests does (tests/unattended.rs): appends the CL_* variables to
 * `calls`, refuses (exit 7) while a file `down` exists or when CL_ID is listed in `refuse`,
 * and otherwise keeps its stdin as sink\CL_ID and appends CL_ID to `accepted`. */
#include <windows.h>
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *var(const char *name)
{
    const char *value = getenv(name);
    return value ? value : "";
}

static int listed(const char *path, const char *id)
{
    char line[512];
    FILE *f = fopen(path, "rb");
    int found = 0;
    if (!f)
        return 0;
    while (!found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        found = strcmp(line, id) == 0;
    }
    fclose(f);
    return found;
}

int main(void)
{
    const char *id = var("CL_ID");
    char path[MAX_PATH];
    static char buf[1 << 16];
    size_t n;
    FILE *calls = fopen("calls", "ab"), *out, *accepted;

    _setmode(_fileno(stdin), _O_BINARY);
    if (calls) {
        fprintf(calls, "%s %s %s %s %s %s %s\n", id, var("CL_PRINCIPAL"), var("CL_EVENT_TYPE"),
                var("CL_END_TIME"), var("CL_FILE_NAME"), var("CL_FILE_SHA256"), var("CL_BYTES"));
        fclose(calls);
    }
    if (GetFileAttributesA("down") != INVALID_FILE_ATTRIBUTES || listed("refuse", id)) {
        while (fread(buf, 1, sizeof buf, stdin) > 0) {
        }
        return 7;
    }
    CreateDirectoryA("sink", NULL);
    snprintf(path, sizeof path, "sink\\%s", id);
    out = fopen(path, "wb");
    if (!out)
        return 1;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
        fwrite(buf, 1, n, out);
    fclose(out);
    accepted = fopen("accepted", "ab");
    if (!accepted)
        return 1;
    fprintf(accepted, "%s\n", id);
    fclose(accepted);
    return 0;
}
