/* server/openapi.yaml as compact JSON, compiled in at build time by
 * gen_openapi.py: GET /v1/openapi.json serves exactly the reviewed file. */
#ifndef SCOPEBOX_OPENAPI_H
#define SCOPEBOX_OPENAPI_H

#include <stddef.h>

extern const unsigned char openapi_json[];
extern const size_t openapi_json_len;

#endif
