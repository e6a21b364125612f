/* bind(**names): new bindings for the dynamic extent of a with-block.
 *
 * __enter__ makes a layer owned by the frame running the with-statement
 * (PyEval_GetFrame(): __enter__ is C, so no frame of ours is in between;
 * owner.c moves past helpers such as a class's __enter__ or a
 * @contextmanager generator) and
 * holds a strong reference to that frame until __exit__.  The reference is
 * what keeps the frame's address from being reused while it is a key in the
 * table.  Each __enter__ pushes a fresh layer on the bind object's own stack,
 * so one bind object may be entered again (nested or recursively), and
 * assign() inside one entry does not leak into the next.
 *
 * `with bind(x=1):` is the hot path, so the object carries everything
 * inline: the names and values, and the first entry's layer (values and
 * counters), so that one allocation serves the whole with-block.
 */
#define Py_LIMITED_API 0x030B0000
#include "dynscope.h"

#include <stdlib.h>

typedef struct {
    PyObject *frame; /* strong while entered */
    ds_layer *layer;
} entry;

typedef struct {
    PyObject_VAR_HEAD ds_store *store;
    Py_ssize_t n;
    Py_ssize_t depth; /* entries in use */
    Py_ssize_t cap;
    entry *entries; /* == &first while cap == 1 */
    entry first;
    ds_layer layer0; /* the layer of entry 0 */
    /* names[n], values[n], layer0 values[n], layer0 counters[n] */
    PyObject *items[1];
} ds_bind;

#define NAMES(b) ((b)->items)
#define VALUES(b) ((b)->items + (b)->n)

/* names: a tuple; values: either a tuple (vals == NULL) or an array. */
static PyObject *
bind_make(ds_store *st, PyObject *names, PyObject *values_tuple,
          PyObject *const *vals)
{
    Py_ssize_t n = PyTuple_Size(names);
    if (n < 0) {
        return NULL;
    }
    ds_bind *b = PyObject_GC_NewVar(ds_bind, ds_global->bind_type, 4 * n);
    if (b == NULL) {
        return NULL;
    }
    Py_INCREF((PyObject *)st);
    b->store = st;
    b->n = n;
    b->depth = 0;
    b->cap = 1;
    b->entries = &b->first;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *k = PyTuple_GetItem(names, i);
        PyObject *v =
            vals != NULL ? vals[i] : PyTuple_GetItem(values_tuple, i);
        Py_INCREF(k);
        Py_INCREF(v);
        NAMES(b)[i] = k;
        VALUES(b)[i] = v;
    }
    ds_layer *l = &b->layer0;
    l->next = NULL;
    l->frame = NULL;
    l->n = n;
    l->names = NAMES(b);
    l->values = b->items + 2 * n;
    l->counters = b->items + 3 * n;
    l->embedded = 1;
    l->rec = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        l->values[i] = NULL;
        l->counters[i] = NULL;
    }
    PyObject_GC_Track((PyObject *)b);
    return (PyObject *)b;
}

PyObject *
ds_bind_new(ds_store *st, PyObject *names, PyObject *values)
{
    return bind_make(st, names, values, NULL);
}

PyObject *
ds_bind_new_vec(ds_store *st, PyObject *names, PyObject *const *values)
{
    return bind_make(st, names, NULL, values);
}

int
ds_bind_enter_at(PyObject *self, PyObject *frame)
{
    ds_bind *b = (ds_bind *)self;
    if (b->depth == b->cap) {
        Py_ssize_t cap = b->cap * 2;
        entry *e = malloc((size_t)cap * sizeof(entry));
        if (e == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t i = 0; i < b->depth; i++) {
            e[i] = b->entries[i];
        }
        if (b->entries != &b->first) {
            free(b->entries);
        }
        b->entries = e;
        b->cap = cap;
    }
    ds_layer *l;
    if (b->depth == 0) {
        l = &b->layer0;
        l->frame = frame;
    }
    else {
        l = ds_layer_new(frame, b->n, NAMES(b));
        if (l == NULL) {
            return -1;
        }
    }
    for (Py_ssize_t i = 0; i < b->n; i++) {
        Py_INCREF(VALUES(b)[i]);
        l->values[i] = VALUES(b)[i];
    }
    if (ds_layer_push(b->store, l) < 0) {
        ds_layer_free(l);
        return -1;
    }
    Py_INCREF(frame);
    b->entries[b->depth].frame = frame;
    b->entries[b->depth].layer = l;
    b->depth++;
    return 0;
}

static void
pop_entry(ds_bind *b)
{
    entry e = b->entries[--b->depth];
    ds_layer_pop(b->store, e.layer);
    ds_layer_free(e.layer);
    Py_DECREF(e.frame);
}

int
ds_bind_exit(PyObject *self)
{
    ds_bind *b = (ds_bind *)self;
    if (b->depth == 0) {
        PyErr_SetString(PyExc_RuntimeError,
                        "dynscope.bind: __exit__ without __enter__");
        return -1;
    }
    pop_entry(b);
    return 0;
}

static PyObject *
bind_enter(PyObject *self, PyObject *unused)
{
    PyObject *frame = (PyObject *)PyEval_GetFrame();
    if (frame == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "dynscope.bind: no Python frame to bind in");
        return NULL;
    }
    PyObject *owner = ds_owner_frame(frame);
    int r = ds_bind_enter_at(self, owner);
    Py_DECREF(owner);
    if (r < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
bind_exit(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (ds_bind_exit(self) < 0) {
        return NULL;
    }
    Py_RETURN_FALSE;
}

static void
release(ds_bind *b)
{
    while (b->depth > 0) {
        pop_entry(b);
    }
    if (b->entries != &b->first) {
        free(b->entries);
        b->entries = &b->first;
        b->cap = 1;
    }
}

static void
clear_items(ds_bind *b)
{
    for (Py_ssize_t i = 0; i < 2 * b->n; i++) {
        PyObject *o = b->items[i];
        b->items[i] = NULL;
        Py_XDECREF(o);
    }
}

static int
bind_traverse(ds_bind *b, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE((PyObject *)b));
    Py_VISIT((PyObject *)b->store);
    for (Py_ssize_t i = 0; i < 2 * b->n; i++) {
        Py_VISIT(b->items[i]);
    }
    for (Py_ssize_t i = 0; i < b->depth; i++) {
        ds_layer *l = b->entries[i].layer;
        Py_VISIT(b->entries[i].frame);
        for (Py_ssize_t j = 0; j < l->n; j++) {
            Py_VISIT(l->values[j]);
        }
    }
    return 0;
}

static int
bind_clear(ds_bind *b)
{
    /* Collected while entered: a generator abandoned inside its with-block
     * that sits in a reference cycle.  Its bindings die with it. */
    release(b);
    clear_items(b);
    return 0;
}

static void
bind_dealloc(ds_bind *b)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)b);
    PyObject_GC_UnTrack((PyObject *)b);
    release(b);
    clear_items(b);
    Py_CLEAR(b->store);
    PyObject_GC_Del(b);
    Py_DECREF(tp);
}

static PyObject *
bind_repr(ds_bind *b)
{
    PyObject *d = PyDict_New();
    if (d == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < b->n; i++) {
        if (NAMES(b)[i] != NULL &&
            PyDict_SetItem(d, NAMES(b)[i], VALUES(b)[i]) < 0) {
            Py_DECREF(d);
            return NULL;
        }
    }
    PyObject *r =
        PyUnicode_FromFormat("<dynscope.bind %R entered=%zd>", d, b->depth);
    Py_DECREF(d);
    return r;
}

static PyMethodDef bind_methods[] = {
    {"__enter__", bind_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)(void (*)(void))bind_exit, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot bind_slots[] = {
    {Py_tp_traverse, bind_traverse},
    {Py_tp_clear, bind_clear},
    {Py_tp_dealloc, bind_dealloc},
    {Py_tp_repr, bind_repr},
    {Py_tp_methods, bind_methods},
    {Py_tp_doc, "A context manager made by bind(): its names are bound for "
                "the dynamic extent of the with-block."},
    {0, NULL},
};

static PyType_Spec bind_spec = {
    .name = "dynscope.Binding",
    .basicsize = offsetof(ds_bind, items),
    .itemsize = sizeof(PyObject *),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = bind_slots,
};

int
ds_bind_init_type(PyObject *m, ds_state *s)
{
    s->bind_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(m, &bind_spec, NULL);
    if (s->bind_type == NULL) {
        return -1;
    }
    return PyModule_AddObjectRef(m, "Binding", (PyObject *)s->bind_type);
}
