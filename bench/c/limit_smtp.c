/*
 * The server-bound limit for sending an outbox over SMTP submission:
 * OpenSSL directly, RFC 2920 pipelining as far as it goes.
 *
 *   limit_smtp HOST PORT CA USER PASS FROM TO DIR COUNT
 *
 * EHLO, STARTTLS, EHLO, AUTH PLAIN with an initial response, then for each
 * message one write holding the previous message's content and final dot
 * and this message's MAIL FROM, RCPT TO and DATA, and one wait for the
 * replies (250 for the previous message, 250, 250, 354); the last message
 * goes out with QUIT. That is one round trip per message: DATA's 354 must
 * come before the content (RFC 2920 section 3.1).
 *
 * DIR/00001.eml .. DIR/COUNT.eml are read into memory before the clock
 * starts; they are already in SMTP form (CRLF, no line starting with a
 * dot). Prints one JSON object with the elapsed seconds.
 */
#include "limit_common.h"

#include <openssl/evp.h>
#include <sys/stat.h>

static conn_t c;

/* Read one reply (all its lines); return its code. */
static int reply(void) {
    char line[2048];
    for (;;) {
        conn_line(&c, line, sizeof line);
        if (strlen(line) < 3) die("short reply line: %s", line);
        if (line[3] != '-') return atoi(line);
    }
}

static void expect(int code, const char *what) {
    int got = reply();
    if (got != code) die("%s: expected %d, got %d", what, code, got);
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) die("open %s: %s", path, strerror(errno));
    struct stat st;
    fstat(fileno(f), &st);
    char *p = malloc((size_t)st.st_size + 1);
    if (fread(p, 1, (size_t)st.st_size, f) != (size_t)st.st_size) die("read %s", path);
    fclose(f);
    *len = (size_t)st.st_size;
    return p;
}

int main(int argc, char **argv) {
    if (argc != 10) die("usage: limit_smtp HOST PORT CA USER PASS FROM TO DIR COUNT");
    const char *host = argv[1], *ca = argv[3], *user = argv[4], *pass = argv[5];
    const char *from = argv[6], *to = argv[7], *dir = argv[8];
    int port = atoi(argv[2]), count = atoi(argv[9]);

    char **msg = calloc((size_t)count, sizeof *msg);
    size_t *mlen = calloc((size_t)count, sizeof *mlen), maxlen = 0;
    for (int i = 0; i < count; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%05d.eml", dir, i + 1);
        msg[i] = slurp(path, &mlen[i]);
        if (mlen[i] > maxlen) maxlen = mlen[i];
    }
    char envelope[1200];
    int elen = snprintf(envelope, sizeof envelope, "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n", from, to);
    char *out = malloc(maxlen + sizeof envelope + 16);

    SSL_CTX *ctx = make_ctx(ca);
    double t0 = now_s();
    conn_open(&c, host, port, 64 * 1024);
    expect(220, "greeting");
    conn_puts(&c, "EHLO bench.localhost\r\n");
    expect(250, "EHLO");
    conn_puts(&c, "STARTTLS\r\n");
    expect(220, "STARTTLS");
    if (c.pos != c.end) die("data before TLS");
    conn_tls(&c, ctx, host);
    conn_puts(&c, "EHLO bench.localhost\r\n");
    expect(250, "EHLO");

    /* AUTH PLAIN with the credentials as initial response. */
    unsigned char plain[600], b64[900];
    size_t ulen = strlen(user), plen = strlen(pass);
    plain[0] = 0;
    memcpy(plain + 1, user, ulen);
    plain[1 + ulen] = 0;
    memcpy(plain + 2 + ulen, pass, plen);
    EVP_EncodeBlock(b64, plain, (int)(2 + ulen + plen));
    char auth[1000];
    snprintf(auth, sizeof auth, "AUTH PLAIN %s\r\n", b64);
    conn_puts(&c, auth);
    expect(235, "AUTH");

    conn_write(&c, envelope, (size_t)elen);
    expect(250, "MAIL");
    expect(250, "RCPT");
    expect(354, "DATA");
    for (int i = 0; i < count; i++) {
        size_t o = 0;
        memcpy(out, msg[i], mlen[i]);
        o += mlen[i];
        memcpy(out + o, ".\r\n", 3);
        o += 3;
        int last = i + 1 == count;
        if (last) {
            memcpy(out + o, "QUIT\r\n", 6);
            o += 6;
        } else {
            memcpy(out + o, envelope, (size_t)elen);
            o += (size_t)elen;
        }
        conn_write(&c, out, o);
        expect(250, "end of data");
        if (last) {
            expect(221, "QUIT");
        } else {
            expect(250, "MAIL");
            expect(250, "RCPT");
            expect(354, "DATA");
        }
    }
    conn_close(&c);
    double t1 = now_s();
    printf("{\"elapsed\": %.6f, \"messages\": %d}\n", t1 - t0, count);
    return 0;
}
