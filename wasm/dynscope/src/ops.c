/* The operations on one store, shared by the module-level functions, the
 * Namespace type and the Dysco compatibility type.  `skip` counts frames
 * above the caller's: 0 means the frame that called into C.
 */
#define Py_LIMITED_API 0x030B0000
#include "dynscope.h"

/* Finds the nearest visible binding of name from the frame `skip` above the
 * caller.  When asked, *caller is that starting frame (a new reference,
 * also on a miss; NULL on error). */
static int
find(ds_store *st, PyObject *name, int skip, PyObject **value, ds_where *where,
     PyObject **caller)
{
    if (caller != NULL) {
        *caller = NULL;
    }
    int maybe = ds_store_maybe(st, name);
    if (maybe <= 0 && caller == NULL) {
        return maybe;
    }
    if (maybe < 0) {
        return -1;
    }
    PyObject *f = ds_caller_frame(skip);
    if (f == NULL) {
        if (PyErr_Occurred()) {
            return -1;
        }
        PyErr_SetString(PyExc_RuntimeError,
                        "dynscope: no Python frame is executing");
        return -1;
    }
    if (caller != NULL) {
        Py_INCREF(f);
        *caller = f;
    }
    if (maybe == 0) {
        Py_DECREF(f);
        return 0;
    }
    int r = ds_walk_find(st, f, name, value, where);
    if (r < 0 && caller != NULL) {
        Py_CLEAR(*caller);
    }
    return r;
}

/* Replaces the value at a found location.  The old value is released last:
 * its __del__ may run arbitrary code. */
static int
replace(ds_store *st, ds_where *w, PyObject *name, PyObject *value)
{
    st->gen++; /* scope_version(): a value changed */
    if (w->layer != NULL) {
        PyObject *old = w->layer->values[w->index];
        Py_INCREF(value);
        w->layer->values[w->index] = value;
        Py_XDECREF(old);
        return 0;
    }
    /* A set_here binding: the dict belongs to the frame's sentinel. */
    PyObject *here = w->rec->here;
    Py_INCREF(here);
    int r = PyDict_SetItem(here, name, value);
    Py_DECREF(here);
    return r;
}

static void
readonly_error(PyObject *exc, PyObject *name)
{
    PyErr_Format(exc,
                 "dynamic name %R is bound in a calling frame and this "
                 "namespace view is read-only",
                 name);
}

int
ds_ns_assign(ds_store *st, PyObject *name, PyObject *value, int skip)
{
    PyObject *v;
    ds_where w;
    int r = find(st, name, skip, &v, &w, NULL);
    if (r < 0) {
        return -1;
    }
    if (r == 0) {
        PyErr_Format(
            PyExc_LookupError,
            "dynscope.assign: dynamic name %R has no binding to change "
            "(make one with bind() or set_here())",
            name);
        return -1;
    }
    return replace(st, &w, name, value);
}

int
ds_ns_store(ds_store *st, PyObject *name, PyObject *value, int skip,
            int readonly, int shadow)
{
    PyObject *caller = NULL;
    if (!shadow) {
        PyObject *v;
        ds_where w;
        int r = find(st, name, skip, &v, &w, &caller);
        if (r < 0) {
            return -1;
        }
        if (r == 1) {
            if (readonly && w.frame != caller) {
                Py_DECREF(caller);
                readonly_error(PyExc_KeyError, name);
                return -1;
            }
            Py_DECREF(caller);
            return replace(st, &w, name, value);
        }
    }
    else {
        caller = ds_caller_frame(skip);
        if (caller == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_RuntimeError,
                                "dynscope: no Python frame is executing");
            }
            return -1;
        }
    }
    int r = ds_set_here(st, caller, name, value);
    Py_DECREF(caller);
    return r;
}

int
ds_ns_unbind(ds_store *st, PyObject *name, int skip, int readonly)
{
    PyObject *v, *caller;
    ds_where w;
    int r = find(st, name, skip, &v, &w, &caller);
    if (r <= 0) {
        Py_XDECREF(caller);
        return r;
    }
    if (readonly && w.frame != caller) {
        Py_DECREF(caller);
        readonly_error(PyExc_KeyError, name);
        return -1;
    }
    Py_DECREF(caller);
    if (w.layer != NULL) {
        /* The layer keeps the name; a NULL value means "unbound here" and
         * the layer's exit does not count it down again. */
        PyObject *old = w.layer->values[w.index];
        w.layer->values[w.index] = NULL;
        st->gen++;
        if (ds_store_count(st, name, -1) < 0) {
            PyErr_WriteUnraisable(name);
        }
        Py_DECREF(old);
        return 1;
    }
    PyObject *here = w.rec->here;
    Py_INCREF(here);
    Py_INCREF(v);
    r = PyDict_DelItem(here, name);
    Py_DECREF(here);
    if (r == 0) {
        st->gen++;
        r = ds_store_count(st, name, -1);
    }
    Py_DECREF(v);
    return r < 0 ? -1 : 1;
}

static int
add_item(PyObject *list, PyObject *seen, PyObject *name, PyObject *value)
{
    int has = PyDict_Contains(seen, name);
    if (has != 0) {
        return has < 0 ? -1 : 0;
    }
    if (PyDict_SetItem(seen, name, Py_None) < 0) {
        return -1;
    }
    PyObject *pair = PyTuple_Pack(2, name, value);
    if (pair == NULL) {
        return -1;
    }
    int r = PyList_Append(list, pair);
    Py_DECREF(pair);
    return r;
}

/* Appends the visible bindings of one frame record to list (skipping names
 * in seen, which it extends).  The record may be freed by code run from a
 * key's __hash__/__eq__, so everything is copied out first. */
int
ds_rec_items(ds_store *st, PyObject *frame, PyObject *list, PyObject *seen)
{
    ds_framerec *rec = ds_ftable_find(&st->frames, frame);
    if (rec == NULL) {
        return 0;
    }
    PyObject *pairs = PyList_New(0);
    if (pairs == NULL) {
        return -1;
    }
    for (ds_layer *l = rec->layers; l != NULL; l = l->next) {
        for (Py_ssize_t i = 0; i < l->n; i++) {
            if (l->values[i] == NULL) {
                continue;
            }
            PyObject *pair = PyTuple_Pack(2, l->names[i], l->values[i]);
            if (pair == NULL || PyList_Append(pairs, pair) < 0) {
                Py_XDECREF(pair);
                Py_DECREF(pairs);
                return -1;
            }
            Py_DECREF(pair);
        }
    }
    PyObject *here = rec->here;
    if (here != NULL) {
        Py_INCREF(here);
        int owns = ds_here_owns(frame, here);
        if (owns < 0) {
            Py_DECREF(here);
            Py_DECREF(pairs);
            return -1;
        }
        if (owns) {
            Py_ssize_t pos = 0;
            PyObject *k, *v;
            while (PyDict_Next(here, &pos, &k, &v)) {
                PyObject *pair = PyTuple_Pack(2, k, v);
                if (pair == NULL || PyList_Append(pairs, pair) < 0) {
                    Py_XDECREF(pair);
                    Py_DECREF(here);
                    Py_DECREF(pairs);
                    return -1;
                }
                Py_DECREF(pair);
            }
        }
        Py_DECREF(here);
    }
    Py_ssize_t n = PyList_Size(pairs);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PyList_GetItem(pairs, i);
        if (add_item(list, seen, PyTuple_GetItem(pair, 0),
                     PyTuple_GetItem(pair, 1)) < 0) {
            Py_DECREF(pairs);
            return -1;
        }
    }
    Py_DECREF(pairs);
    return 0;
}

PyObject *
ds_ns_items(ds_store *st, int skip)
{
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        return NULL;
    }
    if (st->live == 0) {
        return list;
    }
    PyObject *seen = PyDict_New();
    if (seen == NULL) {
        Py_DECREF(list);
        return NULL;
    }
    PyObject *f = ds_caller_frame(skip);
    while (f != NULL) {
        if (ds_rec_items(st, f, list, seen) < 0) {
            Py_DECREF(f);
            goto error;
        }
        PyObject *back = ds_frame_back(f);
        Py_DECREF(f);
        f = back;
    }
    if (PyErr_Occurred()) {
        goto error;
    }
    Py_DECREF(seen);
    return list;
error:
    Py_DECREF(seen);
    Py_DECREF(list);
    return NULL;
}

/* bind(mapping=None, /, **names) from a vectorcall. */
PyObject *
ds_make_bind(ds_store *st, PyObject *const *args, Py_ssize_t nargs,
             PyObject *kwnames)
{
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_Size(kwnames);
    if (nargs > 1) {
        PyErr_SetString(
            PyExc_TypeError,
            "bind() takes at most one positional argument (a mapping)");
        return NULL;
    }
    if (nargs == 1 && args[0] == Py_None) {
        nargs = 0; /* bind(None, **names): the documented default */
        args++;
    }
    if (nargs == 1 && !PyDict_Check(args[0])) {
        /* PyDict_Merge would say "'int' object has no attribute 'keys'". */
        int is_mapping = PyObject_HasAttrString(args[0], "keys") &&
                         PyObject_HasAttrString(args[0], "__getitem__");
        if (!is_mapping) {
            PyObject *tname = PyType_GetName(Py_TYPE(args[0]));
            if (tname != NULL) {
                PyErr_Format(
                    PyExc_TypeError,
                    "bind() expects a mapping or keyword arguments "
                    "(bind({'name': value}) or bind(name=value)), not %U",
                    tname);
                Py_DECREF(tname);
            }
            return NULL;
        }
    }
    if (nargs == 0) {
        if (kwnames == NULL) {
            PyObject *empty = PyTuple_New(0);
            if (empty == NULL) {
                return NULL;
            }
            PyObject *b = ds_bind_new_vec(st, empty, args);
            Py_DECREF(empty);
            return b;
        }
        return ds_bind_new_vec(st, kwnames, args);
    }
    PyObject *names, *values;
    {
        /* A mapping binds names that are not identifiers (Dysco allows any
         * hashable key); keywords win over the mapping's keys. */
        PyObject *d = PyDict_New();
        if (d == NULL) {
            return NULL;
        }
        if (PyDict_Merge(d, args[0], 1) < 0) {
            Py_DECREF(d);
            return NULL;
        }
        for (Py_ssize_t i = 0; i < nkw; i++) {
            if (PyDict_SetItem(d, PyTuple_GetItem(kwnames, i), args[1 + i]) <
                0) {
                Py_DECREF(d);
                return NULL;
            }
        }
        PyObject *keys = PyDict_Keys(d);
        PyObject *vals = PyDict_Values(d);
        Py_DECREF(d);
        names = keys ? PyList_AsTuple(keys) : NULL;
        values = vals ? PyList_AsTuple(vals) : NULL;
        Py_XDECREF(keys);
        Py_XDECREF(vals);
        if (names == NULL || values == NULL) {
            Py_XDECREF(names);
            Py_XDECREF(values);
            return NULL;
        }
    }
    PyObject *b = ds_bind_new(st, names, values);
    Py_DECREF(names);
    Py_DECREF(values);
    return b;
}
