/*
 * The server-bound limit for POP3S: OpenSSL directly, no parsing beyond
 * what is needed to count replies.
 *
 *   limit_pop3 bulk  HOST PORT CA USER PASS
 *       USER/PASS, UIDL, then every RETR written at once (non-blocking, so
 *       reading and writing overlap and nothing can deadlock); the replies
 *       are only counted ("\r\n.\r\n" terminators) and their bytes summed.
 *   limit_pop3 file  HOST PORT CA USER PASS N PATH
 *       RETR N into PATH, written as it arrives (the final ".\r\n" is cut
 *       off at the end; the bench messages have no dot-stuffed lines).
 *   limit_pop3 uidl  HOST PORT CA USER PASS
 *       USER/PASS, UIDL, QUIT: the least a sync that finds nothing new
 *       can do (the entries are only counted).
 *   limit_pop3 setup HOST PORT CA USER PASS COUNT
 *       COUNT sessions: connect, TLS, USER+PASS+STAT+QUIT in one write.
 *
 * Prints one JSON object: elapsed seconds of the measured part (from
 * before connect to after QUIT), and what was received.
 */
#include "limit_common.h"

#include <sys/stat.h>

static conn_t c;

static void expect_ok(const char *what) {
    char line[1024];
    conn_line(&c, line, sizeof line);
    if (strncmp(line, "+OK", 3) != 0) die("%s: %s", what, line);
}

static void login(SSL_CTX *ctx, const char *host, int port, const char *user, const char *pass) {
    conn_open(&c, host, port, 256 * 1024);
    conn_tls(&c, ctx, host);
    expect_ok("greeting");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "USER %s\r\nPASS %s\r\n", user, pass);
    conn_puts(&c, cmd);
    expect_ok("USER");
    expect_ok("PASS");
}

static void quit(void) {
    conn_puts(&c, "QUIT\r\n");
    expect_ok("QUIT");
    conn_close(&c);
}

/* UIDL: the number of entries. */
static size_t uidl_count(void) {
    conn_puts(&c, "UIDL\r\n");
    expect_ok("UIDL");
    size_t count = 0;
    char line[1024];
    for (;;) {
        conn_line(&c, line, sizeof line);
        if (strcmp(line, ".") == 0) break;
        count++;
    }
    if (c.pos != c.end) die("unexpected bytes after UIDL");
    return count;
}

static int uidl_only(SSL_CTX *ctx, const char *host, int port, const char *user, const char *pass) {
    double t0 = now_s();
    login(ctx, host, port, user, pass);
    size_t count = uidl_count();
    quit();
    printf("{\"elapsed\": %.6f, \"messages\": %zu}\n", now_s() - t0, count);
    return 0;
}

static int bulk(SSL_CTX *ctx, const char *host, int port, const char *user, const char *pass) {
    double t0 = now_s();
    login(ctx, host, port, user, pass);
    size_t count = uidl_count();

    /* Every RETR in one buffer. */
    size_t cap = count * 24 + 16, olen = 0;
    char *out = malloc(cap);
    for (size_t i = 1; i <= count; i++) olen += (size_t)sprintf(out + olen, "RETR %zu\r\n", i);

    set_nonblocking(c.fd, 1);
    size_t opos = 0, done = 0;
    uint64_t bytes = 0;
    term_counter tc = {0};
    while (done < count) {
        int progress = 0, want_out = 0;
        if (opos < olen) {
            size_t chunk = olen - opos > 16384 ? 16384 : olen - opos;
            int r = SSL_write(c.ssl, out + opos, (int)chunk);
            if (r > 0) {
                opos += (size_t)r;
                progress = 1;
            } else {
                int e = SSL_get_error(c.ssl, r);
                if (e == SSL_ERROR_WANT_WRITE) want_out = 1;
                else if (e != SSL_ERROR_WANT_READ) die("SSL_write failed (%d)", e);
            }
        }
        for (;;) {
            int r = SSL_read(c.ssl, c.buf, (int)c.cap);
            if (r > 0) {
                bytes += (uint64_t)r;
                done += count_terms(&tc, c.buf, (size_t)r);
                progress = 1;
                if (done >= count) break;
                continue;
            }
            int e = SSL_get_error(c.ssl, r);
            if (e == SSL_ERROR_WANT_READ) break;
            if (e == SSL_ERROR_WANT_WRITE) {
                want_out = 1;
                break;
            }
            die("SSL_read failed (%d) after %zu messages", e, done);
        }
        if (!progress) {
            struct pollfd p = {c.fd, (short)(POLLIN | (want_out ? POLLOUT : 0)), 0};
            poll(&p, 1, 60000);
        }
    }
    set_nonblocking(c.fd, 0);
    quit();
    double t1 = now_s();
    printf("{\"elapsed\": %.6f, \"messages\": %zu, \"bytes\": %llu}\n", t1 - t0, done,
           (unsigned long long)bytes);
    free(out);
    return 0;
}

static int file(SSL_CTX *ctx, const char *host, int port, const char *user, const char *pass,
                unsigned n, const char *path) {
    double t0 = now_s();
    login(ctx, host, port, user, pass);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "RETR %u\r\n", n);
    conn_puts(&c, cmd);
    expect_ok("RETR");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("open %s: %s", path, strerror(errno));
    uint64_t written = 0;
    term_counter tc = {0};
    size_t done = 0;
    /* What came with the +OK line first, then straight reads. */
    if (c.pos < c.end) {
        size_t len = c.end - c.pos;
        done += count_terms(&tc, (const unsigned char *)"\r\n", 2);
        done += count_terms(&tc, c.buf + c.pos, len);
        if (write(fd, c.buf + c.pos, len) != (ssize_t)len) die("write: %s", strerror(errno));
        written += len;
    } else {
        count_terms(&tc, (const unsigned char *)"\r\n", 2);
    }
    while (!done) {
        int r = SSL_read(c.ssl, c.buf, (int)c.cap);
        if (r <= 0) die("SSL_read failed (%d)", SSL_get_error(c.ssl, r));
        done += count_terms(&tc, c.buf, (size_t)r);
        if (write(fd, c.buf, (size_t)r) != r) die("write: %s", strerror(errno));
        written += (uint64_t)r;
    }
    c.pos = c.end = 0;
    if (ftruncate(fd, (off_t)(written - 3)) != 0) die("ftruncate: %s", strerror(errno));
    close(fd);
    quit();
    double t1 = now_s();
    printf("{\"elapsed\": %.6f, \"bytes\": %llu}\n", t1 - t0, (unsigned long long)(written - 3));
    return 0;
}

static int setup(SSL_CTX *ctx, const char *host, int port, const char *user, const char *pass,
                 int count) {
    printf("{\"sessions\": [");
    for (int i = 0; i < count; i++) {
        double t0 = now_s();
        conn_open(&c, host, port, 16384);
        conn_tls(&c, ctx, host);
        expect_ok("greeting");
        char cmd[600];
        snprintf(cmd, sizeof cmd, "USER %s\r\nPASS %s\r\nSTAT\r\nQUIT\r\n", user, pass);
        conn_puts(&c, cmd);
        expect_ok("USER");
        expect_ok("PASS");
        expect_ok("STAT");
        expect_ok("QUIT");
        conn_close(&c);
        printf("%s%.6f", i ? ", " : "", now_s() - t0);
    }
    printf("]}\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 7) die("usage: limit_pop3 bulk|uidl|file|setup HOST PORT CA USER PASS [ARGS]");
    const char *mode = argv[1], *host = argv[2], *ca = argv[4], *user = argv[5], *pass = argv[6];
    int port = atoi(argv[3]);
    SSL_CTX *ctx = make_ctx(ca);
    if (strcmp(mode, "bulk") == 0) return bulk(ctx, host, port, user, pass);
    if (strcmp(mode, "uidl") == 0) return uidl_only(ctx, host, port, user, pass);
    if (strcmp(mode, "file") == 0 && argc == 9)
        return file(ctx, host, port, user, pass, (unsigned)atoi(argv[7]), argv[8]);
    if (strcmp(mode, "setup") == 0 && argc == 8) return setup(ctx, host, port, user, pass, atoi(argv[7]));
    die("bad arguments");
    return 2;
}
