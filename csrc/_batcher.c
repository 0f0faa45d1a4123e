/* _batcher: the canonical form of a batch of GT worker instructions.

   The worker keeps its pending instructions as tuples (opcode, result_id,
   input_ids, params, scalars) in a list and, once per batch, hands that
   list and the ids the client freed meanwhile to Batcher.flush_ops().  It
   returns the batch with every tensor id renumbered away, so the same loop
   body gives the same bytes in every iteration:

     canon      bytes of little-endian int32 words
                [n_ops, n_ext, per op: opcode, param_code, n_scalars,
                 n_inputs, input refs..., live]
                a ref j >= 0 is the result of op j of this batch, -(k+1)
                is external input k; live is 0 when the client freed the
                result inside the batch (a dead intermediate)
     ext_ids    the external inputs' ids, in first-use order
     live_ids   the results still referenced after the batch
     freed_ids  the freed ids that no op of the batch produced, once each

   Params (dims, shapes) are part of the pattern: they are interned into
   small codes keyed by exact value and type (params_equal), so (1,),
   (True,) and (1.0,) differ, and so do (0.0,) and (-0.0,).  Ids are mapped
   with an open-addressing table that is reused across flushes and emptied
   in O(1) by bumping a generation number.

   The same algorithm in Python: PyBatcher in benchmarks/bench_hotpath.py.
*/

#define PY_SSIZE_T_CLEAN
#include "Python.h"
#include "structmember.h"

#include <string.h>

#include "gt_core.h"

#define REF_FREED INT32_MIN    /* id-table ref: reported in freed_ids */
#define DEFAULT_PARAMS_LIMIT 65536
#define RECENT 64              /* params remembered by identity (a power of 2) */

typedef struct {
    PyObject *BatcherType;
} batcher_state;

typedef struct {
    int64_t id;
    int32_t ref;     /* op index, -(ext index + 1) or REF_FREED */
    uint32_t gen;    /* the slot is empty unless gen == the table's gen */
} id_slot;

typedef struct {
    PyObject_HEAD
    int64_t num_opcodes;
    /* Params interning: dict params -> list [params, code, params, code...]
       of the params that are == to the key, told apart by params_equal. */
    PyObject *codes;
    /* In front of it, the last params seen per identity hash: the client
       reuses many params objects (always the empty tuple), and a hit skips
       hashing and comparing them.  Strong references: an id is not reused
       while the object is held. */
    PyObject *recent[RECENT];
    int32_t recent_code[RECENT];
    Py_ssize_t interned;
    Py_ssize_t params_limit;
    int64_t next_code;
    /* Id table, reused by every flush. */
    id_slot *slots;
    Py_ssize_t n_slots;    /* a power of two: 2**(64 - shift) */
    int shift;
    Py_ssize_t used;
    uint32_t gen;
    /* Scratch arrays, reused by every flush. */
    int32_t *words;
    Py_ssize_t words_cap;
    int32_t *live_pos;     /* per op: index of its live word */
    Py_ssize_t live_cap;
    PyObject **ext;        /* borrowed from the snapshot of ops */
    Py_ssize_t ext_cap;
    PyObject **freed;      /* borrowed from the snapshot of frees */
    Py_ssize_t freed_cap;
    int busy;              /* a flush runs: Python code it calls may re-enter */
} BatcherObject;


/* ---------------------------------------------------------------------- */
/* Id table                                                                */

/* Start an empty table for the next flush. */
static void
ids_reset(BatcherObject *self)
{
    self->used = 0;
    if (++self->gen == 0) {
        memset(self->slots, 0, (size_t)self->n_slots * sizeof(id_slot));
        self->gen = 1;
    }
}

/* Fibonacci hashing: the top bits of id * 2**64/phi. */
static inline size_t
id_hash(int64_t id, int shift)
{
    return (size_t)(((uint64_t)id * UINT64_C(0x9E3779B97F4A7C15)) >> shift);
}

/* Double the table (keeping the load factor <= 1/2). */
static Py_NO_INLINE int
ids_grow(BatcherObject *self)
{
    Py_ssize_t n = self->n_slots ? 2 * self->n_slots : 64, i;
    int shift = self->n_slots ? self->shift - 1 : 64 - 6;
    id_slot *slots;

    if ((size_t)n > PY_SSIZE_T_MAX / sizeof(id_slot)) {
        PyErr_NoMemory();
        return -1;
    }
    slots = PyMem_Calloc((size_t)n, sizeof(id_slot));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (i = 0; i < self->n_slots; i++) {
        id_slot *s = &self->slots[i];
        if (s->gen == self->gen) {
            size_t j = id_hash(s->id, shift);
            while (slots[j].gen == self->gen) {
                j = (j + 1) & (size_t)(n - 1);
            }
            slots[j] = *s;
        }
    }
    PyMem_Free(self->slots);
    self->slots = slots;
    self->n_slots = n;
    self->shift = shift;
    return 0;
}

/* The slot of id; *fresh = 1 if the id was not in the table yet (the slot
   is then claimed and its ref must be set).  NULL on MemoryError. */
static inline id_slot *
ids_slot(BatcherObject *self, int64_t id, int *fresh)
{
    size_t i;

    if (2 * (self->used + 1) > self->n_slots && ids_grow(self) < 0) {
        return NULL;
    }
    for (i = id_hash(id, self->shift);; i = (i + 1) & (size_t)(self->n_slots - 1)) {
        id_slot *s = &self->slots[i];
        if (s->gen != self->gen) {
            s->id = id;
            s->gen = self->gen;
            self->used++;
            *fresh = 1;
            return s;
        }
        if (s->id == id) {
            *fresh = 0;
            return s;
        }
    }
}


/* ---------------------------------------------------------------------- */
/* Params interning                                                        */

/* 1 if a and b have the same type and value, recursively through tuples
   (and tuple subclasses such as torch.Size), with floats and complex
   numbers compared by their bits: 0.0 and -0.0 differ.  0 if not, -1 on
   error (an item's __eq__ may raise). */
static int
params_equal(PyObject *a, PyObject *b)
{
    Py_ssize_t i, n;
    int r = 1;

    if (a == b) {
        return 1;
    }
    if (Py_TYPE(a) != Py_TYPE(b)) {
        return 0;
    }
    if (PyFloat_Check(a)) {
        double x = PyFloat_AS_DOUBLE(a), y = PyFloat_AS_DOUBLE(b);
        return memcmp(&x, &y, sizeof(x)) == 0;
    }
    if (PyComplex_Check(a)) {
        Py_complex x = PyComplex_AsCComplex(a), y = PyComplex_AsCComplex(b);
        return memcmp(&x.real, &y.real, sizeof(double)) == 0
               && memcmp(&x.imag, &y.imag, sizeof(double)) == 0;
    }
    if (!PyTuple_Check(a)) {
        return PyObject_RichCompareBool(a, b, Py_EQ);
    }
    n = PyTuple_GET_SIZE(a);
    if (n != PyTuple_GET_SIZE(b)) {
        return 0;
    }
    if (Py_EnterRecursiveCall(" comparing params")) {
        return -1;
    }
    for (i = 0; i < n && r == 1; i++) {
        r = params_equal(PyTuple_GET_ITEM(a, i), PyTuple_GET_ITEM(b, i));
    }
    Py_LeaveRecursiveCall();
    return r;
}

static void
forget_recent(BatcherObject *self)
{
    int i;

    for (i = 0; i < RECENT; i++) {
        Py_CLEAR(self->recent[i]);
    }
}

/* intern_params() for params not among the recent ones. */
static int
intern_new_params(BatcherObject *self, PyObject *params, int32_t *code)
{
    PyObject *chain, *code_obj = NULL;
    Py_ssize_t i;
    int r;

    chain = PyDict_GetItemWithError(self->codes, params);
    if (chain == NULL && PyErr_Occurred()) {
        return -1;
    }
    Py_XINCREF(chain);  /* an item's __eq__ may run arbitrary code */
    for (i = 0; chain != NULL && i + 1 < PyList_GET_SIZE(chain); i += 2) {
        r = params_equal(PyList_GET_ITEM(chain, i), params);
        if (r < 0) {
            goto error;
        }
        if (r) {
            *code = (int32_t)PyLong_AsLong(PyList_GET_ITEM(chain, i + 1));
            Py_DECREF(chain);
            return 0;
        }
    }
    if (self->next_code > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "Batcher ran out of param codes");
        goto error;
    }
    if (self->interned >= self->params_limit) {
        /* Bounded: old params get new codes when they come back. */
        PyDict_Clear(self->codes);
        forget_recent(self);
        self->interned = 0;
        Py_CLEAR(chain);
    }
    if (chain == NULL) {
        chain = PyList_New(0);
        if (chain == NULL || PyDict_SetItem(self->codes, params, chain) < 0) {
            goto error;
        }
    }
    code_obj = PyLong_FromLongLong(self->next_code);
    if (code_obj == NULL || PyList_Append(chain, params) < 0
        || PyList_Append(chain, code_obj) < 0) {
        goto error;
    }
    *code = (int32_t)self->next_code++;
    self->interned++;
    Py_DECREF(code_obj);
    Py_DECREF(chain);
    return 0;

error:
    Py_XDECREF(code_obj);
    Py_XDECREF(chain);
    return -1;
}

/* The code of params (interning it if new) in *code; -1 on error. */
static inline int
intern_params(BatcherObject *self, PyObject *params, int32_t *code)
{
    size_t slot = ((uintptr_t)params >> 4) & (RECENT - 1);

    if (self->recent[slot] == params) {
        *code = self->recent_code[slot];
        return 0;
    }
    if (intern_new_params(self, params, code) < 0) {
        return -1;
    }
    Py_XSETREF(self->recent[slot], Py_NewRef(params));
    self->recent_code[slot] = *code;
    return 0;
}


/* ---------------------------------------------------------------------- */
/* Batcher.flush_ops                                                       */

/* Append ops[i] (op, already known to be a tuple) to the canonical words. */
static int
add_op(BatcherObject *self, PyObject *op, Py_ssize_t i, Py_ssize_t *nw,
       Py_ssize_t *n_ext)
{
    PyObject *inputs, *params, *scalars;
    Py_ssize_t k, n_in, w = *nw;
    int64_t opcode, rid, id;
    int32_t code;
    id_slot *s;
    int fresh;

    if (PyTuple_GET_SIZE(op) != 5) {
        PyErr_Format(PyExc_ValueError, "ops[%zd] must have 5 items (opcode, "
                     "result_id, input_ids, params, scalars), not %zd",
                     i, PyTuple_GET_SIZE(op));
        return -1;
    }
    inputs = PyTuple_GET_ITEM(op, 2);
    params = PyTuple_GET_ITEM(op, 3);
    scalars = PyTuple_GET_ITEM(op, 4);
    if (read_int64(PyTuple_GET_ITEM(op, 0), 0, self->num_opcodes - 1, &opcode) < 0) {
        return int_error(PyTuple_GET_ITEM(op, 0), 0, self->num_opcodes - 1,
                         "ops[%zd][0] (opcode)", i);
    }
    if (read_int64(PyTuple_GET_ITEM(op, 1), 0, INT64_MAX, &rid) < 0) {
        return int_error(PyTuple_GET_ITEM(op, 1), 0, INT64_MAX,
                         "ops[%zd][1] (result_id)", i);
    }
    if (!PyTuple_Check(inputs) || !PyTuple_Check(params) || !PyTuple_Check(scalars)) {
        k = !PyTuple_Check(inputs) ? 2 : !PyTuple_Check(params) ? 3 : 4;
        PyErr_Format(PyExc_TypeError, "ops[%zd][%zd] must be a tuple, not %.100s",
                     i, k, Py_TYPE(PyTuple_GET_ITEM(op, k))->tp_name);
        return -1;
    }
    n_in = PyTuple_GET_SIZE(inputs);
    if (n_in > INT32_MAX - 5 - w) {
        PyErr_SetString(PyExc_ValueError, "batch too large for its canonical form");
        return -1;
    }
    if (GROW(self->words, self->words_cap, w + 5 + n_in) < 0
        || GROW(self->ext, self->ext_cap, *n_ext + n_in) < 0) {
        return -1;
    }
    for (k = 0; k < n_in; k++) {
        PyObject *o = PyTuple_GET_ITEM(inputs, k);
        if (read_int64(o, 0, INT64_MAX, &id) < 0) {
            return int_error(o, 0, INT64_MAX, "ops[%zd][2][%zd] (input id)", i, k);
        }
        if ((s = ids_slot(self, id, &fresh)) == NULL) {
            return -1;
        }
        if (fresh) {
            self->ext[*n_ext] = o;
            s->ref = (int32_t)(-++*n_ext);
        }
        self->words[w + 4 + k] = s->ref;
    }
    if ((s = ids_slot(self, rid, &fresh)) == NULL) {
        return -1;
    }
    if (!fresh) {
        PyErr_Format(PyExc_ValueError, "ops[%zd][1] (result_id) %lld is not fresh: "
                     "an op of this batch already produced or read it",
                     i, (long long)rid);
        return -1;
    }
    s->ref = (int32_t)i;
    if (intern_params(self, params, &code) < 0) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "ops[%zd][3] (params) must be hashable", i);
        }
        return -1;
    }
    self->words[w] = (int32_t)opcode;
    self->words[w + 1] = code;
    self->words[w + 2] = (int32_t)Py_MIN(PyTuple_GET_SIZE(scalars), INT32_MAX);
    self->words[w + 3] = (int32_t)n_in;
    self->words[w + 4 + n_in] = 1;
    self->live_pos[i] = (int32_t)(w + 4 + n_in);
    *nw = w + 5 + n_in;
    return 0;
}

/* Note every id of frees: a result of the batch dies, any other id is
   reported once in freed.  Returns the number of freed ids or -1. */
static Py_ssize_t
add_frees(BatcherObject *self, PyObject *frees)
{
    Py_ssize_t k, n = PyTuple_GET_SIZE(frees), n_freed = 0;
    int64_t id;
    id_slot *s;
    int fresh;

    if (GROW(self->freed, self->freed_cap, n) < 0) {
        return -1;
    }
    for (k = 0; k < n; k++) {
        PyObject *o = PyTuple_GET_ITEM(frees, k);
        if (read_int64(o, 0, INT64_MAX, &id) < 0) {
            return int_error(o, 0, INT64_MAX, "frees[%zd]", k);
        }
        if ((s = ids_slot(self, id, &fresh)) == NULL) {
            return -1;
        }
        if (!fresh && s->ref >= 0) {
            self->words[self->live_pos[s->ref]] = 0;
        }
        else if (fresh || s->ref != REF_FREED) {
            s->ref = REF_FREED;
            self->freed[n_freed++] = o;
        }
    }
    return n_freed;
}

static PyObject *
objects_tuple(PyObject *const *objs, Py_ssize_t n)
{
    PyObject *t = PyTuple_New(n);
    Py_ssize_t i;

    for (i = 0; t != NULL && i < n; i++) {
        PyTuple_SET_ITEM(t, i, Py_NewRef(objs[i]));
    }
    return t;
}

/* The flush itself, on snapshots of the caller's lists (tuples: Python
   code run meanwhile cannot change them). */
static PyObject *
flush(BatcherObject *self, PyObject *ops, PyObject *frees)
{
    PyObject *canon = NULL, *ext = NULL, *live = NULL, *freed = NULL, *result;
    Py_ssize_t i, n_ops = PyTuple_GET_SIZE(ops), nw = 2, n_ext = 0, n_live = 0, n_freed;
#if !PY_LITTLE_ENDIAN
    unsigned char *p;
#endif

    ids_reset(self);
    if (GROW(self->live_pos, self->live_cap, n_ops) < 0
        || GROW(self->words, self->words_cap, 2) < 0) {
        return NULL;
    }
    for (i = 0; i < n_ops; i++) {
        PyObject *op = PyTuple_GET_ITEM(ops, i);
        if (!PyTuple_Check(op)) {
            PyErr_Format(PyExc_TypeError, "ops[%zd] must be a tuple, not %.100s",
                         i, Py_TYPE(op)->tp_name);
            return NULL;
        }
        if (add_op(self, op, i, &nw, &n_ext) < 0) {
            return NULL;
        }
    }
    if ((n_freed = add_frees(self, frees)) < 0) {
        return NULL;
    }
    self->words[0] = (int32_t)n_ops;
    self->words[1] = (int32_t)n_ext;
    canon = PyBytes_FromStringAndSize(NULL, 4 * nw);
    live = PyTuple_New(n_ops);
    if (canon == NULL || live == NULL) {
        goto error;
    }
#if PY_LITTLE_ENDIAN
    memcpy(PyBytes_AS_STRING(canon), self->words, 4 * (size_t)nw);
#else
    p = (unsigned char *)PyBytes_AS_STRING(canon);
    for (i = 0; i < nw; i++, p += 4) {
        uint32_t u = (uint32_t)self->words[i];
        p[0] = (unsigned char)u;
        p[1] = (unsigned char)(u >> 8);
        p[2] = (unsigned char)(u >> 16);
        p[3] = (unsigned char)(u >> 24);
    }
#endif
    for (i = 0; i < n_ops; i++) {
        if (self->words[self->live_pos[i]]) {
            PyObject *rid = PyTuple_GET_ITEM(PyTuple_GET_ITEM(ops, i), 1);
            PyTuple_SET_ITEM(live, n_live++, Py_NewRef(rid));
        }
    }
    if (_PyTuple_Resize(&live, n_live) < 0
        || (ext = objects_tuple(self->ext, n_ext)) == NULL
        || (freed = objects_tuple(self->freed, n_freed)) == NULL) {
        goto error;
    }
    if ((result = PyTuple_New(4)) == NULL) {
        goto error;
    }
    PyTuple_SET_ITEM(result, 0, canon);
    PyTuple_SET_ITEM(result, 1, ext);
    PyTuple_SET_ITEM(result, 2, live);
    PyTuple_SET_ITEM(result, 3, freed);
    return result;

error:
    Py_XDECREF(canon);
    Py_XDECREF(ext);
    Py_XDECREF(live);
    Py_XDECREF(freed);
    return NULL;
}

PyDoc_STRVAR(flush_ops__doc__,
"flush_ops($self, ops, frees, /)\n--\n\n"
"Canonical form of one batch: (canon, ext_ids, live_ids, freed_ids).\n\n"
"ops: list of (opcode, result_id, input_ids, params, scalars) tuples;\n"
"frees: list of the ids the client freed since the last flush.");

static PyObject *
Batcher_flush_ops(BatcherObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *ops = NULL, *frees = NULL, *result = NULL;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "flush_ops() takes 2 arguments (ops, frees), got %zd",
                     nargs);
        return NULL;
    }
    if (!PyList_Check(args[0]) || !PyList_Check(args[1])) {
        PyErr_Format(PyExc_TypeError, "flush_ops() argument '%s' must be a list, not %.100s",
                     PyList_Check(args[0]) ? "frees" : "ops",
                     Py_TYPE(args[PyList_Check(args[0])])->tp_name);
        return NULL;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "flush_ops() called while it runs "
                        "(from a params item's __eq__ or __hash__)");
        return NULL;
    }
    ops = PyList_AsTuple(args[0]);
    frees = PyList_AsTuple(args[1]);
    if (ops != NULL && frees != NULL) {
        self->busy = 1;
        result = flush(self, ops, frees);
        self->busy = 0;
    }
    Py_XDECREF(ops);
    Py_XDECREF(frees);
    return result;
}


/* ---------------------------------------------------------------------- */
/* Batcher type                                                            */

static PyObject *
Batcher_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"num_opcodes", "params_limit", NULL};
    PyObject *num_opcodes, *limit = NULL;
    int64_t n, lim = DEFAULT_PARAMS_LIMIT;
    BatcherObject *self;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$O:Batcher", kwlist,
                                     &num_opcodes, &limit)) {
        return NULL;
    }
    if (read_int64(num_opcodes, 1, INT32_MAX, &n) < 0) {
        return int_error(num_opcodes, 1, INT32_MAX, "num_opcodes"), NULL;
    }
    if (limit != NULL && read_int64(limit, 1, PY_SSIZE_T_MAX, &lim) < 0) {
        return int_error(limit, 1, PY_SSIZE_T_MAX, "params_limit"), NULL;
    }
    self = (BatcherObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->num_opcodes = n;
    self->params_limit = (Py_ssize_t)lim;
    self->codes = PyDict_New();
    if (self->codes == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int
Batcher_traverse(BatcherObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->codes);
    for (int i = 0; i < RECENT; i++) {
        Py_VISIT(self->recent[i]);
    }
    return 0;
}

static int
Batcher_clear(BatcherObject *self)
{
    Py_CLEAR(self->codes);
    forget_recent(self);
    return 0;
}

static void
Batcher_dealloc(BatcherObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);

    PyObject_GC_UnTrack(self);
    (void)Batcher_clear(self);
    PyMem_Free(self->slots);
    PyMem_Free(self->words);
    PyMem_Free(self->live_pos);
    PyMem_Free(self->ext);
    PyMem_Free(self->freed);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMethodDef Batcher_methods[] = {
    {"flush_ops", (PyCFunction)(void (*)(void))Batcher_flush_ops, METH_FASTCALL,
     flush_ops__doc__},
    {NULL, NULL, 0, NULL}
};

static PyMemberDef Batcher_members[] = {
    {"interned", T_PYSSIZET, offsetof(BatcherObject, interned), READONLY,
     "Number of params interned now (at most params_limit)."},
    {NULL, 0, 0, 0, NULL}
};

PyDoc_STRVAR(Batcher__doc__,
"Batcher(num_opcodes, *, params_limit=65536)\n--\n\n"
"Turns the worker's pending ops into the canonical form of a batch.");

static PyType_Slot Batcher_slots[] = {
    {Py_tp_doc, (void *)Batcher__doc__},
    {Py_tp_new, Batcher_new},
    {Py_tp_dealloc, Batcher_dealloc},
    {Py_tp_traverse, Batcher_traverse},
    {Py_tp_clear, Batcher_clear},
    {Py_tp_methods, Batcher_methods},
    {Py_tp_members, Batcher_members},
    {0, NULL}
};

static PyType_Spec Batcher_spec = {
    .name = "gt.worker._batcher.Batcher",
    .basicsize = sizeof(BatcherObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Batcher_slots,
};


/* ---------------------------------------------------------------------- */
/* Module                                                                  */

static int
batcher_exec(PyObject *module)
{
    batcher_state *st = PyModule_GetState(module);

    st->BatcherType = PyType_FromModuleAndSpec(module, &Batcher_spec, NULL);
    if (st->BatcherType == NULL) {
        return -1;
    }
    return PyModule_AddType(module, (PyTypeObject *)st->BatcherType);
}

static int
batcher_traverse(PyObject *module, visitproc visit, void *arg)
{
    batcher_state *st = PyModule_GetState(module);

    Py_VISIT(st->BatcherType);
    return 0;
}

static int
batcher_clear(PyObject *module)
{
    batcher_state *st = PyModule_GetState(module);

    Py_CLEAR(st->BatcherType);
    return 0;
}

static void
batcher_free(void *module)
{
    (void)batcher_clear((PyObject *)module);
}

static PyModuleDef_Slot batcher_slots[] = {
    {Py_mod_exec, batcher_exec},
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL}
};

static struct PyModuleDef batcher_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "gt.worker._batcher",
    .m_doc = "Canonical form of a batch of GT worker instructions (Batcher).",
    .m_size = sizeof(batcher_state),
    .m_slots = batcher_slots,
    .m_traverse = batcher_traverse,
    .m_clear = batcher_clear,
    .m_free = batcher_free,
};

PyMODINIT_FUNC
PyInit__batcher(void)
{
    return PyModuleDef_Init(&batcher_module);
}
