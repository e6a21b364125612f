/* install_task_conveyance(loop=None): asyncio tasks see the bindings
 * visible where they were created.
 *
 * A task is resumed by the event loop's frames, not by the frame that made
 * it, so by default it sees only the bindings around the loop.  Installed
 * on a loop, every task the loop creates gets its coroutine wrapped at
 * creation (dynscope.wrap): the bindings visible to the creating frame are
 * captured then (Clojure's binding conveyance to futures) and re-entered
 * around each step of the task, under the task's own frames, so they are
 * the root of the task's lookups and the task's own bindings stay its own
 * (S3: nothing is left behind at a suspension).
 *
 * Two ways to hook a loop's create_task, the one every path takes (gather,
 * ensure_future, TaskGroup, wait_for, loop.create_task):
 *   - a task factory, for loops whose create_task is asyncio's own
 *     (BaseEventLoop), chaining any factory already set;
 *   - otherwise an instance attribute wrapping the bound create_task, for
 *     loops whose create_task mishandles factories (Pyodide 314's WebLoop
 *     calls asyncio.tasks._set_task_name, gone in 3.14) or overrides it;
 *     a loop without an instance dict falls back to the factory.
 * Installing twice is a no-op.
 */
#define Py_LIMITED_API 0x030B0000
#include "dynscope.h"

enum { AS_FACTORY, AS_METHOD };

typedef struct {
    PyObject_HEAD int mode;
    PyObject
        *target; /* the previous factory (or NULL), or the bound create_task */
} ds_conveyance;

static PyTypeObject *conveyance_type = NULL;

static PyObject *
conveyance_new(int mode, PyObject *target)
{
    ds_conveyance *c = PyObject_GC_New(ds_conveyance, conveyance_type);
    if (c == NULL) {
        return NULL;
    }
    c->mode = mode;
    Py_XINCREF(target);
    c->target = target;
    PyObject_GC_Track((PyObject *)c);
    return (PyObject *)c;
}

/* The coroutine, wrapped in the bindings visible now; anything that is not
 * a coroutine goes through unchanged, for the loop to refuse in its words. */
static PyObject *
convey(PyObject *coro)
{
    if (PyObject_HasAttrString(coro, "send") &&
        PyObject_HasAttrString(coro, "throw")) {
        return ds_wrap(coro, 0);
    }
    Py_INCREF(coro);
    return coro;
}

/* Calls fn(*head, wrapped, *rest_of_args) with the same keywords. */
static PyObject *
call_with_wrapped(PyObject *fn, PyObject *head, PyObject *args, Py_ssize_t at,
                  PyObject *kwargs)
{
    Py_ssize_t n = PyTuple_Size(args);
    PyObject *wrapped = convey(PyTuple_GetItem(args, at));
    if (wrapped == NULL) {
        return NULL;
    }
    Py_ssize_t extra = head != NULL ? 1 : 0;
    PyObject *call = PyTuple_New(n - at + extra);
    if (call == NULL) {
        Py_DECREF(wrapped);
        return NULL;
    }
    if (head != NULL) {
        Py_INCREF(head);
        PyTuple_SetItem(call, 0, head);
    }
    PyTuple_SetItem(call, extra, wrapped);
    for (Py_ssize_t i = at + 1; i < n; i++) {
        PyObject *a = PyTuple_GetItem(args, i);
        Py_INCREF(a);
        PyTuple_SetItem(call, extra + i - at, a);
    }
    PyObject *r = PyObject_Call(fn, call, kwargs);
    Py_DECREF(call);
    return r;
}

static PyObject *
conveyance_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    ds_conveyance *c = (ds_conveyance *)self;
    Py_ssize_t n = PyTuple_Size(args);
    if (c->mode == AS_METHOD) {
        /* create_task(coro, ...) */
        if (n < 1) {
            PyErr_SetString(PyExc_TypeError,
                            "create_task() needs a coroutine");
            return NULL;
        }
        return call_with_wrapped(c->target, NULL, args, 0, kwargs);
    }
    /* factory(loop, coro, **kwargs) */
    if (n != 2) {
        PyErr_SetString(PyExc_TypeError,
                        "task factory: (loop, coro, **kwargs)");
        return NULL;
    }
    PyObject *loop = PyTuple_GetItem(args, 0);
    if (c->target != NULL) {
        return call_with_wrapped(c->target, loop, args, 1, kwargs);
    }
    PyObject *asyncio = PyImport_ImportModule("asyncio");
    PyObject *task = asyncio ? PyObject_GetAttrString(asyncio, "Task") : NULL;
    Py_XDECREF(asyncio);
    PyObject *kw = task ? (kwargs ? PyDict_Copy(kwargs) : PyDict_New()) : NULL;
    PyObject *r = NULL;
    if (kw != NULL && PyDict_SetItemString(kw, "loop", loop) == 0) {
        PyObject *one = PyTuple_GetSlice(args, 1, 2);
        r = one ? call_with_wrapped(task, NULL, one, 0, kw) : NULL;
        Py_XDECREF(one);
    }
    Py_XDECREF(kw);
    Py_XDECREF(task);
    return r;
}

static int
conveyance_traverse(ds_conveyance *c, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE((PyObject *)c));
    Py_VISIT(c->target);
    return 0;
}

static int
conveyance_clear(ds_conveyance *c)
{
    Py_CLEAR(c->target);
    return 0;
}

static void
conveyance_dealloc(ds_conveyance *c)
{
    PyTypeObject *tp = Py_TYPE((PyObject *)c);
    PyObject_GC_UnTrack((PyObject *)c);
    conveyance_clear(c);
    PyObject_GC_Del(c);
    Py_DECREF(tp);
}

static PyObject *
conveyance_repr(PyObject *self)
{
    ds_conveyance *c = (ds_conveyance *)self;
    return PyUnicode_FromFormat("<dynscope task conveyance (%s) of %R>",
                                c->mode == AS_METHOD ? "create_task"
                                                     : "task factory",
                                c->target ? c->target : Py_None);
}

static PyType_Slot conveyance_slots[] = {
    {Py_tp_call, conveyance_call},
    {Py_tp_traverse, conveyance_traverse},
    {Py_tp_clear, conveyance_clear},
    {Py_tp_dealloc, conveyance_dealloc},
    {Py_tp_repr, conveyance_repr},
    {Py_tp_doc,
     "Made by install_task_conveyance(): a loop's create_task or "
     "task factory that conveys the creator's bindings to the task."},
    {0, NULL},
};

static PyType_Spec conveyance_spec = {
    .name = "dynscope.TaskConveyance",
    .basicsize = sizeof(ds_conveyance),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC |
             Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = conveyance_slots,
};

/* Whether loop.create_task is asyncio.BaseEventLoop's own. */
static int
stock_create_task(PyObject *asyncio, PyObject *loop)
{
    PyObject *base = PyObject_GetAttrString(asyncio, "BaseEventLoop");
    if (base == NULL) {
        return -1;
    }
    int r = PyObject_IsInstance(loop, base);
    if (r == 1) {
        PyObject *mine =
            PyObject_GetAttrString((PyObject *)Py_TYPE(loop), "create_task");
        PyObject *stock =
            mine ? PyObject_GetAttrString(base, "create_task") : NULL;
        r = stock == NULL ? -1 : mine == stock;
        Py_XDECREF(mine);
        Py_XDECREF(stock);
        if (r == 1) {
            /* Not shadowed on the instance (by an earlier install, say). */
            PyObject *d = PyObject_GenericGetDict(loop, NULL);
            if (d == NULL) {
                PyErr_Clear();
            }
            else {
                r = PyDict_GetItemString(d, "create_task") == NULL;
                Py_DECREF(d);
            }
        }
    }
    Py_DECREF(base);
    return r;
}

static int
install_factory(PyObject *loop)
{
    PyObject *prev = PyObject_CallMethod(loop, "get_task_factory", NULL);
    if (prev == NULL) {
        return -1;
    }
    int r = 0;
    if (Py_TYPE(prev) != conveyance_type) {
        PyObject *c =
            conveyance_new(AS_FACTORY, prev == Py_None ? NULL : prev);
        PyObject *res =
            c ? PyObject_CallMethod(loop, "set_task_factory", "O", c) : NULL;
        r = res == NULL ? -1 : 0;
        Py_XDECREF(res);
        Py_XDECREF(c);
    }
    Py_DECREF(prev);
    return r;
}

static int
install_method(PyObject *loop)
{
    PyObject *cur = PyObject_GetAttrString(loop, "create_task");
    if (cur == NULL) {
        return -1;
    }
    int r = 0;
    if (Py_TYPE(cur) != conveyance_type) {
        PyObject *c = conveyance_new(AS_METHOD, cur);
        r = c ? PyObject_SetAttrString(loop, "create_task", c) : -1;
        Py_XDECREF(c);
    }
    Py_DECREF(cur);
    return r;
}

static PyObject *
install_task_conveyance(PyObject *m, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"loop", NULL};
    PyObject *loop = Py_None;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "|O:install_task_conveyance", kwlist, &loop)) {
        return NULL;
    }
    PyObject *asyncio = PyImport_ImportModule("asyncio");
    if (asyncio == NULL) {
        return NULL;
    }
    if (loop == Py_None) {
        loop = PyObject_CallMethod(asyncio, "get_running_loop", NULL);
        if (loop == NULL) {
            if (PyErr_ExceptionMatches(PyExc_RuntimeError)) {
                PyErr_Clear();
                PyErr_SetString(
                    PyExc_RuntimeError,
                    "install_task_conveyance(): no running event loop; "
                    "pass the loop");
            }
            Py_DECREF(asyncio);
            return NULL;
        }
    }
    else {
        Py_INCREF(loop);
    }
    int stock = stock_create_task(asyncio, loop);
    int r = -1;
    if (stock == 1) {
        r = install_factory(loop);
    }
    else if (stock == 0) {
        r = install_method(loop);
        if (r < 0 && PyErr_ExceptionMatches(PyExc_AttributeError) &&
            PyObject_HasAttrString(loop, "set_task_factory")) {
            /* No instance dict (a C loop): its factory hook, then. */
            PyErr_Clear();
            r = install_factory(loop);
        }
        else if (r < 0 && PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Clear();
            PyErr_Format(
                PyExc_TypeError,
                "install_task_conveyance(): %R has neither a replaceable "
                "create_task nor set_task_factory",
                loop);
        }
    }
    Py_DECREF(loop);
    Py_DECREF(asyncio);
    if (r < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef conveyance_methods[] = {
    {"install_task_conveyance",
     (PyCFunction)(void (*)(void))install_task_conveyance,
     METH_VARARGS | METH_KEYWORDS,
     "install_task_conveyance(loop=None)\n\nEvery task the loop (default: the "
     "running one) creates sees the bindings visible where it was created, "
     "captured then; the task's own bindings stay its own."},
    {NULL, NULL, 0, NULL},
};

int
ds_conveyance_init_type(PyObject *m, ds_state *s)
{
    conveyance_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(m, &conveyance_spec, NULL);
    if (conveyance_type == NULL) {
        return -1;
    }
    if (PyModule_AddObjectRef(m, "TaskConveyance",
                              (PyObject *)conveyance_type) < 0) {
        return -1;
    }
    return PyModule_AddFunctions(m, conveyance_methods);
}
