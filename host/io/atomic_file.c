// Atomic output files: write to "<name>.tmp.<pid>" in the same folder, then rename.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ds_error.h"
#include "ds_io.h"

int ds_atomic_open(ds_atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    if (strlen(path) + 32 >= sizeof af->tmp_path) return ds_fail("%s: path too long", path);
    snprintf(af->path, sizeof af->path, "%s", path);
    snprintf(af->tmp_path, sizeof af->tmp_path, "%s.tmp.%ld", path, (long)getpid());
    DS_TRY(ds_mkdirs_parent(path));
    af->f = fopen(af->tmp_path, "wb");
    if (!af->f)
        return ds_fail("%s: cannot create file: %s (expected a writable folder)", path,
                       strerror(errno));
    return 0;
}

int ds_atomic_commit(ds_atomic_file *af) {
    int bad = ferror(af->f) || fflush(af->f) != 0 || fsync(fileno(af->f)) != 0;
    int saved = errno;
    if (fclose(af->f) != 0) bad = 1;
    af->f = NULL;
    if (bad) {
        unlink(af->tmp_path);
        return ds_fail("%s: write failed: %s", af->path, strerror(saved));
    }
    if (rename(af->tmp_path, af->path) != 0) {
        saved = errno;
        unlink(af->tmp_path);
        return ds_fail("%s: cannot rename into place: %s", af->path, strerror(saved));
    }
    return 0;
}

void ds_atomic_abort(ds_atomic_file *af) {
    if (af->f) fclose(af->f);
    af->f = NULL;
    if (af->tmp_path[0]) unlink(af->tmp_path);
}

// Creates one folder of a path; an existing one must be a folder.
static int make_folder(const char *path) {
    struct stat st;
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return ds_fail("%s: cannot create folder: %s", path, strerror(errno));
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return ds_fail("%s: exists and is not a folder", path);
    return 0;
}

int ds_mkdirs(const char *path) {
    char buf[DS_PATH_MAX];
    if (strlen(path) >= sizeof buf) return ds_fail("%s: path too long", path);
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        DS_TRY(make_folder(buf));
        *p = '/';
    }
    return make_folder(buf);
}

int ds_mkdirs_parent(const char *path) {
    char dir[DS_PATH_MAX];
    if (strlen(path) >= sizeof dir) return ds_fail("%s: path too long", path);
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return 0;
    *slash = '\0';
    return ds_mkdirs(dir);
}
