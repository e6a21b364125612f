/* The runs in progress, by id (issue 15): what POST /v1/runs/{id}/cancel
 * looks up, and what the dispatcher watches for clients that went away.
 * A run is registered when it is submitted and leaves when it is done;
 * its id is unique among the live runs of one owner (API key), so a key
 * can neither cancel nor even detect another key's runs. Thread-safe. */
#ifndef SCOPEBOX_RUNS_H
#define SCOPEBOX_RUNS_H

#include <stdbool.h>
#include <stddef.h>

struct job;
struct runs;

struct runs *runs_new(void);
void runs_free(struct runs *r);

/* Registers `job` under (job->owner, job->run_id), holding a reference.
 * False when that owner has a live run of that id already, or no memory. */
bool runs_add(struct runs *r, struct job *job);
/* Unregisters it (if registered) and drops the registry's reference. */
void runs_remove(struct runs *r, struct job *job);
/* The live run of `owner` ("" with keys off) named `id`, with a reference
 * for the caller (job_release), or NULL. */
struct job *runs_find(struct runs *r, const char *owner, const char *id);

/* Calls fn for each registered job, under the registry's lock: fn must not
 * call back into the registry. */
void runs_each(struct runs *r, void (*fn)(struct job *job, void *arg), void *arg);

/* How many runs are registered (queued, running, or answered but not yet
 * done), and how long ago the oldest was submitted (ms, 0 with none): a run
 * older than its queue timeout, time limit and grace put together is one
 * the server lost (/metrics). */
void runs_stats(struct runs *r, double now, size_t *n, double *oldest_ms);

#endif
