/* What GT's two C modules (_batcher.c, _hotpath.c) share: reading an int
   argument with an error that names it, and growing a PyMem array.
   Everything is static, so each module has its own copy and no symbol is
   exported.  Include it after Python.h. */

#ifndef GT_CORE_H
#define GT_CORE_H

#include <stdarg.h>
#include <stdint.h>

#ifndef Py_NO_INLINE
#  define Py_NO_INLINE   /* Python < 3.12 */
#endif

/* 0 and *out = o's value if o is an int in [lo, hi], else -1 with no
   exception set (the caller names the argument through int_error()).
   Runs no Python code: only int and its subclasses are read. */
static inline int
read_int64(PyObject *o, int64_t lo, int64_t hi, int64_t *out)
{
    int overflow;
    long long v;

    if (!PyLong_Check(o)) {
        return -1;
    }
#if PY_VERSION_HEX >= 0x030C0000
    /* Ids and opcodes are small: read them inline. */
    if (PyUnstable_Long_IsCompact((PyLongObject *)o)) {
        v = (long long)PyUnstable_Long_CompactValue((PyLongObject *)o);
        if (v < lo || v > hi) {
            return -1;
        }
        *out = (int64_t)v;
        return 0;
    }
#endif
    v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow || v < lo || v > hi) {
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

/* Raise the error for an argument that read_int64() refused: TypeError if
   it is not an int, else ValueError.  The argument's name is formatted
   from fmt (PyUnicode_FromFormat), e.g. "ops[%zd][1]".  Returns -1. */
static int
int_error(PyObject *o, int64_t lo, int64_t hi, const char *fmt, ...)
{
    PyObject *name;
    va_list va;

    va_start(va, fmt);
    name = PyUnicode_FromFormatV(fmt, va);
    va_end(va);
    if (name == NULL) {
        return -1;
    }
    if (!PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%U must be int, not %.100s",
                     name, Py_TYPE(o)->tp_name);
    }
    else {
        PyErr_Format(PyExc_ValueError, "%U must be in [%lld, %lld], got %R",
                     name, (long long)lo, (long long)hi, o);
    }
    Py_DECREF(name);
    return -1;
}

/* Make *arr (of *cap elements of elsize bytes) hold at least need
   elements, doubling; MemoryError and -1 on failure (*arr unchanged). */
static int
grow_array(void **arr, Py_ssize_t *cap, Py_ssize_t need, size_t elsize)
{
    Py_ssize_t c = *cap < 16 ? 16 : *cap;
    void *p;

    if (need <= *cap) {
        return 0;
    }
    while (c < need) {
        if (c > PY_SSIZE_T_MAX / 2 / (Py_ssize_t)elsize) {
            PyErr_NoMemory();
            return -1;
        }
        c *= 2;
    }
    p = PyMem_Realloc(*arr, (size_t)c * elsize);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *arr = p;
    *cap = c;
    return 0;
}

#define GROW(arr, cap, need) \
    grow_array((void **)&(arr), &(cap), (need), sizeof(*(arr)))

#endif /* GT_CORE_H */
