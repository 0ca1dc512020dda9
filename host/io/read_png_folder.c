// A folder of PNG files, sorted by file name, all of one size and channel count.
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

// The sorted names of the .png files in dir.
static int list_pngs(const char *dir, char ***names_out, int64_t *count_out) {
    DIR *d = opendir(dir);
    if (!d) return ds_fail("%s: cannot open folder: %s", dir, strerror(errno));
    char **names = NULL;
    int64_t count = 0, cap = 0;
    int rc = 0;
    for (struct dirent *e; !rc && (e = readdir(d));) {
        if (!is_png_name(e->d_name)) continue;
        if (count == cap) {
            cap = cap ? 2 * cap : 256;
            char **grown = realloc(names, sizeof(char *) * (size_t)cap);
            if (!grown)
                rc = ds_fail("%s: out of memory listing the folder", dir);
            else
                names = grown;
        }
        if (!rc && !(names[count++] = strdup(e->d_name)))
            rc = ds_fail("%s: out of memory listing the folder", dir);
    }
    closedir(d);
    if (!rc && count == 0)
        rc = ds_fail("%s: folder has no .png files (expected a folder of PNG images)", dir);
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
