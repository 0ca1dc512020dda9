// --force for the --out folders of prepare and sample. Without it, a folder that holds
// diffsamp output (a sample run or a model) is refused, naming the option that applies
// (--resume for a sample run, --force to replace); other files are left alone and
// written beside. With it, the old folder (all of it) is moved aside (OUT.replaced.PID) only
// once the new command has loaded and planned everything and is about to write; it is
// removed when the new output is complete and put back when the command fails.
#define _XOPEN_SOURCE 700 // nftw
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "ds_error.h"

// 1 when path names something that is not an empty folder, 0 when it is missing or
// an empty folder.
static int holds_files(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    if (!S_ISDIR(st.st_mode)) return 1;
    DIR *d = opendir(path);
    if (!d) return 1;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d)))
        found = strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return found;
}

// What diffsamp output path holds: "run" (a sample run), "model" (a model folder) or NULL.
static const char *holds_output(const char *path) {
    char buf[DS_PATH_MAX + 32];
    snprintf(buf, sizeof buf, "%s/.diffsamp-run/config.txt", path);
    if (access(buf, F_OK) == 0) return "run";
    snprintf(buf, sizeof buf, "%s/model.txt", path);
    return access(buf, F_OK) == 0 ? "model" : NULL;
}

int cli_replace_check(const char *command, const char *out, int force, int resume) {
    if (force && resume)
        return ds_fail("%s: --force and --resume contradict each other (--resume continues the "
                       "run in --out, --force replaces it)",
                       command);
    const char *what = holds_output(out);
    if (force || !what || (resume && !strcmp(what, "run"))) return 0;
    if (!strcmp(command, "sample") && !strcmp(what, "run"))
        return ds_fail("%s: holds a diffsamp run already; add --resume to continue it, --force "
                       "to replace it, or choose another --out",
                       out);
    return ds_fail("%s: holds a diffsamp %s already; add --force to replace it, or choose "
                   "another --out",
                   out, what);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

int cli_replace_begin(cli_replace *r, const char *out, int force) {
    r->out = out;
    r->moved = 0;
    if (!force || !holds_files(out)) return 0;
    if (snprintf(r->aside, sizeof r->aside, "%s.replaced.%ld", out, (long)getpid()) >=
        (int)sizeof r->aside)
        return ds_fail("%s: path too long", out);
    if (rename(out, r->aside) != 0)
        return ds_fail("%s: cannot move the old output aside to replace it (--force): %s", out,
                       strerror(errno));
    r->moved = 1;
    return 0;
}

void cli_replace_end(cli_replace *r, int failed) {
    if (!r->moved) return;
    r->moved = 0;
    if (!failed) {
        if (nftw(r->aside, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
            fprintf(stderr, "diffsamp: %s: the replaced output could not be removed: %s\n",
                    r->aside, strerror(errno));
        return;
    }
    // The new output is incomplete: the old one comes back in its place.
    nftw(r->out, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (rename(r->aside, r->out) != 0)
        fprintf(stderr, "diffsamp: %s: could not be put back as %s: %s\n", r->aside, r->out,
                strerror(errno));
}
