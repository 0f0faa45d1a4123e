/* _hotpath: the pattern table behind gt.worker.hotpath_detector.

   PatternTable.record(canon, metas) counts one occurrence of a batch
   pattern: its canonical form (from _batcher) and one small code per
   external input's dtype and shape.  A pattern seen more than `threshold`
   times is HOT; the worker sets COMPILED or FAILED once the engine has
   tried it.

   Entries live in a fixed slab of `capacity` slots and are found through
   buckets chained by signature (FNV-1a 64 over the canonical words and the
   metas, then murmur3's fmix64).  An entry matches on content (canon bytes
   and metas), never on the signature alone, so two patterns that share a
   bucket or a signature never return each other's entry.  Entries sit on
   one of two LRU lists, COLD and the rest (HOT, COMPILED, FAILED: what
   compiling taught is worth keeping); a new pattern in a full table evicts
   the least recently used COLD entry, else the least recently used entry.
   Every step is O(1) apart from hashing the canonical form.

   The table also watches the sequence of executed batches for a cycle
   (observe_segment): a training loop's step is a short repeating sequence
   of batch patterns (A B C A B C ...).  For each period P it keeps how many
   of the latest keys equal the key P before them; P is detected when that
   run reaches P, i.e. when the last 2P keys are two equal runs of length P.

   The same algorithm in Python: PyPatternTable in benchmarks/bench_hotpath.py.
*/

#define PY_SSIZE_T_CLEAN
#include "Python.h"
#include "structmember.h"

#include <string.h>

#include "gt_core.h"

enum { COLD, HOT, COMPILED, FAILED };
#define MAX_PERIOD 16
#define MAX_CAPACITY (1 << 24)
#define NONE (-1)

typedef struct {
    PyObject *PatternTableType;
} hotpath_state;

typedef struct {
    PyObject *canon;       /* bytes; NULL while the slot is free */
    int64_t *metas;
    Py_ssize_t n_metas;
    uint64_t sig;
    int64_t id;            /* serial * capacity + slot: never reused */
    int64_t count;
    int32_t chain;         /* next slot in the same bucket */
    int32_t prev, next;    /* LRU neighbours: prev is less recent */
    int state;
} entry;

typedef struct {
    PyObject_HEAD
    int64_t threshold;
    Py_ssize_t capacity;
    Py_ssize_t used;       /* slots 0..used-1 have been filled */
    Py_ssize_t n_buckets;  /* a power of two >= capacity */
    entry *entries;
    int32_t *buckets;
    int32_t lru_old[2], lru_new[2];   /* list 0: COLD, list 1: the rest */
    int64_t next_serial;
    long long evictions;
    PyObject *evicted;     /* list of ids evicted since take_evicted() */
    int64_t *metas;        /* metas of the record in progress */
    Py_ssize_t metas_cap;
    /* Cycle detector: the last MAX_PERIOD keys in a ring, and per period P
       how many of the latest keys equal the key P before them (<= P). */
    uint64_t keys[MAX_PERIOD];
    int runs[MAX_PERIOD + 1];
    int n_keys, key_pos;
} TableObject;


/* ---------------------------------------------------------------------- */
/* Signature                                                               */

#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME UINT64_C(0x100000001b3)

static uint64_t
signature(const unsigned char *canon, Py_ssize_t len, const int64_t *metas,
          Py_ssize_t n_metas)
{
    uint64_t h = FNV_OFFSET;
    Py_ssize_t i;

    for (i = 0; i + 4 <= len; i += 4) {
        uint32_t w = (uint32_t)canon[i] | (uint32_t)canon[i + 1] << 8
                     | (uint32_t)canon[i + 2] << 16 | (uint32_t)canon[i + 3] << 24;
        h = (h ^ w) * FNV_PRIME;
    }
    for (i = 0; i < n_metas; i++) {
        h = (h ^ ((uint64_t)metas[i] & 0xffffffffu)) * FNV_PRIME;
        h = (h ^ ((uint64_t)metas[i] >> 32)) * FNV_PRIME;
    }
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    return h ^ (h >> 33);
}

static inline int32_t
canon_word(PyObject *canon, Py_ssize_t k)
{
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(canon) + 4 * k;
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16
                 | (uint32_t)p[3] << 24;
    return (int32_t)u;
}


/* ---------------------------------------------------------------------- */
/* Buckets and LRU lists                                                   */

static inline int32_t *
bucket_of(TableObject *self, uint64_t sig)
{
    return &self->buckets[sig & (uint64_t)(self->n_buckets - 1)];
}

static inline int
list_of(const entry *e)
{
    return e->state != COLD;
}

static void
lru_unlink(TableObject *self, int32_t k)
{
    entry *e = &self->entries[k];
    int l = list_of(e);

    if (e->prev != NONE) {
        self->entries[e->prev].next = e->next;
    }
    else {
        self->lru_old[l] = e->next;
    }
    if (e->next != NONE) {
        self->entries[e->next].prev = e->prev;
    }
    else {
        self->lru_new[l] = e->prev;
    }
}

/* Make slot k the most recently used of its list. */
static void
lru_push(TableObject *self, int32_t k)
{
    entry *e = &self->entries[k];
    int l = list_of(e);

    e->prev = self->lru_new[l];
    e->next = NONE;
    if (e->prev != NONE) {
        self->entries[e->prev].next = k;
    }
    else {
        self->lru_old[l] = k;
    }
    self->lru_new[l] = k;
}

/* Give slot k a state and make it the most recently used of its list. */
static void
lru_move(TableObject *self, int32_t k, int state)
{
    lru_unlink(self, k);
    self->entries[k].state = state;
    lru_push(self, k);
}

/* Free the least recently used slot (COLD first) and return it. */
static int32_t
evict(TableObject *self)
{
    int32_t k = self->lru_old[0] != NONE ? self->lru_old[0] : self->lru_old[1];
    entry *e = &self->entries[k];
    int32_t *p = bucket_of(self, e->sig);
    PyObject *id = PyLong_FromLongLong(e->id);

    if (id == NULL || PyList_Append(self->evicted, id) < 0) {
        Py_XDECREF(id);
        return NONE;
    }
    Py_DECREF(id);
    while (*p != k) {
        p = &self->entries[*p].chain;
    }
    *p = e->chain;
    lru_unlink(self, k);
    Py_CLEAR(e->canon);
    PyMem_Free(e->metas);
    e->metas = NULL;
    self->evictions++;
    return k;
}

/* A new entry for canon and self->metas[0..n_metas), or NULL. */
static entry *
insert(TableObject *self, PyObject *canon, Py_ssize_t n_metas, uint64_t sig)
{
    int64_t *metas;
    int32_t k;
    entry *e;

    if (self->next_serial > (INT64_MAX - self->capacity) / self->capacity) {
        PyErr_SetString(PyExc_OverflowError, "PatternTable ran out of entry ids");
        return NULL;
    }
    metas = PyMem_Malloc(n_metas ? (size_t)n_metas * sizeof(int64_t) : 1);
    if (metas == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    k = self->used < self->capacity ? (int32_t)self->used++ : evict(self);
    if (k == NONE) {
        PyMem_Free(metas);
        return NULL;
    }
    e = &self->entries[k];
    memcpy(metas, self->metas, (size_t)n_metas * sizeof(int64_t));
    e->canon = Py_NewRef(canon);
    e->metas = metas;
    e->n_metas = n_metas;
    e->sig = sig;
    e->id = self->next_serial++ * self->capacity + k;
    e->count = 0;
    e->state = COLD;
    e->chain = *bucket_of(self, sig);
    *bucket_of(self, sig) = k;
    lru_push(self, k);
    return e;
}

/* The live entry with this id, or NULL with KeyError set. */
static entry *
find_id(TableObject *self, PyObject *id_obj)
{
    int64_t id;
    entry *e;

    if (read_int64(id_obj, 0, INT64_MAX, &id) < 0) {
        if (!PyLong_Check(id_obj)) {
            int_error(id_obj, 0, INT64_MAX, "entry_id");
            return NULL;
        }
        id = -1;
    }
    e = id >= 0 ? &self->entries[id % self->capacity] : NULL;
    if (e == NULL || e->canon == NULL || e->id != id) {
        PyErr_Format(PyExc_KeyError, "no pattern with entry_id %R (never made, or evicted)",
                     id_obj);
        return NULL;
    }
    return e;
}


/* ---------------------------------------------------------------------- */
/* PatternTable methods                                                    */

PyDoc_STRVAR(record__doc__,
"record($self, canon, metas, /)\n--\n\n"
"Count one occurrence of a pattern: (entry_id, count, state, signature).");

static PyObject *
Table_record(TableObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *canon, *metas;
    Py_ssize_t i, n_metas, len;
    int32_t k;
    uint64_t sig;
    entry *e = NULL;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "record() takes 2 arguments (canon, metas), got %zd",
                     nargs);
        return NULL;
    }
    canon = args[0];
    metas = args[1];
    if (!PyBytes_CheckExact(canon) || !PyTuple_Check(metas)) {
        PyErr_Format(PyExc_TypeError, "record() argument '%s' must be %s, not %.100s",
                     PyBytes_CheckExact(canon) ? "metas" : "canon",
                     PyBytes_CheckExact(canon) ? "a tuple" : "bytes",
                     Py_TYPE(PyBytes_CheckExact(canon) ? metas : canon)->tp_name);
        return NULL;
    }
    len = PyBytes_GET_SIZE(canon);
    n_metas = PyTuple_GET_SIZE(metas);
    if (len < 8 || len % 4 != 0) {
        PyErr_Format(PyExc_ValueError, "canon must be int32 words with a 2-word header, "
                     "got %zd bytes", len);
        return NULL;
    }
    if (n_metas != canon_word(canon, 1)) {
        PyErr_Format(PyExc_ValueError, "metas must have one code per external input: "
                     "canon has %d, metas %zd", (int)canon_word(canon, 1), n_metas);
        return NULL;
    }
    /* + 1: memcpy and memcmp need a valid pointer even for no metas. */
    if (GROW(self->metas, self->metas_cap, n_metas + 1) < 0) {
        return NULL;
    }
    for (i = 0; i < n_metas; i++) {
        PyObject *o = PyTuple_GET_ITEM(metas, i);
        if (read_int64(o, 0, INT64_MAX, &self->metas[i]) < 0) {
            return int_error(o, 0, INT64_MAX, "metas[%zd]", i), NULL;
        }
    }
    sig = signature((const unsigned char *)PyBytes_AS_STRING(canon), len,
                    self->metas, n_metas);
    for (k = *bucket_of(self, sig); k != NONE; k = self->entries[k].chain) {
        entry *c = &self->entries[k];
        if (c->n_metas == n_metas && PyBytes_GET_SIZE(c->canon) == len
            && memcmp(PyBytes_AS_STRING(c->canon), PyBytes_AS_STRING(canon), (size_t)len) == 0
            && memcmp(c->metas, self->metas, (size_t)n_metas * sizeof(int64_t)) == 0) {
            e = c;
            break;
        }
    }
    if (e == NULL && (e = insert(self, canon, n_metas, sig)) == NULL) {
        return NULL;
    }
    k = (int32_t)(e - self->entries);
    e->count++;
    lru_move(self, k, e->count > self->threshold && e->state == COLD ? HOT : e->state);
    return Py_BuildValue("(LLiK)", (long long)e->id, (long long)e->count, e->state,
                         (unsigned long long)e->sig);
}

PyDoc_STRVAR(set_state__doc__,
"set_state($self, entry_id, state, /)\n--\n\n"
"Set a pattern's state (COLD, HOT, COMPILED or FAILED).");

static PyObject *
Table_set_state(TableObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    int64_t state;
    entry *e;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "set_state() takes 2 arguments (entry_id, state), got %zd",
                     nargs);
        return NULL;
    }
    if (read_int64(args[1], COLD, FAILED, &state) < 0) {
        return int_error(args[1], COLD, FAILED, "state"), NULL;
    }
    if ((e = find_id(self, args[0])) == NULL) {
        return NULL;
    }
    lru_move(self, (int32_t)(e - self->entries), (int)state);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(state__doc__,
"state($self, entry_id, /)\n--\n\n"
"A pattern's state (COLD, HOT, COMPILED or FAILED).");

static PyObject *
Table_state(TableObject *self, PyObject *entry_id)
{
    entry *e = find_id(self, entry_id);

    return e == NULL ? NULL : PyLong_FromLong(e->state);
}

PyDoc_STRVAR(take_evicted__doc__,
"take_evicted($self, /)\n--\n\n"
"The entry ids evicted since the last call.");

static PyObject *
Table_take_evicted(TableObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *ids = PyList_AsTuple(self->evicted);

    if (ids != NULL && PyList_SetSlice(self->evicted, 0, PY_SSIZE_T_MAX, NULL) < 0) {
        Py_CLEAR(ids);
    }
    return ids;
}

PyDoc_STRVAR(entries__doc__,
"entries($self, /)\n--\n\n"
"(entry_id, signature, n_ops, count, state) of every pattern, least\n"
"recently used first within COLD, then within the rest.");

static PyObject *
Table_entries(TableObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *list = PyList_New(0), *item;
    int32_t k;
    int l;

    for (l = 0; l < 2 && list != NULL; l++) {
        for (k = self->lru_old[l]; k != NONE; k = self->entries[k].next) {
            entry *e = &self->entries[k];
            item = Py_BuildValue("(LKiLi)", (long long)e->id, (unsigned long long)e->sig,
                                 (int)canon_word(e->canon, 0), (long long)e->count, e->state);
            if (item == NULL || PyList_Append(list, item) < 0) {
                Py_XDECREF(item);
                Py_CLEAR(list);
                break;
            }
            Py_DECREF(item);
        }
    }
    return list;
}

PyDoc_STRVAR(observe_segment__doc__,
"observe_segment($self, key, /)\n--\n\n"
"Feed the key of the next executed batch; return the smallest period P\n"
"(1..16) such that the last 2P keys are two equal runs of length P, else 0.");

static PyObject *
Table_observe_segment(TableObject *self, PyObject *key_obj)
{
    unsigned long long key;
    int p, period = 0;

    if (!PyLong_Check(key_obj)) {
        PyErr_Format(PyExc_TypeError, "key must be int, not %.100s",
                     Py_TYPE(key_obj)->tp_name);
        return NULL;
    }
    key = PyLong_AsUnsignedLongLong(key_obj);
    if (key == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "key must be in [0, 2**64), got %R", key_obj);
        return NULL;
    }
    for (p = 1; p <= MAX_PERIOD; p++) {
        int before = (self->key_pos - p + MAX_PERIOD) % MAX_PERIOD;
        if (p <= self->n_keys && self->keys[before] == key) {
            self->runs[p] = Py_MIN(self->runs[p] + 1, p);
        }
        else {
            self->runs[p] = 0;
        }
        if (period == 0 && self->runs[p] == p) {
            period = p;
        }
    }
    self->keys[self->key_pos] = key;
    self->key_pos = (self->key_pos + 1) % MAX_PERIOD;
    self->n_keys = Py_MIN(self->n_keys + 1, MAX_PERIOD);
    return PyLong_FromLong(period);
}

PyDoc_STRVAR(reset_cycle__doc__,
"reset_cycle($self, /)\n--\n\n"
"Forget the keys seen by observe_segment.");

static PyObject *
Table_reset_cycle(TableObject *self, PyObject *Py_UNUSED(ignored))
{
    self->n_keys = 0;
    memset(self->runs, 0, sizeof(self->runs));
    Py_RETURN_NONE;
}

static Py_ssize_t
Table_len(TableObject *self)
{
    return self->used;   /* an evicted slot is refilled at once */
}


/* ---------------------------------------------------------------------- */
/* PatternTable type                                                       */

static PyObject *
Table_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"threshold", "capacity", NULL};
    PyObject *threshold, *capacity = NULL;
    int64_t t, cap = 1024;
    TableObject *self;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:PatternTable", kwlist,
                                     &threshold, &capacity)) {
        return NULL;
    }
    if (read_int64(threshold, 1, INT64_MAX, &t) < 0) {
        return int_error(threshold, 1, INT64_MAX, "threshold"), NULL;
    }
    if (capacity != NULL && read_int64(capacity, 1, MAX_CAPACITY, &cap) < 0) {
        return int_error(capacity, 1, MAX_CAPACITY, "capacity"), NULL;
    }
    self = (TableObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->threshold = t;
    self->capacity = (Py_ssize_t)cap;
    for (self->n_buckets = 1; self->n_buckets < cap; self->n_buckets *= 2) {
    }
    self->lru_old[0] = self->lru_old[1] = self->lru_new[0] = self->lru_new[1] = NONE;
    self->entries = PyMem_Calloc((size_t)cap, sizeof(entry));
    self->buckets = PyMem_Malloc((size_t)self->n_buckets * sizeof(int32_t));
    self->evicted = PyList_New(0);
    if (self->entries == NULL || self->buckets == NULL || self->evicted == NULL) {
        Py_DECREF(self);
        return PyErr_Occurred() ? NULL : PyErr_NoMemory();
    }
    memset(self->buckets, 0xff, (size_t)self->n_buckets * sizeof(int32_t));  /* NONE */
    return (PyObject *)self;
}

static void
Table_dealloc(TableObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    Py_ssize_t i;

    for (i = 0; self->entries != NULL && i < self->used; i++) {
        Py_XDECREF(self->entries[i].canon);
        PyMem_Free(self->entries[i].metas);
    }
    PyMem_Free(self->entries);
    PyMem_Free(self->buckets);
    PyMem_Free(self->metas);
    Py_XDECREF(self->evicted);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMethodDef Table_methods[] = {
    {"record", (PyCFunction)(void (*)(void))Table_record, METH_FASTCALL, record__doc__},
    {"set_state", (PyCFunction)(void (*)(void))Table_set_state, METH_FASTCALL,
     set_state__doc__},
    {"state", (PyCFunction)Table_state, METH_O, state__doc__},
    {"take_evicted", (PyCFunction)Table_take_evicted, METH_NOARGS, take_evicted__doc__},
    {"entries", (PyCFunction)Table_entries, METH_NOARGS, entries__doc__},
    {"observe_segment", (PyCFunction)Table_observe_segment, METH_O, observe_segment__doc__},
    {"reset_cycle", (PyCFunction)Table_reset_cycle, METH_NOARGS, reset_cycle__doc__},
    {NULL, NULL, 0, NULL}
};

static PyMemberDef Table_members[] = {
    {"evictions", T_LONGLONG, offsetof(TableObject, evictions), READONLY,
     "Patterns evicted so far."},
    {NULL, 0, 0, 0, NULL}
};

PyDoc_STRVAR(Table__doc__,
"PatternTable(threshold, capacity=1024)\n--\n\n"
"Counts batch patterns (bounded, LRU) and finds cycles in their sequence.");

static PyType_Slot Table_slots[] = {
    {Py_tp_doc, (void *)Table__doc__},
    {Py_tp_new, Table_new},
    {Py_tp_dealloc, Table_dealloc},
    {Py_tp_methods, Table_methods},
    {Py_tp_members, Table_members},
    {Py_sq_length, Table_len},
    {0, NULL}
};

static PyType_Spec Table_spec = {
    .name = "gt.worker._hotpath.PatternTable",
    .basicsize = sizeof(TableObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Table_slots,
};


/* ---------------------------------------------------------------------- */
/* Module                                                                  */

static int
hotpath_exec(PyObject *module)
{
    hotpath_state *st = PyModule_GetState(module);

    st->PatternTableType = PyType_FromModuleAndSpec(module, &Table_spec, NULL);
    if (st->PatternTableType == NULL
        || PyModule_AddType(module, (PyTypeObject *)st->PatternTableType) < 0
        || PyModule_AddIntConstant(module, "COLD", COLD) < 0
        || PyModule_AddIntConstant(module, "HOT", HOT) < 0
        || PyModule_AddIntConstant(module, "COMPILED", COMPILED) < 0
        || PyModule_AddIntConstant(module, "FAILED", FAILED) < 0
        || PyModule_AddIntConstant(module, "MAX_PERIOD", MAX_PERIOD) < 0) {
        return -1;
    }
    return 0;
}

static int
hotpath_traverse(PyObject *module, visitproc visit, void *arg)
{
    hotpath_state *st = PyModule_GetState(module);

    Py_VISIT(st->PatternTableType);
    return 0;
}

static int
hotpath_clear(PyObject *module)
{
    hotpath_state *st = PyModule_GetState(module);

    Py_CLEAR(st->PatternTableType);
    return 0;
}

static void
hotpath_free(void *module)
{
    (void)hotpath_clear((PyObject *)module);
}

static PyModuleDef_Slot hotpath_slots[] = {
    {Py_mod_exec, hotpath_exec},
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
    {0, NULL}
};

static struct PyModuleDef hotpath_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "gt.worker._hotpath",
    .m_doc = "The hot-path pattern table and cycle detector of the GT worker.",
    .m_size = sizeof(hotpath_state),
    .m_slots = hotpath_slots,
    .m_traverse = hotpath_traverse,
    .m_clear = hotpath_clear,
    .m_free = hotpath_free,
};

PyMODINIT_FUNC
PyInit__hotpath(void)
{
    return PyModuleDef_Init(&hotpath_module);
}
