// Input files must be regular files: a device (/dev/zero), FIFO or socket would make a
// reader block or read without end, so it is refused before it is opened.
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "ds_error.h"
#include "ds_io.h"

int ds_check_regular(const char *path, const char *expected, int64_t *size) {
    struct stat st;
    if (stat(path, &st) != 0)
        return ds_fail("%s: cannot open: %s (expected %s)", path, strerror(errno), expected);
    if (S_ISDIR(st.st_mode)) return ds_fail("%s: is a folder (expected %s)", path, expected);
    if (!S_ISREG(st.st_mode))
        return ds_fail("%s: is not a regular file (a device, FIFO or socket; expected %s)", path,
                       expected);
    if (size) *size = (int64_t)st.st_size;
    return 0;
}
