/* set_here(): a binding owned by the calling frame until the frame dies.
 *
 * We must learn when a frame dies without writing into its locals (that is
 * Dysco's hidden-key bug).  The one frame attribute that holds an arbitrary
 * object and is released by the frame's own deallocation is f_trace, so the
 * frame's set_here bindings live in a small sentinel stored there.  When the
 * frame object dies (at return, or later if a traceback kept it) the
 * sentinel's dealloc removes the bindings and releases the values at once,
 * with no gc.collect().  A frame kept alive by a traceback keeps its
 * bindings alive, but it is never on a live stack, so nobody sees them.
 *
 * f_trace is only called while a tracer is active.  The sentinel is callable
 * and forwards to whatever f_trace held before (a debugger's or coverage's
 * local trace function), and when that function returns a new local tracer
 * the sentinel adopts it and returns itself, so the interpreter keeps the
 * sentinel in place.
 *
 * Limits, documented in the README: code that replaces f_trace outright
 * while the frame runs (pdb's set_trace does, for every frame on the stack)
 * ends that frame's set_here bindings early.  Code that keeps a reference
 * to the sentinel after its frame died keeps the values alive; a lookup
 * that meets such a stale record checks that the frame at that address
 * still holds the sentinel (ds_here_owns) and otherwise ignores it.
 */
#define Py_LIMITED_API 0x030B0000
#include "dynscope.h"

#include <stdlib.h>

typedef struct {
    ds_store *store;
    PyObject *dict; /* name -> value */
} here_slot;

typedef struct {
    PyObject_HEAD PyObject *frame; /* borrowed: we are its f_trace */
    PyObject *prev;                /* the forwarded local trace function */
    Py_ssize_t n;
    here_slot *slots;
} ds_here;

static ds_here *
here_new(PyObject *frame, PyObject *prev)
{
    ds_here *h = PyObject_GC_New(ds_here, ds_global->here_type);
    if (h == NULL) {
        return NULL;
    }
    h->frame = frame;
    Py_XINCREF(prev);
    h->prev = prev;
    h->n = 0;
    h->slots = NULL;
    PyObject_GC_Track((PyObject *)h);
    return h;
}

/* Installs h as frame.f_trace; h takes the previous value as its prev. */
static int
install(PyObject *frame, ds_here *h)
{
    return PyObject_SetAttr(frame, ds_global->str_f_trace, (PyObject *)h);
}

static ds_here *
here_for(PyObject *frame)
{
    PyObject *cur = PyObject_GetAttr(frame, ds_global->str_f_trace);
    if (cur == NULL) {
        return NULL;
    }
    if (Py_TYPE(cur) == ds_global->here_type &&
        ((ds_here *)cur)->frame == frame) {
        return (ds_here *)cur;
    }
    ds_here *h = here_new(frame, cur == Py_None ? NULL : cur);
    Py_DECREF(cur);
    if (h == NULL) {
        return NULL;
    }
    if (install(frame, h) < 0) {
        Py_DECREF(h);
        return NULL;
    }
    return h;
}

static PyObject *
slot_dict(ds_here *h, ds_store *st, int create)
{
    for (Py_ssize_t i = 0; i < h->n; i++) {
        if (h->slots[i].store == st) {
            return h->slots[i].dict;
        }
    }
    if (!create) {
        return NULL;
    }
    here_slot *s = realloc(h->slots, (size_t)(h->n + 1) * sizeof(here_slot));
    if (s == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    h->slots = s;
    PyObject *d = PyDict_New();
    if (d == NULL) {
        return NULL;
    }
    ds_framerec *rec = ds_ftable_get_or_add(&st->frames, h->frame);
    if (rec == NULL) {
        Py_DECREF(d);
        return NULL;
    }
    rec->here = d;
    st->gen++;
    Py_INCREF((PyObject *)st);
    h->slots[h->n].store = st;
    h->slots[h->n].dict = d;
    h->n++;
    return d;
}

int
ds_set_here(ds_store *st, PyObject *frame, PyObject *name, PyObject *value)
{
    ds_here *h = here_for(frame);
    if (h == NULL) {
        return -1;
    }
    int r = -1;
    PyObject *d = slot_dict(h, st, 1);
    if (d == NULL) {
        goto done;
    }
    int has = PyDict_Contains(d, name);
    if (has < 0) {
        goto done;
    }
    if (!has && ds_store_count(st, name, +1) < 0) {
        goto done;
    }
    if (PyDict_SetItem(d, name, value) < 0) {
        if (!has) {
            PyObject *et, *ev, *tb;
            PyErr_Fetch(&et, &ev, &tb);
            if (ds_store_count(st, name, -1) < 0) {
                PyErr_Clear();
            }
            PyErr_Restore(et, ev, tb);
        }
        goto done;
    }
    st->gen++;
    r = 0;
done:
    /* The frame holds the sentinel; our reference was only for the call. */
    Py_DECREF(h);
    return r;
}

/* Drops every binding the sentinel holds: unlink from the tables first so
 * no lookup can see a half-released dict, then release the values. */
static void
release(ds_here *h)
{
    Py_ssize_t n = h->n;
    here_slot *slots = h->slots;
    h->n = 0;
    h->slots = NULL;
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    for (Py_ssize_t i = 0; i < n; i++) {
        ds_store *st = slots[i].store;
        ds_framerec *rec = ds_ftable_find(&st->frames, h->frame);
        if (rec != NULL && rec->here == slots[i].dict) {
            rec->here = NULL;
            ds_ftable_prune(&st->frames, rec);
        }
        st->gen++;
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (PyDict_Next(slots[i].dict, &pos, &k, &v)) {
            if (ds_store_count(st, k, -1) < 0) {
                PyErr_WriteUnraisable((PyObject *)st);
            }
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_DECREF(slots[i].dict);
        Py_DECREF(slots[i].store);
    }
    free(slots);
    PyErr_Restore(et, ev, tb);
}

int
ds_here_owns(PyObject *frame, PyObject *dict)
{
    PyObject *cur = PyObject_GetAttr(frame, ds_global->str_f_trace);
    if (cur == NULL) {
        return -1;
    }
    int owns = 0;
    if (Py_TYPE(cur) == ds_global->here_type &&
        ((ds_here *)cur)->frame == frame) {
        ds_here *h = (ds_here *)cur;
        for (Py_ssize_t i = 0; i < h->n; i++) {
            if (h->slots[i].dict == dict) {
                owns = 1;
                break;
            }
        }
    }
    Py_DECREF(cur);
    return owns;
}

static PyObject *
here_call(ds_here *h, PyObject *args, PyObject *kwargs)
{
    if (h->prev == NULL) {
        Py_RETURN_NONE;
    }
    PyObject *r = PyObject_Call(h->prev, args, kwargs);
    if (r == NULL || r == Py_None) {
        return r;
    }
    /* The tracer wants a new local trace function: keep ourselves as
     * f_trace and forward to it from now on. */
    if (r != (PyObject *)h) {
        PyObject *old = h->prev;
        h->prev = r;
        Py_XDECREF(old);
    }
    else {
        Py_DECREF(r);
    }
    Py_INCREF((PyObject *)h);
    return (PyObject *)h;
}

static int
here_traverse(ds_here *h, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE((PyObject *)h));
    Py_VISIT(h->prev);
    for (Py_ssize_t i = 0; i < h->n; i++) {
        Py_VISIT(h->slots[i].dict);
        Py_VISIT(h->slots[i].store);
    }
    return 0;
}

static int
here_clear(ds_here *h)
{
    release(h);
    Py_CLEAR(h->prev);
    return 0;
}

static void
here_dealloc(ds_here *h)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)h);
    PyObject_GC_UnTrack((PyObject *)h);
    /* Never dereference h->frame here: if somebody kept a reference to
     * us (frame.f_trace) the frame may be long gone. */
    release(h);
    Py_CLEAR(h->prev);
    PyObject_GC_Del(h);
    Py_DECREF(tp);
}

static PyObject *
here_repr(ds_here *h)
{
    if (h->prev != NULL) {
        return PyUnicode_FromFormat("<dynscope set_here holder wrapping %R>",
                                    h->prev);
    }
    return PyUnicode_FromString("<dynscope set_here holder>");
}

static PyType_Slot here_slots[] = {
    {Py_tp_call, here_call},
    {Py_tp_traverse, here_traverse},
    {Py_tp_clear, here_clear},
    {Py_tp_dealloc, here_dealloc},
    {Py_tp_repr, here_repr},
    {Py_tp_doc, "Holds a frame's set_here() bindings in its f_trace slot and "
                "forwards trace calls to the previous local trace function."},
    {0, NULL},
};

static PyType_Spec here_spec = {
    .name = "dynscope._HereHolder",
    .basicsize = sizeof(ds_here),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = here_slots,
};

int
ds_here_init_type(PyObject *m, ds_state *s)
{
    s->here_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(m, &here_spec, NULL);
    return s->here_type == NULL ? -1 : 0;
}
