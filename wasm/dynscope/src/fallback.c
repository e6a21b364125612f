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
 * dynscope.dynamic wins over the real builtin of the same name.  The miss
 * (every builtin such as print, len) costs one dict probe of the live-name
 * counts before the normal lookup, never a stack walk.
 */
#define Py_LIMITED_API 0x030B0000
#include "dynscope.h"

static traverseproc dict_traverse;
static destructor dict_dealloc;

static PyObject *
fb_subscript(PyObject *self, PyObject *key)
{
    PyObject *v;
    int r = ds_lookup(ds_global->default_store, key, 0, &v);
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
    return v;
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
    .basicsize = 0,   /* a dict, nothing more */
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_BASETYPE,
    .slots = fb_slots,
};

int
ds_fallback_init_type(PyObject *m, ds_state *s)
{
    dict_traverse = (traverseproc)PyType_GetSlot(&PyDict_Type, Py_tp_traverse);
    dict_dealloc = (destructor)PyType_GetSlot(&PyDict_Type, Py_tp_dealloc);
    if (dict_traverse == NULL || dict_dealloc == NULL) {
        PyErr_SetString(PyExc_ImportError, "dynscope: dict has no traverse/dealloc slot");
        return -1;
    }
    s->fallback_type = (PyTypeObject *)PyType_FromModuleAndSpec(
        m, &fb_spec, (PyObject *)&PyDict_Type);
    if (s->fallback_type == NULL) {
        return -1;
    }
    return PyModule_AddObjectRef(m, "FallbackBuiltins", (PyObject *)s->fallback_type);
}
