/*
 * Shared plumbing of the "limit" clients (bench/c/limit_pop3.c and
 * bench/c/limit_smtp.c): plain OpenSSL over a TCP socket, no library of
 * ours. Each limit client does the least a client can do: it writes what
 * it can as early as the protocol allows and only counts what comes back,
 * so its time is what the server (and TLS) can deliver.
 */
#ifndef LIMIT_COMMON_H
#define LIMIT_COMMON_H

#define _GNU_SOURCE
/* Not every client uses every helper. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "limit: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    ERR_print_errors_fp(stderr);
    exit(1);
}

/* A connection with a read buffer (for line-by-line reading during the
 * dialogue before the measured bulk part). */
typedef struct {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl; /* NULL while plain */
    unsigned char *buf;
    size_t cap, pos, end;
} conn_t;

static int tcp_connect(const char *host, int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket: %s", strerror(errno));
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) die("bad address %s", host);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) die("connect: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void conn_open(conn_t *c, const char *host, int port, size_t bufcap) {
    memset(c, 0, sizeof *c);
    c->fd = tcp_connect(host, port);
    c->cap = bufcap;
    c->buf = malloc(bufcap);
    if (!c->buf) die("out of memory");
}

/* A verifying client context: the bench CA only, host name checked. */
static SSL_CTX *make_ctx(const char *ca) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) die("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) die("cannot load CA %s", ca);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ctx;
}

static void conn_tls(conn_t *c, SSL_CTX *ctx, const char *host) {
    c->ssl = SSL_new(ctx);
    if (!c->ssl) die("SSL_new");
    SSL_set1_host(c->ssl, host); /* OpenSSL 3 checks an IP literal against IP SANs */
    SSL_set_fd(c->ssl, c->fd);
    if (SSL_connect(c->ssl) != 1) die("TLS handshake failed");
    if (SSL_get_verify_result(c->ssl) != X509_V_OK) die("certificate not verified");
}

static void conn_close(conn_t *c) {
    if (c->ssl) SSL_free(c->ssl);
    close(c->fd);
    free(c->buf);
    c->ssl = NULL;
    c->buf = NULL;
}

static void set_nonblocking(int fd, int on) {
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK));
}

/* Blocking write of everything. */
static void conn_write(conn_t *c, const void *data, size_t len) {
    const unsigned char *p = data;
    while (len) {
        ssize_t n;
        if (c->ssl) {
            int r = SSL_write(c->ssl, p, len > (1u << 30) ? (1 << 30) : (int)len);
            if (r <= 0) die("SSL_write failed (%d)", SSL_get_error(c->ssl, r));
            n = r;
        } else {
            n = write(c->fd, p, len);
            if (n < 0) {
                if (errno == EINTR) continue;
                die("write: %s", strerror(errno));
            }
        }
        p += n;
        len -= (size_t)n;
    }
}

static void conn_puts(conn_t *c, const char *s) { conn_write(c, s, strlen(s)); }

/* Blocking read of more bytes into the buffer; returns how many. */
static size_t conn_fill(conn_t *c) {
    if (c->pos == c->end) c->pos = c->end = 0;
    if (c->end == c->cap) {
        memmove(c->buf, c->buf + c->pos, c->end - c->pos);
        c->end -= c->pos;
        c->pos = 0;
        if (c->end == c->cap) die("line too long");
    }
    for (;;) {
        ssize_t n;
        if (c->ssl) {
            int r = SSL_read(c->ssl, c->buf + c->end, (int)(c->cap - c->end));
            if (r <= 0) die("SSL_read failed (%d)", SSL_get_error(c->ssl, r));
            n = r;
        } else {
            n = read(c->fd, c->buf + c->end, c->cap - c->end);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) die("read: %s", n ? strerror(errno) : "connection closed");
        }
        c->end += (size_t)n;
        return (size_t)n;
    }
}

/* Read one line (CRLF stripped) into out (NUL-terminated, truncated). */
static void conn_line(conn_t *c, char *out, size_t outcap) {
    for (;;) {
        unsigned char *nl = memchr(c->buf + c->pos, '\n', c->end - c->pos);
        if (nl) {
            size_t len = (size_t)(nl - (c->buf + c->pos));
            size_t l = len;
            if (l && c->buf[c->pos + l - 1] == '\r') l--;
            if (l >= outcap) l = outcap - 1;
            memcpy(out, c->buf + c->pos, l);
            out[l] = 0;
            c->pos += len + 1;
            return;
        }
        conn_fill(c);
    }
}

/* Counts "\r\n.\r\n" across chunk boundaries: the end of a POP3
 * multi-line response (a body line that starts with a dot is stuffed, so
 * it never matches). */
typedef struct {
    unsigned char hist[4];
    size_t hlen;
} term_counter;

static const unsigned char TERM[5] = {'\r', '\n', '.', '\r', '\n'};

static size_t count_terms(term_counter *t, const unsigned char *p, size_t n) {
    size_t found = 0;
    /* Matches that start in the history and end in this chunk. */
    if (t->hlen) {
        unsigned char win[8];
        size_t take = n < 4 ? n : 4;
        memcpy(win, t->hist, t->hlen);
        memcpy(win + t->hlen, p, take);
        size_t wl = t->hlen + take;
        for (size_t s = 0; s < t->hlen && s + 5 <= wl; s++)
            if (memcmp(win + s, TERM, 5) == 0) found++;
    }
    /* Matches inside this chunk: find each '\n' followed by ".\r\n" and
     * preceded by '\r'. */
    const unsigned char *q = p, *e = p + n;
    while (q < e) {
        const unsigned char *nl = memchr(q, '\n', (size_t)(e - q));
        if (!nl) break;
        if (nl > p && nl[-1] == '\r' && e - nl >= 4 && nl[1] == '.' && nl[2] == '\r' && nl[3] == '\n')
            found++;
        q = nl + 1;
    }
    /* Keep the last four bytes (of history + chunk). */
    if (n >= 4) {
        memcpy(t->hist, p + n - 4, 4);
        t->hlen = 4;
    } else {
        unsigned char tmp[8];
        memcpy(tmp, t->hist, t->hlen);
        memcpy(tmp + t->hlen, p, n);
        size_t tl = t->hlen + n, keep = tl < 4 ? tl : 4;
        memcpy(t->hist, tmp + tl - keep, keep);
        t->hlen = keep;
    }
    return found;
}

#endif
