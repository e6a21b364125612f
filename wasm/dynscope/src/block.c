/* block(fn): run a zero-argument function's body in its caller's scope
 * (seed 001, "code blocks"): names the body reads come from the calling
 * frame's locals, then its globals and builtins; names it assigns land in
 * the calling frame's namespace; and names in the body's nested scopes
 * (generator expressions, comprehensions, nested functions and classes)
 * resolve as if the body were written in the caller.
 *
 *     @dynscope.block
 *     def bump():
 *         count += 1
 *     def main():
 *         count = 0
 *         bump(); bump()
 *         return count          # 2 on 3.13+
 *
 * How, once per block (the Python helper below, cold code): the body is
 * recompiled from the function's source, and symtable says which names it
 * assigns at its top level and which it (or any nested scope) reads as
 * globals.  Then per call:
 *   - a caller that is not a function (module level, class body, exec()
 *     namespace): its f_locals is the real namespace, and the body runs as
 *     module-level code, exec(code, f_globals, f_locals): exactly what the
 *     same text written there would do (a class body's nested scopes do not
 *     see the class's names there either);
 *   - a function caller: the body is compiled as a closure whose free
 *     variables are the names it assigns plus those of the names it reads
 *     that are the caller's locals now (one variant per such set, cached);
 *     the cells start as the caller's values, the body runs with the
 *     caller's globals (so the caller's builtins and FallbackBuiltins), and
 *     changed cells are written back through f_locals.  Nested scopes close
 *     over the same cells, so `sum(x * k for x in xs)` sees the caller's k
 *     and a nested `nonlocal k` assigns it.
 * Rewriting the bytecode instead would have to track five interpreter
 * versions' opcodes.
 *
 * What each version can do with a function caller:
 *   3.13+ (PEP 667): f_locals is a write-through proxy, so assignments
 *         (also from nested scopes) reach the caller's local variables.
 *   3.11/3.12: f_locals is a snapshot dict.  Reads work; new names stay in
 *         that dict (locals() and later blocks in the frame see them); a
 *         write to one of the caller's local variables cannot reach it, so
 *         block() raises RuntimeError instead of losing it silently.
 * A function defined in the body and kept after it closes over the block's
 * cells: it sees the values they had when the block ended, not later
 * changes made by the caller.  The body cannot `return`, `yield` or
 * `await` (it is not a function of its own), a lambda has no body to run
 * (refused with a TypeError), and its source must be available to
 * inspect.getsource().
 */
#define Py_LIMITED_API 0x030B0000
#include "dynscope.h"

typedef struct {
    PyObject_HEAD PyObject *fn;
    PyObject *weakreflist;
} ds_block;

#define CO_OPTIMIZED_FLAG 0x0001
#define CO_VARARGS_FLAG 0x0004
#define CO_VARKEYWORDS_FLAG 0x0008
#define CO_COROUTINE_FLAG 0x0080
#define CO_ASYNC_GENERATOR_FLAG 0x0200

/* The compile-time half, in Python: it only runs once per block (and once
 * per variant).  _compile(fn) returns the block's description, a dict;
 * _variant(info, params, empty) the code making the block's function for
 * one set of cell names. */
static const char helper_src[] =
    "import ast, inspect, keyword, symtable, textwrap, types\n"
    "def _compile(fn):\n"
    "    code = fn.__code__\n"
    "    try:\n"
    "        src = inspect.getsource(fn)\n"
    "    except (OSError, TypeError) as e:\n"
    "        raise TypeError(f'dynscope.block: the source of {fn!r} is not "
    "available ({e})') from None\n"
    "    src = textwrap.dedent(src)\n"
    "    tree = ast.parse(src)\n"
    "    stmt = tree.body[0] if tree.body else None\n"
    "    if not isinstance(stmt, ast.FunctionDef) or stmt.name != "
    "code.co_name:\n"
    "        raise TypeError(f'dynscope.block: no def of {code.co_name!r} at "
    "the start of the source of {fn!r}')\n"
    "    first = code.co_firstlineno\n"
    "    ast.increment_lineno(stmt, first - 1)\n"
    "    _no_return(stmt.body, code.co_filename)\n"
    "    top = symtable.symtable(src, code.co_filename, 'exec')\n"
    "    table = next(t for t in top.get_children()\n"
    "                 if t.get_name() == code.co_name and t.get_type() == "
    "'function')\n"
    "    def names(t, pred):\n"
    "        return {s.get_name() for s in t.get_symbols() if pred(s)}\n"
    "    declared = names(table, lambda s: s.is_declared_global())\n"
    "    assigned = names(table, lambda s: s.is_local() and not "
    "s.is_parameter()) - declared\n"
    "    free, todo = set(), [table]\n"
    "    while todo:\n"
    "        t = todo.pop()\n"
    "        free |= names(t, lambda s: s.is_global() and not "
    "s.is_declared_global())\n"
    "        todo.extend(t.get_children())\n"
    "    free -= declared | assigned\n"
    "    def ok(n):\n"
    "        return n.isidentifier() and not keyword.iskeyword(n)\n"
    "    return {'module': None, 'body': stmt.body,\n"
    "            'assigned': tuple(sorted(filter(ok, assigned))),\n"
    "            'free': tuple(sorted(filter(ok, free))),\n"
    "            'filename': code.co_filename, 'first': first,\n"
    "            'name': code.co_name, 'qualname': code.co_qualname, "
    "'variants': {}}\n"
    "def _no_return(body, filename):\n"
    "    todo = list(body)\n"
    "    while todo:\n"
    "        n = todo.pop()\n"
    "        if isinstance(n, ast.Return):\n"
    "            raise SyntaxError(\"'return' in a dynscope.block body (it is "
    "not a function of its own)\",\n"
    "                              (filename, n.lineno, n.col_offset + 1, "
    "None))\n"
    "        if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, "
    "ast.ClassDef, ast.Lambda)):\n"
    "            todo.extend(ast.iter_child_nodes(n))\n"
    "def _module(info):\n"
    "    if info['module'] is None:\n"
    "        module = ast.Module(list(info['body']), [])\n"
    "        info['module'] = compile(module, info['filename'], 'exec', "
    "dont_inherit=True)\n"
    "    return info['module']\n"
    "def _variant(info, params, empty):\n"
    "    # _outer(*params) makes the block's function: its cells are the "
    "params\n"
    "    # (the caller's values) and `empty` (unbound: assigned in dead "
    "code).\n"
    "    cells = sorted(params + empty)\n"
    "    name = info['name'] if info['name'] not in cells else '_block'\n"
    "    src = 'def _outer(%s):\\n' % ', '.join(params)\n"
    "    if empty:\n"
    "        src += '    if False:\\n        %s = None\\n' % ' = "
    "'.join(empty)\n"
    "    src += '    def %s():\\n        %s\\n    return %s\\n' % (\n"
    "        name, 'nonlocal ' + ', '.join(cells) if cells else 'pass', "
    "name)\n"
    "    mod = ast.parse(src)\n"
    "    ast.increment_lineno(mod, info['first'] - 1)\n"
    "    inner = mod.body[0].body[-2]\n"
    "    inner.body = inner.body[:1 if cells else 0] + list(info['body'])\n"
    "    code = compile(mod, info['filename'], 'exec', dont_inherit=True)\n"
    "    outer = next(c for c in code.co_consts if isinstance(c, "
    "types.CodeType))\n"
    "    body = next(c for c in outer.co_consts if isinstance(c, "
    "types.CodeType))\n"
    "    if body.co_flags & (inspect.CO_GENERATOR | inspect.CO_COROUTINE | "
    "inspect.CO_ASYNC_GENERATOR):\n"
    "        raise SyntaxError(\"'yield' in a dynscope.block body (it is not "
    "a function of its own)\",\n"
    "                          (info['filename'], info['first'], None, "
    "None))\n"
    "    return code\n";

static PyObject *helpers = NULL; /* dict: the helper module's namespace */

static PyObject *
helper(const char *name)
{
    if (helpers == NULL) {
        PyObject *code =
            Py_CompileString(helper_src, "<dynscope.block>", Py_file_input);
        if (code == NULL) {
            return NULL;
        }
        PyObject *g = PyDict_New();
        PyObject *r = NULL;
        if (g != NULL && PyDict_SetItemString(g, "__builtins__",
                                              PyEval_GetBuiltins()) == 0) {
            r = PyEval_EvalCode(code, g, g);
        }
        Py_DECREF(code);
        if (r == NULL) {
            Py_XDECREF(g);
            return NULL;
        }
        Py_DECREF(r);
        helpers = g;
    }
    PyObject *f = PyDict_GetItemString(helpers, name);
    if (f == NULL) {
        PyErr_Format(PyExc_RuntimeError, "dynscope.block: helper %s missing",
                     name);
    }
    return f; /* borrowed */
}

/* The block's description (see _compile), cached by code object. */
static PyObject *
block_info(PyObject *fn)
{
    PyObject *code = PyObject_GetAttrString(fn, "__code__");
    if (code == NULL) {
        return NULL;
    }
    PyObject *info = PyDict_GetItemWithError(ds_global->block_cache, code);
    if (info != NULL || PyErr_Occurred()) {
        Py_XINCREF(info);
        Py_DECREF(code);
        return info;
    }
    PyObject *compile = helper("_compile");
    info = compile ? PyObject_CallFunctionObjArgs(compile, fn, NULL) : NULL;
    if (info != NULL &&
        PyDict_SetItem(ds_global->block_cache, code, info) < 0) {
        Py_CLEAR(info);
    }
    Py_DECREF(code);
    return info;
}

static PyObject *
info_item(PyObject *info, const char *key)
{
    PyObject *v = PyDict_GetItemString(info, key);
    if (v == NULL) {
        PyErr_Format(PyExc_RuntimeError, "dynscope.block: %s missing", key);
    }
    return v; /* borrowed */
}

/* locals[name] into *value (new ref), or NULL when the caller has no such
 * local; -1 on a real error. */
static int
get_local(PyObject *locals, PyObject *name, PyObject **value)
{
    *value = PyObject_GetItem(locals, name);
    if (*value != NULL) {
        return 1;
    }
    if (PyErr_ExceptionMatches(PyExc_KeyError)) {
        PyErr_Clear();
        return 0;
    }
    return -1;
}

/* The variant's code for this call (see _variant), with the values of the
 * caller's names it takes (params, in order: a tuple) and the same as a
 * dict (name -> value) for the write-back. */
static PyObject *
variant_for(PyObject *info, PyObject *locals, PyObject **args,
            PyObject **values)
{
    PyObject *assigned = info_item(info, "assigned");
    PyObject *free = assigned ? info_item(info, "free") : NULL;
    PyObject *variants = free ? info_item(info, "variants") : NULL;
    if (variants == NULL) {
        return NULL;
    }
    PyObject *params = PyList_New(0), *empty = PyList_New(0),
             *argl = PyList_New(0);
    PyObject *vals = PyDict_New();
    PyObject *key = NULL, *code = NULL;
    if (params == NULL || empty == NULL || argl == NULL || vals == NULL) {
        goto done;
    }
    PyObject *groups[2] = {assigned, free};
    for (int g = 0; g < 2; g++) {
        for (Py_ssize_t i = 0; i < PyTuple_Size(groups[g]); i++) {
            PyObject *name = PyTuple_GetItem(groups[g], i), *v;
            int r = get_local(locals, name, &v);
            if (r < 0) {
                goto done;
            }
            /* The caller's names start as its values; assigned names it
             * does not have start unbound; read names it does not have
             * are its globals or builtins. */
            int e = 0;
            if (r == 1) {
                e = PyList_Append(params, name) < 0 ||
                    PyList_Append(argl, v) < 0 ||
                    PyDict_SetItem(vals, name, v) < 0;
                Py_DECREF(v);
            }
            else if (g == 0) {
                e = PyList_Append(empty, name) < 0;
            }
            if (e) {
                goto done;
            }
        }
    }
    PyObject *pt = PyList_AsTuple(params),
             *et = pt ? PyList_AsTuple(empty) : NULL;
    key = et ? PyTuple_Pack(2, pt, et) : NULL;
    if (key != NULL) {
        code = PyDict_GetItemWithError(variants, key);
        if (code != NULL) {
            Py_INCREF(code);
        }
        else if (!PyErr_Occurred()) {
            PyObject *make = helper("_variant");
            code = make ? PyObject_CallFunctionObjArgs(make, info, params,
                                                       empty, NULL)
                        : NULL;
            if (code != NULL && PyDict_SetItem(variants, key, code) < 0) {
                Py_CLEAR(code);
            }
        }
    }
    Py_XDECREF(pt);
    Py_XDECREF(et);
    if (code != NULL && (*args = PyList_AsTuple(argl)) == NULL) {
        Py_CLEAR(code);
    }
done:
    Py_XDECREF(params);
    Py_XDECREF(empty);
    Py_XDECREF(argl);
    Py_XDECREF(key);
    if (code == NULL) {
        Py_XDECREF(vals);
        return NULL;
    }
    *values = vals;
    return code;
}

/* A cell's contents (new ref), or NULL with no error when it is empty. */
static PyObject *
cell_get(PyObject *cell)
{
    PyObject *v = PyObject_GetAttrString(cell, "cell_contents");
    if (v == NULL && PyErr_ExceptionMatches(PyExc_ValueError)) {
        PyErr_Clear();
    }
    return v;
}

/* Writes the cells that changed back through f_locals.  Before 3.13 a
 * function's f_locals is a snapshot: re-reading it re-syncs it from the
 * real variables, and a write that did not survive is one block() could
 * not make, said rather than lost. */
static int
write_back(PyObject *frame, PyObject *locals, PyObject *names, PyObject *cells,
           PyObject *initial)
{
    PyObject *written = PyList_New(0);
    if (written == NULL) {
        return -1;
    }
    int r = 0;
    for (Py_ssize_t i = 0; r == 0 && i < PyTuple_Size(names); i++) {
        PyObject *name = PyTuple_GetItem(names, i);
        PyObject *now = cell_get(PyTuple_GetItem(cells, i));
        if (now == NULL && PyErr_Occurred()) {
            r = -1;
            break;
        }
        PyObject *was = PyDict_GetItemWithError(initial, name);
        if (was == NULL && PyErr_Occurred()) {
            Py_XDECREF(now);
            r = -1;
            break;
        }
        if (now != was) {
            if (now != NULL) {
                r = PyObject_SetItem(locals, name, now);
            }
            else if (was != NULL && (r = PyObject_DelItem(locals, name)) < 0 &&
                     (PyErr_ExceptionMatches(PyExc_TypeError) ||
                      PyErr_ExceptionMatches(PyExc_ValueError))) {
                /* 3.13+: the proxy removes no variables (TypeError in
                 * 3.13, ValueError in 3.14): one error on every version. */
                PyErr_Clear();
                PyErr_Format(
                    PyExc_RuntimeError,
                    "dynscope.block: cannot delete the calling function's "
                    "local variable %R (f_locals cannot remove variables)",
                    name);
            }
            PyObject *pair =
                r == 0 ? PyTuple_Pack(2, name, now ? now : Py_None) : NULL;
            if (r == 0 && (pair == NULL || PyList_Append(written, pair) < 0)) {
                r = -1;
            }
            Py_XDECREF(pair);
        }
        Py_XDECREF(now);
    }
    if (r == 0 && Py_Version < 0x030D0000 && PyList_Size(written) > 0) {
        PyObject *synced = PyObject_GetAttr(frame, ds_global->str_f_locals);
        r = synced == NULL ? -1 : 0;
        for (Py_ssize_t i = 0; r == 0 && i < PyList_Size(written); i++) {
            PyObject *pair = PyList_GetItem(written, i);
            PyObject *name = PyTuple_GetItem(pair, 0), *cur;
            int has = get_local(synced, name, &cur);
            if (has < 0) {
                r = -1;
                break;
            }
            Py_XDECREF(cur);
            if (has == 0 || cur != PyTuple_GetItem(pair, 1)) {
                PyErr_Format(
                    PyExc_RuntimeError,
                    "dynscope.block: cannot assign or delete the calling "
                    "function's local variable %R before Python 3.13 "
                    "(f_locals is a "
                    "snapshot there; PEP 667 made it write-through in 3.13)",
                    name);
                r = -1;
            }
        }
        Py_XDECREF(synced);
    }
    Py_DECREF(written);
    return r;
}

/* A function caller: the body as a closure over cells holding the
 * caller's variables.  The function is made by running the variant's
 * code (a def of _outer, into a scratch dict, with the caller's globals so
 * that the block's function has them) and calling _outer: bytecode makes
 * it, as the service's code guard requires (no FunctionType(code, ...),
 * no CodeType.replace). */
static PyObject *
run_as_closure(PyObject *info, PyObject *frame, PyObject *globals,
               PyObject *locals)
{
    PyObject *args = NULL, *initial = NULL, *scratch = NULL, *fn = NULL;
    PyObject *names = NULL, *cells = NULL, *result = NULL;
    PyObject *code = variant_for(info, locals, &args, &initial);
    if (code == NULL) {
        return NULL;
    }
    scratch = PyDict_New();
    PyObject *r = scratch ? PyEval_EvalCode(code, globals, scratch) : NULL;
    if (r == NULL) {
        goto done;
    }
    Py_DECREF(r);
    PyObject *outer = PyDict_GetItemString(scratch, "_outer");
    fn = outer ? PyObject_Call(outer, args, NULL) : NULL;
    PyObject *fcode = fn ? PyObject_GetAttrString(fn, "__code__") : NULL;
    names = fcode ? PyObject_GetAttrString(fcode, "co_freevars") : NULL;
    Py_XDECREF(fcode);
    cells = names ? PyObject_GetAttrString(fn, "__closure__") : NULL;
    if (cells == NULL) {
        goto done;
    }
    if (cells == Py_None) { /* no cells at all */
        Py_DECREF(cells);
        if ((cells = PyTuple_New(0)) == NULL) {
            goto done;
        }
    }
    result = PyObject_CallNoArgs(fn);
    /* Assignments made before an exception happened, as inline code's
     * would have; the body's own exception is the one that propagates. */
    if (result == NULL) {
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        if (write_back(frame, locals, names, cells, initial) < 0) {
            PyErr_Clear();
        }
        PyErr_Restore(et, ev, tb);
    }
    else if (write_back(frame, locals, names, cells, initial) < 0) {
        Py_CLEAR(result);
    }
done:
    Py_XDECREF(cells);
    Py_XDECREF(names);
    Py_XDECREF(fn);
    Py_XDECREF(scratch);
    Py_XDECREF(args);
    Py_XDECREF(initial);
    Py_DECREF(code);
    return result;
}

PyObject *
ds_block_run(PyObject *fn, PyObject *frame)
{
    ds_state *s = ds_global;
    PyObject *info = block_info(fn);
    if (info == NULL) {
        return NULL;
    }
    PyObject *globals = PyObject_GetAttr(frame, s->str_f_globals);
    PyObject *locals =
        globals ? PyObject_GetAttr(frame, s->str_f_locals) : NULL;
    PyObject *fcode = locals ? PyObject_GetAttr(frame, s->str_f_code) : NULL;
    PyObject *flags = fcode ? PyObject_GetAttrString(fcode, "co_flags") : NULL;
    PyObject *result = NULL;
    if (flags != NULL) {
        if (PyLong_AsLong(flags) & CO_OPTIMIZED_FLAG) {
            result = run_as_closure(info, frame, globals, locals);
        }
        else {
            PyObject *module = helper("_module");
            PyObject *code =
                module ? PyObject_CallFunctionObjArgs(module, info, NULL)
                       : NULL;
            result = code ? PyEval_EvalCode(code, globals, locals) : NULL;
            Py_XDECREF(code);
        }
    }
    Py_XDECREF(flags);
    Py_XDECREF(fcode);
    Py_XDECREF(locals);
    Py_XDECREF(globals);
    Py_DECREF(info);
    if (result == NULL) {
        return NULL;
    }
    Py_DECREF(result);
    Py_RETURN_NONE;
}

/* ---- the Block type ------------------------------------------------------- */

/* What block() can run: a def taking no arguments whose body is plain
 * statements. */
static int
check_function(PyObject *fn)
{
    PyObject *code = PyObject_GetAttrString(fn, "__code__");
    if (code == NULL) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "block() needs a Python function, not %R", fn);
        return -1;
    }
    PyObject *name = PyObject_GetAttrString(code, "co_name");
    PyObject *flags = name ? PyObject_GetAttrString(code, "co_flags") : NULL;
    long nargs = 0;
    const char *attrs[] = {"co_argcount", "co_kwonlyargcount",
                           "co_posonlyargcount"};
    for (int i = 0; flags != NULL && i < 3; i++) {
        PyObject *v = PyObject_GetAttrString(code, attrs[i]);
        if (v == NULL) {
            Py_CLEAR(flags);
            break;
        }
        nargs += PyLong_AsLong(v);
        Py_DECREF(v);
    }
    Py_DECREF(code);
    int r = -1;
    if (flags != NULL) {
        long f = PyLong_AsLong(flags);
        if (PyUnicode_CompareWithASCIIString(name, "<lambda>") == 0) {
            PyErr_SetString(
                PyExc_TypeError,
                "dynscope.block: a lambda has no statement body to run in "
                "the caller's scope; write the block as a def");
        }
        else if (f & (CO_COROUTINE_FLAG | CO_ASYNC_GENERATOR_FLAG)) {
            PyErr_Format(PyExc_TypeError,
                         "dynscope.block: %R is an async function; a "
                         "block's body cannot await",
                         fn);
        }
        else if (nargs != 0 ||
                 (f & (CO_VARARGS_FLAG | CO_VARKEYWORDS_FLAG)) != 0) {
            PyErr_Format(PyExc_TypeError,
                         "dynscope.block: %R takes arguments; a block "
                         "runs a zero-argument function's body",
                         fn);
        }
        else {
            r = 0;
        }
    }
    Py_XDECREF(name);
    Py_XDECREF(flags);
    return r;
}

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
    if (check_function(fn) < 0) {
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
    if (PyTuple_Size(args) != 0 ||
        (kwargs != NULL && PyDict_Size(kwargs) != 0)) {
        PyErr_SetString(PyExc_TypeError,
                        "a dynscope block takes no arguments");
        return NULL;
    }
    PyObject *frame = (PyObject *)PyEval_GetFrame();
    if (frame == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "dynscope.block: no calling frame");
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
    {"__weaklistoffset__", T_PYSSIZET, offsetof(ds_block, weakreflist),
     READONLY, NULL},
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
    {Py_tp_doc,
     "block(fn): calling the result runs fn's body in the caller's scope."},
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
    s->block_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(m, &block_spec, NULL);
    if (s->block_type == NULL) {
        return -1;
    }
    return PyModule_AddObjectRef(m, "block", (PyObject *)s->block_type);
}
