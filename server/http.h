/* The HTTP face of the server: libmicrohttpd with its own polling thread,
 * routing, and turning pool jobs and API errors into responses. */
#ifndef SCOPEBOX_HTTP_H
#define SCOPEBOX_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "keys.h"
#include "pool.h"

struct http;

/* Binds and starts serving. Requests that reach the pool before its workers
 * are up simply wait in its queue. `keys` (NULL: none) stays the caller's
 * and must outlive http_stop. */
struct http *http_start(const struct config *cfg, struct pool *pool, struct keystore *keys,
                        char *err, size_t err_len);

unsigned http_port(const struct http *h);

/* "http://127.0.0.1:8080" with the bound port, IPv6 in brackets. */
void http_url(const struct http *h, char *buf, size_t len);

/* Closes connections whose request has not arrived whole within
 * --request-timeout-ms (slow senders, idle keep-alives). Called a few times
 * a second (main.c). */
void http_reap(struct http *h);

/* Stops accepting connections; open ones are still served. */
void http_quiesce(struct http *h);

/* Waits, at most `ms`, until no request is in progress. */
void http_wait_idle(struct http *h, unsigned ms);

/* Closes every connection and frees everything. No job may be parked any
 * more (libmicrohttpd aborts on suspended connections): shut the pool
 * down first. */
void http_stop(struct http *h);

#endif
