/* Explicit conveyance: capture(), wrap(), task_factory().
 *
 * A binding is visible to the frames inside its dynamic extent, and nothing
 * else: a new thread walks its own (empty) stack, and an asyncio task is
 * resumed by the event loop's frames, not by the frame that created it
 * (the exc_info model, and Common Lisp's choice for threads).  Conveyance
 * is therefore explicit:
 *   capture()      the bindings visible now, in every namespace, as data;
 *   with c: / c.run(fn, *a, **k)
 *                  re-enter them: layers owned by the frame doing the with,
 *                  or by run()'s caller, so fn sees them as its callers';
 *   wrap(fn)       a callable that runs fn inside a capture taken now; a
 *                  coroutine or generator (or what a wrapped async function
 *                  returns) gets a wrapper that re-enters the capture around
 *                  every send/throw step, and leaves nothing behind at a
 *                  yield (Emacs generator.el does the same);
 *   task_factory   for loop.set_task_factory(): every task runs inside the
 *                  bindings visible where it was created, as contextvars'
 *                  copy-at-create_task does.
 * A captured binding is a copy: assign() inside it changes the copy only.
 */
#define Py_LIMITED_API 0x030B0000
#include "dynscope.h"

typedef struct {
    PyObject_HEAD PyObject
        *binds;     /* tuple of bind objects, one per namespace */
    PyObject *dflt; /* dict: the default namespace's captured values */
} ds_capture_obj;

typedef struct {
    PyObject_HEAD PyObject *capture;
    PyObject *fn;
    PyObject *weakreflist;
} ds_wrapped;

typedef struct {
    PyObject_HEAD PyObject *capture;
    PyObject *inner; /* a coroutine, generator or other iterator */
    PyObject *weakreflist;
} ds_coro;

/* A Python function `_call_in(c, fn, args, kwargs)` doing `with c: return
 * fn(*args, **kwargs)`: used when no Python frame is executing (a thread
 * started by _thread.start_new_thread, a callback from C), since bindings
 * need a frame to belong to. */
static PyObject *call_in = NULL;

static const char call_in_src[] =
    "def _call_in(c, fn, args, kwargs):\n"
    "    with c:\n"
    "        return fn(*args, **(kwargs or {}))\n";

/* ---- capture ------------------------------------------------------------ */

PyObject *
ds_capture(int skip)
{
    ds_state *s = ds_global;
    ds_capture_obj *c = PyObject_GC_New(ds_capture_obj, s->capture_type);
    if (c == NULL) {
        return NULL;
    }
    c->binds = NULL;
    c->dflt = PyDict_New();
    PyObject *binds = PyList_New(0);
    if (c->dflt == NULL || binds == NULL) {
        goto error;
    }
    for (ds_store *st = s->stores_head.next; st != &s->stores_head;
         st = st->next) {
        if (st->live == 0) {
            continue;
        }
        PyObject *items = ds_ns_items(st, skip);
        if (items == NULL) {
            goto error;
        }
        Py_ssize_t n = PyList_Size(items);
        if (n == 0) {
            Py_DECREF(items);
            continue;
        }
        PyObject *names = PyTuple_New(n);
        PyObject *values = PyTuple_New(n);
        if (names == NULL || values == NULL) {
            Py_XDECREF(names);
            Py_XDECREF(values);
            Py_DECREF(items);
            goto error;
        }
        /* Outermost first, so that within the layer the innermost wins
         * (there are no duplicates anyway: items() keeps the nearest). */
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *pair = PyList_GetItem(items, n - 1 - i);
            PyObject *k = PyTuple_GetItem(pair, 0),
                     *v = PyTuple_GetItem(pair, 1);
            Py_INCREF(k);
            Py_INCREF(v);
            PyTuple_SetItem(names, i, k);
            PyTuple_SetItem(values, i, v);
            if (st == s->default_store && PyDict_SetItem(c->dflt, k, v) < 0) {
                Py_DECREF(names);
                Py_DECREF(values);
                Py_DECREF(items);
                goto error;
            }
        }
        Py_DECREF(items);
        PyObject *b = ds_bind_new(st, names, values);
        Py_DECREF(names);
        Py_DECREF(values);
        if (b == NULL) {
            goto error;
        }
        int r = PyList_Append(binds, b);
        Py_DECREF(b);
        if (r < 0) {
            goto error;
        }
    }
    c->binds = PyList_AsTuple(binds);
    Py_DECREF(binds);
    if (c->binds == NULL) {
        Py_DECREF(c);
        return NULL;
    }
    PyObject_GC_Track((PyObject *)c);
    return (PyObject *)c;
error:
    Py_XDECREF(binds);
    Py_DECREF(c);
    return NULL;
}

static int
capture_enter_at(ds_capture_obj *c, PyObject *frame)
{
    Py_ssize_t n = PyTuple_Size(c->binds);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (ds_bind_enter_at(PyTuple_GetItem(c->binds, i), frame) < 0) {
            while (--i >= 0) {
                ds_bind_exit(PyTuple_GetItem(c->binds, i));
            }
            return -1;
        }
    }
    return 0;
}

static void
capture_exit(ds_capture_obj *c)
{
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    for (Py_ssize_t i = PyTuple_Size(c->binds) - 1; i >= 0; i--) {
        if (ds_bind_exit(PyTuple_GetItem(c->binds, i)) < 0) {
            PyErr_WriteUnraisable((PyObject *)c);
        }
    }
    PyErr_Restore(et, ev, tb);
}

/* Calls fn(*args, **kwargs) inside capture c, from the current frame. */
static PyObject *
call_inside(PyObject *cap, PyObject *fn, PyObject *args, PyObject *kwargs)
{
    ds_capture_obj *c = (ds_capture_obj *)cap;
    PyObject *frame = (PyObject *)PyEval_GetFrame();
    if (frame == NULL) {
        PyObject *kw = kwargs != NULL ? kwargs : Py_None;
        return PyObject_CallFunctionObjArgs(call_in, cap, fn, args, kw, NULL);
    }
    if (capture_enter_at(c, frame) < 0) {
        return NULL;
    }
    PyObject *r = PyObject_Call(fn, args, kwargs);
    capture_exit(c);
    return r;
}

static PyObject *
capture_py_enter(PyObject *self, PyObject *unused)
{
    PyObject *frame = (PyObject *)PyEval_GetFrame();
    if (frame == NULL) {
        PyErr_SetString(PyExc_RuntimeError,
                        "dynscope: no Python frame to bind in");
        return NULL;
    }
    PyObject *owner = ds_owner_frame(frame);
    int r = capture_enter_at((ds_capture_obj *)self, owner);
    Py_DECREF(owner);
    if (r < 0) {
        return NULL;
    }
    Py_INCREF(self);
    return self;
}

static PyObject *
capture_py_exit(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    capture_exit((ds_capture_obj *)self);
    Py_RETURN_FALSE;
}

static PyObject *
capture_run(PyObject *self, PyObject *args, PyObject *kwargs)
{
    Py_ssize_t n = PyTuple_Size(args);
    if (n < 1) {
        PyErr_SetString(PyExc_TypeError,
                        "run(fn, /, *args, **kwargs) needs fn");
        return NULL;
    }
    PyObject *rest = PyTuple_GetSlice(args, 1, n);
    if (rest == NULL) {
        return NULL;
    }
    PyObject *r = call_inside(self, PyTuple_GetItem(args, 0), rest, kwargs);
    Py_DECREF(rest);
    return r;
}

static PyObject *
capture_bindings(PyObject *self, void *unused)
{
    return PyDict_Copy(((ds_capture_obj *)self)->dflt);
}

static int
capture_traverse(ds_capture_obj *c, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE((PyObject *)c));
    Py_VISIT(c->binds);
    Py_VISIT(c->dflt);
    return 0;
}

static int
capture_clear(ds_capture_obj *c)
{
    Py_CLEAR(c->binds);
    Py_CLEAR(c->dflt);
    return 0;
}

static void
capture_dealloc(ds_capture_obj *c)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)c);
    PyObject_GC_UnTrack((PyObject *)c);
    capture_clear(c);
    PyObject_GC_Del(c);
    Py_DECREF(tp);
}

static PyObject *
capture_repr(PyObject *self)
{
    return PyUnicode_FromFormat("<dynscope.Capture %R>",
                                ((ds_capture_obj *)self)->dflt);
}

static PyMethodDef capture_methods[] = {
    {"__enter__", capture_py_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)(void (*)(void))capture_py_exit, METH_FASTCALL,
     NULL},
    {"run", (PyCFunction)(void (*)(void))capture_run,
     METH_VARARGS | METH_KEYWORDS,
     "run(fn, /, *args, **kwargs): call fn inside the captured bindings"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef capture_getset[] = {
    {"bindings", capture_bindings, NULL,
     "the captured bindings of dynscope.dynamic, as a new dict", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot capture_slots[] = {
    {Py_tp_traverse, capture_traverse},
    {Py_tp_clear, capture_clear},
    {Py_tp_dealloc, capture_dealloc},
    {Py_tp_repr, capture_repr},
    {Py_tp_methods, capture_methods},
    {Py_tp_getset, capture_getset},
    {Py_tp_doc, "Bindings captured by dynscope.capture(): `with c:` or "
                "c.run(fn, *args) re-enters them."},
    {0, NULL},
};

static PyType_Spec capture_spec = {
    .name = "dynscope.Capture",
    .basicsize = sizeof(ds_capture_obj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = capture_slots,
};

/* ---- coroutine / generator wrapper --------------------------------------- */

static PyObject *
coro_new(PyObject *capture, PyObject *inner)
{
    ds_coro *w = PyObject_GC_New(ds_coro, ds_global->coro_type);
    if (w == NULL) {
        return NULL;
    }
    Py_INCREF(capture);
    w->capture = capture;
    Py_INCREF(inner);
    w->inner = inner;
    w->weakreflist = NULL;
    PyObject_GC_Track((PyObject *)w);
    return (PyObject *)w;
}

static int
is_resumable(PyObject *o)
{
    /* Generators, coroutines and anything else driven by send/throw. */
    int a = PyObject_HasAttrString(o, "send");
    return a && PyObject_HasAttrString(o, "throw");
}

/* One step of the inner object, inside the capture. */
static PyObject *
coro_step(ds_coro *w, const char *meth, PyObject *args)
{
    PyObject *fn = PyObject_GetAttrString(w->inner, meth);
    if (fn == NULL) {
        return NULL;
    }
    PyObject *r = call_inside(w->capture, fn, args, NULL);
    Py_DECREF(fn);
    return r;
}

static PyObject *
coro_send(PyObject *self, PyObject *value)
{
    PyObject *args = PyTuple_Pack(1, value);
    if (args == NULL) {
        return NULL;
    }
    PyObject *r = coro_step((ds_coro *)self, "send", args);
    Py_DECREF(args);
    return r;
}

static PyObject *
coro_throw(PyObject *self, PyObject *args)
{
    return coro_step((ds_coro *)self, "throw", args);
}

static PyObject *
coro_close(PyObject *self, PyObject *unused)
{
    ds_coro *w = (ds_coro *)self;
    if (!PyObject_HasAttrString(w->inner, "close")) {
        Py_RETURN_NONE;
    }
    PyObject *args = PyTuple_New(0);
    if (args == NULL) {
        return NULL;
    }
    PyObject *r = coro_step(w, "close", args);
    Py_DECREF(args);
    return r;
}

static PyObject *
coro_iternext(PyObject *self)
{
    /* send(None) rather than next(): coroutines are not iterators. */
    return coro_send(self, Py_None);
}

static PyObject *
coro_self(PyObject *self, PyObject *unused)
{
    Py_INCREF(self);
    return self;
}

static PyObject *
coro_iter(PyObject *self)
{
    Py_INCREF(self);
    return self;
}

static PyObject *
coro_getattro(PyObject *self, PyObject *name)
{
    /* cr_code, __qualname__, gi_frame...: asyncio's reprs and debuggers
     * look at these; answer for the wrapped object. */
    PyObject *r = PyObject_GenericGetAttr(self, name);
    if (r == NULL && PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        r = PyObject_GetAttr(((ds_coro *)self)->inner, name);
    }
    return r;
}

static PyObject *
coro_repr(PyObject *self)
{
    return PyUnicode_FromFormat("<dynscope.wrap %R>",
                                ((ds_coro *)self)->inner);
}

static int
coro_traverse(ds_coro *w, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE((PyObject *)w));
    Py_VISIT(w->capture);
    Py_VISIT(w->inner);
    return 0;
}

static int
coro_clear(ds_coro *w)
{
    Py_CLEAR(w->capture);
    Py_CLEAR(w->inner);
    return 0;
}

static void
coro_dealloc(ds_coro *w)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)w);
    PyObject_GC_UnTrack((PyObject *)w);
    if (w->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)w);
    }
    coro_clear(w);
    PyObject_GC_Del(w);
    Py_DECREF(tp);
}

static PyMethodDef coro_methods[] = {
    {"send", coro_send, METH_O, NULL},
    {"throw", coro_throw, METH_VARARGS, NULL},
    {"close", coro_close, METH_NOARGS, NULL},
    {"__await__", coro_self, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef coro_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(ds_coro, weakreflist),
     READONLY, NULL},
    {"__wrapped__", T_OBJECT, offsetof(ds_coro, inner), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot coro_slots[] = {
    {Py_tp_traverse, coro_traverse},
    {Py_tp_clear, coro_clear},
    {Py_tp_dealloc, coro_dealloc},
    {Py_tp_repr, coro_repr},
    {Py_tp_iter, coro_iter},
    {Py_tp_iternext, coro_iternext},
    {Py_tp_getattro, coro_getattro},
    {Py_tp_methods, coro_methods},
    {Py_tp_members, coro_members},
    {Py_am_await, coro_iter},
    {Py_tp_doc, "A coroutine or generator that runs each step inside captured "
                "bindings (dynscope.wrap)."},
    {0, NULL},
};

static PyType_Spec coro_spec = {
    .name = "dynscope.WrappedCoroutine",
    .basicsize = sizeof(ds_coro),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = coro_slots,
};

/* ---- wrapped callable ------------------------------------------------------ */

static PyObject *
wrapped_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    ds_wrapped *w = (ds_wrapped *)self;
    PyObject *r = call_inside(w->capture, w->fn, args, kwargs);
    if (r == NULL) {
        return NULL;
    }
    /* An async function (or generator function) only made its coroutine:
     * the body runs later, step by step, so the steps carry the capture. */
    if (is_resumable(r)) {
        PyObject *c = coro_new(w->capture, r);
        Py_DECREF(r);
        return c;
    }
    return r;
}

static PyObject *
wrapped_getattro(PyObject *self, PyObject *name)
{
    PyObject *r = PyObject_GenericGetAttr(self, name);
    if (r == NULL && PyErr_ExceptionMatches(PyExc_AttributeError)) {
        PyErr_Clear();
        r = PyObject_GetAttr(((ds_wrapped *)self)->fn, name);
    }
    return r;
}

static PyObject *
wrapped_repr(PyObject *self)
{
    return PyUnicode_FromFormat("<dynscope.wrap %R>",
                                ((ds_wrapped *)self)->fn);
}

static int
wrapped_traverse(ds_wrapped *w, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE((PyObject *)w));
    Py_VISIT(w->capture);
    Py_VISIT(w->fn);
    return 0;
}

static int
wrapped_clear(ds_wrapped *w)
{
    Py_CLEAR(w->capture);
    Py_CLEAR(w->fn);
    return 0;
}

static void
wrapped_dealloc(ds_wrapped *w)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)w);
    PyObject_GC_UnTrack((PyObject *)w);
    if (w->weakreflist != NULL) {
        PyObject_ClearWeakRefs((PyObject *)w);
    }
    wrapped_clear(w);
    PyObject_GC_Del(w);
    Py_DECREF(tp);
}

static PyMemberDef wrapped_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(ds_wrapped, weakreflist),
     READONLY, NULL},
    {"__wrapped__", T_OBJECT, offsetof(ds_wrapped, fn), READONLY, NULL},
    {"capture", T_OBJECT, offsetof(ds_wrapped, capture), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyType_Slot wrapped_slots[] = {
    {Py_tp_call, wrapped_call},
    {Py_tp_traverse, wrapped_traverse},
    {Py_tp_clear, wrapped_clear},
    {Py_tp_dealloc, wrapped_dealloc},
    {Py_tp_repr, wrapped_repr},
    {Py_tp_getattro, wrapped_getattro},
    {Py_tp_members, wrapped_members},
    {Py_tp_doc,
     "A callable that runs inside captured bindings (dynscope.wrap)."},
    {0, NULL},
};

static PyType_Spec wrapped_spec = {
    .name = "dynscope.Wrapped",
    .basicsize = sizeof(ds_wrapped),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = wrapped_slots,
};

PyObject *
ds_wrap(PyObject *fn, int skip)
{
    PyObject *cap = ds_capture(skip);
    if (cap == NULL) {
        return NULL;
    }
    PyObject *r;
    if (is_resumable(fn)) {
        r = coro_new(cap, fn);
    }
    else if (PyCallable_Check(fn)) {
        ds_wrapped *w = PyObject_GC_New(ds_wrapped, ds_global->wrapped_type);
        if (w != NULL) {
            Py_INCREF(cap);
            w->capture = cap;
            Py_INCREF(fn);
            w->fn = fn;
            w->weakreflist = NULL;
            PyObject_GC_Track((PyObject *)w);
        }
        r = (PyObject *)w;
    }
    else {
        PyErr_Format(PyExc_TypeError,
                     "wrap() needs a callable, coroutine or "
                     "generator, not %R",
                     fn);
        r = NULL;
    }
    Py_DECREF(cap);
    return r;
}

/* task_factory(loop, coro, **kwargs) for loop.set_task_factory(). */
static PyObject *
task_factory(PyObject *m, PyObject *args, PyObject *kwargs)
{
    PyObject *loop, *coro;
    if (!PyArg_UnpackTuple(args, "task_factory", 2, 2, &loop, &coro)) {
        return NULL;
    }
    /* Our caller is loop.create_task(); its caller made the task. */
    PyObject *wrapped = ds_wrap(coro, 0);
    if (wrapped == NULL) {
        return NULL;
    }
    PyObject *asyncio = PyImport_ImportModule("asyncio");
    PyObject *task_type =
        asyncio ? PyObject_GetAttrString(asyncio, "Task") : NULL;
    Py_XDECREF(asyncio);
    PyObject *r = NULL;
    if (task_type != NULL) {
        PyObject *targs = PyTuple_Pack(1, wrapped);
        PyObject *kw = kwargs ? PyDict_Copy(kwargs) : PyDict_New();
        if (targs != NULL && kw != NULL &&
            PyDict_SetItemString(kw, "loop", loop) == 0) {
            r = PyObject_Call(task_type, targs, kw);
        }
        Py_XDECREF(targs);
        Py_XDECREF(kw);
        Py_DECREF(task_type);
    }
    Py_DECREF(wrapped);
    return r;
}

static PyMethodDef capture_module_methods[] = {
    {"task_factory", (PyCFunction)(void (*)(void))task_factory,
     METH_VARARGS | METH_KEYWORDS,
     "task_factory(loop, coro, **kwargs)\n\nFor loop.set_task_factory(): each "
     "new task runs inside the bindings visible where it was created."},
    {NULL, NULL, 0, NULL},
};

int
ds_capture_init_type(PyObject *m, ds_state *s)
{
    s->capture_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(m, &capture_spec, NULL);
    s->wrapped_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(m, &wrapped_spec, NULL);
    s->coro_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(m, &coro_spec, NULL);
    if (s->capture_type == NULL || s->wrapped_type == NULL ||
        s->coro_type == NULL) {
        return -1;
    }
    if (PyModule_AddObjectRef(m, "Capture", (PyObject *)s->capture_type) < 0 ||
        PyModule_AddFunctions(m, capture_module_methods) < 0) {
        return -1;
    }
    /* The frameless trampoline, compiled once. */
    PyObject *code =
        Py_CompileString(call_in_src, "<dynscope>", Py_file_input);
    if (code == NULL) {
        return -1;
    }
    PyObject *g = PyDict_New();
    if (g == NULL ||
        PyDict_SetItemString(g, "__builtins__", PyEval_GetBuiltins()) < 0) {
        Py_XDECREF(g);
        Py_DECREF(code);
        return -1;
    }
    PyObject *r = PyEval_EvalCode(code, g, g);
    Py_DECREF(code);
    if (r == NULL) {
        Py_DECREF(g);
        return -1;
    }
    Py_DECREF(r);
    call_in = PyDict_GetItemString(g, "_call_in");
    Py_XINCREF(call_in);
    Py_DECREF(g);
    return call_in == NULL ? -1 : 0;
}
