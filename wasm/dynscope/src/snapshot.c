/* snapshot(frame=None): the visible bindings as data, for the service's
 * response.
 *
 * One dict per frame that has bindings, innermost frame first:
 *   {"function": co_name, "file": co_filename, "line": f_lineno,
 *    "bindings": {name: value}}
 * Within a frame the innermost layer wins; a name shadowed by an inner frame
 * still appears under the outer frame that bound it, since the snapshot
 * shows the stack as it is, not only what get() would return.
 */
#define Py_LIMITED_API 0x030B0000
#include "dynscope.h"

static PyObject *
frame_entry(PyObject *frame, PyObject *bindings)
{
    ds_state *s = ds_global;
    PyObject *code = (PyObject *)PyFrame_GetCode((PyFrameObject *)frame);
    PyObject *fn = PyObject_GetAttr(code, s->str_co_name);
    PyObject *file = fn ? PyObject_GetAttr(code, s->str_co_filename) : NULL;
    PyObject *line =
        file ? PyLong_FromLong(PyFrame_GetLineNumber((PyFrameObject *)frame))
             : NULL;
    Py_DECREF(code);
    PyObject *d = NULL;
    if (line != NULL) {
        d = PyDict_New();
        if (d != NULL && (PyDict_SetItem(d, s->str_function, fn) < 0 ||
                          PyDict_SetItem(d, s->str_file, file) < 0 ||
                          PyDict_SetItem(d, s->str_line, line) < 0 ||
                          PyDict_SetItem(d, s->str_bindings, bindings) < 0)) {
            Py_CLEAR(d);
        }
    }
    Py_XDECREF(fn);
    Py_XDECREF(file);
    Py_XDECREF(line);
    return d;
}

/* The snapshot as seen from `from` (a frame; NULL: the caller, `skip`
 * frames up).  From a given frame the walk is the one a lookup made there
 * would do: a raise callback's caller, a suspended generator's gi_frame
 * (only its own bindings: nothing resumes it). */
/* The common case, without the intermediate pairs ds_rec_items makes:
 * when every name in the record is an exact str (their hashing and
 * comparison run no Python code that could change the layers under us),
 * the frame's bindings go straight into its dict, innermost first (the first
 * one met, the innermost, is kept).  Returns 1 when it handled the frame (appending to
 * *out if it had bindings), 0 to leave it to the general path. */
static int
frame_bindings_fast(ds_framerec *rec, PyObject *frame, PyObject **out,
                    int *err)
{
    *err = 0;
    if (rec->here != NULL) {
        return 0; /* set_here dicts: the general path checks ownership */
    }
    for (ds_layer *l = rec->layers; l != NULL; l = l->next) {
        for (Py_ssize_t i = 0; i < l->n; i++) {
            if (!PyUnicode_CheckExact(l->names[i])) {
                return 0;
            }
        }
    }
    PyObject *b = PyDict_New();
    if (b == NULL) {
        *err = 1;
        return 1;
    }
    for (ds_layer *l = rec->layers; l != NULL; l = l->next) {
        for (Py_ssize_t i = 0; i < l->n; i++) {
            if (l->values[i] == NULL) {
                continue;
            }
            int has = PyDict_Contains(b, l->names[i]);
            if (has < 0 || (has == 0 && PyDict_SetItem(b, l->names[i],
                                                       l->values[i]) < 0)) {
                Py_DECREF(b);
                *err = 1;
                return 1;
            }
        }
    }
    if (PyDict_Size(b) > 0) {
        PyObject *e = frame_entry(frame, b);
        if (e == NULL || PyList_Append(*out, e) < 0) {
            *err = 1;
        }
        Py_XDECREF(e);
    }
    Py_DECREF(b);
    return 1;
}

PyObject *
ds_snapshot_from(ds_store *st, int skip, PyObject *from)
{
    int err = 0;
    PyObject *out = PyList_New(0);
    if (out == NULL || st->live == 0) {
        return out;
    }
    PyObject *f;
    if (from != NULL) {
        Py_INCREF(from);
        f = from;
    }
    else {
        f = ds_caller_frame(skip);
    }
    while (f != NULL) {
        ds_framerec *rec = ds_ftable_find(&st->frames, f);
        int fast = rec != NULL ? frame_bindings_fast(rec, f, &out, &err) : 0;
        if (err) {
            goto error;
        }
        if (rec != NULL && !fast) {
            PyObject *pairs = PyList_New(0);
            PyObject *seen = PyDict_New();
            if (pairs == NULL || seen == NULL ||
                ds_rec_items(st, f, pairs, seen) < 0) {
                Py_XDECREF(pairs);
                Py_XDECREF(seen);
                goto error;
            }
            Py_DECREF(seen);
            if (PyList_Size(pairs) > 0) {
                PyObject *b = PyDict_New();
                int ok = b != NULL;
                for (Py_ssize_t i = 0; ok && i < PyList_Size(pairs); i++) {
                    PyObject *p = PyList_GetItem(pairs, i);
                    ok = PyDict_SetItem(b, PyTuple_GetItem(p, 0),
                                        PyTuple_GetItem(p, 1)) == 0;
                }
                PyObject *e = ok ? frame_entry(f, b) : NULL;
                Py_XDECREF(b);
                if (e == NULL || PyList_Append(out, e) < 0) {
                    Py_XDECREF(e);
                    Py_DECREF(pairs);
                    goto error;
                }
                Py_DECREF(e);
            }
            Py_DECREF(pairs);
        }
        PyObject *back = ds_frame_back(f);
        Py_DECREF(f);
        f = back;
    }
    if (PyErr_Occurred()) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
error:
    Py_DECREF(f);
    Py_DECREF(out);
    return NULL;
}

PyObject *
ds_snapshot(ds_store *st, int skip)
{
    return ds_snapshot_from(st, skip, NULL);
}

/* snapshot(frame=None)'s argument: NULL for the caller, else a frame.
 * Vectorcall: a raise hook calls it for every exception. */
int
ds_snapshot_frame_arg(PyObject *const *args, Py_ssize_t nargs,
                      PyObject *kwnames, PyObject **frame)
{
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_Size(kwnames);
    PyObject *f = Py_None;
    if (nargs + nkw > 1 ||
        (nkw == 1 && PyUnicode_CompareWithASCIIString(
                         PyTuple_GetItem(kwnames, 0), "frame") != 0)) {
        PyErr_SetString(PyExc_TypeError,
                        "snapshot(frame=None) takes one optional "
                        "argument, frame");
        return -1;
    }
    if (nargs + nkw == 1) {
        f = args[0];
    }
    if (f == Py_None) {
        *frame = NULL;
        return 0;
    }
    if (!PyObject_TypeCheck(f, (PyTypeObject *)ds_global->frame_type)) {
        PyErr_Format(PyExc_TypeError,
                     "snapshot(frame): a frame object (sys._getframe(), "
                     "a generator's gi_frame), not %R",
                     f);
        return -1;
    }
    *frame = f;
    return 0;
}
