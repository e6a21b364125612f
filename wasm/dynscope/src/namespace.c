/* Namespace: an isolated set of dynamic names with attribute and item access.
 *
 * Two Namespace objects made by Namespace() never see each other's bindings
 * (each has its own store).  Attribute access reaches bindings for every
 * name that is not a method of the type (ns.get is the method; ns["get"] is
 * the binding); item access reaches every name.  Assignment follows Dysco:
 * change the nearest visible binding, or bind in the calling frame when
 * there is none (`shadow` always binds in the calling frame; `readonly`
 * refuses to change bindings owned by calling frames).
 */
#define Py_LIMITED_API 0x030B0000
#include "dynscope.h"

#define NS(o) ((ds_namespace *)(o))
#define SKIP(ns) ((ns)->stacklevel - 1)

ds_namespace *
ds_namespace_new(PyTypeObject *type, ds_store *store, int readonly, int shadow,
                 int stacklevel)
{
    allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    ds_namespace *ns = (ds_namespace *)alloc(type, 0);
    if (ns == NULL) {
        return NULL;
    }
    Py_INCREF((PyObject *)store);
    ns->store = store;
    ns->readonly = (char)readonly;
    ns->shadow = (char)shadow;
    ns->stacklevel = stacklevel;
    ns->weakreflist = NULL;
    return ns;
}

int
ds_parse_options(PyObject *kwargs, int *readonly, int *shadow, int *stacklevel)
{
    if (kwargs == NULL) {
        return 0;
    }
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(kwargs, &pos, &k, &v)) {
        const char *key = PyUnicode_AsUTF8AndSize(k, NULL);
        if (key == NULL) {
            return -1;
        }
        if (strcmp(key, "readonly") == 0 || strcmp(key, "shadow") == 0) {
            if (v == Py_None) {
                continue;
            }
            int b = PyObject_IsTrue(v);
            if (b < 0) {
                return -1;
            }
            *(key[0] == 'r' ? readonly : shadow) = b;
        }
        else if (strcmp(key, "stacklevel") == 0 && stacklevel != NULL) {
            if (v == Py_None) {
                continue;
            }
            long n = PyLong_AsLong(v);
            if (n == -1 && PyErr_Occurred()) {
                return -1;
            }
            if (n < 1 || n > 1000000) {
                PyErr_SetString(PyExc_ValueError,
                                "stacklevel must be at least 1");
                return -1;
            }
            *stacklevel = (int)n;
        }
        else {
            PyErr_Format(PyExc_TypeError, "unexpected keyword argument %R", k);
            return -1;
        }
    }
    if (*readonly == 1 && *shadow == 1) {
        PyErr_SetString(
            PyExc_ValueError,
            "Only one of the \"readonly\" and \"shadow\" options can "
            "be used at the same time.");
        return -1;
    }
    return 0;
}

static PyObject *
ns_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    if (args != NULL && PyTuple_Size(args) != 0) {
        PyErr_SetString(PyExc_TypeError,
                        "Namespace() takes keyword arguments only");
        return NULL;
    }
    int readonly = 0, shadow = 0;
    if (ds_parse_options(kwargs, &readonly, &shadow, NULL) < 0) {
        return NULL;
    }
    ds_store *st = ds_store_new();
    if (st == NULL) {
        return NULL;
    }
    ds_namespace *ns = ds_namespace_new(type, st, readonly, shadow, 1);
    Py_DECREF(st);
    return (PyObject *)ns;
}

static int
ns_traverse(ds_namespace *ns, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE((PyObject *)ns));
    Py_VISIT(ns->store);
    return 0;
}

static int
ns_clear(ds_namespace *ns)
{
    Py_CLEAR(ns->store);
    return 0;
}

static void
ns_dealloc(ds_namespace *ns)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)ns);
    PyObject_GC_UnTrack((PyObject *)ns);
    if (ns->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)ns);
    }
    Py_CLEAR(ns->store);
    freefunc tfree = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tfree(ns);
    Py_DECREF(tp);
}

/* ---- shared value access ------------------------------------------------ */

PyObject *
ds_ns_getvalue(ds_store *st, PyObject *name, int skip, PyObject *dflt,
               PyObject *exc)
{
    PyObject *v;
    int r = ds_lookup(st, name, skip, &v);
    if (r < 0) {
        return NULL;
    }
    if (r == 1) {
        Py_INCREF(v);
        return v;
    }
    if (dflt != NULL) {
        Py_INCREF(dflt);
        return dflt;
    }
    if (exc == PyExc_AttributeError) {
        PyErr_Format(exc, "The attribute %S was not found in any scope.",
                     name);
    }
    else if (exc == PyExc_KeyError) {
        PyErr_SetObject(exc, name);
    }
    else {
        PyErr_Format(exc, "dynamic name %R is not bound", name);
    }
    return NULL;
}

/* ---- methods ----------------------------------------------------------- */

static PyObject *
ns_bind(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
        PyObject *kwnames)
{
    return ds_make_bind(NS(self)->store, args, nargs, kwnames);
}

static PyObject *
ns_get(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "get(name[, default])");
        return NULL;
    }
    return ds_ns_getvalue(NS(self)->store, args[0], SKIP(NS(self)),
                          nargs == 2 ? args[1] : NULL, PyExc_LookupError);
}

static PyObject *
ns_bound(PyObject *self, PyObject *name)
{
    PyObject *v;
    int r = ds_lookup(NS(self)->store, name, SKIP(NS(self)), &v);
    if (r < 0) {
        return NULL;
    }
    return PyBool_FromLong(r);
}

static PyObject *
ns_assign(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "assign(name, value)");
        return NULL;
    }
    if (ds_ns_assign(NS(self)->store, args[0], args[1], SKIP(NS(self))) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
ns_set_here(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "set_here(name, value)");
        return NULL;
    }
    if (ds_ns_store(NS(self)->store, args[0], args[1], SKIP(NS(self)), 0, 1) <
        0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
ns_unbind(PyObject *self, PyObject *name)
{
    int r = ds_ns_unbind(NS(self)->store, name, SKIP(NS(self)),
                         NS(self)->readonly);
    if (r < 0) {
        return NULL;
    }
    if (r == 0) {
        PyErr_Format(PyExc_LookupError, "dynamic name %R is not bound", name);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
ns_snapshot(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
            PyObject *kwnames)
{
    PyObject *frame;
    if (ds_snapshot_frame_arg(args, nargs, kwnames, &frame) < 0) {
        return NULL;
    }
    return ds_snapshot_from(NS(self)->store, SKIP(NS(self)), frame);
}

static PyObject *
ns_items(PyObject *self, PyObject *unused)
{
    return ds_ns_items(NS(self)->store, SKIP(NS(self)));
}

static PyObject *
names_of(PyObject *items)
{
    Py_ssize_t n = PyList_Size(items);
    PyObject *names = PyList_New(n);
    if (names == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *k = PyTuple_GetItem(PyList_GetItem(items, i), 0);
        Py_INCREF(k);
        PyList_SetItem(names, i, k);
    }
    return names;
}

static PyObject *
ns_keys(PyObject *self, PyObject *unused)
{
    PyObject *items = ds_ns_items(NS(self)->store, SKIP(NS(self)));
    if (items == NULL) {
        return NULL;
    }
    PyObject *names = names_of(items);
    Py_DECREF(items);
    return names;
}

static PyObject *
ns_reduce(PyObject *self, PyObject *unused)
{
    PyObject *pickle = PyImport_ImportModule("pickle");
    if (pickle != NULL) {
        PyObject *err = PyObject_GetAttrString(pickle, "PickleError");
        if (err != NULL) {
            PyObject *tn = PyType_GetName(Py_TYPE(self));
            if (tn != NULL) {
                PyErr_Format(err,
                             "%U cannot be pickled: its bindings belong to "
                             "live stack frames",
                             tn);
                Py_DECREF(tn);
            }
            Py_DECREF(err);
        }
        Py_DECREF(pickle);
    }
    return NULL;
}

/* ---- protocols ---------------------------------------------------------- */

static PyObject *
ns_subscript(PyObject *self, PyObject *key)
{
    return ds_ns_getvalue(NS(self)->store, key, SKIP(NS(self)), NULL,
                          PyExc_KeyError);
}

int
ds_ns_setdel(ds_namespace *ns, PyObject *key, PyObject *value, PyObject *exc)
{
    if (value != NULL) {
        int r = ds_ns_store(ns->store, key, value, SKIP(ns), ns->readonly,
                            ns->shadow);
        if (r < 0 && exc != PyExc_KeyError &&
            PyErr_ExceptionMatches(PyExc_KeyError)) {
            PyObject *et, *ev, *tb;
            PyErr_Fetch(&et, &ev, &tb);
            PyErr_NormalizeException(&et, &ev, &tb);
            /* KeyError's str() quotes its message: take args[0]. */
            PyObject *args = ev ? PyObject_GetAttrString(ev, "args") : NULL;
            PyObject *msg =
                args && PyTuple_Size(args) > 0 ? PyTuple_GetItem(args, 0) : ev;
            if (msg != NULL) {
                PyErr_SetObject(exc, msg);
            }
            else {
                PyErr_SetNone(exc);
            }
            Py_XDECREF(args);
            Py_XDECREF(et);
            Py_XDECREF(ev);
            Py_XDECREF(tb);
        }
        return r;
    }
    int r = ds_ns_unbind(ns->store, key, SKIP(ns), ns->readonly);
    if (r == 0) {
        if (exc == PyExc_AttributeError) {
            PyErr_Format(exc, "The attribute %S was not found in any scope.",
                         key);
        }
        else {
            PyErr_Format(exc, "The key %R was not found in any scope.", key);
        }
        return -1;
    }
    if (r < 0 && exc == PyExc_AttributeError &&
        PyErr_ExceptionMatches(PyExc_KeyError)) {
        PyErr_Clear();
        PyErr_Format(exc,
                     "The attribute %S is bound in a calling frame and this "
                     "namespace view is read-only",
                     key);
    }
    return r < 0 ? -1 : 0;
}

static int
ns_ass_subscript(PyObject *self, PyObject *key, PyObject *value)
{
    return ds_ns_setdel(NS(self), key, value, PyExc_KeyError);
}

static int
ns_contains(PyObject *self, PyObject *key)
{
    PyObject *v;
    return ds_lookup(NS(self)->store, key, SKIP(NS(self)), &v);
}

static PyObject *
ns_iter(PyObject *self)
{
    PyObject *names = ns_keys(self, NULL);
    if (names == NULL) {
        return NULL;
    }
    PyObject *it = PyObject_GetIter(names);
    Py_DECREF(names);
    return it;
}

static Py_ssize_t
ns_length(PyObject *self)
{
    PyObject *items = ds_ns_items(NS(self)->store, SKIP(NS(self)));
    if (items == NULL) {
        return -1;
    }
    Py_ssize_t n = PyList_Size(items);
    Py_DECREF(items);
    return n;
}

/* Attribute names that belong to the type, not to the bindings. */
static int
is_type_attr(PyObject *self, PyObject *name)
{
    if (!PyUnicode_Check(name)) {
        return 1;
    }
    if (Py_TYPE(self) != ds_global->namespace_type) {
        /* A Python subclass may add anything: let the type decide. */
        PyObject *r = PyObject_GetAttr((PyObject *)Py_TYPE(self), name);
        if (r == NULL) {
            PyErr_Clear();
            return 0;
        }
        Py_DECREF(r);
        return 1;
    }
    return PySet_Contains(ds_global->ns_type_attrs, name);
}

static PyObject *
ns_getattro(PyObject *self, PyObject *name)
{
    int t = is_type_attr(self, name);
    if (t < 0) {
        return NULL;
    }
    if (t) {
        return PyObject_GenericGetAttr(self, name);
    }
    return ds_ns_getvalue(NS(self)->store, name, SKIP(NS(self)), NULL,
                          PyExc_AttributeError);
}

static int
ns_setattro(PyObject *self, PyObject *name, PyObject *value)
{
    int t = is_type_attr(self, name);
    if (t < 0) {
        return -1;
    }
    if (t) {
        if (Py_TYPE(self) != ds_global->namespace_type) {
            return PyObject_GenericSetAttr(self, name, value);
        }
        PyErr_Format(
            PyExc_AttributeError,
            "%R is a Namespace attribute; use ns[%R] for a binding of "
            "that name",
            name, name);
        return -1;
    }
    return ds_ns_setdel(NS(self), name, value, PyExc_AttributeError);
}

static PyObject *
ns_repr(PyObject *self)
{
    ds_namespace *ns = NS(self);
    if (self == ds_global->dynamic) {
        return PyUnicode_FromString("<dynscope.dynamic>");
    }
    PyObject *tn = PyType_GetName(Py_TYPE(self));
    if (tn == NULL) {
        return NULL;
    }
    PyObject *r = PyUnicode_FromFormat(
        "<dynscope.%U readonly=%s shadow=%s at %p>", tn,
        ns->readonly ? "True" : "False", ns->shadow ? "True" : "False", self);
    Py_DECREF(tn);
    return r;
}

static PyObject *
ns_get_readonly(PyObject *self, void *c)
{
    return PyBool_FromLong(NS(self)->readonly);
}

static PyObject *
ns_get_shadow(PyObject *self, void *c)
{
    return PyBool_FromLong(NS(self)->shadow);
}

static PyObject *
ns_view(PyObject *self, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_Size(args) != 0) {
        PyErr_SetString(PyExc_TypeError,
                        "view() takes keyword arguments only");
        return NULL;
    }
    int readonly = NS(self)->readonly, shadow = NS(self)->shadow;
    if (kwargs != NULL && PyDict_Size(kwargs) > 0) {
        /* Setting one option switches the other off, as Dysco does. */
        readonly = shadow = 0;
    }
    if (ds_parse_options(kwargs, &readonly, &shadow, NULL) < 0) {
        return NULL;
    }
    return (PyObject *)ds_namespace_new(Py_TYPE(self), NS(self)->store,
                                        readonly, shadow,
                                        NS(self)->stacklevel);
}

static PyMethodDef ns_methods[] = {
    {"bind", (PyCFunction)(void (*)(void))ns_bind,
     METH_FASTCALL | METH_KEYWORDS,
     "bind(mapping=None, /, **names): a context manager binding names for the "
     "with-block's dynamic extent"},
    {"get", (PyCFunction)(void (*)(void))ns_get, METH_FASTCALL,
     "get(name[, default]): the nearest binding; LookupError without default"},
    {"bound", ns_bound, METH_O,
     "bound(name): whether name has a visible binding"},
    {"assign", (PyCFunction)(void (*)(void))ns_assign, METH_FASTCALL,
     "assign(name, value): change the nearest visible binding"},
    {"set_here", (PyCFunction)(void (*)(void))ns_set_here, METH_FASTCALL,
     "set_here(name, value): bind name in the calling frame until it returns"},
    {"unbind", ns_unbind, METH_O, "unbind(name): remove the nearest binding"},
    {"snapshot", (PyCFunction)(void (*)(void))ns_snapshot,
     METH_FASTCALL | METH_KEYWORDS,
     "snapshot(frame=None): the visible bindings per frame, innermost first, "
     "as "
     "seen from the caller or from `frame`"},
    {"items", ns_items, METH_NOARGS,
     "items(): visible (name, value) pairs, innermost first"},
    {"keys", ns_keys, METH_NOARGS, "keys(): visible names, innermost first"},
    {"view", (PyCFunction)(void (*)(void))ns_view,
     METH_VARARGS | METH_KEYWORDS,
     "view(readonly=, shadow=): the same bindings with other options"},
    {"__reduce__", ns_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef ns_getset[] = {
    {"readonly", ns_get_readonly, NULL, NULL, NULL},
    {"shadow", ns_get_shadow, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMemberDef ns_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(ds_namespace, weakreflist),
     READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot ns_slots[] = {
    {Py_tp_new, ns_new},
    {Py_tp_traverse, ns_traverse},
    {Py_tp_clear, ns_clear},
    {Py_tp_dealloc, ns_dealloc},
    {Py_tp_repr, ns_repr},
    {Py_tp_getattro, ns_getattro},
    {Py_tp_setattro, ns_setattro},
    {Py_tp_iter, ns_iter},
    {Py_tp_methods, ns_methods},
    {Py_tp_getset, ns_getset},
    {Py_tp_members, ns_members},
    {Py_mp_subscript, ns_subscript},
    {Py_mp_ass_subscript, ns_ass_subscript},
    {Py_mp_length, ns_length},
    {Py_sq_contains, ns_contains},
    {Py_tp_doc,
     "Namespace(*, readonly=False, shadow=False)\n\n"
     "An isolated set of dynamic names: attribute and item access read the "
     "nearest binding on the live call stack."},
    {0, NULL},
};

static PyType_Spec ns_spec = {
    .name = "dynscope.Namespace",
    .basicsize = sizeof(ds_namespace),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = ns_slots,
};

int
ds_namespace_init_type(PyObject *m, ds_state *s)
{
    s->namespace_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(m, &ns_spec, NULL);
    if (s->namespace_type == NULL) {
        return -1;
    }
    PyObject *names = PyObject_Dir((PyObject *)s->namespace_type);
    if (names == NULL) {
        return -1;
    }
    s->ns_type_attrs = PyFrozenSet_New(names);
    Py_DECREF(names);
    if (s->ns_type_attrs == NULL) {
        return -1;
    }
    return PyModule_AddObjectRef(m, "Namespace",
                                 (PyObject *)s->namespace_type);
}
