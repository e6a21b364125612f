/* The dynscope module: module-level functions on the default namespace
 * (`dynscope.dynamic`), the types, and the dynscope.compat.dysco submodule.
 */
#define Py_LIMITED_API 0x030B0000
#include "dynscope.h"

ds_state *ds_global = NULL;
static PyObject *the_module = NULL;

#define STORE() (ds_global->default_store)

static PyObject *
m_bind(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    return ds_make_bind(STORE(), args, nargs, kwnames);
}

static PyObject *
m_get(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError, "get(name[, default])");
        return NULL;
    }
    return ds_ns_getvalue(STORE(), args[0], 0, nargs == 2 ? args[1] : NULL,
                          PyExc_LookupError);
}

static PyObject *
m_bound(PyObject *m, PyObject *name)
{
    PyObject *v;
    int r = ds_lookup(STORE(), name, 0, &v);
    return r < 0 ? NULL : PyBool_FromLong(r);
}

static PyObject *
m_assign(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "assign(name, value)");
        return NULL;
    }
    if (ds_ns_assign(STORE(), args[0], args[1], 0) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
m_set_here(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "set_here(name, value)");
        return NULL;
    }
    if (ds_ns_store(STORE(), args[0], args[1], 0, 0, 1) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
m_unbind(PyObject *m, PyObject *name)
{
    int r = ds_ns_unbind(STORE(), name, 0, 0);
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
m_snapshot(PyObject *m, PyObject *const *args, Py_ssize_t nargs,
           PyObject *kwnames)
{
    PyObject *frame;
    if (ds_snapshot_frame_arg(args, nargs, kwnames, &frame) < 0) {
        return NULL;
    }
    return ds_snapshot_from(STORE(), 0, frame);
}

static PyObject *
m_live_count(PyObject *m, PyObject *unused)
{
    return PyLong_FromSsize_t(STORE()->live);
}

static PyObject *
m_scope_version(PyObject *m, PyObject *unused)
{
    return PyLong_FromSize_t(STORE()->gen);
}

static PyObject *
m_capture(PyObject *m, PyObject *unused)
{
    return ds_capture(0);
}

static PyObject *
m_wrap(PyObject *m, PyObject *fn)
{
    return ds_wrap(fn, 0);
}

static PyMethodDef module_methods[] = {
    {"bind", (PyCFunction)(void (*)(void))m_bind,
     METH_FASTCALL | METH_KEYWORDS,
     "bind(mapping=None, /, **names)\n\nA context manager: the names are "
     "bound "
     "for the dynamic extent of the with-block (the block and everything it "
     "calls or resumes)."},
    {"get", (PyCFunction)(void (*)(void))m_get, METH_FASTCALL,
     "get(name[, default])\n\nThe nearest binding of name on the live call "
     "stack; LookupError (or default) when there is none."},
    {"bound", m_bound, METH_O,
     "bound(name)\n\nWhether name has a visible binding."},
    {"assign", (PyCFunction)(void (*)(void))m_assign, METH_FASTCALL,
     "assign(name, value)\n\nChange the nearest visible binding of name, for "
     "the rest of its extent; LookupError when there is none."},
    {"set_here", (PyCFunction)(void (*)(void))m_set_here, METH_FASTCALL,
     "set_here(name, value)\n\nBind name in the calling frame until it "
     "returns."},
    {"unbind", m_unbind, METH_O,
     "unbind(name)\n\nRemove the nearest visible binding of name (an outer "
     "one "
     "shows through); LookupError when there is none."},
    {"snapshot", (PyCFunction)(void (*)(void))m_snapshot,
     METH_FASTCALL | METH_KEYWORDS,
     "snapshot(frame=None)\n\nThe visible bindings of dynscope.dynamic, one "
     "dict per "
     "frame, innermost first: {'function', 'file', 'line', 'bindings'}; as "
     "seen "
     "from the caller, or from `frame` (the walk a lookup made there would "
     "do)."},
    {"live_count", m_live_count, METH_NOARGS,
     "live_count()\n\nHow many bindings of dynscope.dynamic are live anywhere "
     "(every "
     "thread, suspended generators included), visible from here or not: a "
     "cheap "
     "test for 'nothing bound' or 'only these bound'."},
    {"scope_version", m_scope_version, METH_NOARGS,
     "scope_version()\n\nA number that changes whenever a binding of "
     "dynscope.dynamic "
     "is made, removed or assigned, anywhere: equal numbers mean no binding "
     "changed in between."},
    {"capture", m_capture, METH_NOARGS,
     "capture()\n\nThe visible bindings of every namespace, as an object that "
     "re-enters them: `with c:` or c.run(fn, *args)."},
    {"wrap", m_wrap, METH_O,
     "wrap(fn)\n\nfn (a callable, coroutine or generator) running inside the "
     "bindings visible now: for threads, callbacks and asyncio tasks."},
    {NULL, NULL, 0, NULL},
};

static int
init_state(PyObject *m, ds_state *s)
{
    PyObject *types = PyImport_ImportModule("types");
    if (types == NULL) {
        return -1;
    }
    s->frame_type = PyObject_GetAttrString(types, "FrameType");
    Py_DECREF(types);
    if (s->frame_type == NULL) {
        return -1;
    }
    s->f_back_descr = PyObject_GetAttrString(s->frame_type, "f_back");
    if (s->f_back_descr == NULL) {
        return -1;
    }
    s->f_back_get = (descrgetfunc)PyType_GetSlot(Py_TYPE(s->f_back_descr),
                                                 Py_tp_descr_get);
    if (s->f_back_get == NULL) {
        PyErr_SetString(PyExc_ImportError,
                        "dynscope: frame.f_back is not a descriptor");
        return -1;
    }
#define INTERN(field, text)                                                   \
    if ((s->field = PyUnicode_InternFromString(text)) == NULL)                \
        return -1;
    INTERN(str_f_trace, "f_trace");
    INTERN(str_f_code, "f_code");
    INTERN(str_co_name, "co_name");
    INTERN(str_co_filename, "co_filename");
    INTERN(str_f_locals, "f_locals");
    INTERN(str_f_globals, "f_globals");
    INTERN(str_function, "function");
    INTERN(str_file, "file");
    INTERN(str_line, "line");
    INTERN(str_bindings, "bindings");
#undef INTERN
    return 0;
}

static int
module_exec(PyObject *m)
{
    ds_state *s = PyModule_GetState(m);
    ds_global = s;
    if (init_state(m, s) < 0 || ds_store_init_type(m, s) < 0 ||
        ds_namespace_init_type(m, s) < 0 || ds_bind_init_type(m, s) < 0 ||
        ds_here_init_type(m, s) < 0 || ds_capture_init_type(m, s) < 0 ||
        ds_conveyance_init_type(m, s) < 0 || ds_block_init_type(m, s) < 0 ||
        ds_fallback_init_type(m, s) < 0 || ds_dysco_init_type(m, s) < 0) {
        return -1;
    }
    ds_store *st = ds_store_new();
    if (st == NULL) {
        return -1;
    }
    s->dynamic = (PyObject *)ds_namespace_new(s->namespace_type, st, 0, 0, 1);
    Py_DECREF(st);
    if (s->dynamic == NULL) {
        return -1;
    }
    s->default_store = st;
    if (PyModule_AddObjectRef(m, "dynamic", s->dynamic) < 0 ||
        PyModule_AddStringConstant(m, "__version__", DYNSCOPE_VERSION) < 0) {
        return -1;
    }
    return ds_compat_init(m, s);
}

static int
module_traverse(PyObject *m, visitproc visit, void *arg)
{
    ds_state *s = PyModule_GetState(m);
    if (s == NULL) {
        return 0;
    }
    Py_VISIT(s->frame_type);
    Py_VISIT(s->f_back_descr);
    Py_VISIT(s->counter_type);
    Py_VISIT(s->store_type);
    Py_VISIT(s->namespace_type);
    Py_VISIT(s->bind_type);
    Py_VISIT(s->here_type);
    Py_VISIT(s->capture_type);
    Py_VISIT(s->wrapped_type);
    Py_VISIT(s->coro_type);
    Py_VISIT(s->block_type);
    Py_VISIT(s->fallback_type);
    Py_VISIT(s->dysco_type);
    Py_VISIT(s->ns_type_attrs);
    Py_VISIT(s->dynamic);
    Py_VISIT(s->block_cache);
    return 0;
}

static int
module_clear(PyObject *m)
{
    ds_state *s = PyModule_GetState(m);
    if (s == NULL) {
        return 0;
    }
    /* Types and the default namespace stay usable by objects that outlive
     * the module during finalization: only drop what cannot be in use. */
    Py_CLEAR(s->block_cache);
    return 0;
}

static void
module_free(void *m)
{
    module_clear((PyObject *)m);
}

static struct PyModuleDef dynscope_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "dynscope",
    .m_doc =
        "Dynamic scoping for Python: bindings that belong to stack frames "
        "and are found by walking the live call stack (the exc_info "
        "model).",
    .m_size = sizeof(ds_state),
    .m_methods = module_methods,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

/* The one exported name: CPython finds the module by it. */
PyMODINIT_FUNC PyInit_dynscope(void);

PyMODINIT_FUNC
PyInit_dynscope(void)
{
    /* Single-phase init: the state is reached through ds_global from slot
     * functions, which under the 3.11 Limited API cannot find their module
     * (PyType_GetModuleByDef is 3.13+), so one module object per process (no subinterpreters). */
    if (the_module != NULL) {
        /* Imported again (after `del sys.modules[...]`): the same module. */
        Py_INCREF(the_module);
        return the_module;
    }
    PyObject *m = PyModule_Create(&dynscope_def);
    if (m == NULL) {
        return NULL;
    }
    if (module_exec(m) < 0) {
        ds_global = NULL;
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(m);
    the_module = m;
    return m;
}
