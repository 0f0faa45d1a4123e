/* Helpers shared by GT's C core, _batcher.c and _hotpath.c.

   Everything here is static or static inline, so each extension module
   gets its own private copy: no symbol is exported and there is no shared
   (or mutable) state.  Include it after Python.h.

   It holds:
     - argument checking with error messages that name the argument:
       op_error(), make_label(), int_label_error(), int64_arg_error(),
       small_int_value(), int64_in_range(), get_int64();
     - growable PyMem arrays: next_cap(), realloc_array(), RESERVE();
     - the canonical form (described in _batcher.c): load_le32(),
       store_le32() and canon_validate(), which checks that canonical
       bytes are well formed and can hash them (FNV-1a 64) on the way.
*/

#ifndef GT_CORE_H
#define GT_CORE_H

#ifndef Py_PYTHON_H
#  error "gt_core.h needs Python.h to be included first"
#endif

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#ifndef Py_NO_INLINE
#  define Py_NO_INLINE
#endif

/* FNV-1a 64 parameters. */
#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME  UINT64_C(0x100000001b3)


/* ---------------------------------------------------------------------- */
/* Argument checking                                                       */

/* Raise exc with a message; if where >= 0 the message is prefixed with
   "ops[where]: " (used by canonicalize() to say which op was bad). */
static void
op_error(PyObject *exc, Py_ssize_t where, const char *fmt, ...)
{
    PyObject *msg;
    va_list va;

    va_start(va, fmt);
    msg = PyUnicode_FromFormatV(fmt, va);
    va_end(va);
    if (msg == NULL) {
        return;
    }
    if (where >= 0) {
        PyErr_Format(exc, "ops[%zd]: %U", where, msg);
    }
    else {
        PyErr_SetObject(exc, msg);
    }
    Py_DECREF(msg);
}

/* Name of an argument for an error message: "name" or "name[index]". */
static void
make_label(char *buf, size_t size, const char *name, Py_ssize_t index)
{
    if (index >= 0) {
        PyOS_snprintf(buf, size, "%s[%zd]", name, index);
    }
    else {
        PyOS_snprintf(buf, size, "%s", name);
    }
}

/* Raise the TypeError/ValueError for an int argument called `label` that
   is not an int in [lo, hi]. */
static Py_NO_INLINE int
int_label_error(PyObject *o, Py_ssize_t where, const char *label,
                int64_t lo, int64_t hi)
{
    long long v;
    int overflow;

    if (!PyLong_Check(o)) {
        op_error(PyExc_TypeError, where, "%s must be int, not %.100s",
                 label, Py_TYPE(o)->tp_name);
        return -1;
    }
    v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow) {
        op_error(PyExc_ValueError, where, "%s does not fit in int64", label);
    }
    else if (hi == INT64_MAX) {
        op_error(PyExc_ValueError, where, "%s must be >= %lld, got %lld",
                 label, (long long)lo, v);
    }
    else {
        op_error(PyExc_ValueError, where,
                 "%s must be in range [%lld, %lld], got %lld",
                 label, (long long)lo, (long long)hi, v);
    }
    return -1;
}

/* Raise the TypeError/ValueError for an int argument that get_int64()
   rejected.  Kept out of line so the fast path stays small. */
static Py_NO_INLINE int
int64_arg_error(PyObject *o, Py_ssize_t where, const char *name,
                Py_ssize_t index, int64_t lo, int64_t hi)
{
    char label[96];

    make_label(label, sizeof(label), name, index);
    return int_label_error(o, where, label, lo, hi);
}

/* 1 and *v = its value if the int (or int subclass) o is small enough
   to be read inline, else 0.  Whether an int is "small" depends only on
   its value (ints are stored normalized).  Runs no Python code. */
static inline int
small_int_value(PyObject *o, int64_t *v)
{
#if PY_VERSION_HEX >= 0x030C0000
    if (PyUnstable_Long_IsCompact((PyLongObject *)o)) {
        *v = (int64_t)PyUnstable_Long_CompactValue((PyLongObject *)o);
        return 1;
    }
    return 0;
#elif !defined(Py_LIMITED_API)
    /* 3.11 layout: |ob_size| digits of PyLong_SHIFT bits, the sign of
       ob_size is the sign of the value. */
    Py_ssize_t size = Py_SIZE(o);
    const digit *d = ((PyLongObject *)o)->ob_digit;
    uint64_t u;

    switch (size) {
    case 0:
        *v = 0;
        return 1;
    case 1:
    case -1:
        u = (uint64_t)d[0];
        break;
    case 2:
    case -2:
        u = (uint64_t)d[0] | ((uint64_t)d[1] << PyLong_SHIFT);
        break;
    default:
        return 0;
    }
    *v = size < 0 ? -(int64_t)u : (int64_t)u;
    return 1;
#else
    (void)o;
    (void)v;
    return 0;
#endif
}

/* 1 and *out = value if o is an int in [lo, hi] (lo >= 0), else 0 with no
   exception set.  Runs no Python code.  Small ints (the common case: ids,
   opcodes) are read inline. */
static inline int
int64_in_range(PyObject *o, int64_t lo, int64_t hi, int64_t *out)
{
    if (PyLong_Check(o)) {
        int64_t v;

        if (!small_int_value(o, &v)) {
            int overflow;
            long long w = PyLong_AsLongLongAndOverflow(o, &overflow);
            /* For an int the only failure is overflow; -1 is below lo. */
            if (overflow) {
                return 0;
            }
            v = (int64_t)w;
        }
        if (v >= lo && v <= hi) {
            *out = v;
            return 1;
        }
    }
    return 0;
}

/* Convert an int argument to int64 in [lo, hi] (lo >= 0).  Only int (and
   subclasses) is accepted, so no Python code runs during the conversion.
   TypeError for other types, ValueError naming the argument ("name", or
   "name[index]" if index >= 0) for out-of-range values (including values
   that do not fit in int64).  `where` is as for op_error(): -1 for a plain
   argument. */
static inline int
get_int64(PyObject *o, Py_ssize_t where, const char *name, Py_ssize_t index,
          int64_t lo, int64_t hi, int64_t *out)
{
    if (int64_in_range(o, lo, hi, out)) {
        return 0;
    }
    *out = 0;
    return int64_arg_error(o, where, name, index, lo, hi);
}


/* ---------------------------------------------------------------------- */
/* Growable arrays                                                         */

/* Capacity for at least `need` elements, doubling from `cap`. */
static Py_ssize_t
next_cap(Py_ssize_t cap, Py_ssize_t need)
{
    Py_ssize_t c = cap < 8 ? 8 : cap;

    while (c < need) {
        if (c > PY_SSIZE_T_MAX / 2) {
            return need;
        }
        c *= 2;
    }
    return c;
}

/* PyMem_Realloc of an array of n elements; MemoryError on failure (the
   old block is then left untouched). */
static void *
realloc_array(void *p, Py_ssize_t n, size_t elsize)
{
    void *q;

    if (n <= 0 || (size_t)n > (size_t)PY_SSIZE_T_MAX / elsize) {
        PyErr_NoMemory();
        return NULL;
    }
    q = PyMem_Realloc(p, (size_t)n * elsize);
    if (q == NULL) {
        PyErr_NoMemory();
    }
    return q;
}

/* Grow one array so it holds at least `need` elements; on failure return
   -1 from the calling function. */
#define RESERVE(arr, cap, need)                                         \
    do {                                                                \
        if ((need) > (cap)) {                                           \
            Py_ssize_t nc_ = next_cap((cap), (need));                   \
            void *np_ = realloc_array((arr), nc_, sizeof(*(arr)));      \
            if (np_ == NULL) {                                          \
                return -1;                                              \
            }                                                           \
            (arr) = np_;                                                \
            (cap) = nc_;                                                \
        }                                                               \
    } while (0)


/* ---------------------------------------------------------------------- */
/* Canonical form                                                          */

static inline void
store_le32(unsigned char *p, int32_t v)
{
    uint32_t u = (uint32_t)v;

    p[0] = (unsigned char)(u & 0xff);
    p[1] = (unsigned char)((u >> 8) & 0xff);
    p[2] = (unsigned char)((u >> 16) & 0xff);
    p[3] = (unsigned char)((u >> 24) & 0xff);
}

static inline int32_t
load_le32(const unsigned char *p)
{
    uint32_t u = (uint32_t)p[0] | ((uint32_t)p[1] << 8)
                 | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    int32_t v;

    memcpy(&v, &u, sizeof(v));
    return v;
}

/* Check that buf (len bytes) is a well-formed canonical form: whole
   words, non-negative counts, opcodes, param codes and input counts, every
   op complete, internal refs to earlier ops, external refs < n_ext, live
   flags 0 or 1, no trailing words.  ValueError naming `canon` otherwise.
   On success stores the header counts and, if hash is not NULL, the
   FNV-1a 64 hash of all the words (as unsigned 32-bit values, in order;
   no finaliser), computed during the same pass. */
static int
canon_validate(const unsigned char *buf, Py_ssize_t len,
               int32_t *n_ops_out, int32_t *n_ext_out, uint64_t *hash)
{
    Py_ssize_t nw, pos;
    int32_t n_ops, n_ext, j;
    uint64_t h = FNV_OFFSET;

    if (len % 4 != 0) {
        PyErr_Format(PyExc_ValueError,
                     "canon length %zd is not a multiple of 4", len);
        return -1;
    }
    nw = len / 4;
    if (nw < 2) {
        PyErr_Format(PyExc_ValueError,
                     "canon is too short: %zd words, need at least the "
                     "2 header words", nw);
        return -1;
    }
    n_ops = load_le32(buf);
    n_ext = load_le32(buf + 4);
    if (n_ops < 0) {
        PyErr_Format(PyExc_ValueError, "canon: negative n_ops (%d)",
                     (int)n_ops);
        return -1;
    }
    if (n_ext < 0) {
        PyErr_Format(PyExc_ValueError, "canon: negative n_ext (%d)",
                     (int)n_ext);
        return -1;
    }
    h = (h ^ (uint32_t)n_ops) * FNV_PRIME;
    h = (h ^ (uint32_t)n_ext) * FNV_PRIME;
    pos = 2;
    for (j = 0; j < n_ops; j++) {
        int32_t opcode, param, n_in, live, i;

        if (nw - pos < 4) {
            PyErr_Format(PyExc_ValueError,
                         "canon is truncated: op %d of %d is incomplete",
                         (int)j, (int)n_ops);
            return -1;
        }
        opcode = load_le32(buf + 4 * pos);
        param = load_le32(buf + 4 * (pos + 1));
        n_in = load_le32(buf + 4 * (pos + 2));
        if (opcode < 0) {
            PyErr_Format(PyExc_ValueError,
                         "canon: op %d has negative opcode %d",
                         (int)j, (int)opcode);
            return -1;
        }
        if (param < 0) {
            PyErr_Format(PyExc_ValueError,
                         "canon: op %d has negative param_code %d",
                         (int)j, (int)param);
            return -1;
        }
        if (n_in < 0) {
            PyErr_Format(PyExc_ValueError,
                         "canon: op %d has negative n_inputs %d",
                         (int)j, (int)n_in);
            return -1;
        }
        if ((Py_ssize_t)n_in > nw - pos - 4) {
            PyErr_Format(PyExc_ValueError,
                         "canon is truncated: op %d declares %d inputs",
                         (int)j, (int)n_in);
            return -1;
        }
        h = (h ^ (uint32_t)opcode) * FNV_PRIME;
        h = (h ^ (uint32_t)param) * FNV_PRIME;
        h = (h ^ (uint32_t)n_in) * FNV_PRIME;
        for (i = 0; i < n_in; i++) {
            int32_t ref = load_le32(buf + 4 * (pos + 3 + i));
            if (ref >= 0) {
                if (ref >= j) {
                    PyErr_Format(PyExc_ValueError,
                                 "canon: op %d input %d refers to op %d, "
                                 "which is not an earlier op",
                                 (int)j, (int)i, (int)ref);
                    return -1;
                }
            }
            else if (-(int64_t)ref - 1 >= n_ext) {
                PyErr_Format(PyExc_ValueError,
                             "canon: op %d input %d refers to external %lld, "
                             "but n_ext is %d", (int)j, (int)i,
                             (long long)(-(int64_t)ref - 1), (int)n_ext);
                return -1;
            }
            h = (h ^ (uint32_t)ref) * FNV_PRIME;
        }
        live = load_le32(buf + 4 * (pos + 3 + n_in));
        if (live != 0 && live != 1) {
            PyErr_Format(PyExc_ValueError,
                         "canon: op %d live flag must be 0 or 1, got %d",
                         (int)j, (int)live);
            return -1;
        }
        h = (h ^ (uint32_t)live) * FNV_PRIME;
        pos += 4 + (Py_ssize_t)n_in;
    }
    if (pos != nw) {
        PyErr_Format(PyExc_ValueError,
                     "canon has %zd trailing words after the last op",
                     nw - pos);
        return -1;
    }
    *n_ops_out = n_ops;
    *n_ext_out = n_ext;
    if (hash != NULL) {
        *hash = h;
    }
    return 0;
}

#endif /* GT_CORE_H */
