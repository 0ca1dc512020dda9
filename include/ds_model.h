// The analytic models: empirical (the training set itself), Gaussian and Gaussian
// mixture. The Gaussian model is stored as a mixture with one component.
#ifndef DS_MODEL_H
#define DS_MODEL_H

#include <stdint.h>
#include "ds_data.h"

#ifdef __cplusplus
extern "C" {
#endif
#pragma GCC visibility push(default) // the public API: exported from the shared library

typedef enum {
    DS_MODEL_EMPIRICAL = 0,
    DS_MODEL_GAUSSIAN = 1,
    DS_MODEL_GMM = 2,
    DS_MODEL_CALLBACK = 3 // the caller's own denoiser (ds_model_callback)
} ds_model_kind;

// A caller's denoiser: out (rows x d) = D(x; sigma) for x (rows x d) and one sigma per
// row, all host doubles, row-major. Returns 0, or -1 after recording a message with
// ds_fail (the run stops with that error).
typedef int (*ds_denoise_fn)(void *user, const double *x, const double *sigma, int64_t rows,
                             int64_t d, double *out);

typedef struct {
    ds_model_kind kind;
    int64_t d;
    int channels, height, width; // image shape, or 0s
    double sigma_data;           // root-mean-square deviation of the data from its mean

    // Empirical: the training rows (uncentred) and their mean.
    ds_data data;
    double *mean; // d; for every kind, the mean of the training data

    // Gaussian (k == 1) and mixture: k components, each of rank r (r == d: full).
    // Component c: weight weights[c], mean means[c*d ...], eigenvalues
    // eigvals[c*r ...] (descending), orthonormal eigenvectors eigvecs[c*d*r ...] stored
    // d x r row-major (column j is eigenvector j), and residual[c], the variance
    // on each direction orthogonal to the r eigenvectors (0 when r == d).
    int64_t k, r;
    double *weights;
    double *means;
    double *eigvals;
    double *eigvecs;
    double *residual;

    // Callback: the caller's denoiser and its argument.
    ds_denoise_fn callback;
    void *callback_user;

    // Provenance of the training data (empirical: required to match at load).
    char data_path[DS_PATH_MAX];
    int64_t data_bytes;
    uint64_t data_checksum;
} ds_model;

typedef struct {
    int64_t k;        // mixture components (gmm), default 10
    int64_t rank;     // 0: full rank d
    uint64_t seed;    // k-means++ seed
    int from_labels;  // gmm: one component per class label
    int kmeans_iters; // Lloyd iterations, default 50
    double var_floor; // floor on component eigenvalues, default 1e-4
} ds_fit_opts;

void ds_fit_opts_default(ds_fit_opts *o);
// A model of dimension d whose denoiser is fn(user, ...) (kind DS_MODEL_CALLBACK; mean
// zero, sigma_data 0 unless the caller sets them). Backends evaluate it through
// ds_backend_callback_new; it cannot be saved.
int ds_model_callback(int64_t d, ds_denoise_fn fn, void *user, ds_model *out);
const char *ds_model_kind_name(ds_model_kind k);
int ds_model_kind_parse(const char *name, ds_model_kind *out);

// Fits a model of the given kind to data (the empirical model copies the rows).
int ds_model_fit(const ds_data *data, ds_model_kind kind, const ds_fit_opts *o, ds_model *out);
// Writes the model folder (model.txt and .npy arrays) / reads one back.
int ds_model_save(const ds_model *m, const char *dir);
int ds_model_load(const char *dir, ds_model *out);
void ds_model_free(ds_model *m);
// The training data a model folder `dir` (loaded as m) was fitted to, as model.txt
// records it; refused when the file's size or checksum changed since.
int ds_model_data_load(const char *dir, const ds_model *m, ds_data *out);
// The training data's absolute path (comma-joined for several files), total size and
// 64-bit FNV-1a checksum of its bytes (a folder: its files in name order, recursively).
int ds_data_fingerprint(const char *path, char *abs_path, int64_t *bytes, uint64_t *checksum);

#pragma GCC visibility pop
#ifdef __cplusplus
}
#endif

#endif
