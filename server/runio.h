/* A run's input and output fields (openapi.yaml, RunRequest: `stdin`,
 * `files`, `collect`): their bounds and checks, so that a bad one is a 400
 * here and never reaches a worker (the worker checks again where only it can
 * tell: scopebox_worker/files.py). */
#ifndef SCOPEBOX_RUNIO_H
#define SCOPEBOX_RUNIO_H

#include <jansson.h>
#include <stdbool.h>

#include "request.h"

#define STDIN_MAX_BYTES (1u << 20) /* UTF-8 bytes of `stdin` */
#define FILES_MAX 100              /* entries of `files` */
#define FILES_MAX_BYTES (8u << 20) /* their contents together, decoded */
#define RUNIO_PATH_MAX_BYTES 1024  /* a path or a glob pattern */
#define RUNIO_NAME_MAX_BYTES 255   /* one segment of it */
#define COLLECT_MAX 32             /* patterns of `collect` */

/* Each takes the field's value (of the right JSON kind: string, array,
 * array) and fills `err` when it is out of bounds. */
bool runio_check_stdin(const json_t *v, struct api_error *err);
bool runio_check_files(const json_t *v, struct api_error *err);
bool runio_check_collect(const json_t *v, struct api_error *err);

#endif
