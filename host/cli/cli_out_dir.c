// The --out folder of a command that writes its files at the end (sweep, analyze
// denoisers): made before the work, so that an unusable path fails at once, and removed
// again when the command fails, so that a refused run leaves no new folder behind.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "ds_error.h"
#include "ds_io.h"

// Whether path[0..len) names something that is not there.
static int prefix_missing(char *path, size_t len) {
    char cut = path[len];
    path[len] = '\0';
    struct stat st;
    int missing = stat(path, &st) != 0 && errno == ENOENT;
    path[len] = cut;
    return missing;
}

int cli_out_dir_make(cli_out_dir *o, const char *path) {
    char buf[DS_PATH_MAX];
    size_t len = strlen(path);
    o->path = path;
    o->made = 0;
    if (len >= sizeof buf) return ds_fail("%s: path too long", path);
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len && !o->made; i++)
        if ((i == len || buf[i] == '/') && prefix_missing(buf, i)) o->made = i;
    int rc = ds_mkdirs(path);
    if (rc) cli_out_dir_abandon(o); // a parent made before a deeper level failed
    return rc;
}

void cli_out_dir_abandon(const cli_out_dir *o) {
    if (!o->made) return;
    char buf[DS_PATH_MAX];
    size_t len = strlen(o->path);
    memcpy(buf, o->path, len + 1);
    // From the deepest level up to the first folder this run made; rmdir refuses a
    // folder that is not empty, and that stops the walk.
    for (size_t i = len; i >= o->made; i--) {
        if (i < len && buf[i] != '/') continue;
        buf[i] = '\0';
        if (rmdir(buf) != 0 && errno != ENOENT) return;
    }
}
