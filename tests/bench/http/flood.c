/* Overload probe in C: `conns` clients on keep-alive connections each post
 * the same body back to back for `seconds`; prints, as JSON, how many
 * answers of each status came back, how many requests got no answer at all,
 * and latency percentiles of the accepted (200) ones alone, which wrk cannot
 * separate from the fast 503s. The same output as overload.mjs.
 *
 *   bench-flood URL BODY_FILE CONNS SECONDS [--honour-retry-after]
 *
 * Why a second probe: overload.mjs is one JavaScript thread, and with 256
 * busy sockets one turn of its event loop takes tens of milliseconds, which
 * every accepted answer waits for on top of the server's latency, while the
 * unloaded p99 it is divided by comes from wrk, a C client. This one is one
 * epoll thread too, but an answer costs it a few microseconds, so what it
 * measures under a flood is the server's doing (and the flood it sends is
 * the harder one: its retries come as fast as the server refuses).
 *
 * With --honour-retry-after a client that gets a 503 waits what its
 * Retry-After says (times a random 0.5..1.5, so that the clients do not come
 * back in step) before its next request; without it, it asks again at once.
 * A client whose connection ends or fails without an answer counts it lost
 * and reconnects; a "Connection: close" answer is followed by a reconnect.
 * FLOOD_DEBUG=1 says on stderr when and in what state each loss happened. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ANSWER_TIMEOUT_MS 60000.0
#define INBUF 65536

enum state { IDLE, SENDING, READING, SLEEPING };

struct client {
    int fd;
    enum state state;
    double t0, wake_at;
    size_t sent;
    char in[INBUF];
    size_t in_len;
};

static struct addrinfo *target;
static char *request;
static size_t request_len;
static int ep;
static long statuses[600], lost;
static double *accepted;
static size_t n_accepted, cap_accepted;

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void record_accepted(double ms) {
    if (n_accepted == cap_accepted) {
        cap_accepted = cap_accepted ? cap_accepted * 2 : 4096;
        accepted = realloc(accepted, cap_accepted * sizeof *accepted);
        if (accepted == NULL)
            die("realloc");
    }
    accepted[n_accepted++] = ms;
}

static void drop(struct client *c) {
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static void watch(struct client *c, uint32_t events, int op) {
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(ep, op, c->fd, &ev) != 0)
        die("epoll_ctl");
}

/* Starts a request: on the open connection, or on a new one. */
static void start(struct client *c) {
    c->t0 = now_ms();
    c->sent = 0;
    c->in_len = 0;
    c->state = SENDING;
    if (c->fd < 0) {
        int one = 1;
        c->fd = socket(target->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
            die("socket");
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(c->fd, target->ai_addr, target->ai_addrlen) != 0 && errno != EINPROGRESS)
            die("connect");
        watch(c, EPOLLOUT, EPOLL_CTL_ADD);
        return;
    }
    watch(c, EPOLLOUT, EPOLL_CTL_MOD);
}

static double started_at;
static void failed(struct client *c) {
    lost++;
    if (getenv("FLOOD_DEBUG"))
        fprintf(stderr, "lost at %.1f ms, state %d, sent %zu, in %zu, waited %.1f ms, errno %d\n",
                now_ms() - started_at, c->state, c->sent, c->in_len, now_ms() - c->t0, errno);
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    drop(c);
    c->state = IDLE;
}

static const char *header(const char *head, size_t head_len, const char *name) {
    size_t n = strlen(name);
    for (const char *p = head; p && p + n + 2 < head + head_len;
         p = memchr(p, '\n', (size_t)(head + head_len - p))) {
        if (*p == '\n')
            p++;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':')
            return p + n + 1;
    }
    return NULL;
}

/* An answer is in whole when its head and Content-Length bytes are. Returns
 * its status, 0 while incomplete, -1 if it cannot be read. */
static int parse(struct client *c, bool *close_after, double *retry_after) {
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    const char *cl, *conn, *ra;
    size_t head_len, body_len;
    int status;

    if (end == NULL)
        return c->in_len == INBUF ? -1 : 0;
    head_len = (size_t)(end - c->in) + 4;
    if (c->in_len < 12 || memcmp(c->in, "HTTP/1.", 7) != 0)
        return -1;
    status = atoi(c->in + 9);
    cl = header(c->in, head_len, "Content-Length");
    if (status < 100 || status >= 600 || cl == NULL)
        return -1;
    body_len = strtoul(cl, NULL, 10);
    if (head_len + body_len > INBUF)
        return -1;
    if (c->in_len < head_len + body_len)
        return 0;
    conn = header(c->in, head_len, "Connection");
    *close_after = conn != NULL && strncasecmp(conn + strspn(conn, " "), "close", 5) == 0;
    ra = header(c->in, head_len, "Retry-After");
    *retry_after = ra ? strtod(ra, NULL) : 0;
    return status;
}

static void answered(struct client *c, int status, bool close_after, double retry_after,
                     bool polite, double deadline) {
    double t = now_ms();
    statuses[status]++;
    if (status == 200)
        record_accepted(t - c->t0);
    if (close_after) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        drop(c);
    }
    c->state = IDLE;
    if (polite && status == 503 && retry_after > 0) {
        c->wake_at = t + retry_after * 1000 * (0.5 + (double)rand() / RAND_MAX);
        if (c->wake_at < deadline) {
            c->state = SLEEPING;
            if (c->fd >= 0)
                watch(c, 0, EPOLL_CTL_MOD);
        }
    } else if (t < deadline) {
        start(c);
    }
}

static void on_event(struct client *c, uint32_t events, bool polite, double deadline) {
    if (c->state == SENDING) {
        ssize_t n;
        if (events & (EPOLLERR | EPOLLHUP)) {
            failed(c);
            return;
        }
        n = send(c->fd, request + c->sent, request_len - c->sent, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n < 0) {
            failed(c);
            return;
        }
        c->sent += (size_t)n;
        if (c->sent == request_len) {
            c->state = READING;
            watch(c, EPOLLIN, EPOLL_CTL_MOD);
        }
        return;
    }
    if (c->state == READING) {
        bool close_after = false;
        double retry_after = 0;
        int status;
        ssize_t n = recv(c->fd, c->in + c->in_len, INBUF - c->in_len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            failed(c);
            return;
        }
        c->in_len += (size_t)n;
        status = parse(c, &close_after, &retry_after);
        if (status < 0)
            failed(c);
        else if (status > 0)
            answered(c, status, close_after, retry_after, polite, deadline);
    }
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double q) {
    size_t i = (size_t)(q / 100 * (double)(n_accepted - 1) + 0.5);
    return accepted[i < n_accepted ? i : n_accepted - 1];
}

int main(int argc, char **argv) {
    char host[256], port[16] = "80", *body;
    const char *p;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct client *clients;
    FILE *f;
    long body_len;
    int conns;
    double deadline;
    bool polite, first = true;

    if (argc < 5 || strncmp(argv[1], "http://", 7) != 0) {
        fprintf(stderr,
                "usage: %s http://HOST:PORT BODY_FILE CONNS SECONDS [--honour-retry-after]\n",
                argv[0]);
        return 2;
    }
    p = argv[1] + 7;
    snprintf(host, sizeof host, "%.*s", (int)strcspn(p, ":/"), p);
    if (p[strcspn(p, ":/")] == ':')
        snprintf(port, sizeof port, "%.*s", (int)strcspn(p + strcspn(p, ":/") + 1, "/"),
                 p + strcspn(p, ":/") + 1);
    if (getaddrinfo(host, port, &hints, &target) != 0)
        die("getaddrinfo");
    f = fopen(argv[2], "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (body_len = ftell(f)) < 0)
        die(argv[2]);
    rewind(f);
    body = malloc((size_t)body_len + 1);
    if (body == NULL || fread(body, 1, (size_t)body_len, f) != (size_t)body_len)
        die("read body");
    fclose(f);
    request = malloc((size_t)body_len + 512);
    request_len = (size_t)sprintf(request,
                                  "POST /v1/run HTTP/1.1\r\nHost: %s:%s\r\n"
                                  "Content-Type: application/json\r\nContent-Length: %ld\r\n\r\n",
                                  host, port, body_len);
    memcpy(request + request_len, body, (size_t)body_len);
    request_len += (size_t)body_len;
    conns = atoi(argv[3]);
    polite = argc > 5 && strcmp(argv[5], "--honour-retry-after") == 0;
    clients = calloc((size_t)conns, sizeof *clients);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (clients == NULL || ep < 0 || conns < 1)
        die("setup");
    started_at = now_ms();
    deadline = now_ms() + atof(argv[4]) * 1000;
    for (int i = 0; i < conns; i++) {
        clients[i].fd = -1;
        start(&clients[i]);
    }
    for (;;) {
        struct epoll_event evs[256];
        double t = now_ms(), next = t + 100;
        int busy = 0, n;
        for (int i = 0; i < conns; i++) {
            struct client *c = &clients[i];
            if (c->state == SLEEPING && c->wake_at <= t)
                start(c);
            else if (c->state == SLEEPING && c->wake_at < next)
                next = c->wake_at;
            if ((c->state == SENDING || c->state == READING) && t - c->t0 > ANSWER_TIMEOUT_MS)
                failed(c);
            if (c->state == IDLE && c->fd < 0 && t < deadline)
                start(c); /* lost its connection: the client goes on */
            busy += c->state == SENDING || c->state == READING ||
                    (c->state == SLEEPING && c->wake_at < deadline);
        }
        if (busy == 0)
            break;
        n = epoll_wait(ep, evs, 256, (int)(next - t) + 1);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++)
            on_event(evs[i].data.ptr, evs[i].events, polite, deadline);
    }
    qsort(accepted, n_accepted, sizeof *accepted, cmp);
    printf("{\"statuses\": {");
    for (int s = 0; s < 600; s++) {
        if (statuses[s] > 0) {
            printf("%s\"%d\": %ld", first ? "" : ", ", s, statuses[s]);
            first = false;
        }
    }
    printf("}, \"lost\": %ld, \"accepted\": %zu, ", lost, n_accepted);
    if (n_accepted > 0)
        printf("\"p50_ms\": %.3f, \"p99_ms\": %.3f}\n", pct(50), pct(99));
    else
        printf("\"p50_ms\": null, \"p99_ms\": null}\n");
    return 0;
}
