/* FallbackBuiltins: a dict subclass to use as a snippet's __builtins__, so
 * that free names fall back to the dynamic scope.
 *
 * When a frame's builtins mapping is not an exact dict, CPython's
 * LOAD_GLOBAL and LOAD_NAME leave their fast path and call PyObject_GetItem
 * (3.11) or PyMapping_GetOptionalItem (3.12+) on it, which reaches our
 * mp_subscript.  That runs with the frame doing the load as the current
 * frame, so
 *     def log(m): print(indent + m)
 *     with dynscope.bind(indent="  "): log("x")
 * resolves `indent` by walking from log's frame.  Globals still come first
 * (lexical before dynamic); among what is left, a live binding of
 * dynscope.dynamic wins over the real builtin of the same name.
 *
 * Ordinary code must not pay for that (issue 16): a dict subclass turns off
 * CPython's specialised global lookups (LOAD_GLOBAL_BUILTIN needs an exact
 * dict), which made builtin-heavy loops ~2x slower.  But while
 * dynscope.dynamic has no live binding at all, the fallback cannot change
 * any lookup's result: an exact dict of the same contents answers the same.
 * So each FallbackBuiltins is an exact dict while nothing is bound, and a
 * FallbackBuiltins again the moment anything is:
 *   - nothing bound -> exact dict: the first lookup that reaches our
 *     mp_subscript while the default store has no live binding switches the
 *     object's type to dict (ob_type; the layouts are identical: the
 *     subtype adds no field), and CPython specialises its builtin loads;
 *   - something bound -> FallbackBuiltins: the store calls
 *     ds_fallback_bound() as its live count leaves zero, which switches
 *     every exact-dict instance back before the binding is visible, and
 *     bumps the dict's keys version (inserting and deleting a str key) so
 *     specialised loads that cached it deoptimise even where an interpreter
 *     does not re-check the dict's type.
 * Returning to exact is lazy (the next slow lookup), so a with-block in a
 * loop does not flip the type twice per iteration.  Only instances of
 * exactly this type switch (a subclass's layout may differ).  The module
 * keeps a strong reference to each instance so that one switched to dict is
 * never freed behind our back; those only we still reference are dropped
 * from time to time (after switching them back, so they die as what they
 * were made as).
 */
#define Py_LIMITED_API 0x030B0000
#include "dynscope.h"

static traverseproc dict_traverse;
static destructor dict_dealloc;
static newfunc dict_new;

static PyObject *instances =
    NULL; /* list: every instance of exactly our type */
static Py_ssize_t sweep_at = 16;
Py_ssize_t ds_fallback_exact = 0; /* how many of them are exact dicts now */
static PyObject *version_key =
    NULL; /* a str key, so the table stays str-keyed */

static void
to_exact(PyObject *d)
{
    Py_SET_TYPE(d, &PyDict_Type);
    Py_DECREF((PyObject *)ds_global->fallback_type);
    ds_fallback_exact++;
}

static void
to_fallback(PyObject *d)
{
    Py_INCREF((PyObject *)ds_global->fallback_type);
    Py_SET_TYPE(d, ds_global->fallback_type);
    ds_fallback_exact--;
}

/* Drops the instances nobody else references. */
static void
sweep(void)
{
    for (Py_ssize_t i = PyList_Size(instances) - 1; i >= 0; i--) {
        PyObject *d = PyList_GetItem(instances, i);
        if (Py_REFCNT(d) == 1) {
            if (Py_TYPE(d) == &PyDict_Type) {
                to_fallback(d);
            }
            if (PySequence_DelItem(instances, i) < 0) {
                PyErr_Clear();
                return;
            }
        }
    }
    sweep_at = 2 * PyList_Size(instances) + 16;
}

void
ds_fallback_bound(void)
{
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    for (Py_ssize_t i = 0; ds_fallback_exact > 0 && i < PyList_Size(instances);
         i++) {
        PyObject *d = PyList_GetItem(instances, i);
        if (Py_TYPE(d) != &PyDict_Type) {
            continue;
        }
        to_fallback(d);
        /* Any key change resets the keys version. */
        if (PyDict_SetItem(d, version_key, Py_None) < 0 ||
            PyDict_DelItem(d, version_key) < 0) {
            PyErr_Clear();
        }
    }
    PyErr_Restore(et, ev, tb);
}

static PyObject *
fb_subscript(PyObject *self, PyObject *key)
{
    PyObject *v;
    ds_store *st = ds_global->default_store;
    int r = ds_lookup(st, key, 0, &v);
    if (r < 0) {
        return NULL;
    }
    if (r == 0) {
        v = PyDict_GetItemWithError(self, key);
        if (v == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetObject(PyExc_KeyError, key);
            }
            return NULL;
        }
    }
    Py_INCREF(v);
    if (st->live == 0 && Py_TYPE(self) == ds_global->fallback_type) {
        to_exact(self);
    }
    return v;
}

static PyObject *
fb_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *self = dict_new(type, args, kwargs);
    if (self == NULL || type != ds_global->fallback_type) {
        return self;
    }
    if (PyList_Append(instances, self) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    if (PyList_Size(instances) > sweep_at) {
        sweep();
    }
    return self;
}

static int
fb_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    return dict_traverse(self, visit, arg);
}

static void
fb_dealloc(PyObject *self)
{
    /* dict's dealloc does not release a heap subtype's reference to it. */
    PyTypeObject *tp = Py_TYPE(self);
    dict_dealloc(self);
    Py_DECREF(tp);
}

static PyObject *
fb_repr(PyObject *self)
{
    return PyUnicode_FromFormat("<dynscope.FallbackBuiltins with %zd names>",
                                PyDict_Size(self));
}

static PyType_Slot fb_slots[] = {
    {Py_tp_new, fb_new},
    {Py_mp_subscript, fb_subscript},
    {Py_tp_traverse, fb_traverse},
    {Py_tp_dealloc, fb_dealloc},
    {Py_tp_repr, fb_repr},
    {Py_tp_doc,
     "FallbackBuiltins(builtins_dict)\n\n"
     "A copy of a builtins dict for exec()'s globals['__builtins__']: a name "
     "that is neither global nor local is looked up in dynscope.dynamic's "
     "live bindings first, then among the builtins."},
    {0, NULL},
};

static PyType_Spec fb_spec = {
    .name = "dynscope.FallbackBuiltins",
    .basicsize = 0, /* a dict, nothing more */
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = fb_slots,
};

int
ds_fallback_init_type(PyObject *m, ds_state *s)
{
    dict_traverse = (traverseproc)PyType_GetSlot(&PyDict_Type, Py_tp_traverse);
    dict_dealloc = (destructor)PyType_GetSlot(&PyDict_Type, Py_tp_dealloc);
    dict_new = (newfunc)PyType_GetSlot(&PyDict_Type, Py_tp_new);
    instances = PyList_New(0);
    version_key = PyUnicode_InternFromString("\x01dynscope: keys version");
    if (instances == NULL || version_key == NULL) {
        return -1;
    }
    if (dict_traverse == NULL || dict_dealloc == NULL || dict_new == NULL) {
        PyErr_SetString(PyExc_ImportError,
                        "dynscope: dict has no traverse/dealloc slot");
        return -1;
    }
    s->fallback_type = (PyTypeObject *)PyType_FromModuleAndSpec(
        m, &fb_spec, (PyObject *)&PyDict_Type);
    if (s->fallback_type == NULL) {
        return -1;
    }
    return PyModule_AddObjectRef(m, "FallbackBuiltins",
                                 (PyObject *)s->fallback_type);
}
