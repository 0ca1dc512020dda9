// The analytic models: empirical (the training set itself), Gaussian and Gaussian
// mixture, the local models that generalise (pca_locality, ls, els, pspc, smoothed), and
// the nearest training row (a baseline). The Gaussian model is
// stored as a mixture with one component.
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
    DS_MODEL_CALLBACK = 3,     // the caller's own denoiser (ds_model_callback)
    DS_MODEL_PCA_LOCALITY = 4, // Lukoianov et al.: a softmax per output pixel, Wiener mask
    DS_MODEL_LS = 5,           // Kamb & Ganguli's local score machine: a patch per pixel
    DS_MODEL_NEAREST = 6,      // baseline: the nearest training row, at every sigma
    DS_MODEL_SMOOTHED = 7,     // the empirical denoiser averaged over perturbed queries
    DS_MODEL_ELS = 8,          // Kamb & Ganguli's equivariant local score machine
    DS_MODEL_PSPC = 9,         // Niedoba et al.'s patch-based posterior mean (square patches)
    DS_MODEL_VARIANCE = 10,    // Vastola: the empirical denoiser plus a DSM-proxy-variance field
    DS_MODEL_LINEAR_FEATURES = 11, // Vastola: one linear Gaussian-feature denoiser (d <= 2)
} ds_model_kind;
#define DS_MODEL_KINDS 12

// A caller's denoiser: out (rows x d) = D(x; sigma) for x (rows x d) and one sigma per
// row, all host doubles, row-major. Returns 0, or -1 after recording a message with
// ds_fail (the run stops with that error).
typedef int (*ds_denoise_fn)(void *user, const double *x, const double *sigma, int64_t rows,
                             int64_t d, double *out);

// A batch in a backend's own memory as a native callback denoiser sees it
// (ds_model_callback_native): rows x cols values in C order without padding, float64 or
// float32, on the host or on a CUDA device. The device codes are DLPack's (kDLCPU = 1,
// kDLCUDA = 2), so a view maps onto a DLPack tensor field by field. Valid during the call.
typedef struct {
    void *data;
    int64_t rows, cols;
    int f64;       // float64 values, else float32
    int device;    // DS_DEVICE_HOST or DS_DEVICE_CUDA
    int device_id; // the CUDA device's index (0 on the host)
} ds_batch_view;
enum { DS_DEVICE_HOST = 1, DS_DEVICE_CUDA = 2 };
// The batches a native denoiser takes (ds_model.callback_accepts, a set of bits): ref's
// float64 host batches, cpu's float32 host batches, cuda's float32 device batches.
enum { DS_ACCEPT_HOST_F64 = 1, DS_ACCEPT_HOST_F32 = 2, DS_ACCEPT_CUDA_F32 = 4 };
// A caller's denoiser on the backend's batches: out = D(x; sigma), sigma one host
// double per row. Returns 0, or -1 after recording a message with ds_fail. On a CUDA
// device the batch's values are ready when it is called (the backend's work is
// finished), and out must be finished when it returns.
typedef int (*ds_native_denoise_fn)(void *user, const ds_batch_view *x, const double *sigma,
                                    ds_batch_view *out);

typedef struct {
    ds_model_kind kind;
    int64_t d;
    int channels, height, width; // image shape, or 0s
    double sigma_data;           // root-mean-square deviation of the data from its mean

    // Empirical and the local models: the training rows (uncentred) and their mean.
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
    // gmm fitted per class (--per-class, --gmm-from-labels): the class label of each of
    // the k components, or NULL (the components carry no class; --class is refused).
    int32_t *classes;

    // pca_locality (README, section Models): the Wiener filter of the data is the
    // one-component, full-rank Gaussian above (covariance normalised by N - 1); its
    // logits are divided by temperature, and its mask is binarised at mask_threshold
    // times the largest |entry| (0: the normalised mask itself, not binarised).
    double temperature;
    double mask_threshold;
    // ls, els, pspc: the side of the square patch (all channels; ls, els: odd, centred on
    // each output pixel; pspc: any side that fits in the image); with a schedule (patch_steps > 0)
    // the patch at sigma is patch_schedule[2 k + 1] of the first k with sigma <= patch_schedule[2
    // k] (sigmas increasing; the last entry's patch above them all).
    int patch_size;
    int64_t patch_steps;
    double *patch_schedule; // patch_steps x 2: sigma, patch
    // smoothed (README, section Models): the empirical denoiser averaged over
    // smoothing_samples queries x + smoothing sqrt(1 + sigma^2) eps_c, eps_c the fixed
    // Philox normals of (smoothing_seed, c).
    double smoothing;
    int64_t smoothing_samples;
    uint64_t smoothing_seed;

    // variance (README, section Models; host/models/variance.c): the empirical denoiser plus
    // sqrt(variance) sum_i sqrt(w_i) (y_i - D) z_i(sigma), the z_i the Philox normals of
    // variance_seed, interpolated over bins in log sigma (ds_variance_z).
    double variance;
    uint64_t variance_seed;

    // linear_features (README, section Models; host/models/model_linear_features.c): the
    // paper's linear denoiser D(x; sigma) = W phi(x / sqrt(1 + sigma^2), t(sigma)) over
    // F^d x F Gaussian bumps (F per coordinate on [-feature_range, feature_range], F in the
    // VP time on [feature_cutoff, 1]), W fitted in closed form to feature_draws
    // denoising-score-matching draws of the Philox stream feature_seed, with a ridge.
    int64_t features_per_axis; // F
    int64_t feature_draws;     // P
    double feature_cutoff;     // eps: the draws' times are uniform on [eps, 1]
    double feature_ridge;      // added to the feature covariance before it is inverted
    double feature_range;      // the coordinate bumps' centres span [-range, range]
    uint64_t feature_seed;
    double *feature_weights; // W: d x F^d F, row-major (feature index: coordinates, then time)

    // Callback: the caller's denoiser and its argument; optionally a native denoiser for
    // the batches in callback_accepts (the others go through callback on host doubles).
    ds_denoise_fn callback;
    void *callback_user;
    ds_native_denoise_fn callback_native;
    unsigned callback_accepts;

    // Provenance of the training data (empirical: required to match at load).
    char data_path[DS_PATH_MAX];
    int64_t data_bytes;
    uint64_t data_checksum;

    // cpu backend, empirical, nearest and smoothed: keep no float32 copy of the training
    // rows but convert them from the data set (in its own dtype) chunk by chunk at each
    // call; set by the memory plan when the copy does not fit (same result, slower).
    int stream_rows;
} ds_model;

typedef struct {
    int64_t k;                    // mixture components (gmm), default 10
    int64_t rank;                 // 0: full rank d
    uint64_t seed;                // k-means++ seed
    int from_labels;              // gmm: one component per class label
    int per_class;                // gmm: k components by k-means within each class label
    int kmeans_iters;             // Lloyd iterations, default 50
    double var_floor;             // floor on component eigenvalues, default 1e-4
    double temperature;           // pca_locality, default 1
    double mask_threshold;        // pca_locality, in [0, 1], default 0.02 (the studio's)
    int64_t patch_size;           // ls, els: odd, 1 .. 2 max(H, W) - 1; pspc: 1 .. min(H, W); 3
    int64_t patch_steps;          // patch models: entries of patch_schedule (0: patch_size always)
    const double *patch_schedule; // patch models: patch_steps x 2 (sigma, patch), sigmas increasing
    double smoothing;             // smoothed: >= 0 (the studio's smoothing_std), default 0
    int64_t smoothing_samples;    // smoothed: >= 1 (the studio's num_noise), default 1
    double variance;              // variance: kappa >= 0, the proxy-variance scale, default 1
    // linear_features (the authors' values by default): F bumps per axis (0: 16 in 1-D, 10
    // in 2-D), P draws (500), the time cutoff eps (0.01), the ridge (0.1), the bumps'
    // coordinate range (1.5); the draws come from the Philox stream of `seed`.
    int64_t features_per_axis;
    int64_t feature_draws;
    double feature_cutoff;
    double feature_ridge;
    double feature_range;
} ds_fit_opts;

void ds_fit_opts_default(ds_fit_opts *o);
// A model of dimension d whose denoiser is fn(user, ...) (kind DS_MODEL_CALLBACK; mean
// zero, sigma_data 0 unless the caller sets them). Backends evaluate it through
// ds_backend_callback_new; it cannot be saved.
int ds_model_callback(int64_t d, ds_denoise_fn fn, void *user, ds_model *out);
// Gives a callback model a native denoiser (same user argument): on a backend whose
// batches are in `accepts` (DS_ACCEPT_* bits) it is called on the batches themselves,
// without a copy; elsewhere the model's host-double denoiser is called as before.
int ds_model_callback_native(ds_model *m, ds_native_denoise_fn fn, unsigned accepts);
const char *ds_model_kind_name(ds_model_kind k);
int ds_model_kind_parse(const char *name, ds_model_kind *out);
// smoothed: eps (smoothing_samples x d) = the fixed Philox normals, and the factor
// smoothing sqrt(1 + sigma^2) of the perturbations at sigma.
void ds_smoothed_noise(const ds_model *m, double *eps);
double ds_smoothed_scale(const ds_model *m, double sigma);
// variance: z (n values) = the unit normals z_i(sigma) of the training rows at sigma.
void ds_variance_z(const ds_model *m, double sigma, double *z);
// Checks a patch size of a patch model of that kind for images of that shape: 0, or -1
// naming who.
int ds_check_patch_size(const char *who, ds_model_kind kind, int64_t patch, int channels,
                        int height, int width);
// Checks a patch schedule (steps x 2: sigma, patch): sigmas finite, > 0 and increasing,
// each patch an integer that ds_check_patch_size accepts.
int ds_check_patch_schedule(const char *who, ds_model_kind kind, const double *schedule,
                            int64_t steps, int channels, int height, int width);
// The patch of a patch model at sigma (the schedule's, or patch_size).
int ds_patch_at(const ds_model *m, double sigma);
// 1 for the kinds that keep the training rows (empirical, pca_locality, ls, nearest,
// smoothed, els, pspc, variance).
int ds_model_holds_rows(ds_model_kind k);
// 1 for the patch models (ls, els, pspc): patch_size or patch_schedule, images only.
int ds_model_uses_patches(ds_model_kind k);

// Fits a model of the given kind to data (the empirical model copies the rows).
int ds_model_fit(const ds_data *data, ds_model_kind kind, const ds_fit_opts *o, ds_model *out);
// The model of one class of a model fitted per class: a gmm keeps only its components of
// class `label` (weights renormalised to sum to 1; mean and sigma_data those of the kept
// components). Refused with one line for a model without component classes, or a label
// none of its components has. Nothing is refitted.
int ds_model_select_class(ds_model *m, int64_t label);
// Writes the model folder (model.txt and .npy arrays) / reads one back.
int ds_model_save(const ds_model *m, const char *dir);
int ds_model_load(const char *dir, ds_model *out);
// The kind a model folder holds, from its model.txt alone (nothing else is read).
int ds_model_folder_kind(const char *dir, ds_model_kind *kind);
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
