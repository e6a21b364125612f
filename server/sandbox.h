/* Layers 2 and 3 of the worker sandbox (wasm/runtime/PROTOCOL.md,
 * "Sandbox"): how a worker process is started.
 *
 *   node's permission model   file reads limited to the runtime's files, no
 *                             child processes, no addons, no file writes, no
 *                             code generation from strings; empty environment
 *   namespaces                network (no interfaces but a down loopback),
 *                             PID (the worker sees only itself), IPC, UTS,
 *                             mount: a read-only root of its own holding
 *                             node, its libraries, the runtime, Pyodide and
 *                             a private /proc (sandbox_root.h);
 *                             as root directly, otherwise in a user namespace
 *   user                      as root: an unprivileged user (--worker-user)
 *   no_new_privs + seccomp    a filter denying what a worker never needs:
 *                             sockets, a second execve, new processes,
 *                             ptrace, mounts, writes to the file system,
 *                             memfd_create, inotify, NUMA policy, ...
 *   resource limits           open files, core dumps, file size
 *
 * sandbox_init() decides, once, before any thread starts, what can be set up
 * on this machine by trying it (a probe child that applies every layer). A
 * layer that cannot be set up is logged and the server refuses to start,
 * unless --insecure: then the layer is skipped, loudly. */
#ifndef SCOPEBOX_SANDBOX_H
#define SCOPEBOX_SANDBOX_H

#include <stdbool.h>
#include <sys/types.h>

#include "config.h"

/* Logs the plan; false: refuse to start (reason logged). `node` is the
 * resolved absolute path of the node executable. */
bool sandbox_init(const struct config *cfg, const char *node);

/* The argv every worker is started with (node, its flags, the script and its
 * arguments); NULL before sandbox_init succeeded. */
char *const *sandbox_argv(void);

/* fork(), except that when the sandbox uses namespaces the child starts in
 * new network, PID (as its PID 1), IPC and UTS namespaces, and a new user
 * namespace when not root: a raw clone, so the worker is the server's direct
 * child. Only async-signal-safe calls in the child, as after fork. */
pid_t sandbox_fork(void);

/* In the child, between fork and execve: applies every layer and execs the
 * worker. Async-signal-safe only. Returns only on failure, with a short
 * static reason. */
const char *sandbox_exec(void);

#endif
