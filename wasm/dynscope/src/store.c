/* A store is the shared core of a namespace: the per-name live counts and
 * the frame table.  Namespace objects are views with options on a store
 * (Dysco's g(readonly=True) makes a second view of the same bindings), and
 * every binding holds a strong reference to its store, so a store outlives
 * all of its bindings and its table never points at freed layers.
 */
#define Py_LIMITED_API 0x030B0000
#include "dynscope.h"

/* Drops the counters at zero once they outnumber the live names, so a
 * program that binds ever-new names does not grow the dict forever. */
static void forget_last(ds_store *st);

static void
sweep(ds_store *st)
{
    forget_last(st); /* its counter may be one of those swept */
    PyObject *dead = PyList_New(0);
    if (dead == NULL) {
        PyErr_Clear();
        return;
    }
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(st->counts, &pos, &k, &v)) {
        if (((ds_counter *)v)->n == 0 && PyList_Append(dead, k) < 0) {
            PyErr_Clear();
            break;
        }
    }
    for (Py_ssize_t i = 0; i < PyList_Size(dead); i++) {
        if (PyDict_DelItem(st->counts, PyList_GetItem(dead, i)) == 0) {
            st->zeros--;
        }
        else {
            PyErr_Clear();
        }
    }
    Py_DECREF(dead);
}

void
ds_counter_add(ds_store *st, ds_counter *c, int delta)
{
    Py_ssize_t before = c->n;
    c->n += delta;
    if (st->live == 0 && delta > 0 && ds_fallback_exact > 0 &&
        st == ds_global->default_store) {
        /* Before the binding is visible: see fallback.c. */
        ds_fallback_bound();
    }
    st->live += delta;
    if (before == 0 && c->n > 0) {
        st->zeros--;
    }
    else if (before > 0 && c->n == 0) {
        st->zeros++;
        if (st->zeros > 256 &&
            st->zeros > 2 * (PyDict_Size(st->counts) - st->zeros)) {
            PyObject *et, *ev, *tb;
            PyErr_Fetch(&et, &ev, &tb);
            sweep(st);
            PyErr_Restore(et, ev, tb);
        }
    }
}

static void
forget_last(ds_store *st)
{
    PyObject *name = st->last_name;
    ds_counter *c = st->last_counter;
    st->last_name = NULL;
    st->last_counter = NULL;
    Py_XDECREF(name);
    Py_XDECREF((PyObject *)c);
}

ds_counter *
ds_store_counter(ds_store *st, PyObject *name)
{
    /* The same name bound again and again (a with-block in a loop). */
    if (name == st->last_name) {
        return st->last_counter;
    }
    PyObject *c = PyDict_GetItemWithError(st->counts, name);
    if (c != NULL) {
        forget_last(st);
        Py_INCREF(name);
        Py_INCREF(c);
        st->last_name = name;
        st->last_counter = (ds_counter *)c;
        return (ds_counter *)c;
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    ds_counter *nc = PyObject_New(ds_counter, ds_global->counter_type);
    if (nc == NULL) {
        return NULL;
    }
    nc->n = 0;
    int r = PyDict_SetItem(st->counts, name, (PyObject *)nc);
    Py_DECREF((PyObject *)nc); /* the dict holds it */
    if (r < 0) {
        return NULL;
    }
    st->zeros++;
    return nc;
}

int
ds_store_count(ds_store *st, PyObject *name, int delta)
{
    ds_counter *c = ds_store_counter(st, name);
    if (c == NULL) {
        return -1;
    }
    ds_counter_add(st, c, delta);
    return 0;
}

int
ds_layer_push(ds_store *st, ds_layer *layer)
{
    /* Counters first: they are the only step that can fail half-way. */
    Py_ssize_t i;
    for (i = 0; i < layer->n; i++) {
        ds_counter *c = ds_store_counter(st, layer->names[i]);
        if (c == NULL) {
            goto undo;
        }
        Py_INCREF((PyObject *)c);
        layer->counters[i] = (PyObject *)c;
        ds_counter_add(st, c, +1);
    }
    ds_framerec *rec = ds_ftable_get_or_add(&st->frames, layer->frame);
    if (rec == NULL) {
        goto undo;
    }
    layer->next = rec->layers;
    rec->layers = layer;
    layer->rec = rec;
    st->gen++;
    return 0;

undo:
    while (--i >= 0) {
        ds_counter_add(st, (ds_counter *)layer->counters[i], -1);
    }
    return -1;
}

void
ds_layer_pop(ds_store *st, ds_layer *layer)
{
    ds_framerec *rec = layer->rec;
    layer->rec = NULL;
    if (rec != NULL) {
        for (ds_layer **p = &rec->layers; *p != NULL; p = &(*p)->next) {
            if (*p == layer) {
                *p = layer->next;
                break;
            }
        }
        ds_ftable_prune(&st->frames, rec);
    }
    layer->next = NULL;
    st->gen++;
    /* Through the layer's own counters: no lookup, nothing can fail. */
    for (Py_ssize_t i = 0; i < layer->n; i++) {
        if (layer->values[i] != NULL && layer->counters[i] != NULL) {
            ds_counter_add(st, (ds_counter *)layer->counters[i], -1);
        }
    }
}

/* ---- the type ---------------------------------------------------------- */

static void
store_link(ds_store *st)
{
    ds_store *head = &ds_global->stores_head;
    st->next = head->next;
    st->prev = head;
    head->next->prev = st;
    head->next = st;
}

ds_store *
ds_store_new(void)
{
    ds_store *st = PyObject_GC_New(ds_store, ds_global->store_type);
    if (st == NULL) {
        return NULL;
    }
    st->counts = PyDict_New();
    st->frames.slots = NULL;
    st->frames.mask = 0;
    st->frames.used = 0;
    st->frames.spare = NULL;
    st->live = 0;
    st->zeros = 0;
    st->last_name = NULL;
    st->last_counter = NULL;
    st->gen = 0;
    st->prev = st->next = NULL;
    if (st->counts == NULL) {
        Py_DECREF(st);
        return NULL;
    }
    store_link(st);
    PyObject_GC_Track((PyObject *)st);
    return st;
}

static int
store_traverse(ds_store *st, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE((PyObject *)st));
    Py_VISIT(st->counts);
    Py_VISIT(st->last_name);
    return 0;
}

static void
store_dealloc(ds_store *st)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)st);
    PyObject_GC_UnTrack((PyObject *)st);
    if (st->next != NULL) {
        st->prev->next = st->next;
        st->next->prev = st->prev;
    }
    /* Every binding holds its store, so the table is empty by now. */
    ds_ftable_free(&st->frames);
    forget_last(st);
    Py_CLEAR(st->counts);
    PyObject_GC_Del(st);
    Py_DECREF(tp);
}

static PyType_Slot store_slots[] = {
    {Py_tp_traverse, store_traverse},
    {Py_tp_dealloc, store_dealloc},
    {Py_tp_doc, "internal: the bindings shared by views of one namespace"},
    {0, NULL},
};

static PyType_Spec store_spec = {
    .name = "dynscope._Store",
    .basicsize = sizeof(ds_store),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = store_slots,
};

static void
counter_dealloc(PyObject *c)
{
    PyTypeObject *tp = Py_TYPE(c);
    PyObject_Free(c);
    Py_DECREF(tp);
}

static PyType_Slot counter_slots[] = {
    {Py_tp_dealloc, counter_dealloc},
    {Py_tp_doc, "internal: live bindings of one name in one store"},
    {0, NULL},
};

static PyType_Spec counter_spec = {
    .name = "dynscope._Counter",
    .basicsize = sizeof(ds_counter),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = counter_slots,
};

int
ds_store_init_type(PyObject *m, ds_state *s)
{
    s->counter_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(m, &counter_spec, NULL);
    if (s->counter_type == NULL) {
        return -1;
    }
    s->stores_head.prev = s->stores_head.next = &s->stores_head;
    s->store_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(m, &store_spec, NULL);
    return s->store_type == NULL ? -1 : 0;
}
