/* C accelerator for the GT worker's pending-instruction buffer.

   The worker receives a stream of tensor ops from the client: every op has
   an opcode, an interned parameter code, a fresh result tensor id and a
   tuple of input tensor ids.  Ops are buffered in a Batcher (a
   struct-of-arrays buffer) until the batch is flushed.  Flushing renumbers
   the tensor ids into a *canonical form* that no longer mentions any tensor
   id, so that the same loop body executed again with fresh ids produces
   byte-identical output.  The hot-path table (_hotpath.c) hashes that form
   to find repeating batches and to decide which ones to compile.

   Canonical form: a bytes object of little-endian int32 words

       [n_ops, n_ext,
        for each op: opcode, param_code, n_inputs, input refs..., live_flag]

   An input ref is j >= 0 for the result of op j of the batch, or -(k+1) for
   external input k (an index into the ext_ids tuple that flush() returns,
   ordered by first use).  live_flag is 1 if the result is still referenced
   by the client after the batch, 0 if it was freed while pending.

   Renumbering is done at append() time with an open-addressing hash map
   from tensor id to (kind, index); the map is reused across flushes and
   emptied in O(1) by bumping a generation counter, so flush() only has to
   fill in the two header words and copy the buffer into a bytes object.

   Two ways to feed a Batcher:
     - append() per op, free() per free, flush() per batch: the caller
       interns params into param codes itself;
     - flush_ops(ops, frees) once per batch: the worker keeps its pending
       ops as plain (opcode, result_id, input_ids, params, scalars) tuples
       in a list, and the whole batch is validated, its params interned
       (type-strictly, see "params interning") and canonicalized in one
       call, with no Python-level call per op.  The result is the same as
       appending every op, freeing every id and flushing; the ids returned
       are the caller's own int objects where possible.

   Module contents: Batcher (type), canonicalize(), decode().
*/

#define PY_SSIZE_T_CLEAN
#include "Python.h"

#include <stdint.h>
#include <string.h>

#include "gt_core.h"

/* Largest count or index that fits in one canonical word. */
#define CANON_MAX INT32_MAX

/* Kinds of id-map slots (low two bits of idslot.meta). */
#define KIND_RESULT 1   /* val: index of the pending op producing the id */
#define KIND_EXT    2   /* val: index into ext_ids */
#define KIND_FREED  3   /* id noted freed, no pending op produced it;
                           val: index into ext_ids, or -1 if never an input */

/* Generations live in the upper 30 bits of idslot.meta. */
#define GEN_LIMIT ((uint32_t)1 << 30)

#define MIN_SLOTS 16

typedef struct {
    int64_t key;        /* tensor id (ids are >= 0) */
    int32_t val;
    uint32_t meta;      /* (generation << 2) | kind; empty unless the
                           generation equals the batch's current one */
} idslot;

/* The pending batch, independent of any Python object so that the
   module-level canonicalize() can run one on the C stack. */
typedef struct {
    /* Canonical words, native byte order; words[0..1] are the header and
       are only filled in by batch_flush().  n_words starts at 2. */
    int32_t *words;
    Py_ssize_t n_words;
    Py_ssize_t cap_words;

    /* Per pending op: result id and index of its live flag in words. */
    int64_t *res_ids;
    Py_ssize_t *live_pos;
    Py_ssize_t n_ops;
    Py_ssize_t cap_ops;

    /* External input ids, in first-use order. */
    int64_t *ext_ids;
    Py_ssize_t n_ext;
    Py_ssize_t cap_ext;

    /* Noted frees of ids that no pending op produced, in free order. */
    int64_t *freed_ids;
    Py_ssize_t n_freed;
    Py_ssize_t cap_freed;

    /* Open-addressing map tensor id -> slot, linear probing. */
    idslot *slots;
    size_t n_slots;         /* 0 or a power of two >= MIN_SLOTS */
    int shift;              /* 64 - log2(n_slots) */
    Py_ssize_t n_used;      /* slots of the current generation */
    uint32_t gen;           /* current generation, 1 .. GEN_LIMIT-1 */

    /* Scratch space for the converted input ids of one append(). */
    int64_t *scratch;
    Py_ssize_t cap_scratch;

    /* Only while keep_objs is set (flush_ops): the id objects the ids came
       from, so that the flush can return them instead of new ints.
       res_objs[i] (i < n_ops), ext_objs[i] (i < n_ext) and freed_objs[i]
       (i < n_freed) hold a strong reference to an exact int of that value,
       or NULL where the id was given as a bool or an int subclass (a new
       int is made then).  scratch_objs borrows the input ids of the op
       being appended. */
    int keep_objs;
    PyObject **res_objs;
    Py_ssize_t cap_res_objs;
    PyObject **ext_objs;
    Py_ssize_t cap_ext_objs;
    PyObject **freed_objs;
    Py_ssize_t cap_freed_objs;
    PyObject **scratch_objs;
    Py_ssize_t cap_scratch_objs;
} batch;


/* ---------------------------------------------------------------------- */
/* Static helpers                                                          */

/* Argument checking, growable arrays and canonical-form validation are
   shared with _hotpath.c: see gt_core.h. */

/* --- id map ----------------------------------------------------------- */

static inline size_t
slot_hash(int64_t key, int shift)
{
    return (size_t)(((uint64_t)key * UINT64_C(0x9E3779B97F4A7C15)) >> shift);
}

static inline int
slot_is_live(const batch *b, const idslot *s)
{
    return (s->meta >> 2) == b->gen;
}

static inline uint32_t
slot_meta(const batch *b, int kind)
{
    return (b->gen << 2) | (uint32_t)kind;
}

/* The slot holding key, or the empty slot where it belongs.  The map
   must be allocated and not full (batch_reserve_map guarantees both). */
static idslot *
map_probe(const batch *b, int64_t key)
{
    size_t mask = b->n_slots - 1;
    size_t i = slot_hash(key, b->shift);

    for (;;) {
        idslot *s = &b->slots[i];
        if (!slot_is_live(b, s) || s->key == key) {
            return s;
        }
        i = (i + 1) & mask;
    }
}

/* The slot holding key, or NULL. */
static idslot *
map_find(const batch *b, int64_t key)
{
    idslot *s;

    if (b->n_slots == 0) {
        return NULL;
    }
    s = map_probe(b, key);
    return slot_is_live(b, s) ? s : NULL;
}

/* Make room for `extra` more keys, keeping the load factor <= 1/2. */
static int
batch_reserve_map(batch *b, Py_ssize_t extra)
{
    size_t need, n, i;
    idslot *ns;
    int bits;

    if (extra > PY_SSIZE_T_MAX - b->n_used) {
        PyErr_NoMemory();
        return -1;
    }
    need = (size_t)(b->n_used + extra);
    if (b->n_slots != 0 && need <= b->n_slots / 2) {
        return 0;
    }
    n = b->n_slots ? b->n_slots : MIN_SLOTS;
    while (n / 2 < need) {
        if (n > ((size_t)PY_SSIZE_T_MAX / sizeof(idslot)) / 2) {
            PyErr_NoMemory();
            return -1;
        }
        n *= 2;
    }
    ns = PyMem_Calloc(n, sizeof(idslot));
    if (ns == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (bits = 0; ((size_t)1 << bits) < n; bits++) {
    }
    /* Re-insert the live slots; the new table is all generation 0, which
       is never current, so everything else reads as empty. */
    for (i = 0; i < b->n_slots; i++) {
        const idslot *s = &b->slots[i];
        if (slot_is_live(b, s)) {
            size_t j = slot_hash(s->key, 64 - bits);
            while ((ns[j].meta >> 2) == b->gen) {
                j = (j + 1) & (n - 1);
            }
            ns[j] = *s;
        }
    }
    PyMem_Free(b->slots);
    b->slots = ns;
    b->n_slots = n;
    b->shift = 64 - bits;
    return 0;
}

/* --- the batch -------------------------------------------------------- */

static void
batch_init(batch *b)
{
    memset(b, 0, sizeof(*b));
    b->n_words = 2;
    b->gen = 1;
}

/* Release the id objects held for flush_ops() and stop keeping them.
   They are exact ints, so no Python code runs. */
static void
batch_release_objs(batch *b)
{
    Py_ssize_t i;

    if (!b->keep_objs) {
        return;
    }
    for (i = 0; i < b->n_ops; i++) {
        Py_CLEAR(b->res_objs[i]);
    }
    for (i = 0; i < b->n_ext; i++) {
        Py_CLEAR(b->ext_objs[i]);
    }
    for (i = 0; i < b->n_freed; i++) {
        Py_CLEAR(b->freed_objs[i]);
    }
    b->keep_objs = 0;
}

static void
batch_fini(batch *b)
{
    batch_release_objs(b);
    PyMem_Free(b->res_objs);
    PyMem_Free(b->ext_objs);
    PyMem_Free(b->freed_objs);
    PyMem_Free(b->scratch_objs);
    PyMem_Free(b->words);
    PyMem_Free(b->res_ids);
    PyMem_Free(b->live_pos);
    PyMem_Free(b->ext_ids);
    PyMem_Free(b->freed_ids);
    PyMem_Free(b->slots);
    PyMem_Free(b->scratch);
    batch_init(b);
}

/* Drop everything pending, keeping the allocated buffers for reuse. */
static void
batch_reset(batch *b)
{
    batch_release_objs(b);
    b->n_words = 2;
    b->n_ops = 0;
    b->n_ext = 0;
    b->n_freed = 0;
    b->n_used = 0;
    b->gen++;
    if (b->gen >= GEN_LIMIT) {
        if (b->slots != NULL) {
            memset(b->slots, 0, b->n_slots * sizeof(idslot));
        }
        b->gen = 1;
    }
}

/* Reserve everything one append of n_in inputs can need, so that the
   mutation phase of batch_append cannot fail. */
static int
batch_reserve_op(batch *b, Py_ssize_t n_in)
{
    Py_ssize_t need_ops = b->n_ops + 1;

    if (n_in > PY_SSIZE_T_MAX - 4 - b->n_words) {
        PyErr_NoMemory();
        return -1;
    }
    RESERVE(b->words, b->cap_words, b->n_words + 4 + n_in);
    if (need_ops > b->cap_ops) {
        Py_ssize_t nc = next_cap(b->cap_ops, need_ops);
        void *p = realloc_array(b->res_ids, nc, sizeof(int64_t));
        if (p == NULL) {
            return -1;
        }
        b->res_ids = p;
        p = realloc_array(b->live_pos, nc, sizeof(Py_ssize_t));
        if (p == NULL) {
            return -1;  /* res_ids is merely larger than cap_ops says */
        }
        b->live_pos = p;
        b->cap_ops = nc;
    }
    RESERVE(b->ext_ids, b->cap_ext, b->n_ext + n_in);
    if (b->keep_objs) {
        RESERVE(b->res_objs, b->cap_res_objs, need_ops);
        RESERVE(b->ext_objs, b->cap_ext_objs, b->n_ext + n_in);
    }
    return batch_reserve_map(b, n_in + 1);
}

/* A strong reference to id object o if it is an exact int, else NULL. */
static inline PyObject *
keep_id_obj(PyObject *o)
{
    if (PyLong_CheckExact(o)) {
        Py_INCREF(o);
        return o;
    }
    return NULL;
}

/* Append one op whose scalar fields and input ids (b->scratch[0..n_in))
   are validated, and whose result_id is not in the id map.  Nothing is
   modified unless the whole op is accepted (MemoryError is the only
   possible failure).  With keep_objs, result_obj and
   b->scratch_objs[0..n_in) are the objects the ids came from. */
static int
batch_commit(batch *b, int32_t opcode, int32_t param, int64_t result_id,
             Py_ssize_t n_in, PyObject *result_obj)
{
    Py_ssize_t i;
    idslot *s;
    int32_t *w;

    /* Phase 2: allocate. */
    if (batch_reserve_op(b, n_in) < 0) {
        return -1;
    }

    /* Phase 3: commit; nothing below can fail. */
    w = b->words + b->n_words;
    w[0] = opcode;
    w[1] = param;
    w[2] = (int32_t)n_in;
    for (i = 0; i < n_in; i++) {
        int64_t id = b->scratch[i];
        int32_t ref;

        s = map_probe(b, id);
        if (!slot_is_live(b, s)) {
            s->key = id;
            s->val = (int32_t)b->n_ext;
            s->meta = slot_meta(b, KIND_EXT);
            b->n_used++;
            if (b->keep_objs) {
                b->ext_objs[b->n_ext] = keep_id_obj(b->scratch_objs[i]);
            }
            b->ext_ids[b->n_ext++] = id;
            ref = -s->val - 1;
        }
        else if ((s->meta & 3) == KIND_RESULT) {
            ref = s->val;
        }
        else {
            if (s->val < 0) {
                /* freed-only id now used as an input: becomes external */
                s->val = (int32_t)b->n_ext;
                if (b->keep_objs) {
                    b->ext_objs[b->n_ext] = keep_id_obj(b->scratch_objs[i]);
                }
                b->ext_ids[b->n_ext++] = id;
            }
            ref = -s->val - 1;
        }
        w[3 + i] = ref;
    }
    w[3 + n_in] = 1;
    if (b->keep_objs) {
        b->res_objs[b->n_ops] = keep_id_obj(result_obj);
    }
    b->res_ids[b->n_ops] = result_id;
    b->live_pos[b->n_ops] = b->n_words + 3 + n_in;

    s = map_probe(b, result_id);
    s->key = result_id;
    s->val = (int32_t)b->n_ops;
    s->meta = slot_meta(b, KIND_RESULT);
    b->n_used++;

    b->n_ops++;
    b->n_words += 4 + n_in;
    return 0;
}

/* Append one op whose scalar fields are already validated.  inputs must
   be a tuple; its items are validated here.  Nothing is modified unless
   the whole op is accepted.  `where` is the op index for canonicalize()
   error messages (-1 for Batcher.append). */
static int
batch_append(batch *b, int32_t opcode, int32_t param, int64_t result_id,
             PyObject *inputs, Py_ssize_t where)
{
    Py_ssize_t n_in = PyTuple_GET_SIZE(inputs);
    Py_ssize_t i;
    idslot *s;

    if (b->n_ops >= CANON_MAX) {
        op_error(PyExc_ValueError, where,
                 "batch is full: at most %d ops per batch", CANON_MAX);
        return -1;
    }
    if (n_in > CANON_MAX - b->n_ext) {
        op_error(PyExc_ValueError, where,
                 "inputs has too many elements (%zd)", n_in);
        return -1;
    }
    RESERVE(b->scratch, b->cap_scratch, n_in);

    /* Phase 1: validate. */
    for (i = 0; i < n_in; i++) {
        if (get_int64(PyTuple_GET_ITEM(inputs, i), where, "inputs", i,
                      0, INT64_MAX, &b->scratch[i]) < 0) {
            return -1;
        }
        if (b->scratch[i] == result_id) {
            op_error(PyExc_ValueError, where,
                     "inputs[%zd] is the op's own result_id %lld",
                     i, (long long)result_id);
            return -1;
        }
    }
    s = map_find(b, result_id);
    if (s != NULL) {
        if ((s->meta & 3) == KIND_RESULT) {
            op_error(PyExc_ValueError, where,
                     "duplicate result_id %lld: already produced by pending op %d",
                     (long long)result_id, (int)s->val);
        }
        else {
            op_error(PyExc_ValueError, where,
                     "result_id %lld is already used as an input or freed "
                     "in the pending batch (ids must be fresh)",
                     (long long)result_id);
        }
        return -1;
    }
    return batch_commit(b, opcode, param, result_id, n_in, NULL);
}

/* Note that the client freed tensor_id (given as the object obj when
   keep_objs is set). */
static int
batch_free(batch *b, int64_t tensor_id, PyObject *obj)
{
    idslot *s;

    if (batch_reserve_map(b, 1) < 0) {
        return -1;
    }
    RESERVE(b->freed_ids, b->cap_freed, b->n_freed + 1);
    if (b->keep_objs) {
        RESERVE(b->freed_objs, b->cap_freed_objs, b->n_freed + 1);
    }

    s = map_probe(b, tensor_id);
    if (!slot_is_live(b, s)) {
        s->key = tensor_id;
        s->val = -1;
        s->meta = slot_meta(b, KIND_FREED);
        b->n_used++;
        if (b->keep_objs) {
            b->freed_objs[b->n_freed] = keep_id_obj(obj);
        }
        b->freed_ids[b->n_freed++] = tensor_id;
    }
    else {
        switch (s->meta & 3) {
        case KIND_RESULT:
            b->words[b->live_pos[s->val]] = 0;
            break;
        case KIND_EXT:
            s->meta = slot_meta(b, KIND_FREED);
            if (b->keep_objs) {
                b->freed_objs[b->n_freed] = keep_id_obj(obj);
            }
            b->freed_ids[b->n_freed++] = tensor_id;
            break;
        default:
            break;  /* already noted */
        }
    }
    return 0;
}

/* The id as an int: objs[i] if there is one, else a new int. */
static inline PyObject *
id_object(const int64_t *ids, PyObject *const *objs, Py_ssize_t i)
{
    if (objs != NULL && objs[i] != NULL) {
        Py_INCREF(objs[i]);
        return objs[i];
    }
    return PyLong_FromLongLong(ids[i]);
}

static PyObject *
id_tuple(const int64_t *ids, PyObject *const *objs, Py_ssize_t n)
{
    PyObject *t = PyTuple_New(n);
    Py_ssize_t i;

    if (t == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        PyObject *v = id_object(ids, objs, i);
        if (v == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

/* Build (canon, ext_ids, live_ids, freed_ids) and reset the batch, or
   return None if there is nothing to flush.  On error the batch is left
   intact.  The caller must prevent re-entrant mutation while this runs
   (allocating tuples may trigger a garbage collection that runs
   arbitrary finalizers). */
static PyObject *
batch_flush(batch *b)
{
    PyObject *canon = NULL, *ext = NULL, *live = NULL, *freed = NULL;
    PyObject *res = NULL;
    Py_ssize_t i, n_live;
    unsigned char *dst;
    int keep = b->keep_objs;

    if (b->n_ops == 0 && b->n_freed == 0) {
        Py_RETURN_NONE;
    }
    if (b->cap_words < 2) {
        void *p = realloc_array(b->words, 2, sizeof(int32_t));
        if (p == NULL) {
            return NULL;
        }
        b->words = p;
        b->cap_words = 2;
    }
    if (b->n_words > PY_SSIZE_T_MAX / 4) {
        PyErr_NoMemory();
        return NULL;
    }
    b->words[0] = (int32_t)b->n_ops;
    b->words[1] = (int32_t)b->n_ext;

    canon = PyBytes_FromStringAndSize(NULL, b->n_words * 4);
    if (canon == NULL) {
        goto error;
    }
    dst = (unsigned char *)PyBytes_AS_STRING(canon);
#if PY_LITTLE_ENDIAN
    memcpy(dst, b->words, (size_t)b->n_words * 4);
#else
    for (i = 0; i < b->n_words; i++) {
        store_le32(dst + 4 * i, b->words[i]);
    }
#endif

    ext = id_tuple(b->ext_ids, keep ? b->ext_objs : NULL, b->n_ext);
    if (ext == NULL) {
        goto error;
    }

    n_live = 0;
    for (i = 0; i < b->n_ops; i++) {
        n_live += b->words[b->live_pos[i]] != 0;
    }
    live = PyTuple_New(n_live);
    if (live == NULL) {
        goto error;
    }
    n_live = 0;
    for (i = 0; i < b->n_ops; i++) {
        if (b->words[b->live_pos[i]]) {
            PyObject *v = id_object(b->res_ids, keep ? b->res_objs : NULL, i);
            if (v == NULL) {
                goto error;
            }
            PyTuple_SET_ITEM(live, n_live++, v);
        }
    }

    freed = id_tuple(b->freed_ids, keep ? b->freed_objs : NULL, b->n_freed);
    if (freed == NULL) {
        goto error;
    }

    res = PyTuple_New(4);
    if (res == NULL) {
        goto error;
    }
    PyTuple_SET_ITEM(res, 0, canon);
    PyTuple_SET_ITEM(res, 1, ext);
    PyTuple_SET_ITEM(res, 2, live);
    PyTuple_SET_ITEM(res, 3, freed);
    batch_reset(b);
    return res;

error:
    Py_XDECREF(canon);
    Py_XDECREF(ext);
    Py_XDECREF(live);
    Py_XDECREF(freed);
    return NULL;
}

/* Validate op arguments given as Python objects and append the op. */
static int
parse_and_append(batch *b, int32_t num_opcodes, PyObject *opcode_o,
                 PyObject *param_o, PyObject *result_o, PyObject *inputs_o,
                 Py_ssize_t where)
{
    int64_t opcode, param, result_id;

    if (get_int64(opcode_o, where, "opcode", -1, 0, num_opcodes - 1,
                  &opcode) < 0) {
        return -1;
    }
    if (get_int64(param_o, where, "param_code", -1, 0, CANON_MAX,
                  &param) < 0) {
        return -1;
    }
    if (get_int64(result_o, where, "result_id", -1, 0, INT64_MAX,
                  &result_id) < 0) {
        return -1;
    }
    if (!PyTuple_Check(inputs_o)) {
        op_error(PyExc_TypeError, where,
                 "inputs must be a tuple of ints, not %.100s",
                 Py_TYPE(inputs_o)->tp_name);
        return -1;
    }
    return batch_append(b, (int32_t)opcode, (int32_t)param, result_id,
                        inputs_o, where);
}

/* --- params interning --------------------------------------------------- */

/* flush_ops() turns each op's params tuple into a param code.  Two params
   share a code only if they are equal *and* have identical types,
   recursively through tuples: Python's own dict would merge (1,), (True,)
   and (1.0,), which GT must keep apart (an int and a bool scalar give
   different result dtypes).  The table maps params (a strong reference to
   the first object seen) to its code, with open addressing on a typed
   hash.  Codes come from a counter and are never reused: when the table
   holds `limit` entries it is emptied before the next insertion, and
   counting goes on.

   "Tuple" here means tuple or a subclass that keeps tuple's __hash__ and
   __eq__ (torch.Size, namedtuples); such nodes compare structurally and
   their exact type is part of the key.  Any other item is a leaf: equal
   leaves must have the same type and compare equal with ==. */

#define PARAM_MAX_DEPTH 100
#define DEFAULT_PARAM_CODES_LIMIT 65536
#define PTAB_MIN 64

typedef struct {
    PyObject *key;      /* NULL: empty slot */
    Py_uhash_t hash;
    int32_t code;
} pslot;

/* Direct-mapped cache keyed by object identity, in front of the table:
   params objects that recur (the () singleton, constant tuples folded by
   the compiler, a client's cached tuples) skip hashing.  An entry only
   ever points to an object that is a key of the table, which holds a
   reference to it, so its address cannot be reused meanwhile; emptying
   the table empties the cache first. */
#define PCACHE_SIZE 64

typedef struct {
    PyObject *key;      /* borrowed from the table; NULL: empty */
    int32_t code;
} pcache_entry;

typedef struct {
    pslot *slots;
    size_t n_slots;     /* 0 or a power of two >= PTAB_MIN */
    Py_ssize_t used;
    Py_ssize_t limit;   /* entries at which the table is emptied */
    int64_t next_code;  /* next code to hand out; never decreases */
    pcache_entry cache[PCACHE_SIZE];
} ptable;

static inline pcache_entry *
pcache_slot(ptable *t, PyObject *params)
{
    return &t->cache[((uintptr_t)params >> 4) & (PCACHE_SIZE - 1)];
}

static inline int
is_struct_tuple(PyTypeObject *tp)
{
    return tp == &PyTuple_Type
           || (PyType_FastSubclass(tp, Py_TPFLAGS_TUPLE_SUBCLASS)
               && tp->tp_hash == PyTuple_Type.tp_hash
               && tp->tp_richcompare == PyTuple_Type.tp_richcompare);
}

static inline Py_uhash_t
type_tag(PyTypeObject *tp)
{
    return (Py_uhash_t)(((uint64_t)(uintptr_t)tp >> 4)
                        * UINT64_C(0x9E3779B97F4A7C15));
}

#if SIZEOF_PY_UHASH_T > 4
#  define PH_PRIME_1 ((Py_uhash_t)UINT64_C(11400714785074694791))
#  define PH_PRIME_2 ((Py_uhash_t)UINT64_C(14029467366897019727))
#  define PH_PRIME_5 ((Py_uhash_t)UINT64_C(2870177450012600261))
#  define PH_ROTATE(x) (((x) << 31) | ((x) >> 33))
#else
#  define PH_PRIME_1 ((Py_uhash_t)2654435761UL)
#  define PH_PRIME_2 ((Py_uhash_t)2246822519UL)
#  define PH_PRIME_5 ((Py_uhash_t)374761393UL)
#  define PH_ROTATE(x) (((x) << 13) | ((x) >> 19))
#endif

/* Hash of a leaf (not a structural tuple): its type and its value.  Small
   exact ints are hashed inline; whether an int is small depends only on
   its value, so equal ints always take the same branch. */
static inline int
leaf_hash(PyObject *x, Py_uhash_t *out)
{
    PyTypeObject *tp = Py_TYPE(x);
    Py_hash_t h;
    int64_t v;

    if (tp == &PyLong_Type && small_int_value(x, &v)) {
        *out = ((Py_uhash_t)(uint64_t)v * PH_PRIME_1) ^ type_tag(tp);
        return 0;
    }
    h = PyObject_Hash(x);
    if (h == -1) {
        return -1;      /* valid hashes are never -1 */
    }
    *out = (Py_uhash_t)h ^ type_tag(tp);
    return 0;
}

/* Typed hash of a structural tuple (see params_eq), xxHash-style like
   tuple's own hash, with the tuple's type mixed in. */
static int
tuple_hash(PyObject *x, int depth, Py_uhash_t *out)
{
    Py_ssize_t i, n = PyTuple_GET_SIZE(x);
    Py_uhash_t acc = PH_PRIME_5;

    if (depth >= PARAM_MAX_DEPTH) {
        PyErr_Format(PyExc_ValueError,
                     "is nested more than %d tuples deep", PARAM_MAX_DEPTH);
        return -1;
    }
    for (i = 0; i < n; i++) {
        PyObject *c = PyTuple_GET_ITEM(x, i);
        Py_uhash_t h;
        int r = is_struct_tuple(Py_TYPE(c)) ? tuple_hash(c, depth + 1, &h)
                                            : leaf_hash(c, &h);
        if (r < 0) {
            return -1;
        }
        acc += h * PH_PRIME_2;
        acc = PH_ROTATE(acc);
        acc *= PH_PRIME_1;
    }
    acc += (Py_uhash_t)n ^ (PH_PRIME_5 ^ (Py_uhash_t)3527539UL);
    *out = acc ^ type_tag(Py_TYPE(x));
    return 0;
}

/* Typed hash of params, consistent with params_eq(): calls the leaves'
   __hash__ (except for small ints).  -1 with an exception set on failure
   (unhashable leaf, nesting deeper than PARAM_MAX_DEPTH). */
static inline int
params_hash(PyObject *x, Py_uhash_t *out)
{
    return is_struct_tuple(Py_TYPE(x)) ? tuple_hash(x, 0, out)
                                       : leaf_hash(x, out);
}

/* 1 if a and b are equal with identical types (recursively through
   tuples), 0 if not, -1 with an exception set if a leaf's __eq__ failed.
   Both have passed params_hash, so their depth is bounded. */
static int
params_eq(PyObject *a, PyObject *b)
{
    PyTypeObject *tp;

    if (a == b) {
        return 1;
    }
    tp = Py_TYPE(a);
    if (tp != Py_TYPE(b)) {
        return 0;
    }
    if (is_struct_tuple(tp)) {
        Py_ssize_t i, n = PyTuple_GET_SIZE(a);
        if (n != PyTuple_GET_SIZE(b)) {
            return 0;
        }
        for (i = 0; i < n; i++) {
            int r = params_eq(PyTuple_GET_ITEM(a, i), PyTuple_GET_ITEM(b, i));
            if (r != 1) {
                return r;
            }
        }
        return 1;
    }
    if (tp == &PyLong_Type) {
        int64_t va, vb;
        if (small_int_value(a, &va) && small_int_value(b, &vb)) {
            return va == vb;
        }
    }
    return PyObject_RichCompareBool(a, b, Py_EQ);
}

static void
ptable_init(ptable *t, Py_ssize_t limit)
{
    memset(t, 0, sizeof(*t));
    t->limit = limit;
}

/* Drop every entry (codes are not reset).  The table stays consistent
   while the keys are released, in case a finalizer looks at it. */
static void
ptable_clear(ptable *t)
{
    size_t i;

    memset(t->cache, 0, sizeof(t->cache));
    t->used = 0;
    for (i = 0; i < t->n_slots; i++) {
        Py_CLEAR(t->slots[i].key);
    }
}

static void
ptable_fini(ptable *t)
{
    pslot *slots;

    ptable_clear(t);
    slots = t->slots;
    t->slots = NULL;
    t->n_slots = 0;
    PyMem_Free(slots);
}

static int
ptable_traverse(const ptable *t, visitproc visit, void *arg)
{
    size_t i;

    for (i = 0; i < t->n_slots; i++) {
        Py_VISIT(t->slots[i].key);
    }
    return 0;
}

/* Make room for one more entry, keeping the load factor <= 1/2. */
static int
ptable_reserve(ptable *t)
{
    size_t n, i;
    pslot *ns;

    if (t->n_slots != 0 && (size_t)t->used + 1 <= t->n_slots / 2) {
        return 0;
    }
    n = t->n_slots ? t->n_slots * 2 : PTAB_MIN;
    if (n > (size_t)PY_SSIZE_T_MAX / sizeof(pslot)) {
        PyErr_NoMemory();
        return -1;
    }
    ns = PyMem_Calloc(n, sizeof(pslot));
    if (ns == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (i = 0; i < t->n_slots; i++) {
        const pslot *e = &t->slots[i];
        if (e->key != NULL) {
            size_t j = (size_t)e->hash & (n - 1);
            while (ns[j].key != NULL) {
                j = (j + 1) & (n - 1);
            }
            ns[j] = *e;
        }
    }
    PyMem_Free(t->slots);
    t->slots = ns;
    t->n_slots = n;
    return 0;
}

/* Store the code of params in *code, interning it if new.  Returns -1
   with an exception set on failure (the caller adds which op it was). */
static int
ptable_intern(ptable *t, PyObject *params, int32_t *code)
{
    pcache_entry *pc = pcache_slot(t, params);
    Py_uhash_t h;
    size_t mask, i;
    pslot *e;

    if (pc->key == params) {
        *code = pc->code;
        return 0;
    }
    if (params_hash(params, &h) < 0) {
        return -1;
    }
    if (t->n_slots != 0) {
        mask = t->n_slots - 1;
        for (i = (size_t)h & mask; ; i = (i + 1) & mask) {
            PyObject *key;
            int r;

            e = &t->slots[i];
            key = e->key;
            if (key == NULL) {
                break;
            }
            if (key == params) {
                pc->key = key;
                pc->code = e->code;
                *code = e->code;
                return 0;
            }
            if (e->hash != h) {
                continue;
            }
            /* A leaf's __eq__ may run Python code.  The Batcher refuses
               re-entrant calls meanwhile, so the table cannot change; keep
               the key alive regardless. */
            Py_INCREF(key);
            r = params_eq(key, params);
            Py_DECREF(key);
            if (r < 0) {
                return -1;
            }
            if (r) {
                *code = t->slots[i].code;
                return 0;
            }
        }
    }

    /* New params. */
    if (t->next_code > CANON_MAX) {
        PyErr_Format(PyExc_OverflowError,
                     "param codes exhausted: %d distinct params interned "
                     "by this Batcher", CANON_MAX);
        return -1;
    }
    if (t->used >= t->limit) {
        /* Bounded; codes are not reused (a reused code could make two
           different batches look alike), known params just get new ones. */
        ptable_clear(t);
    }
    if (ptable_reserve(t) < 0) {
        return -1;
    }
    mask = t->n_slots - 1;
    for (i = (size_t)h & mask; t->slots[i].key != NULL; i = (i + 1) & mask) {
    }
    e = &t->slots[i];
    Py_INCREF(params);
    e->key = params;
    e->hash = h;
    e->code = (int32_t)t->next_code++;
    t->used++;
    pc->key = params;
    pc->code = e->code;
    *code = e->code;
    return 0;
}


/* ---------------------------------------------------------------------- */
/* Module state                                                            */

typedef struct {
    PyObject *BatcherType;
} batcher_state;

static inline batcher_state *
get_batcher_state(PyObject *module)
{
    return (batcher_state *)PyModule_GetState(module);
}


/* ---------------------------------------------------------------------- */
/* Batcher type                                                            */

typedef struct {
    PyObject_HEAD
    batch b;
    ptable params;      /* flush_ops()'s params -> param code interning */
    Py_ssize_t max_size;
    int32_t num_opcodes;
    int busy;           /* set while flush() or flush_ops() runs */
} BatcherObject;

static int
check_not_busy(BatcherObject *self, const char *method)
{
    if (self->busy) {
        PyErr_Format(PyExc_RuntimeError,
                     "Batcher.%s() called re-entrantly during flush() or "
                     "flush_ops()", method);
        return -1;
    }
    return 0;
}

static PyObject *
Batcher_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"max_size", "num_opcodes", "param_codes_limit",
                             NULL};
    PyObject *max_size_o, *num_opcodes_o, *limit_o = NULL;
    int64_t max_size, num_opcodes, limit = DEFAULT_PARAM_CODES_LIMIT;
    BatcherObject *self;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|$O:Batcher", kwlist,
                                     &max_size_o, &num_opcodes_o, &limit_o)) {
        return NULL;
    }
    if (get_int64(max_size_o, -1, "max_size", -1, 1, PY_SSIZE_T_MAX,
                  &max_size) < 0) {
        return NULL;
    }
    if (get_int64(num_opcodes_o, -1, "num_opcodes", -1, 1, CANON_MAX,
                  &num_opcodes) < 0) {
        return NULL;
    }
    if (limit_o != NULL
        && get_int64(limit_o, -1, "param_codes_limit", -1, 1, CANON_MAX,
                     &limit) < 0) {
        return NULL;
    }
    self = (BatcherObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    batch_init(&self->b);
    ptable_init(&self->params, (Py_ssize_t)limit);
    self->max_size = (Py_ssize_t)max_size;
    self->num_opcodes = (int32_t)num_opcodes;
    self->busy = 0;
    return (PyObject *)self;
}

/* The interned params may be anything hashable, including objects that
   refer back to the Batcher, hence GC support. */
static int
Batcher_traverse(PyObject *op, visitproc visit, void *arg)
{
    BatcherObject *self = (BatcherObject *)op;

    Py_VISIT(Py_TYPE(op));
    return ptable_traverse(&self->params, visit, arg);
}

static int
Batcher_tp_clear(PyObject *op)
{
    BatcherObject *self = (BatcherObject *)op;

    ptable_clear(&self->params);
    return 0;
}

static void
Batcher_dealloc(PyObject *op)
{
    BatcherObject *self = (BatcherObject *)op;
    PyTypeObject *tp = Py_TYPE(op);

    PyObject_GC_UnTrack(op);
    ptable_fini(&self->params);
    batch_fini(&self->b);
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyObject *
Batcher_repr(PyObject *op)
{
    BatcherObject *self = (BatcherObject *)op;

    return PyUnicode_FromFormat("<Batcher max_size=%zd num_opcodes=%d pending=%zd>",
                                self->max_size, (int)self->num_opcodes,
                                self->b.n_ops);
}

static Py_ssize_t
Batcher_len(PyObject *op)
{
    return ((BatcherObject *)op)->b.n_ops;
}

PyDoc_STRVAR(Batcher_append__doc__,
"append($self, opcode, param_code, result_id, inputs, /)\n"
"--\n"
"\n"
"Add one op to the pending batch.\n"
"\n"
"opcode must be in [0, num_opcodes), param_code in [0, 2**31), result_id\n"
"and every id in the tuple inputs in [0, 2**63).  result_id must be fresh:\n"
"ValueError if it is already produced, used or freed in the pending batch.\n"
"Return True when the buffer now holds at least max_size ops.");

static PyObject *
Batcher_append(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    BatcherObject *self = (BatcherObject *)op;

    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError,
                     "append() takes exactly 4 arguments (%zd given)", nargs);
        return NULL;
    }
    if (check_not_busy(self, "append") < 0) {
        return NULL;
    }
    if (parse_and_append(&self->b, self->num_opcodes, args[0], args[1],
                         args[2], args[3], -1) < 0) {
        return NULL;
    }
    return PyBool_FromLong(self->b.n_ops >= self->max_size);
}

PyDoc_STRVAR(Batcher_free__doc__,
"free($self, tensor_id, /)\n"
"--\n"
"\n"
"Note that the client freed tensor_id.\n"
"\n"
"If a pending op produced it, that result is dead after the batch (its\n"
"live flag becomes 0).  Otherwise the id is held in the worker's table\n"
"and is reported in freed_ids by the next flush().  Repeated frees of the\n"
"same id within a batch are reported once.");

static PyObject *
Batcher_free(PyObject *op, PyObject *arg)
{
    BatcherObject *self = (BatcherObject *)op;
    int64_t tensor_id;

    if (check_not_busy(self, "free") < 0) {
        return NULL;
    }
    if (get_int64(arg, -1, "tensor_id", -1, 0, INT64_MAX, &tensor_id) < 0) {
        return NULL;
    }
    if (batch_free(&self->b, tensor_id, NULL) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(Batcher_flush__doc__,
"flush($self, /)\n"
"--\n"
"\n"
"Return and reset the pending batch.\n"
"\n"
"Return None when no op is pending and no free is noted.  Otherwise\n"
"return (canon, ext_ids, live_ids, freed_ids):\n"
"  canon     -- bytes, little-endian int32 words: [n_ops, n_ext, then per\n"
"               op: opcode, param_code, n_inputs, input refs..., live_flag];\n"
"               a ref is j >= 0 for the result of op j, -(k+1) for\n"
"               external input k\n"
"  ext_ids   -- ids used as inputs that no pending op produced, in\n"
"               first-use order\n"
"  live_ids  -- result ids of pending ops not freed, in op order\n"
"  freed_ids -- noted frees of ids no pending op produced, in free order");

static PyObject *
Batcher_flush(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    BatcherObject *self = (BatcherObject *)op;
    PyObject *res;

    if (check_not_busy(self, "flush") < 0) {
        return NULL;
    }
    self->busy = 1;
    res = batch_flush(&self->b);
    self->busy = 0;
    return res;
}

/* Names of the fields of an op tuple given to flush_ops(). */
static const char *const OP_FIELDS[5] = {
    "opcode", "result_id", "input_ids", "params", "scalars"
};

/* Error for field `field` of ops[i] (or item k of its input_ids when
   k >= 0) that is not an int in [lo, hi]. */
static Py_NO_INLINE int
ops_int_error(PyObject *o, Py_ssize_t i, int field, Py_ssize_t k,
              int64_t lo, int64_t hi)
{
    char label[128];

    if (k >= 0) {
        PyOS_snprintf(label, sizeof(label), "ops[%zd][%d][%zd] (input id)",
                      i, field, k);
    }
    else {
        PyOS_snprintf(label, sizeof(label), "ops[%zd][%d] (%s)",
                      i, field, OP_FIELDS[field]);
    }
    return int_label_error(o, -1, label, lo, hi);
}

/* Interning ops[i]'s params failed: a TypeError (unhashable item) or
   ValueError (nesting too deep) is re-raised naming the argument, with
   the original as its __cause__; other exceptions (raised by an item's
   own __hash__ or __eq__) propagate unchanged. */
static Py_NO_INLINE int
params_error(Py_ssize_t i)
{
    PyObject *cause, *exc, *type;

    if (PyErr_ExceptionMatches(PyExc_TypeError)) {
        type = PyExc_TypeError;
    }
    else if (PyErr_ExceptionMatches(PyExc_ValueError)) {
        type = PyExc_ValueError;
    }
    else {
        return -1;
    }
#if PY_VERSION_HEX >= 0x030C0000
    cause = PyErr_GetRaisedException();
    PyErr_Format(type, "ops[%zd][3] (params): %S", i, cause);
    exc = PyErr_GetRaisedException();
    if (exc != NULL) {
        PyException_SetContext(exc, Py_NewRef(cause));
        PyException_SetCause(exc, cause);   /* steals cause */
        PyErr_SetRaisedException(exc);
    }
    else {
        Py_DECREF(cause);
    }
#else
    {
        PyObject *t, *tb;

        PyErr_Fetch(&t, &cause, &tb);
        PyErr_NormalizeException(&t, &cause, &tb);
        if (tb != NULL && cause != NULL) {
            PyException_SetTraceback(cause, tb);
        }
        Py_XDECREF(t);
        Py_XDECREF(tb);
        if (cause == NULL) {
            PyErr_Format(type, "ops[%zd][3] (params) is invalid", i);
            return -1;
        }
        PyErr_Format(type, "ops[%zd][3] (params): %S", i, cause);
        PyErr_Fetch(&t, &exc, &tb);
        PyErr_NormalizeException(&t, &exc, &tb);
        if (exc != NULL) {
            if (tb != NULL) {
                PyException_SetTraceback(exc, tb);
            }
            Py_INCREF(cause);
            PyException_SetContext(exc, cause);
            PyException_SetCause(exc, cause);   /* steals cause */
            cause = NULL;
        }
        Py_XDECREF(cause);
        PyErr_Restore(t, exc, tb);
    }
#endif
    return -1;
}

/* Validate ops[i] (item) and append it to the batch.  Labels in error
   messages name the offending item as ops[i][field][k]. */
static int
flush_one_op(BatcherObject *self, PyObject *item, Py_ssize_t i)
{
    batch *b = &self->b;
    PyObject *inputs, *params, *scalars;
    int64_t opcode, result_id;
    int32_t code;
    Py_ssize_t n_in, k;
    idslot *s;

    if (!PyTuple_Check(item)) {
        PyErr_Format(PyExc_TypeError,
                     "ops[%zd] must be a tuple (opcode, result_id, input_ids, "
                     "params, scalars), not %.100s",
                     i, Py_TYPE(item)->tp_name);
        return -1;
    }
    if (PyTuple_GET_SIZE(item) != 5) {
        PyErr_Format(PyExc_ValueError,
                     "ops[%zd] must have 5 items (opcode, result_id, "
                     "input_ids, params, scalars), got %zd",
                     i, PyTuple_GET_SIZE(item));
        return -1;
    }
    if (!int64_in_range(PyTuple_GET_ITEM(item, 0), 0,
                        self->num_opcodes - 1, &opcode)) {
        return ops_int_error(PyTuple_GET_ITEM(item, 0), i, 0, -1,
                             0, self->num_opcodes - 1);
    }
    if (!int64_in_range(PyTuple_GET_ITEM(item, 1), 0, INT64_MAX,
                        &result_id)) {
        return ops_int_error(PyTuple_GET_ITEM(item, 1), i, 1, -1,
                             0, INT64_MAX);
    }
    inputs = PyTuple_GET_ITEM(item, 2);
    params = PyTuple_GET_ITEM(item, 3);
    scalars = PyTuple_GET_ITEM(item, 4);
    if (!PyTuple_Check(inputs)) {
        PyErr_Format(PyExc_TypeError,
                     "ops[%zd][2] (input_ids) must be a tuple of ints, "
                     "not %.100s", i, Py_TYPE(inputs)->tp_name);
        return -1;
    }
    if (!PyTuple_Check(params)) {
        PyErr_Format(PyExc_TypeError,
                     "ops[%zd][3] (params) must be a tuple, not %.100s",
                     i, Py_TYPE(params)->tp_name);
        return -1;
    }
    if (!PyTuple_Check(scalars)) {
        PyErr_Format(PyExc_TypeError,
                     "ops[%zd][4] (scalars) must be a tuple, not %.100s",
                     i, Py_TYPE(scalars)->tp_name);
        return -1;
    }
    if (b->n_ops >= CANON_MAX) {
        PyErr_Format(PyExc_ValueError,
                     "ops[%zd]: batch is full: at most %d ops per batch",
                     i, CANON_MAX);
        return -1;
    }
    n_in = PyTuple_GET_SIZE(inputs);
    if (n_in > CANON_MAX - b->n_ext) {
        PyErr_Format(PyExc_ValueError,
                     "ops[%zd][2] (input_ids) has too many elements (%zd)",
                     i, n_in);
        return -1;
    }
    RESERVE(b->scratch, b->cap_scratch, n_in);
    RESERVE(b->scratch_objs, b->cap_scratch_objs, n_in);
    for (k = 0; k < n_in; k++) {
        PyObject *o = PyTuple_GET_ITEM(inputs, k);
        if (!int64_in_range(o, 0, INT64_MAX, &b->scratch[k])) {
            return ops_int_error(o, i, 2, k, 0, INT64_MAX);
        }
        b->scratch_objs[k] = o;     /* borrowed: item (held) holds inputs */
        if (b->scratch[k] == result_id) {
            PyErr_Format(PyExc_ValueError,
                         "ops[%zd][2][%zd] (input id) is the op's own "
                         "result_id %lld", i, k, (long long)result_id);
            return -1;
        }
    }
    /* Frees are applied after all ops, so an id in the map is either the
       result of an earlier op or an input of one. */
    s = map_find(b, result_id);
    if (s != NULL) {
        if ((s->meta & 3) == KIND_RESULT) {
            PyErr_Format(PyExc_ValueError,
                         "ops[%zd][1] (result_id): duplicate result_id %lld, "
                         "already produced by ops[%d]",
                         i, (long long)result_id, (int)s->val);
        }
        else {
            PyErr_Format(PyExc_ValueError,
                         "ops[%zd][1] (result_id): %lld is already used as an "
                         "input earlier in the batch (ids must be fresh)",
                         i, (long long)result_id);
        }
        return -1;
    }
    if (ptable_intern(&self->params, params, &code) < 0) {
        return params_error(i);
    }
    return batch_commit(b, (int32_t)opcode, code, result_id, n_in,
                        PyTuple_GET_ITEM(item, 1));
}

PyDoc_STRVAR(Batcher_flush_ops__doc__,
"flush_ops($self, ops, frees, /)\n"
"--\n"
"\n"
"Canonicalize a whole batch given as lists; return what appending every\n"
"op, then freeing every id, then flush() would return.\n"
"\n"
"ops is a list of (opcode, result_id, input_ids, params, scalars) tuples:\n"
"opcode in [0, num_opcodes), result_id and the ids of the tuple input_ids\n"
"in [0, 2**63), params a hashable tuple, scalars a tuple (not part of the\n"
"canonical form).  params are interned here: two params share a param code\n"
"only if they are equal and their items have identical types, recursively\n"
"through tuples.  frees is a list of ids freed since the last flush.\n"
"Return None when both lists are empty.  Neither list is modified.\n"
"\n"
"RuntimeError if ops appended with append() or frees noted with free()\n"
"are pending.  On any error the batch is dropped: the Batcher is left\n"
"empty.");

static PyObject *
Batcher_flush_ops(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    BatcherObject *self = (BatcherObject *)op;
    batch *b = &self->b;
    PyObject *ops, *frees, *res;
    Py_ssize_t i;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "flush_ops() takes exactly 2 arguments (%zd given)",
                     nargs);
        return NULL;
    }
    if (check_not_busy(self, "flush_ops") < 0) {
        return NULL;
    }
    ops = args[0];
    frees = args[1];
    if (!PyList_Check(ops)) {
        PyErr_Format(PyExc_TypeError, "ops must be a list, not %.100s",
                     Py_TYPE(ops)->tp_name);
        return NULL;
    }
    if (!PyList_Check(frees)) {
        PyErr_Format(PyExc_TypeError, "frees must be a list, not %.100s",
                     Py_TYPE(frees)->tp_name);
        return NULL;
    }
    if (b->n_ops != 0 || b->n_freed != 0) {
        PyErr_Format(PyExc_RuntimeError,
                     "flush_ops() called with %zd op(s) and %zd free(s) "
                     "pending from append()/free(); flush() or clear() them "
                     "first", b->n_ops, b->n_freed);
        return NULL;
    }
    if (PyList_GET_SIZE(ops) == 0 && PyList_GET_SIZE(frees) == 0) {
        Py_RETURN_NONE;
    }

    self->busy = 1;
    b->keep_objs = 1;       /* cleared by batch_reset() on every exit */
    /* Python code can run during the loop (an item's __hash__ or __eq__,
       finalizers of released objects) and may change the lists: the size
       is read at every step and the current op is held. */
    for (i = 0; i < PyList_GET_SIZE(ops); i++) {
        PyObject *item = PyList_GET_ITEM(ops, i);
        int rc;

        Py_INCREF(item);
        rc = flush_one_op(self, item, i);
        Py_DECREF(item);
        if (rc < 0) {
            goto error;
        }
    }
    for (i = 0; i < PyList_GET_SIZE(frees); i++) {
        PyObject *o = PyList_GET_ITEM(frees, i);
        int64_t tensor_id;

        if (!int64_in_range(o, 0, INT64_MAX, &tensor_id)) {
            char label[48];
            PyOS_snprintf(label, sizeof(label), "frees[%zd]", i);
            int_label_error(o, -1, label, 0, INT64_MAX);
            goto error;
        }
        if (batch_free(b, tensor_id, o) < 0) {
            goto error;
        }
    }
    res = batch_flush(b);
    if (res == NULL) {
        goto error;
    }
    /* batch_flush() resets the batch (and stops keeping id objects) unless
       there was nothing to flush, which the checks above rule out; make
       sure regardless that append() never finds keep_objs set. */
    batch_reset(b);
    self->busy = 0;
    return res;

error:
    batch_reset(b);
    self->busy = 0;
    return NULL;
}

PyDoc_STRVAR(Batcher_clear__doc__,
"clear($self, /)\n"
"--\n"
"\n"
"Drop all pending ops and noted frees (used after an error).");

static PyObject *
Batcher_clear(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    BatcherObject *self = (BatcherObject *)op;

    if (check_not_busy(self, "clear") < 0) {
        return NULL;
    }
    batch_reset(&self->b);
    Py_RETURN_NONE;
}

static PyObject *
Batcher_get_max_size(PyObject *op, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(((BatcherObject *)op)->max_size);
}

static PyObject *
Batcher_get_num_opcodes(PyObject *op, void *Py_UNUSED(closure))
{
    return PyLong_FromLong(((BatcherObject *)op)->num_opcodes);
}

static PyObject *
Batcher_get_param_code_count(PyObject *op, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(((BatcherObject *)op)->params.used);
}

static PyObject *
Batcher_get_param_codes_limit(PyObject *op, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(((BatcherObject *)op)->params.limit);
}

static PyMethodDef Batcher_methods[] = {
    {"append", (PyCFunction)(void (*)(void))Batcher_append, METH_FASTCALL,
     Batcher_append__doc__},
    {"free", Batcher_free, METH_O, Batcher_free__doc__},
    {"flush", Batcher_flush, METH_NOARGS, Batcher_flush__doc__},
    {"flush_ops", (PyCFunction)(void (*)(void))Batcher_flush_ops,
     METH_FASTCALL, Batcher_flush_ops__doc__},
    {"clear", Batcher_clear, METH_NOARGS, Batcher_clear__doc__},
    {NULL, NULL, 0, NULL}
};

static PyGetSetDef Batcher_getset[] = {
    {"max_size", Batcher_get_max_size, NULL,
     PyDoc_STR("Number of pending ops at which append() returns True."), NULL},
    {"num_opcodes", Batcher_get_num_opcodes, NULL,
     PyDoc_STR("Opcodes must be in range(num_opcodes)."), NULL},
    {"param_code_count", Batcher_get_param_code_count, NULL,
     PyDoc_STR("Number of params currently interned by flush_ops()."), NULL},
    {"param_codes_limit", Batcher_get_param_codes_limit, NULL,
     PyDoc_STR("Interned params at which flush_ops() empties its table\n"
               "(codes are never reused)."), NULL},
    {NULL, NULL, NULL, NULL, NULL}
};

PyDoc_STRVAR(Batcher__doc__,
"Batcher(max_size, num_opcodes, *, param_codes_limit=65536)\n"
"--\n"
"\n"
"Struct-of-arrays buffer of pending ops that renumbers tensor ids into\n"
"a canonical form on flush(), or canonicalizes a whole batch given as\n"
"lists with flush_ops().  max_size, num_opcodes and param_codes_limit\n"
"(the bound on flush_ops()'s params interning table) must be >= 1.");

static PyType_Slot Batcher_slots[] = {
    {Py_tp_doc, (void *)Batcher__doc__},
    {Py_tp_new, Batcher_new},
    {Py_tp_dealloc, Batcher_dealloc},
    {Py_tp_traverse, Batcher_traverse},
    {Py_tp_clear, Batcher_tp_clear},
    {Py_tp_repr, Batcher_repr},
    {Py_tp_methods, Batcher_methods},
    {Py_tp_getset, Batcher_getset},
    {Py_sq_length, Batcher_len},
    {0, NULL}
};

static PyType_Spec Batcher_spec = {
    .name = "gt.worker._batcher.Batcher",
    .basicsize = sizeof(BatcherObject),
    .itemsize = 0,
#ifdef Py_TPFLAGS_IMMUTABLETYPE
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_HAVE_GC,
#else
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
#endif
    .slots = Batcher_slots,
};


/* ---------------------------------------------------------------------- */
/* Module functions                                                        */

PyDoc_STRVAR(canonicalize__doc__,
"canonicalize($module, ops, num_opcodes, /)\n"
"--\n"
"\n"
"Append every (opcode, param_code, result_id, inputs) tuple of the\n"
"non-empty list ops to a fresh batch and return its flush() result.");

static PyObject *
batcher_canonicalize(PyObject *Py_UNUSED(module), PyObject *const *args,
             Py_ssize_t nargs)
{
    PyObject *ops, *res = NULL;
    int64_t num_opcodes;
    Py_ssize_t i, n;
    batch b;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "canonicalize() takes exactly 2 arguments (%zd given)",
                     nargs);
        return NULL;
    }
    ops = args[0];
    if (!PyList_Check(ops) && !PyTuple_Check(ops)) {
        PyErr_Format(PyExc_TypeError,
                     "ops must be a list of tuples, not %.100s",
                     Py_TYPE(ops)->tp_name);
        return NULL;
    }
    if (get_int64(args[1], -1, "num_opcodes", -1, 1, CANON_MAX,
                  &num_opcodes) < 0) {
        return NULL;
    }
    n = PySequence_Fast_GET_SIZE(ops);
    if (n == 0) {
        PyErr_SetString(PyExc_ValueError, "ops must not be empty");
        return NULL;
    }

    batch_init(&b);
    /* No Python code runs while ops is traversed (ints are converted
       without calling back into Python), so the list cannot change. */
    for (i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(ops, i);
        if (!PyTuple_Check(item)) {
            PyErr_Format(PyExc_TypeError,
                         "ops[%zd] must be a tuple (opcode, param_code, "
                         "result_id, inputs), not %.100s",
                         i, Py_TYPE(item)->tp_name);
            goto error;
        }
        if (PyTuple_GET_SIZE(item) != 4) {
            PyErr_Format(PyExc_ValueError,
                         "ops[%zd] must have 4 items (opcode, param_code, "
                         "result_id, inputs), got %zd",
                         i, PyTuple_GET_SIZE(item));
            goto error;
        }
        if (parse_and_append(&b, (int32_t)num_opcodes,
                             PyTuple_GET_ITEM(item, 0),
                             PyTuple_GET_ITEM(item, 1),
                             PyTuple_GET_ITEM(item, 2),
                             PyTuple_GET_ITEM(item, 3), i) < 0) {
            goto error;
        }
    }
    /* b is private to this call, so flushing it cannot be re-entered. */
    res = batch_flush(&b);

error:
    batch_fini(&b);
    return res;
}

PyDoc_STRVAR(decode__doc__,
"decode($module, canon, /)\n"
"--\n"
"\n"
"Validate canonical bytes and return one (opcode, param_code, input_refs,\n"
"live) tuple per op.  Raise ValueError on malformed input: length not a\n"
"multiple of 4, inconsistent counts, negative opcode or param_code,\n"
"internal refs not pointing to an earlier op, external refs >= n_ext,\n"
"live flags other than 0/1, trailing words.");

static PyObject *
batcher_decode(PyObject *Py_UNUSED(module), PyObject *canon)
{
    const unsigned char *buf;
    Py_ssize_t len, pos;
    int32_t n_ops, n_ext, j;
    PyObject *list = NULL, *refs = NULL, *item = NULL;

    if (!PyBytes_Check(canon)) {
        PyErr_Format(PyExc_TypeError, "canon must be bytes, not %.100s",
                     Py_TYPE(canon)->tp_name);
        return NULL;
    }
    buf = (const unsigned char *)PyBytes_AS_STRING(canon);
    len = PyBytes_GET_SIZE(canon);
    if (canon_validate(buf, len, &n_ops, &n_ext, NULL) < 0) {
        return NULL;
    }
    /* canon is immutable and we hold a reference via the caller, so buf
       stays valid while objects are allocated below. */
    list = PyList_New(n_ops);
    if (list == NULL) {
        return NULL;
    }
    pos = 2;
    for (j = 0; j < n_ops; j++) {
        int32_t opcode = load_le32(buf + 4 * pos);
        int32_t param = load_le32(buf + 4 * (pos + 1));
        int32_t n_in = load_le32(buf + 4 * (pos + 2));
        int32_t live, i;

        refs = PyTuple_New(n_in);
        if (refs == NULL) {
            goto error;
        }
        for (i = 0; i < n_in; i++) {
            PyObject *v = PyLong_FromLong(load_le32(buf + 4 * (pos + 3 + i)));
            if (v == NULL) {
                goto error;
            }
            PyTuple_SET_ITEM(refs, i, v);
        }
        live = load_le32(buf + 4 * (pos + 3 + n_in));
        item = Py_BuildValue("(iiOO)", (int)opcode, (int)param, refs,
                             live ? Py_True : Py_False);
        if (item == NULL) {
            goto error;
        }
        Py_CLEAR(refs);
        PyList_SET_ITEM(list, j, item);
        item = NULL;
        pos += 4 + (Py_ssize_t)n_in;
    }
    return list;

error:
    Py_XDECREF(refs);
    Py_XDECREF(list);
    return NULL;
}

static PyMethodDef batcher_functions[] = {
    {"canonicalize", (PyCFunction)(void (*)(void))batcher_canonicalize, METH_FASTCALL,
     canonicalize__doc__},
    {"decode", batcher_decode, METH_O, decode__doc__},
    {NULL, NULL, 0, NULL}
};


/* ---------------------------------------------------------------------- */
/* Module definition                                                       */

static int
batcher_exec(PyObject *module)
{
    batcher_state *st = get_batcher_state(module);

    st->BatcherType = PyType_FromModuleAndSpec(module, &Batcher_spec, NULL);
    if (st->BatcherType == NULL) {
        return -1;
    }
    if (PyModule_AddType(module, (PyTypeObject *)st->BatcherType) < 0) {
        return -1;
    }
    return 0;
}

static int
batcher_traverse(PyObject *module, visitproc visit, void *arg)
{
    batcher_state *st = get_batcher_state(module);

    Py_VISIT(st->BatcherType);
    return 0;
}

static int
batcher_clear(PyObject *module)
{
    batcher_state *st = get_batcher_state(module);

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

PyDoc_STRVAR(batcher_module__doc__,
"C core of the GT worker's pending-instruction buffer: Batcher,\n"
"canonicalize() and decode() of the canonical batch form.");

static struct PyModuleDef batcher_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "gt.worker._batcher",
    .m_doc = batcher_module__doc__,
    .m_size = sizeof(batcher_state),
    .m_methods = batcher_functions,
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
