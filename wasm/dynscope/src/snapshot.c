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
    PyObject *line = file ? PyLong_FromLong(PyFrame_GetLineNumber((PyFrameObject *)frame)) : NULL;
    Py_DECREF(code);
    PyObject *d = NULL;
    if (line != NULL) {
        d = PyDict_New();
        if (d != NULL && (PyDict_SetItemString(d, "function", fn) < 0 ||
                          PyDict_SetItemString(d, "file", file) < 0 ||
                          PyDict_SetItemString(d, "line", line) < 0 ||
                          PyDict_SetItemString(d, "bindings", bindings) < 0)) {
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
PyObject *
ds_snapshot_from(ds_store *st, int skip, PyObject *from)
{
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
        if (ds_ftable_find(&st->frames, f) != NULL) {
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
                    ok = PyDict_SetItem(b, PyTuple_GetItem(p, 0), PyTuple_GetItem(p, 1)) == 0;
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

/* snapshot(frame=None)'s argument: NULL for the caller, else a frame. */
int
ds_snapshot_frame_arg(PyObject *args, PyObject *kwargs, PyObject **frame)
{
    static char *kwlist[] = {"frame", NULL};
    PyObject *f = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:snapshot", kwlist, &f)) {
        return -1;
    }
    if (f == Py_None) {
        *frame = NULL;
        return 0;
    }
    int ok = PyObject_IsInstance(f, ds_global->frame_type);
    if (ok < 0) {
        return -1;
    }
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "snapshot(frame): a frame object (sys._getframe(), "
                                      "a generator's gi_frame), not %R", f);
        return -1;
    }
    *frame = f;
    return 0;
}
