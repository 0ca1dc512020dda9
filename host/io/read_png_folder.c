// A folder of PNG files, read with its subfolders (EDM's layout: 000000/000000.png, ...),
// sorted by path, all of one size and channel count. diffsamp's own output folder is read
// as its samples: the grid it holds beside them is not one of them.
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "data_readers.h"
#include "data_rows.h"
#include "ds_error.h"

static int compare_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_png_name(const char *name) {
    size_t n = strlen(name);
    return n > 4 && !strcasecmp(name + n - 4, ".png");
}

static void free_names(char **names, int64_t count) {
    for (int64_t i = 0; i < count; i++) free(names[i]);
    free(names);
}

typedef struct {
    char **names; // paths relative to the top folder
    int64_t count, cap;
} name_list;

static int add_name(name_list *l, const char *top, const char *rel) {
    if (l->count == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 256;
        char **grown = realloc(l->names, sizeof(char *) * (size_t)cap);
        if (!grown) return ds_fail("%s: out of memory listing the folder", top);
        l->names = grown, l->cap = cap;
    }
    if (!(l->names[l->count] = strdup(rel)))
        return ds_fail("%s: out of memory listing the folder", top);
    l->count++;
    return 0;
}

enum { MAX_DEPTH = 8 }; // subfolders deep: a link back up cannot recurse for ever

// The .png files of top/rel and of its subfolders (hidden ones skipped), as paths
// relative to top; top's own files are skipped with files_here 0.
static int collect(const char *top, const char *rel, int depth, int files_here, name_list *l) {
    char dir[DS_PATH_MAX], path[DS_PATH_MAX], sub[DS_PATH_MAX];
    snprintf(dir, sizeof dir, "%s%s%s", top, rel[0] ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (!d) return ds_fail("%s: cannot open folder: %s", dir, strerror(errno));
    int rc = 0;
    for (struct dirent *e; !rc && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if ((size_t)snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >=
                sizeof sub ||
            (size_t)snprintf(path, sizeof path, "%s/%s", top, sub) >= sizeof path) {
            rc = ds_fail("%s/%s: path too long", dir, e->d_name);
            break;
        }
        struct stat st; // a .png that is not a regular file is named by the reader
        if (stat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode) && depth < MAX_DEPTH)
            rc = collect(top, sub, depth + 1, 1, l);
        else if (!S_ISDIR(st.st_mode) && files_here && is_png_name(e->d_name))
            rc = add_name(l, top, sub);
    }
    closedir(d);
    return rc;
}

static int file_in(const char *dir, const char *name) {
    char path[DS_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0;
}

// The sorted paths (relative to dir) of the .png files in dir and its subfolders. A
// folder that diffsamp sample wrote (it holds run.json) gives its samples only, not the
// grid.png beside them.
static int list_pngs(const char *dir, char ***names_out, int64_t *count_out) {
    int run = file_in(dir, "run.json");
    name_list l = {0};
    int rc = collect(dir, "", 0, !run, &l);
    if (!rc && l.count == 0)
        rc = run ? ds_fail("%s: holds a diffsamp run without per-sample PNGs (written with "
                           "--no-png?); give its samples as %s/samples.npy",
                           dir, dir)
                 : ds_fail("%s: folder has no .png files (expected a folder of PNG images, "
                           "or of folders of them)",
                           dir);
    char **names = l.names;
    int64_t count = l.count;
    if (rc) {
        free_names(names, count);
        return -1;
    }
    qsort(names, (size_t)count, sizeof(char *), compare_names);
    *names_out = names;
    *count_out = count;
    return 0;
}

// Image i of the folder into row i (H-W-C bytes to C-H-W bytes).
static void store_row(const ds_image_u8 *img, unsigned char *row) {
    int64_t plane = (int64_t)img->h * img->w;
    for (int ch = 0; ch < img->c; ch++)
        ds_u8_gather(img->pixels + ch, img->c, row + ch * plane, plane);
}

static int read_all(const char *dir, char **names, int64_t count, ds_data *out) {
    char path[DS_PATH_MAX];
    for (int64_t i = 0; i < count; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        ds_image_u8 img;
        DS_TRY(ds_png_read(path, &img));
        int rc = 0;
        if (i == 0) {
            rc = ds_data_alloc_rows(out, dir, count, (int64_t)img.c * img.h * img.w, DS_U8);
            out->channels = img.c, out->height = img.h, out->width = img.w;
        } else if (img.c != out->channels || img.h != out->height || img.w != out->width) {
            rc = ds_fail("%s: image is %dx%dx%d (CxHxW) but %s/%s is %dx%dx%d (expected all PNGs "
                         "in the folder to share one size and channel count)",
                         path, img.c, img.h, img.w, dir, names[0], out->channels, out->height,
                         out->width);
        }
        if (!rc) store_row(&img, (unsigned char *)out->values + i * out->d);
        free(img.pixels);
        DS_TRY(rc);
    }
    return 0;
}

int ds_read_png_folder(const char *dir, ds_data *out) {
    char **names = NULL;
    int64_t count = 0;
    DS_TRY(list_pngs(dir, &names, &count));
    int rc = read_all(dir, names, count, out);
    free_names(names, count);
    return rc;
}
