// diffsamp._core: the CPython extension over libdiffsamp. Arrays travel through the
// buffer protocol (the package python/diffsamp makes them C-ordered float64 / float32
// without copying when they already are, and allocates every output); the GIL is
// released during library calls and taken back for a Python denoiser and for Ctrl-C.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diffsamp.h"

// ---- errors ----

// The library's last message as ValueError, OSError or MemoryError; a Python exception
// already set (from a Python denoiser or Ctrl-C) is kept.
static PyObject *raise_ds(void) {
    if (PyErr_Occurred()) return NULL;
    const char *msg = ds_error();
    PyObject *type = PyExc_ValueError;
    if (strstr(msg, "cannot allocate") || strstr(msg, "out of memory"))
        type = PyExc_MemoryError;
    else if (strstr(msg, "cannot open") || strstr(msg, "read failed") ||
             strstr(msg, "cannot write") || strstr(msg, "cannot create") ||
             strstr(msg, "No such file"))
        type = PyExc_OSError;
    PyErr_SetString(type, msg[0] ? msg : "diffsamp: unknown error");
    return NULL;
}

// ---- buffers ----

// A C-contiguous buffer of `count` items of the format fmt ("d" or "f"), read-only or
// writable; count < 0 takes any length (returned in *n).
static int get_buffer(PyObject *obj, Py_buffer *view, const char *fmt, int writable,
                      Py_ssize_t count, const char *what) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) != 0) return -1;
    const char *f = view->format ? view->format : "B";
    if (f[0] == '@' || f[0] == '=' || f[0] == '<') f++;
    Py_ssize_t items = view->itemsize ? view->len / view->itemsize : 0;
    if (strcmp(f, fmt) != 0 || (count >= 0 && items != count)) {
        PyErr_Format(PyExc_ValueError,
                     "%s: expected %zd C-ordered %s values, got %zd of format '%s'", what, count,
                     fmt[0] == 'd' ? "float64" : "float32", items, f);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static void release(Py_buffer *v) {
    if (v->obj) PyBuffer_Release(v);
}

static PyObject *bytes_of(const double *v, int64_t n) {
    return PyByteArray_FromStringAndSize((const char *)v,
                                         (Py_ssize_t)(n * (int64_t)sizeof(double)));
}

static PyObject *list_of(const double *v, int64_t n) {
    PyObject *l = PyList_New((Py_ssize_t)n);
    for (int64_t i = 0; l && i < n; i++) PyList_SET_ITEM(l, i, PyFloat_FromDouble(v[i]));
    return l;
}

// ---- backends: one of each kind for the module's lifetime, wrapped so that callback
// models run on them ----

static const char *backend_names[] = {"ref", "cpu", "cuda", "auto"};
static ds_backend *backends[4];

static ds_backend *get_backend(const char *name) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, backend_names[i])) {
            if (!backends[i]) backends[i] = ds_backend_callback_new(ds_backend_new(name));
            if (!backends[i]) raise_ds();
            return backends[i];
        }
    PyErr_Format(PyExc_ValueError, "unknown backend '%s' (expected ref, cpu, cuda or auto)", name);
    return NULL;
}

// ---- cancel hook: Ctrl-C between two denoiser calls ----

static int check_signals(void *user) {
    (void)user;
    PyGILState_STATE g = PyGILState_Ensure();
    int stop = PyErr_Occurred() != NULL || PyErr_CheckSignals() != 0;
    PyGILState_Release(g);
    return stop;
}

// ---- the Model type ----

typedef struct {
    PyObject_HEAD ds_model m;
    PyObject *callable; // callback models: fn(x, sigma, out, rows, d)
    ds_backend *bound_on;
    ds_bound_model *bound; // the binding denoise reuses
} ModelObject;

static PyTypeObject ModelType;

static void model_dealloc(ModelObject *self) {
    if (self->bound) self->bound_on->unbind(self->bound_on, self->bound);
    ds_model_free(&self->m);
    Py_XDECREF(self->callable);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static ModelObject *model_new(void) {
    return (ModelObject *)ModelType.tp_alloc(&ModelType, 0);
}

static ds_bound_model *model_bind(ModelObject *self, ds_backend *b) {
    if (self->bound_on == b) return self->bound;
    if (self->bound) self->bound_on->unbind(self->bound_on, self->bound);
    self->bound = NULL, self->bound_on = NULL;
    ds_bound_model *bm;
    Py_BEGIN_ALLOW_THREADS bm = b->bind(b, &self->m);
    Py_END_ALLOW_THREADS if (!bm) return (ds_bound_model *)raise_ds();
    self->bound = bm, self->bound_on = b;
    return bm;
}

static PyObject *model_get_info(ModelObject *self, PyObject *noargs) {
    (void)noargs;
    const ds_model *m = &self->m;
    return Py_BuildValue("{s:s,s:L,s:(iii),s:d,s:L,s:L,s:L,s:s}", "kind",
                         ds_model_kind_name(m->kind), "d", (long long)m->d, "shape", m->channels,
                         m->height, m->width, "sigma_data", m->sigma_data, "k", (long long)m->k,
                         "rank", (long long)m->r, "n_train", (long long)m->data.n, "data_path",
                         m->data_path);
}

static PyObject *model_get_mean(ModelObject *self, PyObject *noargs) {
    (void)noargs;
    return bytes_of(self->m.mean, self->m.d);
}

static PyObject *model_save(ModelObject *self, PyObject *args) {
    const char *dir;
    if (!PyArg_ParseTuple(args, "s", &dir)) return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = ds_model_save(&self->m, dir);
    Py_END_ALLOW_THREADS if (rc) return raise_ds();
    Py_RETURN_NONE;
}

static PyMethodDef model_methods[] = {
    {"info", (PyCFunction)model_get_info, METH_NOARGS, "kind, d, shape, sigma_data, k, rank"},
    {"mean", (PyCFunction)model_get_mean, METH_NOARGS, "the training mean (float64 bytes)"},
    {"save", (PyCFunction)model_save, METH_VARARGS, "writes the model folder"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ModelType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "diffsamp._core.Model",
    .tp_basicsize = sizeof(ModelObject),
    .tp_dealloc = (destructor)model_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "a libdiffsamp model (use diffsamp.Model)",
    .tp_methods = model_methods,
};

static ModelObject *as_model(PyObject *o) {
    if (!PyObject_TypeCheck(o, &ModelType)) {
        PyErr_SetString(PyExc_TypeError, "expected a diffsamp._core.Model");
        return NULL;
    }
    return (ModelObject *)o;
}

// ---- data ----

// Training rows viewed in place (float32 or float64, n x d) as a ds_data.
static int data_view(PyObject *x, Py_buffer *xv, int64_t n, int64_t d, ds_data *out) {
    memset(out, 0, sizeof *out);
    if (n < 1 || d < 1) {
        PyErr_Format(PyExc_ValueError, "data: %lld x %lld rows (expected at least 1 x 1)",
                     (long long)n, (long long)d);
        return -1;
    }
    if (PyObject_GetBuffer(x, xv, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) return -1;
    const char *f = xv->format ? xv->format : "B";
    if (f[0] == '@' || f[0] == '=' || f[0] == '<') f++;
    int f64 = !strcmp(f, "d");
    if ((!f64 && strcmp(f, "f") != 0) || xv->len != (Py_ssize_t)(n * d) * (f64 ? 8 : 4)) {
        PyErr_Format(PyExc_ValueError,
                     "data rows: expected %lld x %lld C-ordered float32 or float64 values",
                     (long long)n, (long long)d);
        PyBuffer_Release(xv);
        return -1;
    }
    out->n = n, out->d = d, out->values = xv->buf, out->dtype = f64 ? DS_F64 : DS_F32;
    return 0;
}

static PyObject *py_load_data(PyObject *mod, PyObject *args) {
    (void)mod;
    const char *path;
    if (!PyArg_ParseTuple(args, "s", &path)) return NULL;
    ds_data d;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = ds_data_load(path, &d);
    Py_END_ALLOW_THREADS if (rc) return raise_ds();
    PyObject *x = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(d.n * d.d * 4));
    if (x) ds_data_rows_f32(&d, 0, d.n, (float *)PyByteArray_AS_STRING(x));
    PyObject *labels =
        d.labels ? PyByteArray_FromStringAndSize((const char *)d.labels, (Py_ssize_t)(d.n * 4))
                 : (Py_INCREF(Py_None), Py_None);
    PyObject *r = x && labels ? Py_BuildValue("{s:N,s:N,s:L,s:L,s:(iii)}", "x", x, "labels", labels,
                                              "n", (long long)d.n, "d", (long long)d.d, "shape",
                                              d.channels, d.height, d.width)
                              : NULL;
    ds_data_free(&d);
    return r;
}

// ---- models ----

static PyObject *py_fit(PyObject *mod, PyObject *args, PyObject *kw) {
    (void)mod;
    static char *kwlist[] = {"x",         "n",    "d",      "kind",        "k",
                             "rank",      "seed", "labels", "from_labels", "kmeans_iters",
                             "var_floor", "path", "shape",  NULL};
    PyObject *x, *labels = Py_None;
    long long n, d, k = 10, rank = 0, seed = 0;
    const char *kind, *path = NULL;
    int from_labels = 0, kmeans_iters = 50, c = 0, h = 0, w = 0;
    double var_floor = 1e-4;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OLLs|LLLOpidz(iii)", kwlist, &x, &n, &d, &kind, &k,
                                     &rank, &seed, &labels, &from_labels, &kmeans_iters, &var_floor,
                                     &path, &c, &h, &w))
        return NULL;
    ds_model_kind mk;
    if (ds_model_kind_parse(kind, &mk)) return raise_ds();
    Py_buffer xv = {0}, lv = {0};
    ds_data data, file = {0};
    if (PyUnicode_Check(x)) { // a data set path: its rows in their own precision, as the CLI's
        int rc;
        const char *p = PyUnicode_AsUTF8(x);
        if (!p) return NULL;
        Py_BEGIN_ALLOW_THREADS rc = ds_data_load(p, &file);
        Py_END_ALLOW_THREADS if (rc) return raise_ds();
        data = file;
        c = file.channels, h = file.height, w = file.width, d = file.d;
    } else if (data_view(x, &xv, n, d, &data))
        return NULL;
    if (labels != Py_None && !file.values) {
        if (PyObject_GetBuffer(labels, &lv, PyBUF_C_CONTIGUOUS) || lv.len != (Py_ssize_t)(4 * n)) {
            if (lv.obj) PyBuffer_Release(&lv);
            release(&xv);
            PyErr_SetString(PyExc_ValueError, "labels: expected one int32 per row");
            return NULL;
        }
        data.labels = lv.buf;
    }
    if ((int64_t)c * h * w == d) data.channels = c, data.height = h, data.width = w;
    if (path && !file.values) snprintf(data.path, sizeof data.path, "%s", path);
    ds_fit_opts o;
    ds_fit_opts_default(&o);
    o.k = k, o.rank = rank, o.seed = (uint64_t)seed, o.from_labels = from_labels;
    o.kmeans_iters = kmeans_iters, o.var_floor = var_floor;
    ModelObject *m = model_new();
    int rc = -1;
    if (m) {
        Py_BEGIN_ALLOW_THREADS rc = ds_model_fit(&data, mk, &o, &m->m);
        Py_END_ALLOW_THREADS
    }
    release(&xv);
    ds_data_free(&file);
    if (lv.obj) PyBuffer_Release(&lv);
    if (!m) return NULL;
    if (rc) {
        Py_DECREF(m);
        return raise_ds();
    }
    return (PyObject *)m;
}

static PyObject *py_load_model(PyObject *mod, PyObject *args) {
    (void)mod;
    const char *dir;
    if (!PyArg_ParseTuple(args, "s", &dir)) return NULL;
    ModelObject *m = model_new();
    if (!m) return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = ds_model_load(dir, &m->m);
    Py_END_ALLOW_THREADS if (rc) {
        Py_DECREF(m);
        return raise_ds();
    }
    return (PyObject *)m;
}

// ---- batch views: a denoiser's x and out, exported as buffers (host) and DLPack ----

// DLPack's ABI (dlpack.h, v0.8, the unversioned "dltensor" capsule every consumer takes),
// declared here: the header is not a build dependency.
typedef struct {
    int32_t device_type, device_id;
} DLDevice;
typedef struct {
    uint8_t code, bits;
    uint16_t lanes;
} DLDataType;
typedef struct {
    void *data;
    DLDevice device;
    int32_t ndim;
    DLDataType dtype;
    int64_t *shape, *strides;
    uint64_t byte_offset;
} DLTensor;
typedef struct DLManagedTensor {
    DLTensor dl_tensor;
    void *manager_ctx;
    void (*deleter)(struct DLManagedTensor *self);
} DLManagedTensor;
enum { DL_FLOAT = 2 };

// A view of a batch during one denoiser call: no copy. It exports the buffer protocol
// (host memory only) and __dlpack__ / __dlpack_device__ (host or CUDA); after the call it
// is closed and every export refuses.
typedef struct {
    PyObject_HEAD ds_batch_view v;
    int writable;
    Py_ssize_t shape[2], strides[2];
} ViewObject;

static PyTypeObject ViewType;

static ViewObject *view_new(const ds_batch_view *v, int writable) {
    ViewObject *o = PyObject_New(ViewObject, &ViewType);
    if (!o) return NULL;
    o->v = *v, o->writable = writable;
    Py_ssize_t item = v->f64 ? 8 : 4;
    o->shape[0] = (Py_ssize_t)v->rows, o->shape[1] = (Py_ssize_t)v->cols;
    o->strides[0] = item * (Py_ssize_t)v->cols, o->strides[1] = item;
    return o;
}

static int view_open(ViewObject *o) {
    if (o->v.data) return 0;
    PyErr_SetString(PyExc_BufferError,
                    "diffsamp batch view: used after its denoiser call returned (copy what you "
                    "keep)");
    return -1;
}

static int view_getbuffer(ViewObject *o, Py_buffer *b, int flags) {
    if (view_open(o)) return -1;
    if (o->v.device != DS_DEVICE_HOST) {
        PyErr_SetString(PyExc_BufferError, "diffsamp batch view: the batch is on a CUDA device "
                                           "(take it with torch.from_dlpack)");
        return -1;
    }
    if ((flags & PyBUF_WRITABLE) && !o->writable) {
        PyErr_SetString(PyExc_BufferError, "diffsamp batch view: x is read-only");
        return -1;
    }
    b->buf = o->v.data, b->obj = (PyObject *)o, b->len = o->shape[0] * o->strides[0];
    b->readonly = !o->writable, b->itemsize = o->v.f64 ? 8 : 4;
    b->format = (flags & PyBUF_FORMAT) ? (o->v.f64 ? "d" : "f") : NULL;
    b->ndim = 2, b->shape = o->shape, b->strides = o->strides, b->suboffsets = NULL;
    b->internal = NULL;
    Py_INCREF(o);
    return 0;
}

static PyBufferProcs view_as_buffer = {(getbufferproc)view_getbuffer, NULL};

typedef struct {
    DLManagedTensor t;
    int64_t shape[2];
    PyObject *owner;
} managed_view;

// Called by the consumer when its tensor goes, possibly without the GIL.
static void managed_free(DLManagedTensor *t) {
    managed_view *mv = t->manager_ctx;
    PyGILState_STATE g = PyGILState_Ensure();
    Py_XDECREF(mv->owner);
    PyGILState_Release(g);
    free(mv);
}

static void capsule_free(PyObject *cap) {
    if (!PyCapsule_IsValid(cap, "dltensor")) return; // consumed: "used_dltensor"
    DLManagedTensor *t = PyCapsule_GetPointer(cap, "dltensor");
    if (t && t->deleter) t->deleter(t);
}

// __dlpack__(stream=None, max_version=None, dl_device=None, copy=None): an unversioned
// DLPack capsule over the batch (a consumer asking for a versioned one also takes it),
// never a copy: copy=True is refused with TypeError, on which consumers (torch, numpy)
// retry without it and copy themselves. On CUDA the values are finished before the call,
// so any stream may read them.
static PyObject *view_dlpack(ViewObject *o, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"stream", "max_version", "dl_device", "copy", NULL};
    PyObject *stream = Py_None, *max_version = Py_None, *dl_device = Py_None, *copy = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|$OOOO", kwlist, &stream, &max_version, &dl_device,
                                     &copy))
        return NULL;
    if (copy == Py_True) { // TypeError: the consumer retries without it and copies itself
        PyErr_SetString(PyExc_TypeError, "diffsamp batch view: __dlpack__ makes no copies");
        return NULL;
    }
    if (dl_device != Py_None) {
        int type = -1, id = -1;
        if (!PyArg_ParseTuple(dl_device, "ii", &type, &id)) return NULL;
        if (type != o->v.device || id != o->v.device_id) {
            PyErr_Format(PyExc_BufferError,
                         "diffsamp batch view: the batch is on device (%d, %d), not (%d, %d)",
                         o->v.device, o->v.device_id, type, id);
            return NULL;
        }
    }
    if (view_open(o)) return NULL;
    managed_view *mv = calloc(1, sizeof *mv);
    if (!mv) return PyErr_NoMemory();
    mv->shape[0] = o->v.rows, mv->shape[1] = o->v.cols;
    mv->owner = (PyObject *)o;
    Py_INCREF(o);
    DLTensor *t = &mv->t.dl_tensor;
    t->data = o->v.data, t->device = (DLDevice){o->v.device, o->v.device_id};
    t->ndim = 2, t->dtype = (DLDataType){DL_FLOAT, o->v.f64 ? 64 : 32, 1};
    t->shape = mv->shape, t->strides = NULL, t->byte_offset = 0; // NULL strides: C order
    mv->t.manager_ctx = mv, mv->t.deleter = managed_free;
    PyObject *cap = PyCapsule_New(&mv->t, "dltensor", capsule_free);
    if (!cap) managed_free(&mv->t);
    return cap;
}

static PyObject *view_dlpack_device(ViewObject *o, PyObject *noargs) {
    (void)noargs;
    return Py_BuildValue("(ii)", o->v.device, o->v.device_id);
}

static PyObject *view_get_dtype(ViewObject *o, void *unused) {
    (void)unused;
    return PyUnicode_FromString(o->v.f64 ? "float64" : "float32");
}

static PyObject *view_get_shape(ViewObject *o, void *unused) {
    (void)unused;
    return Py_BuildValue("(LL)", (long long)o->v.rows, (long long)o->v.cols);
}

static PyObject *view_get_device(ViewObject *o, void *unused) {
    (void)unused;
    return PyUnicode_FromString(o->v.device == DS_DEVICE_CUDA ? "cuda" : "cpu");
}

static PyObject *view_get_ptr(ViewObject *o, void *unused) {
    (void)unused;
    return PyLong_FromVoidPtr(o->v.data);
}

static PyMethodDef view_methods[] = {
    {"__dlpack__", (PyCFunction)(void (*)(void))view_dlpack, METH_VARARGS | METH_KEYWORDS,
     "a DLPack capsule of the batch (no copy)"},
    {"__dlpack_device__", (PyCFunction)view_dlpack_device, METH_NOARGS,
     "(device type, index): (1, 0) host, (2, i) CUDA device i"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef view_getset[] = {
    {"dtype", (getter)view_get_dtype, NULL, "\"float64\" or \"float32\"", NULL},
    {"shape", (getter)view_get_shape, NULL, "(rows, d)", NULL},
    {"device", (getter)view_get_device, NULL, "\"cpu\" or \"cuda\"", NULL},
    {"ptr", (getter)view_get_ptr, NULL, "the address of the batch's first value", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ViewType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "diffsamp._core.BatchView",
    .tp_basicsize = sizeof(ViewObject),
    .tp_dealloc = (destructor)PyObject_Del,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "a batch of a denoiser call, without a copy (buffer protocol, DLPack)",
    .tp_as_buffer = &view_as_buffer,
    .tp_methods = view_methods,
    .tp_getset = view_getset,
};

// The C side of a Python denoiser: fn(x, sigma, out) with x and out batch views (x
// read-only) and sigma a read-only memoryview of one double per row; its exception
// stops the run. The views close when it returns.
static int call_views(PyObject *fn, const ds_batch_view *x, const double *sigma,
                      ds_batch_view *out) {
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = NULL;
    ViewObject *xo = view_new(x, 0), *oo = view_new(out, 1);
    PyObject *sm = PyMemoryView_FromMemory((char *)sigma, (Py_ssize_t)(x->rows * 8), PyBUF_READ);
    if (xo && oo && sm) r = PyObject_CallFunctionObjArgs(fn, xo, sm, oo, NULL);
    if (xo) xo->v.data = NULL;
    if (oo) oo->v.data = NULL;
    Py_XDECREF(xo);
    Py_XDECREF(oo);
    Py_XDECREF(sm);
    int rc = r ? 0 : -1;
    Py_XDECREF(r);
    if (rc) ds_fail("python denoiser raised an exception");
    PyGILState_Release(g);
    return rc;
}

// The host-double path (batches the callable does not accept): views of the callback
// backend's float64 host buffers.
static int call_python(void *user, const double *x, const double *sigma, int64_t rows, int64_t d,
                       double *out) {
    ds_batch_view xv = {(void *)x, rows, d, 1, DS_DEVICE_HOST, 0};
    ds_batch_view ov = {out, rows, d, 1, DS_DEVICE_HOST, 0};
    return call_views(user, &xv, sigma, &ov);
}

static int call_python_native(void *user, const ds_batch_view *x, const double *sigma,
                              ds_batch_view *out) {
    return call_views(user, x, sigma, out);
}

// callback_model(d, fn, accepts): fn(x, sigma, out) on batch views; accepts (DS_ACCEPT_*
// bits) the batches fn takes as they are, the others reach it as float64 host copies.
static PyObject *py_callback_model(PyObject *mod, PyObject *args) {
    (void)mod;
    long long d;
    unsigned int accepts = DS_ACCEPT_HOST_F64;
    PyObject *fn;
    if (!PyArg_ParseTuple(args, "LO|I", &d, &fn, &accepts)) return NULL;
    if (!PyCallable_Check(fn)) {
        PyErr_SetString(PyExc_TypeError, "from_denoiser: the denoiser must be callable");
        return NULL;
    }
    ModelObject *m = model_new();
    if (!m) return NULL;
    if (ds_model_callback(d, call_python, fn, &m->m) ||
        ds_model_callback_native(&m->m, call_python_native, accepts)) {
        Py_DECREF(m);
        return raise_ds();
    }
    Py_INCREF(fn);
    m->callable = fn;
    return (PyObject *)m;
}

// ---- denoise ----

static PyObject *py_denoise(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *mo, *x, *sigma, *out;
    long long rows;
    const char *bname;
    if (!PyArg_ParseTuple(args, "OOLOOs", &mo, &x, &rows, &sigma, &out, &bname)) return NULL;
    ModelObject *m = as_model(mo);
    ds_backend *b = m ? get_backend(bname) : NULL;
    ds_bound_model *bm = b ? model_bind(m, b) : NULL;
    if (!bm) return NULL;
    int64_t d = m->m.d;
    Py_buffer xv, sv, ov;
    if (get_buffer(x, &xv, "d", 0, (Py_ssize_t)(rows * d), "denoise x")) return NULL;
    if (get_buffer(sigma, &sv, "d", 0, -1, "denoise sigma")) {
        PyBuffer_Release(&xv);
        return NULL;
    }
    if (get_buffer(out, &ov, "d", 1, (Py_ssize_t)(rows * d), "denoise out")) {
        PyBuffer_Release(&xv);
        PyBuffer_Release(&sv);
        return NULL;
    }
    int rc = -1;
    Py_BEGIN_ALLOW_THREADS ds_batch *bx = b->batch_new(b, rows, d), *bo = b->batch_new(b, rows, d);
    if (bx && bo) {
        rc = b->upload(b, bx, xv.buf);
        if (!rc) rc = b->denoise(b, bm, bx, sv.buf, (int64_t)(sv.len / 8), bo, NULL);
        if (!rc) rc = b->download(b, bo, ov.buf);
    } else
        ds_fail("denoise: cannot allocate batches of %lld rows", rows);
    if (bx) b->batch_free(b, bx);
    if (bo) b->batch_free(b, bo);
    Py_END_ALLOW_THREADS PyBuffer_Release(&xv);
    PyBuffer_Release(&sv);
    PyBuffer_Release(&ov);
    if (rc) return raise_ds();
    Py_RETURN_NONE;
}

// ---- schedules and sampling ----

static int opt_buffer(PyObject *o, Py_buffer *v, Py_ssize_t count, const char *what) {
    memset(v, 0, sizeof *v);
    return o == Py_None ? 0 : get_buffer(o, v, "d", 0, count, what);
}

// Schedule options shared by schedule() and sample(), from a dict of the package's
// names (missing keys keep the library's defaults). list_view holds a "list" schedule.
static int schedule_from(PyObject *s, ds_schedule_opts *o, Py_buffer *list_view) {
    ds_schedule_opts_default(o);
    memset(list_view, 0, sizeof *list_view);
    PyObject *v;
    if ((v = PyDict_GetItemString(s, "kind")) && !(o->kind = PyUnicode_AsUTF8(v))) return -1;
    if ((v = PyDict_GetItemString(s, "steps"))) o->steps = PyLong_AsLongLong(v);
    if ((v = PyDict_GetItemString(s, "sigma_min"))) o->sigma_min = PyFloat_AsDouble(v);
    if ((v = PyDict_GetItemString(s, "sigma_max"))) o->sigma_max = PyFloat_AsDouble(v);
    if ((v = PyDict_GetItemString(s, "rho"))) o->rho = PyFloat_AsDouble(v);
    if ((v = PyDict_GetItemString(s, "final_zero"))) o->final_zero = PyObject_IsTrue(v);
    if ((v = PyDict_GetItemString(s, "path")) && v != Py_None && !(o->path = PyUnicode_AsUTF8(v)))
        return -1;
    if ((v = PyDict_GetItemString(s, "teacher_steps")))
        o->gits.teacher_steps = PyLong_AsLongLong(v);
    if ((v = PyDict_GetItemString(s, "warmup"))) o->gits.warmup = PyLong_AsLongLong(v);
    if ((v = PyDict_GetItemString(s, "coeff"))) o->gits.coeff = PyFloat_AsDouble(v);
    if ((v = PyDict_GetItemString(s, "gits_seed"))) o->gits.seed = PyLong_AsUnsignedLongLong(v);
    if ((v = PyDict_GetItemString(s, "metric")) && !(o->gits.metric = PyUnicode_AsUTF8(v)))
        return -1;
    if ((v = PyDict_GetItemString(s, "teacher")) && v != Py_None &&
        !(o->gits.teacher = PyUnicode_AsUTF8(v)))
        return -1;
    if ((v = PyDict_GetItemString(s, "sigmas")) && v != Py_None) {
        if (get_buffer(v, list_view, "d", 0, -1, "schedule sigmas")) return -1;
        o->list = list_view->buf, o->n_list = (int)(list_view->len / 8);
    }
    return PyErr_Occurred() ? -1 : 0;
}

static int solver_from(PyObject *s, ds_solver_opts *o) {
    ds_solver_opts_default(o);
    PyObject *v;
    if ((v = PyDict_GetItemString(s, "sampler")) && !(o->solver = PyUnicode_AsUTF8(v))) return -1;
    if ((v = PyDict_GetItemString(s, "order"))) o->order = (int)PyLong_AsLong(v);
    if ((v = PyDict_GetItemString(s, "lower_order_final")))
        o->lower_order_final = PyObject_IsTrue(v);
    if ((v = PyDict_GetItemString(s, "variant")) && !(o->variant = PyUnicode_AsUTF8(v))) return -1;
    if ((v = PyDict_GetItemString(s, "rtol"))) o->rtol = PyFloat_AsDouble(v);
    if ((v = PyDict_GetItemString(s, "atol"))) o->atol = PyFloat_AsDouble(v);
    if ((v = PyDict_GetItemString(s, "full_order"))) o->full_order = PyObject_IsTrue(v);
    if ((v = PyDict_GetItemString(s, "afs"))) o->afs = PyObject_IsTrue(v);
    if ((v = PyDict_GetItemString(s, "dynamic_threshold")))
        o->dynamic_threshold = PyObject_IsTrue(v);
    if ((v = PyDict_GetItemString(s, "deis_riemann"))) o->deis_riemann = (int)PyLong_AsLong(v);
    return PyErr_Occurred() ? -1 : 0;
}

// schedule(options, model or None, backend): the sigmas, as a list.
static PyObject *py_schedule(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *opts, *mo;
    const char *bname;
    if (!PyArg_ParseTuple(args, "O!Os", &PyDict_Type, &opts, &mo, &bname)) return NULL;
    ds_schedule_opts o;
    ds_solver_opts so;
    Py_buffer lv;
    if (schedule_from(opts, &o, &lv) || solver_from(opts, &so)) return NULL;
    ds_solver_ctx ctx = {.cancel = check_signals};
    if (mo != Py_None) {
        ModelObject *m = as_model(mo);
        ctx.b = m ? get_backend(bname) : NULL;
        ctx.model = ctx.b ? model_bind(m, ctx.b) : NULL;
        if (!ctx.model) {
            release(&lv);
            return NULL;
        }
        o.gits.dim = m->m.d;
    }
    double *s = NULL;
    int n = 0, rc;
    Py_BEGIN_ALLOW_THREADS rc = ds_schedule_build(&o, mo != Py_None ? &ctx : NULL, &so, &s, &n);
    Py_END_ALLOW_THREADS release(&lv);
    if (rc) return raise_ds();
    PyObject *r = list_of(s, n);
    free(s);
    return r;
}

typedef struct {
    double *out;
    int64_t first, n, d;
    int progress;
} sample_sink;

static int keep_batch(void *user, int64_t first_row, int64_t rows, const double *x) {
    sample_sink *s = user;
    memcpy(s->out + (first_row - s->first) * s->d, x, sizeof(double) * (size_t)(rows * s->d));
    if (s->progress)
        fprintf(stderr, "\rsample: %lld / %lld rows", (long long)(first_row - s->first + rows),
                (long long)s->n);
    return 0;
}

// sample(model, gauss or None, options, noise or None, out, backend): runs
// ds_sample_run into out (n x d float64) and returns the run's figures.
static PyObject *py_sample(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *mo, *go, *opts, *noise, *out;
    const char *bname;
    if (!PyArg_ParseTuple(args, "OOO!OOs", &mo, &go, &PyDict_Type, &opts, &noise, &out, &bname))
        return NULL;
    ModelObject *m = as_model(mo), *g = NULL;
    if (!m || (go != Py_None && !(g = as_model(go)))) return NULL;
    ds_backend *b = get_backend(bname);
    if (!b) return NULL;
    ds_sample_config c;
    ds_sample_config_default(&c);
    Py_buffer lv, nv = {0}, ov;
    if (schedule_from(opts, &c.schedule, &lv)) return NULL;
    PyObject *v;
    int progress = 0;
    if (solver_from(opts, &c.solver)) goto fail_list;
    if ((v = PyDict_GetItemString(opts, "n"))) c.n = PyLong_AsLongLong(v);
    if ((v = PyDict_GetItemString(opts, "batch"))) c.batch = PyLong_AsLongLong(v);
    if ((v = PyDict_GetItemString(opts, "seed"))) c.seed = PyLong_AsUnsignedLongLong(v);
    if ((v = PyDict_GetItemString(opts, "first_row"))) c.first_row = PyLong_AsLongLong(v);
    if ((v = PyDict_GetItemString(opts, "teleport_sigma"))) c.teleport.sigma = PyFloat_AsDouble(v);
    if ((v = PyDict_GetItemString(opts, "teleport_fraction")))
        c.teleport.fraction = PyFloat_AsDouble(v);
    if ((v = PyDict_GetItemString(opts, "trajectory"))) c.record_trajectory = PyObject_IsTrue(v);
    if ((v = PyDict_GetItemString(opts, "progress"))) progress = PyObject_IsTrue(v);
    if (PyErr_Occurred()) goto fail_list;
    if (c.n < 1) {
        PyErr_Format(PyExc_ValueError, "sample: n must be >= 1 (got %lld)", (long long)c.n);
        goto fail_list;
    }
    int64_t d = m->m.d;
    if (opt_buffer(noise, &nv, (Py_ssize_t)(c.n * d), "sample noise")) goto fail_list;
    c.noise = nv.buf;
    if (get_buffer(out, &ov, "d", 1, (Py_ssize_t)(c.n * d), "sample out")) goto fail_noise;
    c.cancel = check_signals;
    sample_sink sink = {
        .out = ov.buf, .first = c.first_row, .n = c.n, .d = d, .progress = progress};
    ds_sample_result r;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc =
        ds_sample_run(b, &m->m, g ? &g->m : NULL, &c, keep_batch, &sink, &r);
    Py_END_ALLOW_THREADS if (progress) fputc('\n', stderr);
    PyBuffer_Release(&ov);
    release(&nv);
    release(&lv);
    if (rc) {
        ds_sample_result_free(&r);
        return raise_ds();
    }
    PyObject *res =
        Py_BuildValue("{s:N,s:L,s:L,s:d,s:L,s:d}", "sigmas", list_of(r.sigmas, r.n_sigmas), "nfe",
                      (long long)r.nfe, "nfe_full", (long long)r.nfe_full, "sigma_start",
                      r.sigma_start, "batch_calls", (long long)r.batch_calls, "seconds", r.seconds);
    if (res && c.record_trajectory) {
        const ds_trajectory *t = &r.trajectory;
        int64_t per = t->rows * t->d;
        PyObject *tr = Py_BuildValue("{s:N,s:N,s:N,s:i,s:L}", "x", bytes_of(t->x, t->points * per),
                                     "denoised", bytes_of(t->denoised, (t->points - 1) * per),
                                     "sigmas", list_of(t->sigmas, t->points), "points", t->points,
                                     "rows", (long long)t->rows);
        if (!tr || PyDict_SetItemString(res, "trajectory", tr)) Py_CLEAR(res);
        Py_XDECREF(tr);
    }
    ds_sample_result_free(&r);
    return res;
fail_noise:
    release(&nv);
fail_list:
    release(&lv);
    return NULL;
}

// ---- analyses ----

// traj_geometry(x, denoised, steps, b, d, n_denoised) -> dict of float64 bytearrays.
static PyObject *py_traj_geometry(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *x, *dn;
    long long steps, rows, d, nd;
    if (!PyArg_ParseTuple(args, "OOLLLL", &x, &dn, &steps, &rows, &d, &nd)) return NULL;
    Py_buffer xv, dv;
    if (get_buffer(x, &xv, "d", 0, (Py_ssize_t)(steps * rows * d), "trajectory x")) return NULL;
    if (get_buffer(dn, &dv, "d", 0, (Py_ssize_t)(nd * rows * d), "trajectory denoised")) {
        PyBuffer_Release(&xv);
        return NULL;
    }
    ds_traj_view t = {
        .steps = steps, .b = rows, .d = d, .n_denoised = nd, .x = xv.buf, .denoised = dv.buf};
    ds_traj_geometry g;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = ds_traj_geometry_compute(&t, &g);
    Py_END_ALLOW_THREADS PyBuffer_Release(&xv);
    PyBuffer_Release(&dv);
    if (rc) return raise_ds();
    PyObject *r =
        Py_BuildValue("{s:N,s:N,s:N,s:N,s:N}", "deviation", bytes_of(g.deviation, rows * steps),
                      "angle", bytes_of(g.angle, rows * (steps > 2 ? steps - 2 : 0)), "pca_frac",
                      bytes_of(g.pca_frac, rows * 3), "dist_x", bytes_of(g.dist_x, rows * steps),
                      "dist_denoised", bytes_of(g.dist_denoised, rows * nd));
    ds_traj_geometry_free(&g);
    return r;
}

// memorization(train, n, d, x, b) -> nearest (int64 bytes), d1, d2, ratio, fraction.
static PyObject *py_memorization(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *train, *x;
    long long n, d, rows;
    if (!PyArg_ParseTuple(args, "OLLOL", &train, &n, &d, &x, &rows)) return NULL;
    Py_buffer tv, xv;
    ds_data data;
    if (data_view(train, &tv, n, d, &data)) return NULL;
    if (get_buffer(x, &xv, "d", 0, (Py_ssize_t)(rows * d), "memorization samples")) {
        PyBuffer_Release(&tv);
        return NULL;
    }
    ds_memorization mz;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = ds_memorization_compute(&data, xv.buf, rows, &mz);
    Py_END_ALLOW_THREADS PyBuffer_Release(&tv);
    PyBuffer_Release(&xv);
    if (rc) return raise_ds();
    PyObject *r = Py_BuildValue(
        "{s:N,s:N,s:N,s:N,s:d}", "nearest",
        PyByteArray_FromStringAndSize((const char *)mz.nearest, (Py_ssize_t)(8 * rows)), "d1",
        bytes_of(mz.d1, rows), "d2", bytes_of(mz.d2, rows), "ratio", bytes_of(mz.ratio, rows),
        "fraction", mz.fraction);
    ds_memorization_free(&mz);
    return r;
}

// pca_frechet(train, n, d, k, a, na, b, nb) -> the Frechet distance in the top-k PCA space.
static PyObject *py_pca_frechet(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *train, *a, *bb;
    long long n, d, k, na, nb;
    if (!PyArg_ParseTuple(args, "OLLLOLOL", &train, &n, &d, &k, &a, &na, &bb, &nb)) return NULL;
    Py_buffer tv, av, bv;
    ds_data data;
    if (data_view(train, &tv, n, d, &data)) return NULL;
    if (get_buffer(a, &av, "d", 0, (Py_ssize_t)(na * d), "frechet a")) {
        PyBuffer_Release(&tv);
        return NULL;
    }
    if (get_buffer(bb, &bv, "d", 0, (Py_ssize_t)(nb * d), "frechet b")) {
        PyBuffer_Release(&tv);
        PyBuffer_Release(&av);
        return NULL;
    }
    ds_pca p;
    double fd = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = ds_pca_fit(&data, k, &p);
    if (!rc) {
        rc = ds_pca_frechet(&p, av.buf, na, bv.buf, nb, &fd);
        ds_pca_free(&p);
    }
    Py_END_ALLOW_THREADS PyBuffer_Release(&tv);
    PyBuffer_Release(&av);
    PyBuffer_Release(&bv);
    if (rc) return raise_ds();
    return PyFloat_FromDouble(fd);
}

// denoiser_diff(models, y, n, sigmas, seed, backend) -> (rel_diff, score_ev) bytearrays,
// (len(models) - 1) x len(sigmas) each; models[0] is the reference.
static PyObject *py_denoiser_diff(PyObject *mod, PyObject *args) {
    (void)mod;
    PyObject *models, *y, *sig;
    long long n;
    unsigned long long seed;
    const char *bname;
    if (!PyArg_ParseTuple(args, "O!OLOKs", &PyList_Type, &models, &y, &n, &sig, &seed, &bname))
        return NULL;
    Py_ssize_t nm = PyList_GET_SIZE(models);
    ds_backend *b = get_backend(bname);
    if (!b) return NULL;
    if (nm < 2 || nm > 64) {
        PyErr_SetString(PyExc_ValueError, "compare: expected a reference and 1 to 63 other models");
        return NULL;
    }
    ds_bound_model *bms[64];
    int64_t d = 0;
    for (Py_ssize_t i = 0; i < nm; i++) {
        ModelObject *m = as_model(PyList_GET_ITEM(models, i));
        if (!m) return NULL;
        if (i && m->m.d != d) {
            PyErr_SetString(PyExc_ValueError, "compare: the models have different dimensions");
            return NULL;
        }
        d = m->m.d;
    }
    // Bind after the checks: each model keeps one binding.
    for (Py_ssize_t i = 0; i < nm; i++)
        if (!(bms[i] = model_bind((ModelObject *)PyList_GET_ITEM(models, i), b))) return NULL;
    Py_buffer yv, sv;
    if (get_buffer(y, &yv, "d", 0, (Py_ssize_t)(n * d), "compare points")) return NULL;
    if (get_buffer(sig, &sv, "d", 0, -1, "compare sigmas")) {
        PyBuffer_Release(&yv);
        return NULL;
    }
    int ns = (int)(sv.len / 8);
    int64_t cells = (int64_t)(nm - 1) * ns;
    double *rel = malloc(sizeof(double) * (size_t)(cells ? cells : 1));
    double *ev = malloc(sizeof(double) * (size_t)(cells ? cells : 1));
    int rc = -1;
    if (rel && ev) {
        Py_BEGIN_ALLOW_THREADS rc =
            ds_denoiser_diff(b, bms, (int)nm, yv.buf, n, d, sv.buf, ns, seed, rel, ev);
        Py_END_ALLOW_THREADS
    } else
        ds_fail("compare: cannot allocate the result tables");
    PyBuffer_Release(&yv);
    PyBuffer_Release(&sv);
    PyObject *r =
        rc ? raise_ds() : Py_BuildValue("(NN)", bytes_of(rel, cells), bytes_of(ev, cells));
    free(rel);
    free(ev);
    return r;
}

static PyObject *py_version(PyObject *mod, PyObject *noargs) {
    (void)mod, (void)noargs;
    return PyUnicode_FromString(ds_version());
}

static PyObject *py_cuda_devices(PyObject *mod, PyObject *noargs) {
    (void)mod, (void)noargs;
    return PyLong_FromLong(ds_cuda_device_count());
}

static PyMethodDef core_methods[] = {
    {"load_data", py_load_data, METH_VARARGS, "load_data(path) -> dict"},
    {"fit", (PyCFunction)(void (*)(void))py_fit, METH_VARARGS | METH_KEYWORDS, "fits a model"},
    {"load_model", py_load_model, METH_VARARGS, "load_model(dir) -> Model"},
    {"callback_model", py_callback_model, METH_VARARGS, "callback_model(d, fn, accepts) -> Model"},
    {"denoise", py_denoise, METH_VARARGS, "denoise(model, x, rows, sigma, out, backend)"},
    {"schedule", py_schedule, METH_VARARGS, "schedule(options, model, backend) -> list"},
    {"sample", py_sample, METH_VARARGS, "sample(model, gauss, options, noise, out, backend)"},
    {"traj_geometry", py_traj_geometry, METH_VARARGS, "trajectory geometry"},
    {"memorization", py_memorization, METH_VARARGS, "nearest training rows"},
    {"pca_frechet", py_pca_frechet, METH_VARARGS, "PCA-Frechet distance"},
    {"denoiser_diff", py_denoiser_diff, METH_VARARGS, "denoiser comparison"},
    {"version", py_version, METH_NOARGS, "library version"},
    {"cuda_devices", py_cuda_devices, METH_NOARGS, "number of usable CUDA devices"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    "_core",
    "libdiffsamp bindings (use the diffsamp package)",
    -1,
    core_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__core(void) {
    if (PyType_Ready(&ModelType) < 0 || PyType_Ready(&ViewType) < 0) return NULL;
    PyObject *m = PyModule_Create(&core_module);
    if (!m) return NULL;
    Py_INCREF(&ModelType);
    if (PyModule_AddObject(m, "Model", (PyObject *)&ModelType) < 0) {
        Py_DECREF(&ModelType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&ViewType);
    if (PyModule_AddObject(m, "BatchView", (PyObject *)&ViewType) < 0) {
        Py_DECREF(&ViewType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "ACCEPT_HOST_F64", DS_ACCEPT_HOST_F64);
    PyModule_AddIntConstant(m, "ACCEPT_HOST_F32", DS_ACCEPT_HOST_F32);
    PyModule_AddIntConstant(m, "ACCEPT_CUDA_F32", DS_ACCEPT_CUDA_F32);
    return m;
}
