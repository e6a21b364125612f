/* block(fn): run a zero-argument function's body in its caller's scope
 * (seed 001, "code blocks"): names the body reads come from the calling
 * frame's locals, then its globals and builtins; names it assigns land in
 * the calling frame's namespace.
 *
 *     @dynscope.block
 *     def bump():
 *         count += 1
 *     def main():
 *         count = 0
 *         bump(); bump()
 *         return count          # 2 on 3.13+
 *
 * How: the body is recompiled once from the function's source as module-
 * level code (free names become LOAD_NAME/STORE_NAME) and executed with
 * exec(code, caller.f_globals, caller.f_locals).  Rewriting the bytecode
 * instead would have to track five interpreter versions' opcodes.
 *
 * What each version can do:
 *   3.13+ (PEP 667): f_locals of a function frame is a write-through proxy,
 *         so reads and assignments reach the caller's local variables.
 *   3.11/3.12: f_locals of a function frame is a snapshot dict.  Reads work;
 *         assignments to new names stay in that dict (locals() and later
 *         blocks in the frame see them); an assignment to one of the
 *         caller's local variables cannot reach the variable, so block()
 *         detects it and raises RuntimeError instead of losing it silently.
 *   Module level, class bodies and exec() namespaces: f_locals is the real
 *         namespace dict on every version, so everything works.
 * The body cannot `return` or `yield` (it is not a function any more) and
 * its source must be available to inspect.getsource().
 */
#define Py_LIMITED_API 0x030B0000
#include "dynscope.h"

typedef struct {
    PyObject_HEAD
    PyObject *fn;
    PyObject *weakreflist;
} ds_block;

#define CO_OPTIMIZED_FLAG 0x0001

static PyObject *
compile_body(PyObject *fn)
{
    PyObject *code = PyObject_GetAttrString(fn, "__code__");
    if (code == NULL) {
        return NULL;
    }
    PyObject *cached = PyDict_GetItemWithError(ds_global->block_cache, code);
    if (cached != NULL || PyErr_Occurred()) {
        Py_XINCREF(cached);
        Py_DECREF(code);
        return cached;
    }
    PyObject *inspect = NULL, *textwrap = NULL, *ast = NULL, *src = NULL,
             *tree = NULL, *body = NULL, *mod = NULL, *filename = NULL,
             *firstline = NULL, *compiled = NULL, *builtins_compile = NULL;
    long nargs = 0;
    const char *attrs[] = {"co_argcount", "co_kwonlyargcount", "co_posonlyargcount"};
    for (int i = 0; i < 3; i++) {
        PyObject *v = PyObject_GetAttrString(code, attrs[i]);
        if (v == NULL) {
            goto done;
        }
        nargs += PyLong_AsLong(v);
        Py_DECREF(v);
    }
    PyObject *flags = PyObject_GetAttrString(code, "co_flags");
    if (flags == NULL) {
        goto done;
    }
    long f = PyLong_AsLong(flags);
    Py_DECREF(flags);
    if (nargs != 0 || (f & 0x0C) != 0) {   /* CO_VARARGS | CO_VARKEYWORDS */
        PyErr_Format(PyExc_TypeError, "dynscope.block: %R takes arguments; a block "
                                      "runs a zero-argument function's body", fn);
        goto done;
    }
    if ((inspect = PyImport_ImportModule("inspect")) == NULL ||
        (textwrap = PyImport_ImportModule("textwrap")) == NULL ||
        (ast = PyImport_ImportModule("ast")) == NULL) {
        goto done;
    }
    src = PyObject_CallMethod(inspect, "getsource", "O", fn);
    if (src == NULL) {
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        PyErr_NormalizeException(&et, &ev, &tb);
        PyErr_Format(PyExc_TypeError, "dynscope.block: the source of %R is not "
                                      "available (%S)", fn, ev ? ev : Py_None);
        Py_XDECREF(et);
        Py_XDECREF(ev);
        Py_XDECREF(tb);
        goto done;
    }
    PyObject *dedented = PyObject_CallMethod(textwrap, "dedent", "O", src);
    Py_DECREF(src);
    src = dedented;
    if (src == NULL) {
        goto done;
    }
    tree = PyObject_CallMethod(ast, "parse", "O", src);
    if (tree == NULL) {
        goto done;
    }
    /* The source of a function is one statement: its def. */
    PyObject *stmts = PyObject_GetAttrString(tree, "body");
    if (stmts == NULL) {
        goto done;
    }
    PyObject *def = PyList_Size(stmts) > 0 ? PyList_GetItem(stmts, 0) : NULL;
    if (def != NULL) {
        body = PyObject_GetAttrString(def, "body");
    }
    Py_DECREF(stmts);
    if (body == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_TypeError, "dynscope.block: no function body in the "
                                          "source of %R", fn);
        }
        goto done;
    }
    PyObject *module_type = PyObject_GetAttrString(ast, "Module");
    if (module_type == NULL) {
        goto done;
    }
    PyObject *empty = PyList_New(0);
    mod = empty ? PyObject_CallFunction(module_type, "OO", body, empty) : NULL;
    Py_XDECREF(empty);
    Py_DECREF(module_type);
    if (mod == NULL) {
        goto done;
    }
    /* Keep the file's line numbers in tracebacks. */
    firstline = PyObject_GetAttrString(code, "co_firstlineno");
    if (firstline == NULL) {
        goto done;
    }
    PyObject *r = PyObject_CallMethod(ast, "increment_lineno", "Ol", mod,
                                      PyLong_AsLong(firstline) - 1);
    if (r == NULL) {
        goto done;
    }
    Py_DECREF(r);
    filename = PyObject_GetAttrString(code, "co_filename");
    builtins_compile = PyDict_GetItemString(PyEval_GetBuiltins(), "compile");
    if (filename == NULL || builtins_compile == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_RuntimeError, "dynscope.block: builtins.compile is missing");
        }
        goto done;
    }
    compiled = PyObject_CallFunction(builtins_compile, "OOsii", mod, filename, "exec", 0, 1);
    if (compiled != NULL && PyDict_SetItem(ds_global->block_cache, code, compiled) < 0) {
        Py_CLEAR(compiled);
    }
done:
    Py_XDECREF(inspect);
    Py_XDECREF(textwrap);
    Py_XDECREF(ast);
    Py_XDECREF(src);
    Py_XDECREF(tree);
    Py_XDECREF(body);
    Py_XDECREF(mod);
    Py_XDECREF(filename);
    Py_XDECREF(firstline);
    Py_DECREF(code);
    return compiled;
}

/* 3.11/3.12, function frame: raise if the body assigned one of the
 * caller's variables, which the snapshot dict could not pass on.  `before`
 * and `after` are copies of f_locals around the exec; reading f_locals
 * again re-syncs it from the real variables. */
static int
check_lost_writes(PyObject *frame, PyObject *before, PyObject *after)
{
    PyObject *now = PyObject_GetAttr(frame, ds_global->str_f_locals);
    if (now == NULL) {
        return -1;
    }
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    int r = 0;
    while (PyDict_Next(after, &pos, &k, &v)) {
        PyObject *old = PyDict_GetItemWithError(before, k);
        if (old == v) {
            continue;
        }
        if (PyErr_Occurred()) {
            r = -1;
            break;
        }
        PyObject *cur = PyObject_GetItem(now, k);
        if (cur == NULL) {
            PyErr_Clear();
            continue;   /* a new name: it stays in the snapshot dict */
        }
        int lost = old != NULL && cur != v;
        Py_DECREF(cur);
        if (lost) {
            PyErr_Format(PyExc_RuntimeError,
                         "dynscope.block: cannot assign the calling function's "
                         "local variable %R before Python 3.13 (f_locals is a "
                         "snapshot there; PEP 667 made it write-through in 3.13)",
                         k);
            r = -1;
            break;
        }
    }
    Py_DECREF(now);
    return r;
}

PyObject *
ds_block_run(PyObject *fn, PyObject *frame)
{
    ds_state *s = ds_global;
    PyObject *code = compile_body(fn);
    if (code == NULL) {
        return NULL;
    }
    PyObject *globals = PyObject_GetAttr(frame, s->str_f_globals);
    PyObject *locals = globals ? PyObject_GetAttr(frame, s->str_f_locals) : NULL;
    PyObject *before = NULL, *result = NULL;
    if (locals == NULL) {
        goto done;
    }
    /* Only a pre-3.13 function frame hands out a snapshot dict. */
    if (Py_Version < 0x030D0000 && PyDict_CheckExact(locals) && locals != globals) {
        PyObject *fcode = PyObject_GetAttr(frame, s->str_f_code);
        PyObject *flags = fcode ? PyObject_GetAttrString(fcode, "co_flags") : NULL;
        Py_XDECREF(fcode);
        if (flags == NULL) {
            goto done;
        }
        if (PyLong_AsLong(flags) & CO_OPTIMIZED_FLAG) {
            before = PyDict_Copy(locals);
            if (before == NULL) {
                Py_DECREF(flags);
                goto done;
            }
        }
        Py_DECREF(flags);
    }
    result = PyEval_EvalCode(code, globals, locals);
    if (result != NULL && before != NULL) {
        PyObject *after = PyDict_Copy(locals);
        if (after == NULL || check_lost_writes(frame, before, after) < 0) {
            Py_CLEAR(result);
        }
        Py_XDECREF(after);
    }
done:
    Py_XDECREF(before);
    Py_XDECREF(locals);
    Py_XDECREF(globals);
    Py_DECREF(code);
    if (result == NULL) {
        return NULL;
    }
    Py_DECREF(result);
    Py_RETURN_NONE;
}

/* ---- the Block type ------------------------------------------------------- */

static PyObject *
block_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *fn;
    if ((kwargs != NULL && PyDict_Size(kwargs) > 0) ||
        !PyArg_UnpackTuple(args, "block", 1, 1, &fn)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "block(fn) takes one function");
        }
        return NULL;
    }
    if (!PyObject_HasAttrString(fn, "__code__")) {
        PyErr_Format(PyExc_TypeError, "block() needs a Python function, not %R", fn);
        return NULL;
    }
    allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    ds_block *b = (ds_block *)alloc(type, 0);
    if (b == NULL) {
        return NULL;
    }
    Py_INCREF(fn);
    b->fn = fn;
    b->weakreflist = NULL;
    return (PyObject *)b;
}

static PyObject *
block_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_Size(args) != 0 || (kwargs != NULL && PyDict_Size(kwargs) != 0)) {
        PyErr_SetString(PyExc_TypeError, "a dynscope block takes no arguments");
        return NULL;
    }
    PyObject *frame = (PyObject *)PyEval_GetFrame();
    if (frame == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "dynscope.block: no calling frame");
        return NULL;
    }
    return ds_block_run(((ds_block *)self)->fn, frame);
}

static PyObject *
block_getattro(PyObject *self, PyObject *name)
{
    /* __name__, __doc__, __qualname__... of the function. */
    PyObject *r = PyObject_GenericGetAttr(self, name);
    if (r == NULL && PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        r = PyObject_GetAttr(((ds_block *)self)->fn, name);
    }
    return r;
}

static PyObject *
block_repr(PyObject *self)
{
    return PyUnicode_FromFormat("<dynscope.block %R>", ((ds_block *)self)->fn);
}

static int
block_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(((ds_block *)self)->fn);
    return 0;
}

static int
block_clear(PyObject *self)
{
    Py_CLEAR(((ds_block *)self)->fn);
    return 0;
}

static void
block_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (((ds_block *)self)->weakreflist != NULL) {
        PyObject_ClearWeakRefs(self);
    }
    block_clear(self);
    freefunc tfree = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tfree(self);
    Py_DECREF(tp);
}

static PyMemberDef block_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(ds_block, weakreflist), READONLY, NULL},
    {"__wrapped__", T_OBJECT, offsetof(ds_block, fn), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot block_slots[] = {
    {Py_tp_new, block_new},
    {Py_tp_call, block_call},
    {Py_tp_getattro, block_getattro},
    {Py_tp_repr, block_repr},
    {Py_tp_traverse, block_traverse},
    {Py_tp_clear, block_clear},
    {Py_tp_dealloc, block_dealloc},
    {Py_tp_members, block_members},
    {Py_tp_doc, "block(fn): calling the result runs fn's body in the caller's scope."},
    {0, NULL},
};

static PyType_Spec block_spec = {
    .name = "dynscope.block",
    .basicsize = sizeof(ds_block),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = block_slots,
};

int
ds_block_init_type(PyObject *m, ds_state *s)
{
    s->block_cache = PyDict_New();
    if (s->block_cache == NULL) {
        return -1;
    }
    s->block_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &block_spec, NULL);
    if (s->block_type == NULL) {
        return -1;
    }
    return PyModule_AddObjectRef(m, "block", (PyObject *)s->block_type);
}
