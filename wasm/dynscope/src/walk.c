/* Walking the live stack.
 *
 * The Limited API has PyEval_GetFrame() but not PyFrame_GetBack(), so a step
 * is a call of the frame type's f_back getter.  Calling the getset
 * descriptor's tp_descr_get directly (fetched once at import) skips the
 * generic getattr path (MRO lookup, instance-dict probe) on every step.
 *
 * The walk starts at a frame that is executing, and f_back of an executing
 * frame is the frame that called or resumed it.  A generator's frame object
 * is the same object across suspensions, and while it runs its f_back is
 * its current resumer; a frame kept alive by a traceback after it returned
 * is never reached from a live frame.  Those two facts are the exc_info
 * model (S3, S4, and the traceback rule).
 */
#define Py_LIMITED_API 0x030B0000
#include "dynscope.h"

PyObject *
ds_frame_back(PyObject *frame)
{
    ds_state *s = ds_global;
    PyObject *back = s->f_back_get(s->f_back_descr, frame, s->frame_type);
    if (back == Py_None) {
        Py_DECREF(back);
        return NULL;
    }
    return back;
}

PyObject *
ds_caller_frame(int skip)
{
    PyObject *f = (PyObject *)PyEval_GetFrame();
    Py_XINCREF(f);
    while (f != NULL && skip-- > 0) {
        PyObject *back = ds_frame_back(f);
        Py_DECREF(f);
        f = back;
    }
    return f;
}

static inline int
name_eq(PyObject *a, PyObject *b)
{
    if (a == b) {
        return 1;
    }
    if (PyUnicode_CheckExact(a) && PyUnicode_CheckExact(b)) {
        /* Keyword names and literals are interned, so identity settles
         * nearly every case; this is the rare non-interned one. */
        return PyObject_Hash(a) == PyObject_Hash(b) &&
               PyUnicode_Compare(a, b) == 0;
    }
    return PyObject_RichCompareBool(a, b, Py_EQ);
}

/* 1 found, 0 not in this record, -1 error. */
static int
rec_find(ds_framerec *rec, PyObject *frame, PyObject *name, PyObject **value,
         ds_where *where)
{
    for (ds_layer *l = rec->layers; l != NULL; l = l->next) {
        for (Py_ssize_t i = l->n - 1; i >= 0; i--) {
            if (l->values[i] == NULL) {
                continue; /* unbind()'s mark */
            }
            int eq = name_eq(l->names[i], name);
            if (eq < 0) {
                return -1;
            }
            if (eq) {
                *value = l->values[i];
                if (where != NULL) {
                    where->rec = rec;
                    where->layer = l;
                    where->index = i;
                }
                return 1;
            }
        }
    }
    if (rec->here != NULL) {
        PyObject *v = PyDict_GetItemWithError(rec->here, name);
        if (v != NULL && frame != NULL) {
            /* A record whose frame died while somebody held its sentinel
             * would otherwise show through a new frame at that address. */
            int owns = ds_here_owns(frame, rec->here);
            if (owns < 0) {
                return -1;
            }
            if (!owns) {
                rec->here = NULL;
                v = NULL;
            }
        }
        if (v != NULL) {
            *value = v;
            if (where != NULL) {
                where->rec = rec;
                where->layer = NULL;
                where->index = -1;
            }
            return 1;
        }
        if (PyErr_Occurred()) {
            return -1;
        }
    }
    return 0;
}

int
ds_walk_find(ds_store *st, PyObject *f, PyObject *name, PyObject **value,
             ds_where *where)
{
    while (f != NULL) {
        ds_framerec *rec;
        size_t gen;
        int r;
    reprobe:
        rec = ds_ftable_find(&st->frames, f);
        if (rec != NULL) {
            gen = st->gen;
            r = rec_find(rec, f, name, value, where);
            if (r < 0) {
                Py_DECREF(f);
                return -1;
            }
            if (st->gen != gen) {
                /* A key's __eq__ changed bindings under us. */
                goto reprobe;
            }
            if (r == 1) {
                if (where != NULL) {
                    where->frame = f;
                }
                /* The frame is executing, so the interpreter keeps it. */
                Py_DECREF(f);
                return 1;
            }
        }
        PyObject *back = ds_frame_back(f);
        Py_DECREF(f);
        if (back == NULL && PyErr_Occurred()) {
            return -1;
        }
        f = back;
    }
    return 0;
}

int
ds_lookup(ds_store *st, PyObject *name, int skip, PyObject **value)
{
    int maybe = ds_store_maybe(st, name);
    if (maybe <= 0) {
        return maybe;
    }
    PyObject *f = ds_caller_frame(skip);
    if (f == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    return ds_walk_find(st, f, name, value, NULL);
}
