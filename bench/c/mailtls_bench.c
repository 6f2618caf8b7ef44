/*
 * mailtls through its C API, as a C mail client would use it.
 *
 *   mailtls_bench pop3-bulk  HOST PORT CA USER PASS
 *       connect (implicit TLS), login, UIDL, retr_many over every
 *       message (the callback only counts bytes), QUIT.
 *   mailtls_bench pop3-file  HOST PORT CA USER PASS N PATH
 *       connect, login, retr_to_file(N, PATH), QUIT.
 *   mailtls_bench pop3-setup HOST PORT CA USER PASS COUNT
 *       COUNT sessions of new handle, connect, login, STAT, QUIT, free.
 *   mailtls_bench smtp-outbox HOST PORT CA USER PASS FROM TO DIR COUNT
 *       connect (STARTTLS), login, send_bytes for DIR/00001.eml ..
 *       DIR/COUNT.eml on the one session (read into memory first), QUIT.
 *   mailtls_bench smtp-batch  HOST PORT CA USER PASS FROM TO DIR COUNT
 *       the same with one mailtls_smtp_send_batch() call (built only with
 *       -DHAVE_SEND_BATCH, when the header has it).
 *
 * The login mechanism is the library's choice (NULL), as an application
 * would leave it. Prints one JSON object with the elapsed seconds of the
 * measured part (everything from creating the handle to QUIT).
 */
#define _GNU_SOURCE
#include <mailtls.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail_pop3(mailtls_pop3 *p, const char *what, mailtls_result r) {
    char msg[1024] = "";
    if (p) mailtls_pop3_last_error(p, msg, sizeof msg, NULL);
    fprintf(stderr, "mailtls_bench: %s: %s (%u): %s\n", what, mailtls_result_str(r), r, msg);
    exit(1);
}

static void fail_smtp(mailtls_smtp *s, const char *what, mailtls_result r) {
    char msg[1024] = "";
    if (s) mailtls_smtp_last_error(s, msg, sizeof msg, NULL);
    fprintf(stderr, "mailtls_bench: %s: %s (%u): %s\n", what, mailtls_result_str(r), r, msg);
    exit(1);
}

static mailtls_options *options(const char *ca, mailtls_security security) {
    mailtls_options *o = mailtls_options_new();
    mailtls_result r = mailtls_options_add_ca_file(o, ca);
    if (r == MAILTLS_RESULT_OK) r = mailtls_options_set_security(o, security);
    if (r != MAILTLS_RESULT_OK) {
        fprintf(stderr, "mailtls_bench: options: %s\n", mailtls_result_str(r));
        exit(1);
    }
    return o;
}

static mailtls_pop3 *pop3_session(const char *ca, const char *host, int port, const char *user,
                                  const char *pass) {
    mailtls_options *o = options(ca, MAILTLS_SECURITY_TLS);
    mailtls_pop3 *p = mailtls_pop3_new(o);
    mailtls_options_free(o);
    mailtls_result r = mailtls_pop3_connect(p, host, (uint16_t)port);
    if (r) fail_pop3(p, "connect", r);
    r = mailtls_pop3_login(p, user, pass, NULL);
    if (r) fail_pop3(p, "login", r);
    return p;
}

typedef struct {
    uint64_t bytes;
    uint32_t messages;
} counter;

static int count_message(void *userdata, uint32_t number, const uint8_t *data, size_t len) {
    (void)number;
    counter *c = userdata;
    if (data) c->bytes += len;
    else c->messages++;
    return 0;
}

static int pop3_bulk(const char *host, int port, const char *ca, const char *user, const char *pass) {
    double t0 = now_s();
    mailtls_pop3 *p = pop3_session(ca, host, port, user, pass);
    mailtls_pop3_listing *l = NULL;
    mailtls_result r = mailtls_pop3_uidl(p, &l);
    if (r) fail_pop3(p, "uidl", r);
    size_t n = mailtls_pop3_listing_count(l);
    uint32_t *numbers = malloc(n * sizeof *numbers + 1);
    for (size_t i = 0; i < n; i++) numbers[i] = mailtls_pop3_listing_number(l, i);
    mailtls_pop3_listing_free(l);
    counter c = {0, 0};
    r = mailtls_pop3_retr_many(p, numbers, n, count_message, &c);
    if (r) fail_pop3(p, "retr_many", r);
    r = mailtls_pop3_quit(p);
    if (r) fail_pop3(p, "quit", r);
    mailtls_pop3_free(p);
    double t1 = now_s();
    free(numbers);
    printf("{\"elapsed\": %.6f, \"messages\": %u, \"bytes\": %llu}\n", t1 - t0, c.messages,
           (unsigned long long)c.bytes);
    return c.messages == n ? 0 : 1;
}

static int pop3_file(const char *host, int port, const char *ca, const char *user, const char *pass,
                     unsigned number, const char *path) {
    double t0 = now_s();
    mailtls_pop3 *p = pop3_session(ca, host, port, user, pass);
    mailtls_result r = mailtls_pop3_retr_to_file(p, number, path);
    if (r) fail_pop3(p, "retr_to_file", r);
    r = mailtls_pop3_quit(p);
    if (r) fail_pop3(p, "quit", r);
    mailtls_pop3_free(p);
    double t1 = now_s();
    struct stat st;
    stat(path, &st);
    printf("{\"elapsed\": %.6f, \"bytes\": %lld}\n", t1 - t0, (long long)st.st_size);
    return 0;
}

static int pop3_setup(const char *host, int port, const char *ca, const char *user, const char *pass,
                      int count) {
    printf("{\"sessions\": [");
    for (int i = 0; i < count; i++) {
        double t0 = now_s();
        mailtls_pop3 *p = pop3_session(ca, host, port, user, pass);
        uint32_t n;
        uint64_t octets;
        mailtls_result r = mailtls_pop3_stat(p, &n, &octets);
        if (r) fail_pop3(p, "stat", r);
        r = mailtls_pop3_quit(p);
        if (r) fail_pop3(p, "quit", r);
        mailtls_pop3_free(p);
        printf("%s%.6f", i ? ", " : "", now_s() - t0);
    }
    printf("]}\n");
    return 0;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    struct stat st;
    fstat(fileno(f), &st);
    char *p = malloc((size_t)st.st_size + 1);
    if (fread(p, 1, (size_t)st.st_size, f) != (size_t)st.st_size) exit(1);
    fclose(f);
    *len = (size_t)st.st_size;
    return p;
}

static int smtp_outbox(const char *host, int port, const char *ca, const char *user, const char *pass,
                       const char *from, const char *to, const char *dir, int count) {
    char **msg = calloc((size_t)count, sizeof *msg);
    size_t *mlen = calloc((size_t)count, sizeof *mlen);
    for (int i = 0; i < count; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%05d.eml", dir, i + 1);
        msg[i] = slurp(path, &mlen[i]);
    }
    double t0 = now_s();
    mailtls_options *o = options(ca, MAILTLS_SECURITY_STARTTLS);
    mailtls_smtp *s = mailtls_smtp_new(o);
    mailtls_options_free(o);
    mailtls_result r = mailtls_smtp_connect(s, host, (uint16_t)port);
    if (r) fail_smtp(s, "connect", r);
    r = mailtls_smtp_login(s, user, pass, NULL);
    if (r) fail_smtp(s, "login", r);
    const char *rcpt[1] = {to};
    for (int i = 0; i < count; i++) {
        r = mailtls_smtp_send_bytes(s, from, rcpt, 1, (const uint8_t *)msg[i], mlen[i], NULL);
        if (r) fail_smtp(s, "send", r);
    }
    r = mailtls_smtp_quit(s);
    if (r) fail_smtp(s, "quit", r);
    mailtls_smtp_free(s);
    double t1 = now_s();
    printf("{\"elapsed\": %.6f, \"messages\": %d}\n", t1 - t0, count);
    return 0;
}

#ifdef HAVE_SEND_BATCH
typedef struct {
    int sent, failed;
} batch_count;

static void batch_outcome(void *userdata, size_t index, mailtls_result result,
                          const mailtls_smtp_results *results, uint32_t smtp_code, const char *error) {
    (void)results;
    (void)smtp_code;
    batch_count *b = userdata;
    if (result == MAILTLS_RESULT_OK) {
        b->sent++;
    } else {
        b->failed++;
        fprintf(stderr, "mailtls_bench: message %zu: %s: %s\n", index + 1, mailtls_result_str(result), error);
    }
}

/* The outbox in one mailtls_smtp_send_batch() call: the library pipelines
 * each message's content with the next one's envelope (RFC 2920). */
static int smtp_batch(const char *host, int port, const char *ca, const char *user, const char *pass,
                      const char *from, const char *to, const char *dir, int count) {
    mailtls_smtp_message *m = calloc((size_t)count, sizeof *m);
    const char *rcpt[1] = {to};
    for (int i = 0; i < count; i++) {
        char path[4096];
        size_t len;
        snprintf(path, sizeof path, "%s/%05d.eml", dir, i + 1);
        m[i].from = from;
        m[i].recipients = rcpt;
        m[i].recipient_count = 1;
        m[i].data = (const uint8_t *)slurp(path, &len);
        m[i].len = len;
    }
    double t0 = now_s();
    mailtls_options *o = options(ca, MAILTLS_SECURITY_STARTTLS);
    mailtls_smtp *s = mailtls_smtp_new(o);
    mailtls_options_free(o);
    mailtls_result r = mailtls_smtp_connect(s, host, (uint16_t)port);
    if (r) fail_smtp(s, "connect", r);
    r = mailtls_smtp_login(s, user, pass, NULL);
    if (r) fail_smtp(s, "login", r);
    batch_count b = {0, 0};
    r = mailtls_smtp_send_batch(s, m, (size_t)count, batch_outcome, &b);
    if (r) fail_smtp(s, "send_batch", r);
    r = mailtls_smtp_quit(s);
    if (r) fail_smtp(s, "quit", r);
    mailtls_smtp_free(s);
    double t1 = now_s();
    printf("{\"elapsed\": %.6f, \"messages\": %d}\n", t1 - t0, b.sent);
    return b.failed || b.sent != count;
}
#endif

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: mailtls_bench MODE HOST PORT CA USER PASS [ARGS]\n");
        return 2;
    }
    const char *mode = argv[1], *host = argv[2], *ca = argv[4], *user = argv[5], *pass = argv[6];
    int port = atoi(argv[3]);
    if (strcmp(mode, "pop3-bulk") == 0) return pop3_bulk(host, port, ca, user, pass);
    if (strcmp(mode, "pop3-file") == 0 && argc == 9)
        return pop3_file(host, port, ca, user, pass, (unsigned)atoi(argv[7]), argv[8]);
    if (strcmp(mode, "pop3-setup") == 0 && argc == 8)
        return pop3_setup(host, port, ca, user, pass, atoi(argv[7]));
    if (strcmp(mode, "smtp-outbox") == 0 && argc == 11)
        return smtp_outbox(host, port, ca, user, pass, argv[7], argv[8], argv[9], atoi(argv[10]));
#ifdef HAVE_SEND_BATCH
    if (strcmp(mode, "smtp-batch") == 0 && argc == 11)
        return smtp_batch(host, port, ca, user, pass, argv[7], argv[8], argv[9], atoi(argv[10]));
#endif
    fprintf(stderr, "mailtls_bench: bad arguments\n");
    return 2;
}
