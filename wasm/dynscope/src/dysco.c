/* dynscope.compat.dysco: Dysco's API on dynscope, so that switching is one
 * import:  `from dynscope.compat.dysco import Dysco, g`.
 *
 * Same behaviour as Dysco (attribute and item access, `in`, del, iteration
 * as (key, value) pairs innermost first, readonly/shadow/stacklevel, calling
 * to make a variant or to decorate, no pickling), with its known bugs fixed:
 *   - dict(g) under shadowing gave the *outer* value (its pairs repeated a
 *     shadowed key, and the last pair won); iteration now yields each key
 *     once, with its nearest value;
 *   - g(shadow=True) dropped `shadow` when building the variant; kept now;
 *   - Dysco stored its scopes under hidden keys in frame.f_locals, so they
 *     leaked into globals(), class bodies and locals() (and broke
 *     f(**locals())); nothing is written into any namespace now;
 *   - it does not run on 3.13+ (PEP 667 makes f_locals a fresh proxy); this
 *     does.
 * `g` is a Dysco view of dynscope.dynamic: dynscope.get('x') sees g.x.
 * Other Dysco() instances are isolated namespaces, as in Dysco.
 */
#define Py_LIMITED_API 0x030B0000
#include "dynscope.h"

#define NS(o) ((ds_namespace *)(o))
#define SKIP(ns) ((ns)->stacklevel - 1)

static int
is_private(PyObject *name)
{
    /* Dunders and Dysco's own name-mangled attributes stay attributes. */
    if (!PyUnicode_Check(name)) {
        return 1;
    }
    Py_ssize_t n = PyUnicode_GetLength(name);
    if (n >= 4 && PyUnicode_ReadChar(name, 0) == '_' &&
        PyUnicode_ReadChar(name, 1) == '_' &&
        PyUnicode_ReadChar(name, n - 1) == '_' &&
        PyUnicode_ReadChar(name, n - 2) == '_') {
        return 1;
    }
    return PyUnicode_Tailmatch(name, ds_global->str_dysco_prefix, 0, n, -1) ==
           1;
}

static PyObject *
dysco_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_Size(args) != 0) {
        PyErr_SetString(PyExc_TypeError,
                        "Dysco() takes keyword arguments only");
        return NULL;
    }
    int readonly = 0, shadow = 0, stacklevel = 1;
    if (ds_parse_options(kwargs, &readonly, &shadow, &stacklevel) < 0) {
        return NULL;
    }
    ds_store *st = ds_store_new();
    if (st == NULL) {
        return NULL;
    }
    ds_namespace *ns =
        ds_namespace_new(type, st, readonly, shadow, stacklevel);
    Py_DECREF((PyObject *)st);
    return (PyObject *)ns;
}

static PyObject *
dysco_getattro(PyObject *self, PyObject *name)
{
    if (is_private(name)) {
        return PyObject_GenericGetAttr(self, name);
    }
    return ds_ns_getvalue(NS(self)->store, name, SKIP(NS(self)), NULL,
                          PyExc_AttributeError);
}

static int
dysco_setattro(PyObject *self, PyObject *name, PyObject *value)
{
    if (is_private(name)) {
        return PyObject_GenericSetAttr(self, name, value);
    }
    return ds_ns_setdel(NS(self), name, value, PyExc_AttributeError);
}

static PyObject *
dysco_subscript(PyObject *self, PyObject *key)
{
    PyObject *v = ds_ns_getvalue(NS(self)->store, key, SKIP(NS(self)), NULL,
                                 PyExc_KeyError);
    if (v == NULL && PyErr_ExceptionMatches(PyExc_KeyError)) {
        PyErr_Clear();
        PyErr_Format(PyExc_KeyError,
                     "The key \"%S\" was not found in any scope.", key);
    }
    return v;
}

static int
dysco_ass_subscript(PyObject *self, PyObject *key, PyObject *value)
{
    return ds_ns_setdel(NS(self), key, value, PyExc_KeyError);
}

static int
dysco_contains(PyObject *self, PyObject *key)
{
    PyObject *v;
    return ds_lookup(NS(self)->store, key, SKIP(NS(self)), &v);
}

static PyObject *
dysco_iter(PyObject *self)
{
    PyObject *items = ds_ns_items(NS(self)->store, SKIP(NS(self)));
    if (items == NULL) {
        return NULL;
    }
    PyObject *it = PyObject_GetIter(items);
    Py_DECREF(items);
    return it;
}

/* g(fn) decorates: fn gets the Dysco as its first argument.
 * g(readonly=..., shadow=..., stacklevel=...) makes a variant view. */
static PyObject *
dysco_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    ds_namespace *ns = NS(self);
    Py_ssize_t n = PyTuple_Size(args);
    if (n > 1) {
        PyErr_SetString(
            PyExc_TypeError,
            "Dysco() call takes one positional argument (a function)");
        return NULL;
    }
    PyObject *fn = n == 1 ? PyTuple_GetItem(args, 0) : NULL;
    if (fn != NULL && fn != Py_None) {
        if (kwargs != NULL && PyDict_Size(kwargs) > 0) {
            PyErr_SetString(PyExc_TypeError,
                            "options and a function cannot be given together");
            return NULL;
        }
        PyObject *functools = PyImport_ImportModule("functools");
        if (functools == NULL) {
            return NULL;
        }
        PyObject *partial =
            PyObject_CallMethod(functools, "partial", "OO", fn, self);
        PyObject *r = NULL;
        if (partial != NULL) {
            r = PyObject_CallMethod(functools, "update_wrapper", "OO", partial,
                                    fn);
            Py_DECREF(partial);
        }
        Py_DECREF(functools);
        return r;
    }
    int readonly = -1, shadow = -1, stacklevel = ns->stacklevel;
    if (ds_parse_options(kwargs, &readonly, &shadow, &stacklevel) < 0) {
        return NULL;
    }
    if (readonly == 1 || shadow == 1) {
        /* Switching one option on switches the other off (Dysco's rule),
         * and unlike Dysco the chosen one is kept. */
        shadow = readonly == 1 ? 0 : 1;
        readonly = !shadow;
    }
    else {
        readonly = readonly == -1 ? ns->readonly : readonly;
        shadow = shadow == -1 ? ns->shadow : shadow;
    }
    return (PyObject *)ds_namespace_new(Py_TYPE(self), ns->store, readonly,
                                        shadow, stacklevel);
}

static PyObject *
dysco_reduce(PyObject *self, PyObject *unused)
{
    PyObject *pickle = PyImport_ImportModule("pickle");
    if (pickle != NULL) {
        PyObject *err = PyObject_GetAttrString(pickle, "PickleError");
        if (err != NULL) {
            PyErr_SetString(err, "Dysco cannot be pickled.");
            Py_DECREF(err);
        }
        Py_DECREF(pickle);
    }
    return NULL;
}

static PyObject *
dysco_repr(PyObject *self)
{
    ds_namespace *ns = NS(self);
    return PyUnicode_FromFormat(
        "<dynscope.compat.dysco.Dysco readonly=%s shadow=%s "
        "stacklevel=%d%s>",
        ns->readonly ? "True" : "False", ns->shadow ? "True" : "False",
        ns->stacklevel,
        ns->store == ds_global->default_store ? " (dynscope.dynamic)" : "");
}

static int
dysco_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT((PyObject *)NS(self)->store);
    return 0;
}

static int
dysco_clear(PyObject *self)
{
    ds_store *st = NS(self)->store;
    NS(self)->store = NULL;
    Py_XDECREF((PyObject *)st);
    return 0;
}

static void
dysco_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (NS(self)->weakreflist != NULL) {
        PyObject_ClearWeakRefs(self);
    }
    dysco_clear(self);
    freefunc tfree = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tfree(self);
    Py_DECREF(tp);
}

static PyMethodDef dysco_methods[] = {
    {"__reduce__", dysco_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef dysco_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(ds_namespace, weakreflist),
     READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot dysco_slots[] = {
    {Py_tp_new, dysco_new},
    {Py_tp_traverse, dysco_traverse},
    {Py_tp_clear, dysco_clear},
    {Py_tp_dealloc, dysco_dealloc},
    {Py_tp_repr, dysco_repr},
    {Py_tp_getattro, dysco_getattro},
    {Py_tp_setattro, dysco_setattro},
    {Py_tp_iter, dysco_iter},
    {Py_tp_call, dysco_call},
    {Py_tp_methods, dysco_methods},
    {Py_tp_members, dysco_members},
    {Py_mp_subscript, dysco_subscript},
    {Py_mp_ass_subscript, dysco_ass_subscript},
    {Py_sq_contains, dysco_contains},
    {Py_tp_doc,
     "Dysco(*, readonly=False, shadow=False, stacklevel=1)\n\n"
     "Dysco's dynamic-scoping object on dynscope's frame bindings."},
    {0, NULL},
};

static PyType_Spec dysco_spec = {
    .name = "dynscope.compat.dysco.Dysco",
    .basicsize = sizeof(ds_namespace),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = dysco_slots,
};

int
ds_dysco_init_type(PyObject *m, ds_state *s)
{
    s->str_dysco_prefix = PyUnicode_InternFromString("_Dysco_");
    if (s->str_dysco_prefix == NULL) {
        return -1;
    }
    s->dysco_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(m, &dysco_spec, NULL);
    return s->dysco_type == NULL ? -1 : 0;
}

/* Registers dynscope.compat and dynscope.compat.dysco in sys.modules.  The
 * extension stays a plain module (dynscope.__file__ is the .abi3.so), and
 * the import system finds submodules in sys.modules before it would ask
 * for a package path. */
int
ds_compat_init(PyObject *m, ds_state *s)
{
    PyObject *modules = PyImport_GetModuleDict(); /* borrowed */
    PyObject *compat = PyModule_New("dynscope.compat");
    PyObject *dysco = PyModule_New("dynscope.compat.dysco");
    PyObject *g = NULL;
    int r = -1;
    if (compat == NULL || dysco == NULL) {
        goto done;
    }
    g = (PyObject *)ds_namespace_new(s->dysco_type, s->default_store, 0, 0, 1);
    if (g == NULL) {
        goto done;
    }
    PyObject *all = Py_BuildValue("[ss]", "Dysco", "g");
    if (all == NULL) {
        goto done;
    }
    if (PyModule_AddObject(dysco, "__all__", all) < 0) {
        Py_DECREF(all);
        goto done;
    }
    if (PyModule_AddStringConstant(
            compat, "__doc__",
            "Drop-in replacements for other dynamic-scoping libraries.") < 0 ||
        PyModule_AddStringConstant(
            dysco, "__doc__",
            "Dysco's API (Dysco, g) on dynscope: change the import, "
            "keep the code.") < 0 ||
        PyModule_AddObjectRef(dysco, "Dysco", (PyObject *)s->dysco_type) < 0 ||
        PyModule_AddObjectRef(dysco, "g", g) < 0 ||
        PyModule_AddObjectRef(compat, "dysco", dysco) < 0 ||
        PyModule_AddObjectRef(m, "compat", compat) < 0 ||
        PyDict_SetItemString(modules, "dynscope.compat", compat) < 0 ||
        PyDict_SetItemString(modules, "dynscope.compat.dysco", dysco) < 0) {
        goto done;
    }
    r = 0;
done:
    Py_XDECREF(g);
    Py_XDECREF(compat);
    Py_XDECREF(dysco);
    return r;
}
