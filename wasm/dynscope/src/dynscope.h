/* dynscope: dynamic scoping for CPython 3.11+ under the Limited API.
 *
 * Model (docs/dynamic-scope.md, "the exc_info model"): a binding belongs to
 * the frame that made it; a lookup walks the live call stack innermost first
 * and returns the first binding it meets.  Nothing is ever written into a
 * frame's locals or globals.
 *
 * Data layout, per store (the shared core of a namespace):
 *   counts  dict name -> counter of the live bindings of that name.  A name
 *           at zero (or absent) has no binding anywhere, so a miss costs one
 *           dict probe and never walks the stack.
 *   frames  open-addressing table frame pointer -> ds_framerec, so each step
 *           of a walk is one probe.
 * A ds_framerec lists the frame's bindings innermost first: a chain of
 * layers (one per entered bind()/capture) and, outermost, the frame's
 * set_here() dict, which lives as long as the frame object does.
 *
 * Every .c file defines Py_LIMITED_API itself before including this header
 * (the #error below checks it), so the module is one abi3 binary for
 * 3.11-3.14.
 */
#ifndef DYNSCOPE_H
#define DYNSCOPE_H

#ifndef Py_LIMITED_API
#error "define Py_LIMITED_API 0x030B0000 before including dynscope.h"
#endif
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <wchar.h>
#include <string.h>
#include <structmember.h>

#define DYNSCOPE_VERSION "0.1.0"

/* The wasm build compiles against host headers with a rewritten pyconfig.h
 * (gen-wasm-include.cmake): catch any size it got wrong at compile time. */
_Static_assert(SIZEOF_VOID_P == sizeof(void *), "pyconfig.h: SIZEOF_VOID_P");
_Static_assert(SIZEOF_SIZE_T == sizeof(size_t), "pyconfig.h: SIZEOF_SIZE_T");
_Static_assert(SIZEOF_LONG == sizeof(long), "pyconfig.h: SIZEOF_LONG");
_Static_assert(SIZEOF_INT == sizeof(int), "pyconfig.h: SIZEOF_INT");
_Static_assert(SIZEOF_LONG_LONG == sizeof(long long),
               "pyconfig.h: SIZEOF_LONG_LONG");
_Static_assert(SIZEOF_WCHAR_T == sizeof(wchar_t),
               "pyconfig.h: SIZEOF_WCHAR_T");
_Static_assert(SIZEOF_UINTPTR_T == sizeof(uintptr_t),
               "pyconfig.h: SIZEOF_UINTPTR_T");

/* ---- frame table (table.c) -------------------------------------------- */

typedef struct ds_layer ds_layer;

struct ds_layer {
    ds_layer *next; /* the next outer layer of the same frame */
    void *frame;    /* owner frame (a key, never dereferenced here) */
    Py_ssize_t n;
    PyObject **names;    /* borrowed from the bind object that made the layer,
                           which outlives all of its layers */
    PyObject **values;   /* n strong refs; assign() replaces in place, unbind()
                           leaves NULL */
    PyObject **counters; /* n strong refs to the store's per-name counters,
                           so that exit needs no dict probe */
    int embedded;        /* lives inside its bind object: not malloc'ed */
    void *rec;           /* the ds_framerec it is pushed on (records do not
                           move, and one holding a layer is never freed) */
};

/* A store's live-binding count for one name.  A mutable object in the
 * counts dict, so entering and leaving a binding never allocates. */
typedef struct {
    PyObject_HEAD Py_ssize_t n;
} ds_counter;

typedef struct {
    void *frame;      /* key: the frame object's address */
    ds_layer *layers; /* innermost first */
    PyObject *here;   /* borrowed from the frame's set_here sentinel */
} ds_framerec;

typedef struct {
    ds_framerec **slots; /* linear probing, NULL = empty */
    size_t mask;         /* capacity - 1, capacity a power of two */
    size_t used;
    ds_framerec *spare; /* one emptied record left in place: a with-block in
                            a loop then reuses it instead of removing and
                            re-inserting its frame every time */
} ds_ftable;

/* Inline: a walk calls it once per stack frame. */
static inline size_t
ds_frame_hash(const void *p)
{
    /* Objects are 16-byte aligned: drop those bits, then mix. */
    uint64_t h = (uint64_t)(uintptr_t)p >> 4;
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 17) ^ (size_t)h;
}

static inline ds_framerec *
ds_ftable_find(const ds_ftable *t, const void *frame)
{
    if (t->used == 0) {
        return NULL;
    }
    size_t i = ds_frame_hash(frame) & t->mask;
    for (;;) {
        ds_framerec *r = t->slots[i];
        if (r == NULL || r->frame == frame) {
            return r;
        }
        i = (i + 1) & t->mask;
    }
}
/* The record for frame, created empty when missing; NULL + MemoryError. */
ds_framerec *ds_ftable_get_or_add(ds_ftable *t, void *frame);
/* Called when a record may have become empty: empty records are dropped
 * (all but the latest, kept as a spare for the next with-block). */
void ds_ftable_prune(ds_ftable *t, ds_framerec *rec);
void ds_ftable_free(ds_ftable *t);

/* A malloc'ed layer with room for n values and counters. */
ds_layer *ds_layer_new(void *frame, Py_ssize_t n, PyObject **names);
/* Releases the values and counters; frees the layer unless embedded. */
void ds_layer_free(ds_layer *layer);

/* ---- stores (store.c) --------------------------------------------------- */

typedef struct ds_store ds_store;

struct ds_store {
    PyObject_HEAD PyObject
        *counts;         /* dict name -> ds_counter; entries at zero are
                             kept for reuse and swept when they pile up */
    Py_ssize_t zeros;    /* counters at zero in counts */
    PyObject *last_name; /* one-entry cache in front of counts (strong) */
    ds_counter *last_counter;
    ds_ftable frames;
    Py_ssize_t live;       /* sum of counts: 0 makes every lookup a miss */
    size_t gen;            /* bumped by every change to the table or to a
                             bound value, so a walk that ran Python code (a
                             key's __eq__) re-probes; scope_version() */
    ds_store *prev, *next; /* all live stores, for capture() */
};

int ds_store_count(ds_store *st, PyObject *name, int delta);
/* 1 if name may have a live binding (count > 0), 0 if surely not, -1 error */
static inline int
ds_store_maybe(ds_store *st, PyObject *name)
{
    if (st->live == 0) {
        return 0;
    }
    PyObject *c = PyDict_GetItemWithError(st->counts, name);
    if (c == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    return ((ds_counter *)c)->n > 0;
}
/* The counter for name, created at zero when missing (borrowed). */
ds_counter *ds_store_counter(ds_store *st, PyObject *name);
void ds_counter_add(ds_store *st, ds_counter *c, int delta);
ds_store *ds_store_new(void);
int ds_layer_push(ds_store *st, ds_layer *layer);
/* Unlinks layer from its frame record (wherever it sits in the chain, so
 * out-of-order exits are fine) and updates the counts.  Does not free. */
void ds_layer_pop(ds_store *st, ds_layer *layer);

/* ---- walking (walk.c) ------------------------------------------------- */

/* Where a binding was found, so that assign/unbind can change it. */
typedef struct {
    ds_framerec *rec;
    ds_layer *layer; /* NULL when found in rec->here */
    Py_ssize_t index;
    PyObject *frame; /* borrowed, valid until the caller returns */
} ds_where;

/* The frame `skip` steps above the caller, as a new reference (NULL with no
 * error when the stack is shorter). */
PyObject *ds_caller_frame(int skip);
/* f_back as a new reference, NULL at the bottom (error set on failure). */
PyObject *ds_frame_back(PyObject *frame);
/* Walks from `start` (a new reference, consumed).  Returns 1 and the value
 * (borrowed) on a hit, 0 on a miss, -1 on error. */
int ds_walk_find(ds_store *st, PyObject *start, PyObject *name,
                 PyObject **value, ds_where *where);
/* Full lookup from the caller's frame (skip extra frames), fast miss. */
int ds_lookup(ds_store *st, PyObject *name, int skip, PyObject **value);

/* ---- module state (module.c) ------------------------------------------ */

typedef struct {
    PyObject *frame_type;   /* type(sys._getframe()) */
    PyObject *f_back_descr; /* its f_back getset descriptor */
    descrgetfunc f_back_get;
    PyObject *str_dysco_prefix;
    PyObject *str_f_trace, *str_f_code, *str_co_name, *str_co_filename,
        *str_f_locals, *str_f_globals, *str_function, *str_file, *str_line,
        *str_bindings; /* snapshot keys */
    PyTypeObject *counter_type, *store_type, *namespace_type, *bind_type,
        *here_type, *capture_type, *wrapped_type, *coro_type, *block_type,
        *fallback_type, *dysco_type;
    PyObject *block_cache; /* dict code -> the block's description (block.c) */
    PyObject *ns_type_attrs; /* frozenset: dir(Namespace) */
    PyObject *dynamic;       /* the default Namespace */
    ds_store *default_store; /* borrowed from dynamic */
    ds_store stores_head;    /* list sentinel, only prev/next are used */
} ds_state;

/* The module supports one interpreter; its state is reached through this
 * pointer on the hot paths (a type's slot functions have no module). */
extern ds_state *ds_global;

/* ---- types: each file adds its own -------------------------------------- */

int ds_store_init_type(PyObject *m, ds_state *s);
int ds_namespace_init_type(PyObject *m, ds_state *s);
int ds_bind_init_type(PyObject *m, ds_state *s);
int ds_here_init_type(PyObject *m, ds_state *s);
int ds_capture_init_type(PyObject *m, ds_state *s);
int ds_conveyance_init_type(PyObject *m, ds_state *s);
int ds_block_init_type(PyObject *m, ds_state *s);
int ds_fallback_init_type(PyObject *m, ds_state *s);
/* fallback.c: FallbackBuiltins instances that are exact dicts right now,
 * and what turns them back when the default store's first binding is made. */
extern Py_ssize_t ds_fallback_exact;
void ds_fallback_bound(void);
int ds_dysco_init_type(PyObject *m, ds_state *s);

/* namespace.c */
typedef struct {
    PyObject_HEAD ds_store *store;
    char readonly;
    char shadow;
    int stacklevel; /* frames above the caller that act as "here" */
    PyObject *weakreflist;
} ds_namespace;

ds_namespace *ds_namespace_new(PyTypeObject *type, ds_store *store,
                               int readonly, int shadow, int stacklevel);
int ds_parse_options(PyObject *kwargs, int *readonly, int *shadow,
                     int *stacklevel);
/* New reference to the nearest value; dflt (if not NULL) or exc on a miss. */
PyObject *ds_ns_getvalue(ds_store *st, PyObject *name, int skip,
                         PyObject *dflt, PyObject *exc);
/* Attribute/item assignment and deletion with the namespace's options. */
int ds_ns_setdel(ds_namespace *ns, PyObject *key, PyObject *value,
                 PyObject *exc);
/* Dysco-style store: change the nearest binding, else bind in the caller. */
int ds_ns_store(ds_store *st, PyObject *name, PyObject *value, int skip,
                int readonly, int shadow);
/* 1 removed, 0 nothing to remove, -1 error (readonly violation included) */
int ds_ns_unbind(ds_store *st, PyObject *name, int skip, int readonly);
int ds_ns_assign(ds_store *st, PyObject *name, PyObject *value, int skip);
/* A list of (name, value) pairs, innermost first, one per visible name. */
PyObject *ds_ns_items(ds_store *st, int skip);
/* Appends one frame's visible bindings not yet in seen. */
int ds_rec_items(ds_store *st, PyObject *frame, PyObject *list,
                 PyObject *seen);
PyObject *ds_make_bind(ds_store *st, PyObject *const *args, Py_ssize_t nargs,
                       PyObject *kwnames);

/* owner.c: the frame that owns a binding entered from `frame` (new ref):
 * past __enter__-style helpers and generators they drive. */
PyObject *ds_owner_frame(PyObject *frame);

/* bind.c */
PyObject *ds_bind_new(ds_store *st, PyObject *names, PyObject *values);
/* The same from a vectorcall: values is an array as long as names. */
PyObject *ds_bind_new_vec(ds_store *st, PyObject *names,
                          PyObject *const *values);
int ds_bind_enter_at(PyObject *bind, PyObject *frame);
int ds_bind_exit(PyObject *bind);

/* here.c */
/* 1 if frame.f_trace is the sentinel holding dict for this frame. */
int ds_here_owns(PyObject *frame, PyObject *dict);
int ds_set_here(ds_store *st, PyObject *frame, PyObject *name,
                PyObject *value);

/* snapshot.c */
PyObject *ds_snapshot(ds_store *st, int skip);
PyObject *ds_snapshot_from(ds_store *st, int skip, PyObject *frame);
int ds_snapshot_frame_arg(PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames, PyObject **frame);

/* capture.c */
PyObject *ds_capture(int skip);
PyObject *ds_wrap(PyObject *fn, int skip);

/* block.c */
PyObject *ds_block_run(PyObject *fn, PyObject *frame);

/* module.c: builds submodules for dysco compat */
int ds_compat_init(PyObject *m, ds_state *s);

#endif
