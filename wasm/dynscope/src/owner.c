/* Which frame owns a binding entered by __enter__.
 *
 * A with-statement calls a C __enter__ with the with-statement's frame
 * current, and that frame is the owner.  But context managers are often
 * built from other context managers, and then the frame calling
 * Binding.__enter__ is a helper that returns before the with-body runs:
 *   - a class whose __enter__ enters a bind (or an ExitStack's
 *     enter_context(bind(...))): the helper frame is gone at once;
 *   - @contextmanager / @asynccontextmanager: the binding is made inside a
 *     generator that contextlib's __enter__ resumes and that stays
 *     suspended (S3: not visible) while the with-body runs.
 * In both the binding is meant for the with-statement, so ownership moves
 * up past such frames: a frame running __enter__, __aenter__,
 * enter_context or enter_async_context; and past a generator or coroutine
 * only when the frame resuming it is contextlib's own
 * _GeneratorContextManager.__enter__ or
 * _AsyncGeneratorContextManager.__aenter__, the two places where the
 * generator *is* the context manager.  Any other __enter__ that pulls from
 * an iterator (`return next(self.gen)`) is an ordinary resumer, and the
 * generator keeps its binding (S3).  Those two are told by the identity of
 * their code objects, not by name.  The kind of a code object is cached by
 * address (holding the code object, so the address stays valid), which
 * keeps the check to a pointer comparison on the hot path.
 */
#define Py_LIMITED_API 0x030B0000
#include "dynscope.h"

enum { KIND_PLAIN, KIND_ENTER, KIND_DRIVER, KIND_RESUMABLE };

#define CO_GENERATOR_FLAG 0x0020
#define CO_COROUTINE_FLAG 0x0080
#define CO_ASYNC_GENERATOR_FLAG 0x0200

#define KIND_CACHE 256
static struct {
    PyObject *code; /* strong */
    int kind;
} cache[KIND_CACHE];

static const char *const enter_names[] = {
    "__enter__", "__aenter__", "enter_context", "enter_async_context", NULL,
};

/* contextlib's (class, method) pairs whose method resumes the generator
 * that is the context manager. */
static const char *const drivers[][2] = {
    {"_GeneratorContextManager", "__enter__"},
    {"_AsyncGeneratorContextManager", "__aenter__"},
};

/* Whether code is one of the drivers of the contextlib in sys.modules (a
 * frame running contextlib's code means it was imported; it is never
 * imported from here). */
static int
is_contextlib_driver(PyObject *code)
{
    PyObject *name = PyUnicode_FromString("contextlib");
    PyObject *mod = name ? PyImport_GetModule(name) : NULL;
    Py_XDECREF(name);
    int found = 0;
    for (size_t i = 0;
         mod != NULL && !found && i < sizeof(drivers) / sizeof(drivers[0]);
         i++) {
        PyObject *cls = PyObject_GetAttrString(mod, drivers[i][0]);
        PyObject *fn = cls ? PyObject_GetAttrString(cls, drivers[i][1]) : NULL;
        PyObject *c = fn ? PyObject_GetAttrString(fn, "__code__") : NULL;
        found = c == code;
        Py_XDECREF(c);
        Py_XDECREF(fn);
        Py_XDECREF(cls);
    }
    Py_XDECREF(mod);
    PyErr_Clear();
    return found;
}

static int
compute_kind(PyObject *code)
{
    PyObject *name = PyObject_GetAttrString(code, "co_name");
    PyObject *flags = name ? PyObject_GetAttrString(code, "co_flags") : NULL;
    int kind = KIND_PLAIN;
    if (flags != NULL) {
        long f = PyLong_AsLong(flags);
        for (int i = 0; enter_names[i] != NULL; i++) {
            if (PyUnicode_CompareWithASCIIString(name, enter_names[i]) == 0) {
                kind = is_contextlib_driver(code) ? KIND_DRIVER : KIND_ENTER;
                break;
            }
        }
        if (kind == KIND_PLAIN && (f & (CO_GENERATOR_FLAG | CO_COROUTINE_FLAG |
                                        CO_ASYNC_GENERATOR_FLAG))) {
            kind = KIND_RESUMABLE;
        }
    }
    Py_XDECREF(name);
    Py_XDECREF(flags);
    PyErr_Clear();
    return kind;
}

static int
frame_kind(PyObject *frame)
{
    PyObject *code = (PyObject *)PyFrame_GetCode((PyFrameObject *)frame);
    size_t i = ((uintptr_t)code >> 4) % KIND_CACHE;
    if (cache[i].code == code) {
        Py_DECREF(code);
        return cache[i].kind;
    }
    int kind = compute_kind(code);
    PyObject *old = cache[i].code;
    cache[i].code = code; /* keeps our reference */
    cache[i].kind = kind;
    Py_XDECREF(old);
    return kind;
}

PyObject *
ds_owner_frame(PyObject *frame)
{
    Py_INCREF(frame);
    /* Bounded: a pathological chain of __enter__s stops somewhere. */
    for (int guard = 0; guard < 16; guard++) {
        int kind = frame_kind(frame);
        if (kind == KIND_PLAIN) {
            break;
        }
        PyObject *back = ds_frame_back(frame);
        if (back == NULL) {
            PyErr_Clear();
            break;
        }
        if (kind == KIND_RESUMABLE && frame_kind(back) != KIND_DRIVER) {
            Py_DECREF(back);
            break;
        }
        Py_DECREF(frame);
        frame = back;
    }
    return frame;
}
