/*
 * Shared helpers of the C tests of mailtls (the programs in tests/c): the CHECK macros,
 * the test server's environment, mailbox seeding, a growable byte buffer and
 * a trace recorder. Linked into every test program by tests/c/run.sh.
 */
#ifndef MAILTLS_TEST_COMMON_H
#define MAILTLS_TEST_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mailtls.h"

/* Number of failed checks so far (CHECK may run on several threads);
 * main() returns test_finish(). */
extern _Atomic int test_failures;

/* The handle whose last_error/last_reply CHECK prints on failure in the
 * calling thread (may be NULL). Set it after creating a handle. */
void test_use_handle(const mailtls_pop3 *pop3);

/* The same for an SMTP handle (also printing its last code and enhanced
 * code). Either call replaces the handle set by the other. */
void test_use_smtp_handle(const mailtls_smtp *smtp);

void test_report(const char *file, int line, const char *expr, const char *detail);

/* Check a condition; on failure print file:line, the expression and the
 * current handle's last error, count the failure and go on. */
#define CHECK(cond)                                                    \
	do {                                                           \
		if (!(cond))                                           \
			test_report(__FILE__, __LINE__, #cond, NULL);  \
	} while (0)

/* Check that a call returns the expected mailtls_result; on failure also
 * print both results' names. */
#define CHECK_RC(expected, call)                                          \
	do {                                                              \
		mailtls_result check_rc_got_ = (call);                    \
		mailtls_result check_rc_want_ = (expected);               \
		if (check_rc_got_ != check_rc_want_)                      \
			test_report_rc(__FILE__, __LINE__, #call,         \
				       check_rc_want_, check_rc_got_);    \
	} while (0)

#define CHECK_OK(call) CHECK_RC(MAILTLS_RESULT_OK, call)

void test_report_rc(const char *file, int line, const char *call,
		    mailtls_result want, mailtls_result got);

/* Print "PASS"/"FAIL" for the program and return its exit status. */
int test_finish(const char *name);

/* --- the test server (tests/servers/dovecot.sh env.sh) ------------------- */

struct test_env {
	const char *host;
	uint16_t pop3_port;  /* plain, with STLS */
	uint16_t pop3s_port; /* implicit TLS */
	const char *ca;
	const char *other_ca;
	const char *server_sha256;
	const char *password;
	const char *maildir_root;
};

/* Read the MAILTLS_TEST_* variables; exits with status 2 if any is missing. */
struct test_env test_env_load(void);

/* Options trusting the test CA, with timeouts that suit valgrind. */
mailtls_options *test_options(const struct test_env *env);

/* --- the test SMTP server (tests/servers/postfix.sh env.sh) ------------- */

struct test_smtp_env {
	uint16_t submission_port; /* STARTTLS required; AUTH required to send */
	uint16_t smtps_port;      /* implicit TLS */
	uint16_t plain_port;      /* STARTTLS offered; local delivery without AUTH */
	uint64_t size_limit;      /* the SIZE Postfix announces */
};

/* Read the MAILTLS_TEST_SMTP_* variables; exits with status 2 if any is
 * missing. */
struct test_smtp_env test_smtp_env_load(void);

/* --- the SCRAM server set (a second Dovecot and Postfix offering SCRAM) -- */

struct test_scram_env {
	const char *host;
	const char *password;
	const char *ca;           /* that set's own CA */
	uint16_t pop3_port;       /* plain, with STLS */
	uint16_t pop3s_port;      /* implicit TLS */
	uint16_t submission_port; /* SMTP, STARTTLS, AUTH through Dovecot */
	uint16_t smtps_port;
};

/* Read MAILTLS_TEST_HOST, MAILTLS_TEST_PASSWORD and the MAILTLS_TEST_SCRAM_*
 * variables tests/run.sh exports; exits with status 2 if any is missing. */
struct test_scram_env test_scram_env_load(void);

/* --- mailbox seeding ---------------------------------------------------- */

/* Empty new/ and cur/ of USER's Maildir and store the messages (LF line
 * ends, as on disk) in new/ in order, so they become messages 1..count.
 * Exits with status 2 on a file system error. Must not be called while a
 * session of that user is open. */
void test_seed_mailbox(const struct test_env *env, const char *user,
		       const char *const *messages, size_t count);

/* --- byte buffers ------------------------------------------------------- */

struct bytes {
	unsigned char *data;
	size_t len, cap;
};

void bytes_append(struct bytes *b, const void *data, size_t len);
void bytes_free(struct bytes *b);
bool bytes_equal(const struct bytes *b, const void *data, size_t len);

/* What Dovecot sends for a message stored with LF line ends: every LF as
 * CRLF, and a final CRLF added when the message does not end with one. */
struct bytes test_expected_wire(const char *stored);

/* --- delivered messages (Postfix into the Dovecot maildirs) ------------ */

/* Wait (polling, up to timeout_ms) until at least `count` delivered
 * messages of USER (files in new/ and cur/ of the Maildir) contain
 * `marker` (NULL: any message); returns how many do at the end. */
size_t test_wait_delivered(const struct test_env *env, const char *user, const char *marker,
			   size_t count, int timeout_ms);

/* The content of the first delivered message of USER that contains
 * `marker` (NULL: any); false (and `out` empty) if there is none. */
bool test_read_delivered(const struct test_env *env, const char *user, const char *marker,
			 struct bytes *out);

/* Does [hay, hay+len) contain the NUL-terminated needle? */
bool mem_contains(const void *hay, size_t len, const char *needle);

/* A data callback appending to the struct bytes passed as userdata. */
int collect_sink(void *userdata, const uint8_t *data, size_t len);

/* Standard base64 of len bytes into a malloc'd string (caller frees). */
char *test_base64(const void *data, size_t len);

/* --- a scripted fake POP3 server ---------------------------------------- */

struct fake_server {
	uint16_t port;
	int pid; /* the child process serving one connection */
};

/* Fork a child that accepts one connection on 127.0.0.1 (random port) and
 * plays `script`: it sends script[0] at once, then for each further entry
 * reads one line from the client and sends that entry, then waits for the
 * client to close. An entry of NULL closes the connection at that point. */
struct fake_server fake_server_start(const char *const *script, size_t count);

/* Reap the child (killing it if it still runs). */
void fake_server_stop(struct fake_server *server);

/* A port on 127.0.0.1 where nothing listens. */
uint16_t closed_port(void);

/* A listening socket on 127.0.0.1 that never accepts or answers; *port_out
 * gets its port. Close the returned descriptor when done. */
int silent_listener(uint16_t *port_out);

/* --- a scripted fake SMTP server --------------------------------------- */

/* A script entry: read the next command and never answer it (the
 * connection stays open until the server is stopped). Compared by
 * address. */
extern const char FAKE_STALL[];

struct fake_smtp {
	uint16_t port;
	int pid;           /* the child process serving one connection */
	int transcript_fd; /* an unlinked file holding what the client sent */
};

/* Fork a child that accepts one connection on 127.0.0.1 (random port) and
 * plays `script`, SMTP-aware: it sends script[0] (the greeting) at once,
 * then for each further entry reads one command line, or, when the entry
 * before started with "354", the whole message up to its "." line, and
 * sends that entry. An entry of NULL closes the connection at that point
 * (nothing more is read); FAKE_STALL reads and never answers. After the
 * script it waits for the client to hang up. Every byte received is kept
 * for fake_smtp_stop(). */
struct fake_smtp fake_smtp_start(const char *const *script, size_t count);

/* Reap the child (killing it if it still runs) and return every byte the
 * client sent (free with bytes_free; data is NUL-terminated, never NULL). */
struct bytes fake_smtp_stop(struct fake_smtp *server);

/* --- trace recording ---------------------------------------------------- */

/* Every trace line, each kept as "<kind digit> <text>\n". */
struct trace_log {
	struct bytes all;
	size_t commands; /* number of MAILTLS_TRACE_COMMAND lines */
};

/* A mailtls_trace_callback recording into the struct trace_log userdata;
 * with MAILTLS_C_TEST_TRACE set in the environment it also prints each line
 * to stderr. */
void trace_record(void *userdata, mailtls_trace_kind kind, const uint8_t *data, size_t len);

/* Was a command line starting with `prefix` (e.g. "USER ") sent? */
bool trace_has_command(const struct trace_log *log, const char *prefix);

/* Does any trace line of any kind contain `needle`? */
bool trace_contains(const struct trace_log *log, const char *needle);

void trace_clear(struct trace_log *log);

#endif /* MAILTLS_TEST_COMMON_H */
