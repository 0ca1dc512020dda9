// Model bookkeeping shared by fitting, loading and the backends.
#include <stdlib.h>
#include <string.h>

#include "ds_error.h"
#include "ds_model.h"

void ds_fit_opts_default(ds_fit_opts *o) {
    memset(o, 0, sizeof *o);
    o->k = 10;
    o->rank = 0;
    o->seed = 0;
    o->kmeans_iters = 50;
    o->var_floor = 1e-4;
}

static const char *kind_names[] = {"empirical", "gaussian", "gmm"};

const char *ds_model_kind_name(ds_model_kind k) {
    return kind_names[k];
}

int ds_model_kind_parse(const char *name, ds_model_kind *out) {
    for (int k = 0; k < 3; k++)
        if (!strcmp(name, kind_names[k])) {
            *out = (ds_model_kind)k;
            return 0;
        }
    return ds_fail("unknown model kind '%s' (expected empirical, gaussian or gmm)", name);
}

void ds_model_free(ds_model *m) {
    ds_data_free(&m->data);
    free(m->mean);
    free(m->weights);
    free(m->means);
    free(m->eigvals);
    free(m->eigvecs);
    free(m->residual);
    memset(m, 0, sizeof *m);
}
