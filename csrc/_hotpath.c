/* C accelerator for GT's hot-path detection: batch signatures and the
   pattern table.

   Every batch the worker flushes is described by its canonical form (the
   bytes produced by _batcher, free of tensor ids) plus one small int per
   external input ("meta", interning the input's dtype and shape on the
   Python side).  signature() hashes the two into a 64-bit structural hash:
   FNV-1a 64 over the canonical int32 words, then over the metas (each as
   two 32-bit halves, low half first), then the murmur3 fmix64 finaliser.

   PatternTable counts how often each pattern occurs.  Entries are found by
   signature and confirmed by comparing a private copy of the canon+metas
   content, so two patterns whose signatures collide stay distinct entries.
   Each entry moves COLD -> HOT when its count reaches threshold+1; the
   Python side then compiles it and reports COMPILED or FAILED through
   set_state().  The table is bounded: when a new entry would exceed
   capacity it evicts the least recently used COLD/FAILED entry, or, if
   there is none, the least recently used entry of any state.  Two
   recency-ordered doubly linked lists (cold-or-failed, hot-or-compiled)
   make that O(1).  Entries are chained by signature in one bucket array
   and by entry id in another.

   Module contents: signature(), PatternTable (type), COLD, HOT, COMPILED,
   FAILED.
*/

#define PY_SSIZE_T_CLEAN
#include "Python.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gt_core.h"

#define STATE_COLD     0
#define STATE_HOT      1
#define STATE_COMPILED 2
#define STATE_FAILED   3

/* LRU list of an entry: 0 for COLD/FAILED, 1 for HOT/COMPILED. */
#define LRU_CLASS(state) ((state) == STATE_HOT || (state) == STATE_COMPILED)

#define GOLDEN UINT64_C(0x9E3779B97F4A7C15)

#define MIN_BUCKETS 16

typedef struct {
    uint64_t sig;               /* signature masked to hash_bits */
    int64_t entry_id;
    int64_t count;
    int64_t last_use;           /* recency tick */
    int64_t eager_runs;
    int64_t compiled_runs;
    double eager_seconds;
    double compiled_seconds;
    /* Private copy of the key: n_metas int64 metas, then the canon. */
    int64_t *key;
    Py_ssize_t n_metas;
    Py_ssize_t canon_len;
    int32_t n_ops;
    int state;
    Py_ssize_t sig_next;        /* chain in sig_buckets, -1 ends */
    Py_ssize_t id_next;         /* chain in id_buckets, -1 ends */
    Py_ssize_t lru_prev;        /* towards more recently used, -1 ends */
    Py_ssize_t lru_next;        /* towards less recently used, -1 ends */
} pt_entry;

/* A copy of the reportable fields of an entry, taken before any Python
   object is created (allocation may run finalizers that mutate the
   table). */
typedef struct {
    uint64_t sig;
    int64_t entry_id;
    int64_t count;
    int64_t eager_runs;
    int64_t compiled_runs;
    double eager_seconds;
    double compiled_seconds;
    int32_t n_ops;
    int state;
} pt_snapshot;


/* ---------------------------------------------------------------------- */
/* Static helpers                                                          */

/* Argument checking, growable arrays and canonical-form validation are
   shared with _batcher.c: see gt_core.h. */

/* An entry id argument: TypeError if not an int; *found = 0 if the int
   cannot name an entry (negative or beyond int64). */
static int
get_entry_id(PyObject *o, int64_t *out, int *found)
{
    long long v;
    int overflow;

    if (!PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError, "entry_id must be int, not %.100s",
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    *found = !overflow && v >= 0;
    *out = (int64_t)v;
    return 0;
}

static inline uint64_t
fmix64(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

/* Type-check canon and metas, convert metas into *metas_buf (grown as
   needed), validate canon and compute the full signature. */
static int
compute_signature(PyObject *canon, PyObject *metas, int64_t **metas_buf,
                  Py_ssize_t *metas_cap, int32_t *n_ops, uint64_t *sig)
{
    Py_ssize_t n_metas, i;
    int32_t n_ext;
    uint64_t h;
    int64_t *m;

    if (!PyBytes_Check(canon)) {
        PyErr_Format(PyExc_TypeError, "canon must be bytes, not %.100s",
                     Py_TYPE(canon)->tp_name);
        return -1;
    }
    if (!PyTuple_Check(metas)) {
        PyErr_Format(PyExc_TypeError,
                     "metas must be a tuple of ints, not %.100s",
                     Py_TYPE(metas)->tp_name);
        return -1;
    }
    n_metas = PyTuple_GET_SIZE(metas);
    RESERVE(*metas_buf, *metas_cap, n_metas);
    m = *metas_buf;
    for (i = 0; i < n_metas; i++) {
        if (get_int64(PyTuple_GET_ITEM(metas, i), -1, "metas", i,
                      0, INT64_MAX, &m[i]) < 0) {
            return -1;
        }
    }
    if (canon_validate((const unsigned char *)PyBytes_AS_STRING(canon),
                       PyBytes_GET_SIZE(canon), n_ops, &n_ext, &h) < 0) {
        return -1;
    }
    if (n_metas != (Py_ssize_t)n_ext) {
        PyErr_Format(PyExc_ValueError,
                     "metas has %zd items but canon has %d external inputs",
                     n_metas, (int)n_ext);
        return -1;
    }
    for (i = 0; i < n_metas; i++) {
        uint64_t u = (uint64_t)m[i];
        h = (h ^ (u & 0xffffffffu)) * FNV_PRIME;
        h = (h ^ (u >> 32)) * FNV_PRIME;
    }
    *sig = fmix64(h);
    return 0;
}


/* ---------------------------------------------------------------------- */
/* Module state                                                            */

enum {
    K_ENTRY_ID, K_SIGNATURE, K_N_OPS, K_COUNT, K_STATE, K_EAGER_RUNS,
    K_EAGER_SECONDS, K_COMPILED_RUNS, K_COMPILED_SECONDS,
    K_TOTAL_BATCHES, K_HOT_BATCHES_EXECUTED, K_UNIQUE_PATTERNS,
    K_HOT_PATHS, K_HOT_THRESHOLD, K_EVICTIONS, K_COLLISIONS, K_CAPACITY,
    N_KEYS
};

static const char *const key_names[N_KEYS] = {
    "entry_id", "signature", "n_ops", "count", "state", "eager_runs",
    "eager_seconds", "compiled_runs", "compiled_seconds",
    "total_batches", "hot_batches_executed", "unique_patterns",
    "hot_paths", "hot_threshold", "evictions", "collisions", "capacity",
};

typedef struct {
    PyObject *PatternTableType;
    PyObject *keys[N_KEYS];     /* interned dict keys */
} hotpath_state;

static inline hotpath_state *
get_hotpath_state(PyObject *module)
{
    return (hotpath_state *)PyModule_GetState(module);
}


/* ---------------------------------------------------------------------- */
/* PatternTable type                                                       */

typedef struct {
    PyObject_HEAD
    int64_t threshold;
    Py_ssize_t capacity;
    int hash_bits;
    uint64_t sig_mask;

    pt_entry *entries;          /* dense: entries[0 .. n_entries-1] */
    Py_ssize_t n_entries;
    Py_ssize_t cap_entries;

    Py_ssize_t *sig_buckets;    /* heads of chains by signature */
    Py_ssize_t *id_buckets;     /* heads of chains by entry id */
    size_t n_buckets;           /* 0 or a power of two */
    int bucket_shift;           /* 64 - log2(n_buckets) */

    Py_ssize_t lru_head[2];     /* most recently used, per LRU class */
    Py_ssize_t lru_tail[2];     /* least recently used, per LRU class */
    int64_t tick;
    int64_t next_id;

    int64_t *evicted;           /* ids for take_evicted() */
    Py_ssize_t n_evicted;
    Py_ssize_t cap_evicted;

    int64_t *metas;             /* scratch for record() */
    Py_ssize_t cap_metas;

    int64_t total_batches;
    int64_t hot_batches;
    int64_t evictions;
    int64_t collisions;
    Py_ssize_t n_hot;
} PatternTableObject;

/* The type is not subclassable, so Py_TYPE(self) is the type created by
   this module and holds its state.  NULL with RuntimeError if the state was
   already cleared (possible only late in interpreter shutdown). */
static hotpath_state *
table_state(PatternTableObject *self)
{
    hotpath_state *st = PyType_GetModuleState(Py_TYPE(self));

    if (st == NULL || st->keys[0] == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_RuntimeError,
                            "gt.worker._hotpath module state is gone");
        }
        return NULL;
    }
    return st;
}

static inline size_t
bucket_of(const PatternTableObject *self, uint64_t key)
{
    return (size_t)((key * GOLDEN) >> self->bucket_shift);
}

static inline int
state_is_hot(int state)
{
    return state == STATE_HOT || state == STATE_COMPILED;
}

/* --- LRU lists ---------------------------------------------------------- */

static void
lru_unlink(PatternTableObject *self, Py_ssize_t i)
{
    pt_entry *E = self->entries;
    pt_entry *e = &E[i];
    int c = LRU_CLASS(e->state);

    if (e->lru_prev >= 0) {
        E[e->lru_prev].lru_next = e->lru_next;
    }
    else {
        self->lru_head[c] = e->lru_next;
    }
    if (e->lru_next >= 0) {
        E[e->lru_next].lru_prev = e->lru_prev;
    }
    else {
        self->lru_tail[c] = e->lru_prev;
    }
    e->lru_prev = e->lru_next = -1;
}

/* Insert entry i into the list of its class, keeping the list ordered by
   last_use (most recent first).  O(1) when i is the most recently used,
   which is the common case. */
static void
lru_insert(PatternTableObject *self, Py_ssize_t i)
{
    pt_entry *E = self->entries;
    pt_entry *e = &E[i];
    int c = LRU_CLASS(e->state);
    Py_ssize_t next = self->lru_head[c], prev = -1;

    while (next >= 0 && E[next].last_use > e->last_use) {
        prev = next;
        next = E[next].lru_next;
    }
    e->lru_prev = prev;
    e->lru_next = next;
    if (prev >= 0) {
        E[prev].lru_next = i;
    }
    else {
        self->lru_head[c] = i;
    }
    if (next >= 0) {
        E[next].lru_prev = i;
    }
    else {
        self->lru_tail[c] = i;
    }
}

static void
entry_set_state(PatternTableObject *self, Py_ssize_t i, int state)
{
    pt_entry *e = &self->entries[i];

    if (e->state == state) {
        return;
    }
    self->n_hot += state_is_hot(state) - state_is_hot(e->state);
    if (LRU_CLASS(e->state) != LRU_CLASS(state)) {
        lru_unlink(self, i);
        e->state = state;
        lru_insert(self, i);
    }
    else {
        e->state = state;
    }
}

/* --- hash chains -------------------------------------------------------- */

static Py_ssize_t
find_by_id(const PatternTableObject *self, int64_t entry_id)
{
    Py_ssize_t i;

    if (self->n_buckets == 0) {
        return -1;
    }
    i = self->id_buckets[bucket_of(self, (uint64_t)entry_id)];
    while (i >= 0) {
        if (self->entries[i].entry_id == entry_id) {
            return i;
        }
        i = self->entries[i].id_next;
    }
    return -1;
}

static void
chains_link(PatternTableObject *self, Py_ssize_t i)
{
    pt_entry *e = &self->entries[i];
    size_t b;

    b = bucket_of(self, e->sig);
    e->sig_next = self->sig_buckets[b];
    self->sig_buckets[b] = i;
    b = bucket_of(self, (uint64_t)e->entry_id);
    e->id_next = self->id_buckets[b];
    self->id_buckets[b] = i;
}

static void
chains_unlink(PatternTableObject *self, Py_ssize_t i)
{
    pt_entry *E = self->entries;
    Py_ssize_t *p;

    p = &self->sig_buckets[bucket_of(self, E[i].sig)];
    while (*p != i) {
        p = &E[*p].sig_next;
    }
    *p = E[i].sig_next;
    p = &self->id_buckets[bucket_of(self, (uint64_t)E[i].entry_id)];
    while (*p != i) {
        p = &E[*p].id_next;
    }
    *p = E[i].id_next;
}

/* Make sure the buckets can hold `need` entries at load factor <= 1. */
static int
reserve_buckets(PatternTableObject *self, Py_ssize_t need)
{
    size_t n, j;
    Py_ssize_t *sb, *ib, i;
    int bits;

    if (self->n_buckets != 0 && (size_t)need <= self->n_buckets) {
        return 0;
    }
    n = self->n_buckets ? self->n_buckets : MIN_BUCKETS;
    while (n < (size_t)need) {
        if (n > ((size_t)PY_SSIZE_T_MAX / sizeof(Py_ssize_t)) / 2) {
            PyErr_NoMemory();
            return -1;
        }
        n *= 2;
    }
    sb = PyMem_Malloc(n * sizeof(Py_ssize_t));
    ib = PyMem_Malloc(n * sizeof(Py_ssize_t));
    if (sb == NULL || ib == NULL) {
        PyMem_Free(sb);
        PyMem_Free(ib);
        PyErr_NoMemory();
        return -1;
    }
    for (j = 0; j < n; j++) {
        sb[j] = ib[j] = -1;
    }
    for (bits = 0; ((size_t)1 << bits) < n; bits++) {
    }
    PyMem_Free(self->sig_buckets);
    PyMem_Free(self->id_buckets);
    self->sig_buckets = sb;
    self->id_buckets = ib;
    self->n_buckets = n;
    self->bucket_shift = 64 - bits;
    for (i = 0; i < self->n_entries; i++) {
        chains_link(self, i);
    }
    return 0;
}

/* Remove entry v (chosen by the eviction policy) and queue its id; the
   caller reserved room in the evicted queue.  Slot v is left for reuse. */
static void
evict_entry(PatternTableObject *self, Py_ssize_t v)
{
    pt_entry *e = &self->entries[v];

    lru_unlink(self, v);
    chains_unlink(self, v);
    if (state_is_hot(e->state)) {
        self->n_hot--;
    }
    self->evicted[self->n_evicted++] = e->entry_id;
    self->evictions++;
    PyMem_Free(e->key);
    e->key = NULL;
}

static void
table_drop_all(PatternTableObject *self)
{
    Py_ssize_t i;
    size_t j;

    for (i = 0; i < self->n_entries; i++) {
        PyMem_Free(self->entries[i].key);
        self->entries[i].key = NULL;
    }
    self->n_entries = 0;
    for (j = 0; j < self->n_buckets; j++) {
        self->sig_buckets[j] = self->id_buckets[j] = -1;
    }
    self->lru_head[0] = self->lru_head[1] = -1;
    self->lru_tail[0] = self->lru_tail[1] = -1;
    self->n_hot = 0;
}

static void
snapshot_entry(const pt_entry *e, pt_snapshot *s)
{
    s->sig = e->sig;
    s->entry_id = e->entry_id;
    s->count = e->count;
    s->eager_runs = e->eager_runs;
    s->compiled_runs = e->compiled_runs;
    s->eager_seconds = e->eager_seconds;
    s->compiled_seconds = e->compiled_seconds;
    s->n_ops = e->n_ops;
    s->state = e->state;
}

/* Set d[key] = value, stealing the reference to value. */
static int
dict_set_steal(PyObject *d, PyObject *key, PyObject *value)
{
    int r;

    if (value == NULL) {
        return -1;
    }
    r = PyDict_SetItem(d, key, value);
    Py_DECREF(value);
    return r;
}

static PyObject *
snapshot_dict(hotpath_state *st, const pt_snapshot *s)
{
    PyObject *d = PyDict_New();
    PyObject **k = st->keys;

    if (d == NULL) {
        return NULL;
    }
    if (dict_set_steal(d, k[K_ENTRY_ID], PyLong_FromLongLong(s->entry_id)) < 0
        || dict_set_steal(d, k[K_SIGNATURE],
                          PyLong_FromUnsignedLongLong(s->sig)) < 0
        || dict_set_steal(d, k[K_N_OPS], PyLong_FromLong(s->n_ops)) < 0
        || dict_set_steal(d, k[K_COUNT], PyLong_FromLongLong(s->count)) < 0
        || dict_set_steal(d, k[K_STATE], PyLong_FromLong(s->state)) < 0
        || dict_set_steal(d, k[K_EAGER_RUNS],
                          PyLong_FromLongLong(s->eager_runs)) < 0
        || dict_set_steal(d, k[K_EAGER_SECONDS],
                          PyFloat_FromDouble(s->eager_seconds)) < 0
        || dict_set_steal(d, k[K_COMPILED_RUNS],
                          PyLong_FromLongLong(s->compiled_runs)) < 0
        || dict_set_steal(d, k[K_COMPILED_SECONDS],
                          PyFloat_FromDouble(s->compiled_seconds)) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

/* Order for top(): count descending, then entry id ascending. */
static int
snapshot_cmp(const void *a, const void *b)
{
    const pt_snapshot *x = a, *y = b;

    if (x->count != y->count) {
        return x->count > y->count ? -1 : 1;
    }
    return (x->entry_id > y->entry_id) - (x->entry_id < y->entry_id);
}

/* --- methods ------------------------------------------------------------ */

static PyObject *
PatternTable_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"threshold", "capacity", "hash_bits", NULL};
    PyObject *threshold_o, *capacity_o = NULL, *hash_bits_o = NULL;
    int64_t threshold, capacity = 1024, hash_bits = 64;
    PatternTableObject *self;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O$O:PatternTable",
                                     kwlist, &threshold_o, &capacity_o,
                                     &hash_bits_o)) {
        return NULL;
    }
    if (get_int64(threshold_o, -1, "threshold", -1, 1, INT64_MAX - 1,
                  &threshold) < 0) {
        return NULL;
    }
    if (capacity_o != NULL
        && get_int64(capacity_o, -1, "capacity", -1, 1,
                     (int64_t)(PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(pt_entry) / 4),
                     &capacity) < 0) {
        return NULL;
    }
    if (hash_bits_o != NULL
        && get_int64(hash_bits_o, -1, "hash_bits", -1, 1, 64,
                     &hash_bits) < 0) {
        return NULL;
    }
    self = (PatternTableObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->threshold = threshold;
    self->capacity = (Py_ssize_t)capacity;
    self->hash_bits = (int)hash_bits;
    self->sig_mask = hash_bits == 64
                     ? UINT64_MAX : ((UINT64_C(1) << hash_bits) - 1);
    self->lru_head[0] = self->lru_head[1] = -1;
    self->lru_tail[0] = self->lru_tail[1] = -1;
    return (PyObject *)self;
}

static void
PatternTable_dealloc(PyObject *op)
{
    PatternTableObject *self = (PatternTableObject *)op;
    PyTypeObject *tp = Py_TYPE(op);

    table_drop_all(self);
    PyMem_Free(self->entries);
    PyMem_Free(self->sig_buckets);
    PyMem_Free(self->id_buckets);
    PyMem_Free(self->evicted);
    PyMem_Free(self->metas);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyObject *
PatternTable_repr(PyObject *op)
{
    PatternTableObject *self = (PatternTableObject *)op;

    return PyUnicode_FromFormat("<PatternTable threshold=%lld capacity=%zd "
                                "entries=%zd>", (long long)self->threshold,
                                self->capacity, self->n_entries);
}

static Py_ssize_t
PatternTable_len(PyObject *op)
{
    return ((PatternTableObject *)op)->n_entries;
}

PyDoc_STRVAR(PatternTable_record__doc__,
"record($self, canon, metas, /)\n"
"--\n"
"\n"
"Count one occurrence of the batch pattern (canon, metas).\n"
"\n"
"Return (entry_id, count, state).  The entry turns HOT when its count\n"
"reaches threshold + 1 while COLD.  A new pattern may evict the least\n"
"recently used COLD/FAILED entry (else the least recently used entry);\n"
"evicted ids are queued for take_evicted().");

static PyObject *
PatternTable_record(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    PatternTableObject *self = (PatternTableObject *)op;
    PyObject *canon, *res, *v;
    const char *cbuf;
    Py_ssize_t clen, n_metas, i;
    int32_t n_ops;
    uint64_t sig;
    int collided = 0;
    int64_t entry_id, count;
    int state;
    pt_entry *e;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "record() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    if (compute_signature(args[0], args[1], &self->metas, &self->cap_metas,
                          &n_ops, &sig) < 0) {
        return NULL;
    }
    sig &= self->sig_mask;
    canon = args[0];
    cbuf = PyBytes_AS_STRING(canon);
    clen = PyBytes_GET_SIZE(canon);
    n_metas = PyTuple_GET_SIZE(args[1]);

    i = self->n_buckets ? self->sig_buckets[bucket_of(self, sig)] : -1;
    for (; i >= 0; i = self->entries[i].sig_next) {
        e = &self->entries[i];
        if (e->sig != sig) {
            continue;
        }
        if (e->canon_len == clen && e->n_metas == n_metas
            && (n_metas == 0
                || memcmp(e->key, self->metas,
                          (size_t)n_metas * sizeof(int64_t)) == 0)
            && memcmp(e->key + n_metas, cbuf, (size_t)clen) == 0) {
            break;
        }
        collided = 1;
    }

    if (i >= 0) {
        /* Known pattern. */
        e = &self->entries[i];
        if (e->count < INT64_MAX) {
            e->count++;
        }
        e->last_use = ++self->tick;
        lru_unlink(self, i);
        lru_insert(self, i);
        if (e->state == STATE_COLD && e->count == self->threshold + 1) {
            entry_set_state(self, i, STATE_HOT);
        }
    }
    else {
        /* New pattern: allocate everything first, then evict and insert. */
        size_t keysize = (size_t)n_metas * sizeof(int64_t) + (size_t)clen;
        int64_t *key;

        if ((size_t)n_metas > (size_t)PY_SSIZE_T_MAX / sizeof(int64_t)
            || keysize > (size_t)PY_SSIZE_T_MAX) {
            return PyErr_NoMemory();
        }
        key = PyMem_Malloc(keysize);
        if (key == NULL) {
            return PyErr_NoMemory();
        }
        if (self->n_entries >= self->capacity) {
            if (self->n_evicted + 1 > self->cap_evicted) {
                Py_ssize_t nc = next_cap(self->cap_evicted, self->n_evicted + 1);
                void *p = realloc_array(self->evicted, nc, sizeof(int64_t));
                if (p == NULL) {
                    PyMem_Free(key);
                    return NULL;
                }
                self->evicted = p;
                self->cap_evicted = nc;
            }
            i = self->lru_tail[0] >= 0 ? self->lru_tail[0] : self->lru_tail[1];
            evict_entry(self, i);
        }
        else {
            if (self->n_entries + 1 > self->cap_entries) {
                Py_ssize_t nc = next_cap(self->cap_entries, self->n_entries + 1);
                void *p;
                if (nc > self->capacity) {
                    nc = self->capacity;
                }
                p = realloc_array(self->entries, nc, sizeof(pt_entry));
                if (p == NULL) {
                    PyMem_Free(key);
                    return NULL;
                }
                self->entries = p;
                self->cap_entries = nc;
            }
            if (reserve_buckets(self, self->n_entries + 1) < 0) {
                PyMem_Free(key);
                return NULL;
            }
            i = self->n_entries++;
        }
        if (n_metas > 0) {
            memcpy(key, self->metas, (size_t)n_metas * sizeof(int64_t));
        }
        memcpy(key + n_metas, cbuf, (size_t)clen);
        e = &self->entries[i];
        e->sig = sig;
        e->entry_id = self->next_id++;
        e->count = 1;
        e->last_use = ++self->tick;
        e->eager_runs = e->compiled_runs = 0;
        e->eager_seconds = e->compiled_seconds = 0.0;
        e->key = key;
        e->n_metas = n_metas;
        e->canon_len = clen;
        e->n_ops = n_ops;
        e->state = STATE_COLD;
        chains_link(self, i);
        lru_insert(self, i);
        if (collided) {
            self->collisions++;
        }
        /* threshold >= 1, so a new entry is always COLD. */
    }

    entry_id = e->entry_id;
    count = e->count;
    state = e->state;
    self->total_batches++;
    if (state_is_hot(state)) {
        self->hot_batches++;
    }

    /* The table is consistent from here on; build the result from locals. */
    res = PyTuple_New(3);
    if (res == NULL) {
        return NULL;
    }
    v = PyLong_FromLongLong(entry_id);
    if (v == NULL) {
        goto error;
    }
    PyTuple_SET_ITEM(res, 0, v);
    v = PyLong_FromLongLong(count);
    if (v == NULL) {
        goto error;
    }
    PyTuple_SET_ITEM(res, 1, v);
    v = PyLong_FromLong(state);
    if (v == NULL) {
        goto error;
    }
    PyTuple_SET_ITEM(res, 2, v);
    return res;

error:
    Py_DECREF(res);
    return NULL;
}

PyDoc_STRVAR(PatternTable_set_state__doc__,
"set_state($self, entry_id, state, /)\n"
"--\n"
"\n"
"Set an entry's state (0=COLD, 1=HOT, 2=COMPILED, 3=FAILED).\n"
"KeyError for an unknown or evicted entry_id.");

static PyObject *
PatternTable_set_state(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    PatternTableObject *self = (PatternTableObject *)op;
    int64_t entry_id, state;
    Py_ssize_t i = -1;
    int found;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "set_state() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    if (get_entry_id(args[0], &entry_id, &found) < 0) {
        return NULL;
    }
    if (get_int64(args[1], -1, "state", -1, STATE_COLD, STATE_FAILED,
                  &state) < 0) {
        return NULL;
    }
    if (found) {
        i = find_by_id(self, entry_id);
    }
    if (i < 0) {
        PyErr_SetObject(PyExc_KeyError, args[0]);
        return NULL;
    }
    entry_set_state(self, i, (int)state);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(PatternTable_add_time__doc__,
"add_time($self, /, entry_id, seconds, compiled)\n"
"--\n"
"\n"
"Accumulate one run of `seconds` (finite, >= 0) for the entry, counted as\n"
"a compiled run if `compiled` (a bool) is true, else as an eager run.\n"
"Unknown entry ids (e.g. evicted ones) are silently ignored.");

static PyObject *
PatternTable_add_time(PyObject *op, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"entry_id", "seconds", "compiled", NULL};
    PatternTableObject *self = (PatternTableObject *)op;
    PyObject *id_o, *sec_o, *compiled_o;
    int64_t entry_id;
    double seconds;
    Py_ssize_t i;
    int found;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO:add_time", kwlist,
                                     &id_o, &sec_o, &compiled_o)) {
        return NULL;
    }
    if (get_entry_id(id_o, &entry_id, &found) < 0) {
        return NULL;
    }
    if (PyFloat_Check(sec_o)) {
        seconds = PyFloat_AS_DOUBLE(sec_o);
    }
    else if (PyLong_Check(sec_o)) {
        seconds = PyLong_AsDouble(sec_o);
        if (seconds == -1.0 && PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_OverflowError)) {
                return NULL;
            }
            PyErr_Clear();
            seconds = HUGE_VAL;   /* rejected below */
        }
    }
    else {
        PyErr_Format(PyExc_TypeError, "seconds must be float, not %.100s",
                     Py_TYPE(sec_o)->tp_name);
        return NULL;
    }
    if (!isfinite(seconds) || seconds < 0.0) {
        PyErr_Format(PyExc_ValueError,
                     "seconds must be finite and >= 0, got %R", sec_o);
        return NULL;
    }
    if (!PyBool_Check(compiled_o)) {
        PyErr_Format(PyExc_TypeError, "compiled must be bool, not %.100s",
                     Py_TYPE(compiled_o)->tp_name);
        return NULL;
    }
    i = found ? find_by_id(self, entry_id) : -1;
    if (i >= 0) {
        pt_entry *e = &self->entries[i];
        if (compiled_o == Py_True) {
            e->compiled_runs++;
            e->compiled_seconds += seconds;
        }
        else {
            e->eager_runs++;
            e->eager_seconds += seconds;
        }
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(PatternTable_take_evicted__doc__,
"take_evicted($self, /)\n"
"--\n"
"\n"
"Return the ids of entries evicted since the last call and forget them.");

static PyObject *
PatternTable_take_evicted(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    PatternTableObject *self = (PatternTableObject *)op;
    Py_ssize_t n = self->n_evicted, i;
    PyObject *t;

    t = PyTuple_New(n);
    if (t == NULL) {
        return NULL;
    }
    /* Allocation above may have run finalizers that evicted more; only
       the first n ids are returned and removed. */
    for (i = 0; i < n; i++) {
        PyObject *v = PyLong_FromLongLong(self->evicted[i]);
        if (v == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    if (self->n_evicted > n) {
        memmove(self->evicted, self->evicted + n,
                (size_t)(self->n_evicted - n) * sizeof(int64_t));
    }
    self->n_evicted -= n;
    return t;
}

PyDoc_STRVAR(PatternTable_entry__doc__,
"entry($self, entry_id, /)\n"
"--\n"
"\n"
"Return a dict describing the entry: entry_id, signature, n_ops, count,\n"
"state, eager_runs, eager_seconds, compiled_runs, compiled_seconds.\n"
"KeyError for an unknown or evicted entry_id.");

static PyObject *
PatternTable_entry(PyObject *op, PyObject *arg)
{
    PatternTableObject *self = (PatternTableObject *)op;
    hotpath_state *st;
    int64_t entry_id;
    Py_ssize_t i = -1;
    int found;
    pt_snapshot s;

    if (get_entry_id(arg, &entry_id, &found) < 0) {
        return NULL;
    }
    if (found) {
        i = find_by_id(self, entry_id);
    }
    if (i < 0) {
        PyErr_SetObject(PyExc_KeyError, arg);
        return NULL;
    }
    snapshot_entry(&self->entries[i], &s);
    st = table_state(self);
    if (st == NULL) {
        return NULL;
    }
    return snapshot_dict(st, &s);
}

PyDoc_STRVAR(PatternTable_top__doc__,
"top($self, n, /)\n"
"--\n"
"\n"
"Return entry() dicts of the n entries with the highest count, highest\n"
"first (ties: older entry first).");

static PyObject *
PatternTable_top(PyObject *op, PyObject *arg)
{
    PatternTableObject *self = (PatternTableObject *)op;
    hotpath_state *st = table_state(self);
    int64_t n;
    Py_ssize_t m = self->n_entries, k, i;
    pt_snapshot *snaps = NULL;
    PyObject *list = NULL;

    if (st == NULL) {
        return NULL;
    }
    if (get_int64(arg, -1, "n", -1, 0, INT64_MAX, &n) < 0) {
        return NULL;
    }
    k = n < (int64_t)m ? (Py_ssize_t)n : m;
    if (m > 0) {
        snaps = PyMem_Malloc((size_t)m * sizeof(pt_snapshot));
        if (snaps == NULL) {
            PyErr_NoMemory();
            goto error;
        }
        for (i = 0; i < m; i++) {
            snapshot_entry(&self->entries[i], &snaps[i]);
        }
        qsort(snaps, (size_t)m, sizeof(pt_snapshot), snapshot_cmp);
    }
    list = PyList_New(k);
    if (list == NULL) {
        goto error;
    }
    for (i = 0; i < k; i++) {
        PyObject *d = snapshot_dict(st, &snaps[i]);
        if (d == NULL) {
            goto error;
        }
        PyList_SET_ITEM(list, i, d);
    }
    PyMem_Free(snaps);
    return list;

error:
    PyMem_Free(snaps);
    Py_XDECREF(list);
    return NULL;
}

PyDoc_STRVAR(PatternTable_stats__doc__,
"stats($self, /)\n"
"--\n"
"\n"
"Return a dict: total_batches, hot_batches_executed, unique_patterns,\n"
"hot_paths, hot_threshold, evictions, collisions, capacity.\n"
"collisions counts new entries created while another entry with the\n"
"same (masked) signature was present.");

static PyObject *
PatternTable_stats(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    PatternTableObject *self = (PatternTableObject *)op;
    hotpath_state *st = table_state(self);
    PyObject **k;
    /* Copy first: allocating the dict may run finalizers. */
    int64_t total = self->total_batches, hot = self->hot_batches;
    int64_t evictions = self->evictions, collisions = self->collisions;
    int64_t threshold = self->threshold;
    Py_ssize_t unique = self->n_entries, hot_paths = self->n_hot;
    Py_ssize_t capacity = self->capacity;
    PyObject *d;

    if (st == NULL) {
        return NULL;
    }
    k = st->keys;
    d = PyDict_New();
    if (d == NULL) {
        return NULL;
    }
    if (dict_set_steal(d, k[K_TOTAL_BATCHES], PyLong_FromLongLong(total)) < 0
        || dict_set_steal(d, k[K_HOT_BATCHES_EXECUTED],
                          PyLong_FromLongLong(hot)) < 0
        || dict_set_steal(d, k[K_UNIQUE_PATTERNS],
                          PyLong_FromSsize_t(unique)) < 0
        || dict_set_steal(d, k[K_HOT_PATHS], PyLong_FromSsize_t(hot_paths)) < 0
        || dict_set_steal(d, k[K_HOT_THRESHOLD],
                          PyLong_FromLongLong(threshold)) < 0
        || dict_set_steal(d, k[K_EVICTIONS], PyLong_FromLongLong(evictions)) < 0
        || dict_set_steal(d, k[K_COLLISIONS],
                          PyLong_FromLongLong(collisions)) < 0
        || dict_set_steal(d, k[K_CAPACITY], PyLong_FromSsize_t(capacity)) < 0) {
        Py_DECREF(d);
        return NULL;
    }
    return d;
}

PyDoc_STRVAR(PatternTable_clear__doc__,
"clear($self, /)\n"
"--\n"
"\n"
"Remove every entry, reset the statistics and empty the evicted queue.\n"
"Entry ids are never reused, even after clear().");

static PyObject *
PatternTable_clear(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    PatternTableObject *self = (PatternTableObject *)op;

    table_drop_all(self);
    self->n_evicted = 0;
    self->total_batches = 0;
    self->hot_batches = 0;
    self->evictions = 0;
    self->collisions = 0;
    Py_RETURN_NONE;
}

static PyObject *
PatternTable_get_threshold(PyObject *op, void *Py_UNUSED(closure))
{
    return PyLong_FromLongLong(((PatternTableObject *)op)->threshold);
}

static PyObject *
PatternTable_get_capacity(PyObject *op, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(((PatternTableObject *)op)->capacity);
}

static PyObject *
PatternTable_get_hash_bits(PyObject *op, void *Py_UNUSED(closure))
{
    return PyLong_FromLong(((PatternTableObject *)op)->hash_bits);
}

static PyMethodDef PatternTable_methods[] = {
    {"record", (PyCFunction)(void (*)(void))PatternTable_record, METH_FASTCALL,
     PatternTable_record__doc__},
    {"set_state", (PyCFunction)(void (*)(void))PatternTable_set_state,
     METH_FASTCALL, PatternTable_set_state__doc__},
    {"add_time", (PyCFunction)(void (*)(void))PatternTable_add_time,
     METH_VARARGS | METH_KEYWORDS, PatternTable_add_time__doc__},
    {"take_evicted", PatternTable_take_evicted, METH_NOARGS,
     PatternTable_take_evicted__doc__},
    {"entry", PatternTable_entry, METH_O, PatternTable_entry__doc__},
    {"top", PatternTable_top, METH_O, PatternTable_top__doc__},
    {"stats", PatternTable_stats, METH_NOARGS, PatternTable_stats__doc__},
    {"clear", PatternTable_clear, METH_NOARGS, PatternTable_clear__doc__},
    {NULL, NULL, 0, NULL}
};

static PyGetSetDef PatternTable_getset[] = {
    {"threshold", PatternTable_get_threshold, NULL,
     PyDoc_STR("Occurrences that stay COLD; occurrence threshold+1 turns HOT."),
     NULL},
    {"capacity", PatternTable_get_capacity, NULL,
     PyDoc_STR("Maximum number of entries."), NULL},
    {"hash_bits", PatternTable_get_hash_bits, NULL,
     PyDoc_STR("Signature bits used as the key (64 unless set for tests)."),
     NULL},
    {NULL, NULL, NULL, NULL, NULL}
};

PyDoc_STRVAR(PatternTable__doc__,
"PatternTable(threshold, capacity=1024, *, hash_bits=64)\n"
"--\n"
"\n"
"Bounded table counting batch patterns and tracking their hot-path state.\n"
"threshold >= 1, capacity >= 1.  hash_bits (1..64) is a testing aid: the\n"
"signature is masked to its low hash_bits bits, forcing collisions; keep\n"
"the default in production.");

static PyType_Slot PatternTable_slots[] = {
    {Py_tp_doc, (void *)PatternTable__doc__},
    {Py_tp_new, PatternTable_new},
    {Py_tp_dealloc, PatternTable_dealloc},
    {Py_tp_repr, PatternTable_repr},
    {Py_tp_methods, PatternTable_methods},
    {Py_tp_getset, PatternTable_getset},
    {Py_sq_length, PatternTable_len},
    {0, NULL}
};

static PyType_Spec PatternTable_spec = {
    .name = "gt.worker._hotpath.PatternTable",
    .basicsize = sizeof(PatternTableObject),
    .itemsize = 0,
    /* Not subclassable: table_state() relies on Py_TYPE(self). */
#ifdef Py_TPFLAGS_IMMUTABLETYPE
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
#else
    .flags = Py_TPFLAGS_DEFAULT,
#endif
    .slots = PatternTable_slots,
};


/* ---------------------------------------------------------------------- */
/* Module functions                                                        */

PyDoc_STRVAR(signature__doc__,
"signature($module, canon, metas, /)\n"
"--\n"
"\n"
"Return the 64-bit structural hash (a non-negative int) of a canonical\n"
"batch and its metas, one int >= 0 per external input.  FNV-1a 64 over\n"
"the canon's int32 words (as unsigned 32-bit values), then over each\n"
"meta's low and high 32 bits, then the murmur3 fmix64 finaliser.\n"
"ValueError if canon is malformed or len(metas) != n_ext.");

static PyObject *
hotpath_signature(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    int64_t small[16];
    int64_t *buf = small;
    Py_ssize_t cap = 16;
    int32_t n_ops;
    uint64_t sig;
    int r;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "signature() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    if (PyTuple_Check(args[1]) && PyTuple_GET_SIZE(args[1]) > cap) {
        /* compute_signature grows buf with PyMem_Realloc, so start from a
           heap block when the stack one is too small. */
        buf = NULL;
        cap = 0;
    }
    r = compute_signature(args[0], args[1], &buf, &cap, &n_ops, &sig);
    if (buf != small) {
        PyMem_Free(buf);
    }
    if (r < 0) {
        return NULL;
    }
    return PyLong_FromUnsignedLongLong(sig);
}

static PyMethodDef hotpath_functions[] = {
    {"signature", (PyCFunction)(void (*)(void))hotpath_signature, METH_FASTCALL,
     signature__doc__},
    {NULL, NULL, 0, NULL}
};


/* ---------------------------------------------------------------------- */
/* Module definition                                                       */

static int
hotpath_exec(PyObject *module)
{
    hotpath_state *st = get_hotpath_state(module);
    int i;

    for (i = 0; i < N_KEYS; i++) {
        st->keys[i] = PyUnicode_InternFromString(key_names[i]);
        if (st->keys[i] == NULL) {
            return -1;
        }
    }
    st->PatternTableType = PyType_FromModuleAndSpec(module, &PatternTable_spec,
                                                    NULL);
    if (st->PatternTableType == NULL) {
        return -1;
    }
    if (PyModule_AddType(module, (PyTypeObject *)st->PatternTableType) < 0) {
        return -1;
    }
    if (PyModule_AddIntConstant(module, "COLD", STATE_COLD) < 0
        || PyModule_AddIntConstant(module, "HOT", STATE_HOT) < 0
        || PyModule_AddIntConstant(module, "COMPILED", STATE_COMPILED) < 0
        || PyModule_AddIntConstant(module, "FAILED", STATE_FAILED) < 0) {
        return -1;
    }
    return 0;
}

static int
hotpath_traverse(PyObject *module, visitproc visit, void *arg)
{
    hotpath_state *st = get_hotpath_state(module);
    int i;

    Py_VISIT(st->PatternTableType);
    for (i = 0; i < N_KEYS; i++) {
        Py_VISIT(st->keys[i]);
    }
    return 0;
}

static int
hotpath_clear(PyObject *module)
{
    hotpath_state *st = get_hotpath_state(module);
    int i;

    Py_CLEAR(st->PatternTableType);
    for (i = 0; i < N_KEYS; i++) {
        Py_CLEAR(st->keys[i]);
    }
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

PyDoc_STRVAR(hotpath_module__doc__,
"C core of GT's hot-path detection: signature() of canonical batches and\n"
"the bounded PatternTable.");

static struct PyModuleDef hotpath_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "gt.worker._hotpath",
    .m_doc = hotpath_module__doc__,
    .m_size = sizeof(hotpath_state),
    .m_methods = hotpath_functions,
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
