/* Which frame owns a binding entered by __enter__.
 *
 * A with-statement calls a C __enter__ with the with-statement's frame
 * current, and that frame is the owner.  But context managers are often
 * built from other context managers, and then the frame calling
 * Binding.__enter__ is a helper that returns before the with-body runs:
 *   - a class whose __enter__ enters a bind (or an ExitStack's
 *     enter_context(bind(...))): the helper frame is gone at once;
 *   - @contextmanager / @asynccontextmanager: the binding is made inside a
 *     generator that __enter__ resumes and that stays suspended (S3: not
 *     visible) while the with-body runs.
 * In both the binding is meant for the with-statement, so ownership moves
 * up past such frames: a frame running __enter__, __aenter__,
 * enter_context or enter_async_context, and a generator or coroutine
 * frame that such a frame is resuming.  S3 still holds for every other
 * generator.  The kind of a code object is cached by address (holding the
 * code object, so the address stays valid), which keeps the check to a
 * pointer comparison on the hot path.
 */
#define Py_LIMITED_API 0x030B0000
#include "dynscope.h"

enum { KIND_PLAIN, KIND_ENTER, KIND_RESUMABLE };

#define CO_GENERATOR_FLAG 0x0020
#define CO_COROUTINE_FLAG 0x0080
#define CO_ASYNC_GENERATOR_FLAG 0x0200

#define KIND_CACHE 256
static struct {
    PyObject *code;     /* strong */
    int kind;
} cache[KIND_CACHE];

static const char *const enter_names[] = {
    "__enter__", "__aenter__", "enter_context", "enter_async_context", NULL,
};

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
                kind = KIND_ENTER;
                break;
            }
        }
        if (kind == KIND_PLAIN &&
            (f & (CO_GENERATOR_FLAG | CO_COROUTINE_FLAG | CO_ASYNC_GENERATOR_FLAG))) {
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
    cache[i].code = code;       /* keeps our reference */
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
        if (kind == KIND_RESUMABLE && frame_kind(back) != KIND_ENTER) {
            Py_DECREF(back);
            break;
        }
        Py_DECREF(frame);
        frame = back;
    }
    return frame;
}
