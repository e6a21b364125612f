/* The headers every answer of the API carries, whatever builds its body:
 * http.c's buffers and sse.c's event streams. */
#ifndef SCOPEBOX_RESPONSE_H
#define SCOPEBOX_RESPONSE_H

#include <microhttpd.h>

/* A run's id, on the answer of every request that started one. */
#define RUN_ID_HEADER "Scopebox-Run-Id"

/* Content-Type, nosniff (a JSON or event body is never to be read as
 * anything else), and the run's id when there is one (NULL or ""). */
static inline void response_headers(struct MHD_Response *r, const char *content_type,
                                    const char *run_id) {
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (run_id != NULL && run_id[0] != '\0')
        MHD_add_response_header(r, RUN_ID_HEADER, run_id);
}

#endif
