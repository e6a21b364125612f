/* A run answered as Server-Sent Events (issue 15, section 3): the body of a
 * libmicrohttpd response built from a callback, fed by the dispatcher
 * (output as the run writes it) and ended by one last event, the run's
 * answer. When the client has read everything there is, the connection is
 * suspended; new events resume it. So neither side ever blocks: the HTTP
 * thread waits for nothing, and the dispatcher only appends to a buffer. */
#ifndef SCOPEBOX_SSE_H
#define SCOPEBOX_SSE_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

struct sse;

/* `finish` is called once, on libmicrohttpd's thread, when the run is done
 * (sse_done) and every event before has been sent: it appends the last
 * event(s) (sse_event). One reference, the caller's. */
struct sse *sse_new(struct MHD_Connection *conn, void (*finish)(void *arg, struct sse *sse),
                    void *arg);
void sse_ref(struct sse *sse);
void sse_release(struct sse *sse);

/* The response to queue (text/event-stream, chunked, with the headers of
 * response.h for run `run_id`); it holds a reference of its own, dropped
 * when libmicrohttpd destroys it. NULL without memory. */
struct MHD_Response *sse_response(struct sse *sse, const char *run_id);

/* Appends "event: <event>\ndata: <data>\n\n" (`data` holds no newline: one
 * JSON text), with an SSE comment line before it when `comment` is not
 * NULL. Any thread. Past `max_pending` bytes not yet sent, output events
 * are dropped (sse_event returns false) rather than buffered without bound. */
bool sse_event(struct sse *sse, const char *comment, const char *event, const char *data,
               size_t len);

/* The run is done: once the buffer is drained, `finish` runs. */
void sse_done(struct sse *sse);

/* The request is over (libmicrohttpd's completion): the connection must
 * never be resumed again, whatever is appended later. */
void sse_detach(struct sse *sse);

#endif
