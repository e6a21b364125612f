/* The frame table: frame address -> that frame's bindings.
 *
 * A walk probes it once per stack frame, so it is a plain open-addressing
 * table with linear probing and backward-shift deletion (no tombstones, so a
 * table that sees millions of short-lived frames never degrades).  Keys are
 * addresses of frame objects that are alive while they are in the table:
 * bind() holds the frame while entered, and set_here() records are removed
 * by the frame's own deallocation, so an address cannot be reused while it is
 * still a key.
 */
#define Py_LIMITED_API 0x030B0000
#include "dynscope.h"

#include <stdlib.h>
#include <string.h>

/* Records come and go with every with-block in a new frame: keep a few. */
#define REC_FREELIST 64
static ds_framerec *rec_freelist[REC_FREELIST];
static int rec_nfree = 0;

static ds_framerec *
rec_alloc(void)
{
    if (rec_nfree > 0) {
        return rec_freelist[--rec_nfree];
    }
    return malloc(sizeof(ds_framerec));
}

static void
rec_release(ds_framerec *r)
{
    if (rec_nfree < REC_FREELIST) {
        rec_freelist[rec_nfree++] = r;
    }
    else {
        free(r);
    }
}

static void
insert_slot(ds_framerec **slots, size_t mask, ds_framerec *rec)
{
    size_t i = ds_frame_hash(rec->frame) & mask;
    while (slots[i] != NULL) {
        i = (i + 1) & mask;
    }
    slots[i] = rec;
}

static int
resize(ds_ftable *t, size_t capacity)
{
    ds_framerec **slots = calloc(capacity, sizeof(*slots));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (t->slots != NULL) {
        for (size_t i = 0; i <= t->mask; i++) {
            if (t->slots[i] != NULL) {
                insert_slot(slots, capacity - 1, t->slots[i]);
            }
        }
        free(t->slots);
    }
    t->slots = slots;
    t->mask = capacity - 1;
    return 0;
}

ds_framerec *
ds_ftable_get_or_add(ds_ftable *t, void *frame)
{
    ds_framerec *r = ds_ftable_find(t, frame);
    if (r != NULL) {
        if (r == t->spare) {
            t->spare = NULL;
        }
        return r;
    }
    /* Load factor at most 1/2 keeps probe chains short. */
    if (t->slots == NULL || (t->used + 1) * 2 > t->mask + 1) {
        size_t cap = t->slots == NULL ? 16 : (t->mask + 1) * 2;
        if (resize(t, cap) < 0) {
            return NULL;
        }
    }
    r = rec_alloc();
    if (r == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    r->frame = frame;
    r->layers = NULL;
    r->here = NULL;
    insert_slot(t->slots, t->mask, r);
    t->used++;
    return r;
}

static void
remove_rec(ds_ftable *t, ds_framerec *rec)
{
    if (rec == t->spare) {
        t->spare = NULL;
    }
    size_t i = ds_frame_hash(rec->frame) & t->mask;
    while (t->slots[i] != rec) {
        i = (i + 1) & t->mask;
    }
    /* Backward-shift: move later members of the cluster into the hole when
     * their home slot does not lie (cyclically) between the hole and them. */
    size_t hole = i;
    size_t j = i;
    for (;;) {
        j = (j + 1) & t->mask;
        ds_framerec *r = t->slots[j];
        if (r == NULL) {
            break;
        }
        size_t home = ds_frame_hash(r->frame) & t->mask;
        int between = hole <= j ? (hole < home && home <= j)
                                : (hole < home || home <= j);
        if (!between) {
            t->slots[hole] = r;
            hole = j;
        }
    }
    t->slots[hole] = NULL;
    t->used--;
    rec_release(rec);
    /* Give memory back after a burst (a deep recursion of binders). */
    if (t->used == 0 && t->mask + 1 > 64) {
        free(t->slots);
        t->slots = NULL;
        t->mask = 0;
    }
}

void
ds_ftable_prune(ds_ftable *t, ds_framerec *rec)
{
    if (rec->layers != NULL || rec->here != NULL || rec == t->spare) {
        return;
    }
    /* An empty record is harmless (a lookup finds nothing in it, and a new
     * frame at a reused address just fills it), so keep the latest one. */
    if (t->spare != NULL) {
        remove_rec(t, t->spare);
    }
    t->spare = rec;
}

void
ds_ftable_free(ds_ftable *t)
{
    if (t->slots != NULL) {
        for (size_t i = 0; i <= t->mask; i++) {
            if (t->slots[i] != NULL) {
                rec_release(t->slots[i]);
            }
        }
        free(t->slots);
    }
    t->slots = NULL;
    t->mask = 0;
    t->used = 0;
    t->spare = NULL;
}

ds_layer *
ds_layer_new(void *frame, Py_ssize_t n, PyObject **names)
{
    /* One allocation: the header followed by the values and counters. */
    ds_layer *l =
        malloc(sizeof(ds_layer) + 2 * (size_t)n * sizeof(PyObject *));
    if (l == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    l->next = NULL;
    l->frame = frame;
    l->n = n;
    l->names = names;
    l->values = (PyObject **)(l + 1);
    l->counters = l->values + n;
    l->embedded = 0;
    l->rec = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        l->values[i] = NULL;
        l->counters[i] = NULL;
    }
    return l;
}

void
ds_layer_free(ds_layer *l)
{
    if (l == NULL) {
        return;
    }
    /* Values may run arbitrary __del__ code: detach each before release. */
    for (Py_ssize_t i = 0; i < l->n; i++) {
        PyObject *v = l->values[i], *c = l->counters[i];
        l->values[i] = NULL;
        l->counters[i] = NULL;
        Py_XDECREF(c);
        Py_XDECREF(v);
    }
    if (!l->embedded) {
        free(l);
    }
}
