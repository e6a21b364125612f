/* Forwarding a worker's JSON answer as written. The host used to parse the
 * answer and dump it again with jansson, which prints floats with 17
 * significant digits (0.1 became 0.10000000000000001) and costs a full
 * re-encode of every answer. Instead the answer's bytes go out as the
 * worker (Python's json, i.e. repr for floats) wrote them, and the few
 * top-level members the host owns are dropped or added as text.
 *
 * Pure code, no I/O: unit-tested and fuzzed on its own. The scanner does not
 * validate JSON (the frame was parsed by jansson already); on any input it
 * stays inside the buffer and either reports members or fails. */
#ifndef SCOPEBOX_RAWJSON_H
#define SCOPEBOX_RAWJSON_H

#include <stdbool.h>
#include <stddef.h>

/* One top-level member: the key's raw bytes between its quotes (escapes not
 * decoded) and the value's bytes, whitespace trimmed. */
struct rawjson_member {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
};

/* Calls fn for each top-level member of the object in text[0, len), in
 * order; a false from fn stops the walk (and is returned). Returns false if
 * the text is not shaped like an object. */
bool rawjson_members(const char *text, size_t len,
                     bool (*fn)(void *arg, const struct rawjson_member *m), void *arg);

/* Whether text[0, len) is certainly a JSON object that jansson accepts
 * (json_loadb with JSON_ALLOW_NUL), checked without building it: strict
 * RFC 8259 syntax, UTF-8 as jansson checks it, no lone surrogate escapes.
 * It errs on the side of false: integers past 18 digits, reals that might
 * overflow, \u0000 (which jansson refuses in keys), nesting past 256 are
 * left to jansson, so a false means "parse it to know", never "invalid". */
bool rawjson_valid(const char *text, size_t len);

/* For text jansson parses (rawjson_valid said so): whether certainly no
 * object in it has a key twice (what JSON_REJECT_DUPLICATES refuses).
 * False when it might: a key written with escapes, more than 32 keys in
 * one object or objects nested past 32 are left to jansson. */
bool rawjson_unique_keys(const char *text, size_t len);

/* Whether the member's raw key is exactly `name` (ASCII, no escapes). */
bool rawjson_key_is(const struct rawjson_member *m, const char *name);

/* The members named names[0, n) of the object in text[0, len), picked in one
 * walk: out[i] is names[i]'s member, with value NULL when there is none.
 * False (out then means nothing) when the text is not shaped like an
 * object or holds a member the bytes alone cannot place: a key written
 * with escapes (its decoded form may be one of the names), a name twice,
 * or, unless others_ok, a key that is none of the names. The request
 * parser's fast path (request.c) and the run frame's splice (wire.c) both
 * take a body's members this way. */
bool rawjson_pick(const char *text, size_t len, const char *const *names, size_t n, bool others_ok,
                  struct rawjson_member *out);

/* A growing byte buffer; once an allocation fails it stays failed and
 * rawjson_buf_take returns NULL. */
struct rawjson_buf {
    char *data;
    size_t len, cap;
    bool failed;
};

void rawjson_buf_add(struct rawjson_buf *b, const char *bytes, size_t n);
/* Room for n more bytes at once (a large answer grows in one step). */
void rawjson_buf_reserve(struct rawjson_buf *b, size_t n);
void rawjson_buf_str(struct rawjson_buf *b, const char *s);
void rawjson_buf_printf(struct rawjson_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends `"key":value` with a leading comma unless it is the first. */
void rawjson_buf_member(struct rawjson_buf *b, bool *first, const struct rawjson_member *m);
/* Hands the bytes over (NUL-terminated, len excludes it); NULL on failure. */
char *rawjson_buf_take(struct rawjson_buf *b, size_t *len);
void rawjson_buf_free(struct rawjson_buf *b);

#endif
