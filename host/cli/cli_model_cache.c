// Fitted models kept in a folder for the next command (demo's OUT/models, analyze
// denoisers' OUT/models): a folder is reused when it holds a model of the kind asked,
// fitted to a data file of the same size and checksum, with the same k for a mixture;
// else the model is fitted and saved there.
#include <stdio.h>

#include "cli.h"
#include "ds_error.h"
#include "progress.h"

int cli_fit_cached(const char *command, const char *dir, const ds_data *data, const cli_data_id *id,
                   ds_model_kind kind, const ds_fit_opts *fo, ds_model *m) {
    if (ds_model_load(dir, m) == 0) {
        int same_k = kind != DS_MODEL_GMM || m->k == fo->k;
        if (m->kind == kind && m->data_checksum == id->checksum && m->data_bytes == id->bytes &&
            same_k) {
            printf("%s: %-9s model loaded from %s\n", command, ds_model_kind_name(kind), dir);
            return 0;
        }
        ds_model_free(m);
    }
    double t = ds_seconds();
    DS_TRY(ds_model_fit(data, kind, fo, m));
    if (ds_model_save(m, dir) != 0) {
        ds_model_free(m);
        return -1;
    }
    printf("%s: %-9s model fitted in %.1f s, saved to %s\n", command, ds_model_kind_name(kind),
           ds_seconds() - t, dir);
    return 0;
}
