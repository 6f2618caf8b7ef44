/*
 * Error paths of the SMTP part of the C API: NULL for every pointer
 * argument, invalid addresses and names, calls in the wrong state, and
 * server behaviour played by scripted fake SMTP servers forked from this
 * program (HELO fallback, STARTTLS missing or refused, 421, drops, stalls,
 * malformed replies, per-recipient refusals, SIZE, SMTPUTF8, the client
 * name in EHLO); then the test Postfix's own refusals (STARTTLS required,
 * untrusted certificates). Uses user97 only.
 *
 * Run by tests/c/run.sh with the env.sh of tests/servers/dovecot.sh and
 * tests/servers/postfix.sh sourced.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static struct test_env env;
static struct test_smtp_env senv;
static struct trace_log trace;

/* Invalid UTF-8: a lone continuation byte and an overlong encoding. */
static const char bad_utf8[] = "user97\x80\xc0\xaf@example.org";

static const char *const one_rcpt[1] = {"b@example.org"};
static const char small_msg[] = "Subject: small\r\n\r\nhello\r\n";

/* Fake server replies. */
#define GREETING "220 fake.test ESMTP ready\r\n"
#define EHLO_PLAIN "250-fake.test greets you\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n"
#define OK_MAIL "250 2.1.0 Ok\r\n"
#define OK_RCPT "250 2.1.5 Ok\r\n"
#define GO_AHEAD "354 End data with <CR><LF>.<CR><LF>\r\n"
#define QUEUED "250 2.0.0 Ok: queued\r\n"
#define OK_NOOP "250 2.0.0 Ok\r\n"
#define BYE "221 2.0.0 Bye\r\n"

static int64_t never_called_read(void *userdata, uint8_t *buf, size_t len)
{
	(void)userdata;
	(void)buf;
	(void)len;
	CHECK(!"a read callback was called");
	return -1;
}

/* A read callback over a memory message. */
struct mem_source {
	const unsigned char *data;
	size_t len, pos, calls;
};

static int64_t mem_read(void *userdata, uint8_t *buf, size_t len)
{
	struct mem_source *s = userdata;
	size_t n = s->len - s->pos;
	s->calls++;
	if (n > len)
		n = len;
	memcpy(buf, s->data + s->pos, n);
	s->pos += n;
	return (int64_t)n;
}

/* A callback breaking its contract: more bytes than asked for. */
static int64_t too_many_bytes(void *userdata, uint8_t *buf, size_t len)
{
	(void)userdata;
	memset(buf, 'x', len);
	return (int64_t)len + 1;
}

static void check_has_error(const mailtls_smtp *smtp)
{
	char buf[512];
	size_t len = 0;
	mailtls_result rc = mailtls_smtp_last_error(smtp, buf, sizeof buf, &len);
	CHECK(rc == MAILTLS_RESULT_OK || rc == MAILTLS_RESULT_BUFFER_TOO_SMALL);
	CHECK(len > 0 && buf[0] != '\0');
}

static void check_last_reply(const mailtls_smtp *smtp, uint32_t code, const char *enhanced, const char *reply)
{
	char buf[512];
	size_t len = 0;
	CHECK(mailtls_smtp_last_code(smtp) == code);
	CHECK_OK(mailtls_smtp_last_enhanced_code(smtp, buf, sizeof buf, &len));
	if (strcmp(buf, enhanced) != 0 || len != strlen(enhanced)) {
		fprintf(stderr, "enhanced code \"%s\", want \"%s\"\n", buf, enhanced);
		CHECK(!"the enhanced code of the last reply");
	}
	CHECK_OK(mailtls_smtp_last_reply(smtp, buf, sizeof buf, &len));
	if (strcmp(buf, reply) != 0 || len != strlen(reply)) {
		fprintf(stderr, "last reply \"%s\", want \"%s\"\n", buf, reply);
		CHECK(!"the last reply");
	}
}

static void close_handle(mailtls_smtp *smtp)
{
	mailtls_smtp_free(smtp);
	test_use_smtp_handle(NULL);
}

/* A handle for a fake server: no TLS, plaintext logins allowed, short
 * timeouts, the trace on; `client_name` NULL for the default. */
static mailtls_smtp *fake_handle(mailtls_security security, uint32_t io_timeout_ms, const char *client_name)
{
	mailtls_options *opts = mailtls_options_new();
	mailtls_smtp *smtp;
	CHECK_OK(mailtls_options_set_security(opts, security));
	CHECK_OK(mailtls_options_set_connect_timeout_ms(opts, 5000));
	CHECK_OK(mailtls_options_set_io_timeout_ms(opts, io_timeout_ms));
	CHECK_OK(mailtls_options_set_allow_plaintext_auth(opts, true));
	CHECK_OK(mailtls_options_set_client_name(opts, client_name));
	CHECK_OK(mailtls_options_set_trace(opts, trace_record, &trace));
	smtp = mailtls_smtp_new(opts);
	mailtls_options_free(opts);
	CHECK(smtp != NULL);
	if (smtp == NULL)
		exit(2);
	test_use_smtp_handle(smtp);
	return smtp;
}

/* Connected to a fake server playing `script` (security NONE). */
static mailtls_smtp *fake_session(struct fake_smtp *server, const char *const *script, size_t count,
				  uint32_t io_timeout_ms)
{
	mailtls_smtp *smtp = fake_handle(MAILTLS_SECURITY_NONE, io_timeout_ms, "client.example.test");
	*server = fake_smtp_start(script, count);
	trace_clear(&trace);
	CHECK_OK(mailtls_smtp_connect(smtp, "127.0.0.1", server->port));
	return smtp;
}

/* Stop the fake server and check that the client sent exactly `want`. */
static void check_transcript(struct fake_smtp *server, const char *want)
{
	struct bytes got = fake_smtp_stop(server);
	if (want != NULL && !bytes_equal(&got, want, strlen(want))) {
		fprintf(stderr, "the fake server received:\n%s--- expected:\n%s---\n", (const char *)got.data, want);
		CHECK(!"the client sent what was expected");
	}
	bytes_free(&got);
}

/* Every call after the connection was closed by an error. */
static void check_closed(mailtls_smtp *smtp)
{
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_smtp_noop(smtp));
	check_has_error(smtp);
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED,
		 mailtls_smtp_send_bytes(smtp, "a@example.org", one_rcpt, 1, (const uint8_t *)"x", 1, NULL));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_smtp_quit(smtp));
}

/* --- NULL arguments ------------------------------------------------------- */

static void test_null_accessors(void)
{
	mailtls_smtp *smtp;

	mailtls_smtp_free(NULL);
	mailtls_smtp_results_free(NULL);
	CHECK(mailtls_smtp_extensions(NULL) == NULL);
	CHECK(mailtls_smtp_last_code(NULL) == 0);

	CHECK(mailtls_smtp_results_count(NULL) == 0);
	CHECK(mailtls_smtp_results_address(NULL, 0) == NULL);
	CHECK(!mailtls_smtp_results_accepted(NULL, 0));
	CHECK(mailtls_smtp_results_code(NULL, 0) == 0);
	CHECK(mailtls_smtp_results_enhanced(NULL, 0) == NULL);
	CHECK(mailtls_smtp_results_text(NULL, 0) == NULL);

	/* NULL options mean the defaults. */
	smtp = mailtls_smtp_new(NULL);
	CHECK(smtp != NULL);
	CHECK(mailtls_smtp_extensions(smtp) == NULL);
	CHECK(mailtls_smtp_last_code(smtp) == 0);
	mailtls_smtp_free(smtp);

	/* The client name option. */
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_options_set_client_name(NULL, "client.example.test"));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_options_set_client_name(NULL, NULL));
}

/* The buffer rules of the last_* functions with NULL pointers. */
static void check_null_copy_out(mailtls_result (*fn)(const mailtls_smtp *, char *, size_t, size_t *),
				const mailtls_smtp *smtp)
{
	char buf[16];
	size_t len = 12345;
	mailtls_result rc;
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, fn(NULL, buf, sizeof buf, &len));
	CHECK(len == 12345);
	/* len_out is optional. */
	CHECK(fn(smtp, buf, sizeof buf, NULL) != MAILTLS_RESULT_NULL_ARGUMENT);
	/* A NULL buffer only asks for the length: OK for an empty text,
	 * BUFFER_TOO_SMALL otherwise. */
	rc = fn(smtp, NULL, 0, &len);
	CHECK(len != 12345);
	CHECK(rc == (len == 0 ? MAILTLS_RESULT_OK : MAILTLS_RESULT_BUFFER_TOO_SMALL));
}

/* Every SMTP function with a NULL for each pointer argument: caught before
 * anything is sent, outputs untouched. */
static void check_null_smtp_args(mailtls_smtp *smtp)
{
	static const char *const with_null[2] = {"b@example.org", NULL};
	static const char *const only_null[1] = {NULL};
	mailtls_smtp_results *sentinel = (mailtls_smtp_results *)&trace;
	mailtls_smtp_results *r = sentinel;
	const uint8_t *msg = (const uint8_t *)small_msg;
	size_t msg_len = strlen(small_msg);
	char buf[80];
	size_t len = 777;

	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_smtp_connect(NULL, "127.0.0.1", 25));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_smtp_connect(smtp, NULL, 25));
	check_has_error(smtp);
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_smtp_login(NULL, "user97", env.password, NULL));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_smtp_login(smtp, NULL, env.password, NULL));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_smtp_login(smtp, "user97", NULL, NULL));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_smtp_login(smtp, NULL, NULL, "PLAIN"));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_smtp_login_oauth2(NULL, "user97", "token"));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_smtp_login_oauth2(smtp, NULL, "token"));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_smtp_login_oauth2(smtp, "user97", NULL));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_smtp_set_dsn(NULL, "FAILURE", "HDRS", "id", true));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_smtp_set_dsn(NULL, NULL, NULL, NULL, false));

	/* send: the handle, the sender, the array, an element, the callback. */
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_smtp_send(NULL, "a@example.org", one_rcpt, 1,
								never_called_read, NULL, 10, &r));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT,
		 mailtls_smtp_send(smtp, NULL, one_rcpt, 1, never_called_read, NULL, 10, &r));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT,
		 mailtls_smtp_send(smtp, "a@example.org", NULL, 1, never_called_read, NULL, 10, &r));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT,
		 mailtls_smtp_send(smtp, "a@example.org", only_null, 1, never_called_read, NULL, 10, &r));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT,
		 mailtls_smtp_send(smtp, "a@example.org", with_null, 2, never_called_read, NULL, 10, &r));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT,
		 mailtls_smtp_send(smtp, "a@example.org", one_rcpt, 1, NULL, NULL, 10, &r));
	/* The last failure names what was NULL. */
	CHECK_OK(mailtls_smtp_last_error(smtp, buf, sizeof buf, &len));
	CHECK(strstr(buf, "NULL") != NULL && strstr(buf, "callback") != NULL);

	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT,
		 mailtls_smtp_send_bytes(NULL, "a@example.org", one_rcpt, 1, msg, msg_len, &r));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_smtp_send_bytes(smtp, NULL, one_rcpt, 1, msg, msg_len, &r));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT,
		 mailtls_smtp_send_bytes(smtp, "a@example.org", NULL, 1, msg, msg_len, &r));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT,
		 mailtls_smtp_send_bytes(smtp, "a@example.org", with_null, 2, msg, msg_len, &r));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT,
		 mailtls_smtp_send_bytes(smtp, "a@example.org", one_rcpt, 1, NULL, msg_len, &r));

	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT,
		 mailtls_smtp_send_file(NULL, "a@example.org", one_rcpt, 1, "/tmp/x.eml", &r));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_smtp_send_file(smtp, NULL, one_rcpt, 1, "/tmp/x.eml", &r));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT,
		 mailtls_smtp_send_file(smtp, "a@example.org", NULL, 1, "/tmp/x.eml", &r));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT,
		 mailtls_smtp_send_file(smtp, "a@example.org", only_null, 1, "/tmp/x.eml", &r));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_smtp_send_file(smtp, "a@example.org", one_rcpt, 1, NULL, &r));

	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_smtp_send_message(NULL, msg, msg_len, &r));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_smtp_send_message(smtp, NULL, msg_len, &r));
	CHECK(r == sentinel); /* never written */

	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_smtp_noop(NULL));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_smtp_rset(NULL));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_smtp_quit(NULL));

	len = 777;
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_smtp_peer_cert_sha256(NULL, buf, sizeof buf, &len));
	CHECK(len == 777);
	check_null_copy_out(mailtls_smtp_last_error, smtp);
	check_null_copy_out(mailtls_smtp_last_reply, smtp);
	check_null_copy_out(mailtls_smtp_last_enhanced_code, smtp);
}

/* No recipients: INVALID_ARGUMENT whatever the array. */
static void check_no_recipients(mailtls_smtp *smtp)
{
	mailtls_smtp_results *sentinel = (mailtls_smtp_results *)&trace;
	mailtls_smtp_results *r = sentinel;
	const uint8_t *msg = (const uint8_t *)small_msg;
	size_t msg_len = strlen(small_msg);

	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
		 mailtls_smtp_send(smtp, "a@example.org", one_rcpt, 0, never_called_read, NULL, 10, &r));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
		 mailtls_smtp_send(smtp, "a@example.org", NULL, 0, never_called_read, NULL, 10, &r));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
		 mailtls_smtp_send_bytes(smtp, "a@example.org", one_rcpt, 0, msg, msg_len, &r));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
		 mailtls_smtp_send_bytes(smtp, "a@example.org", NULL, 0, msg, msg_len, &r));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
		 mailtls_smtp_send_file(smtp, "a@example.org", NULL, 0, "/tmp/x.eml", &r));
	check_has_error(smtp);
	CHECK(r == sentinel);
}

static void test_null_smtp(void)
{
	static const char *const script[] = {GREETING, EHLO_PLAIN, OK_NOOP, BYE};
	struct fake_smtp server;
	mailtls_smtp *smtp;

	/* Not connected: the NULL is found first. */
	smtp = fake_handle(MAILTLS_SECURITY_NONE, 5000, NULL);
	check_null_smtp_args(smtp);
	check_no_recipients(smtp);
	close_handle(smtp);

	/* Connected: nothing is sent, and the session goes on (connect
	 * checks the host before closing the open connection). */
	smtp = fake_session(&server, script, 4, 5000);
	trace_clear(&trace);
	check_null_smtp_args(smtp);
	check_no_recipients(smtp);
	CHECK(trace.commands == 0);
	CHECK_OK(mailtls_smtp_noop(smtp));
	CHECK_OK(mailtls_smtp_quit(smtp));
	close_handle(smtp);
	check_transcript(&server, "EHLO client.example.test\r\nNOOP\r\nQUIT\r\n");
}

/* --- the wrong state -------------------------------------------------------- */

static void test_before_connect(void)
{
	mailtls_smtp *smtp = mailtls_smtp_new(NULL);
	const uint8_t *msg = (const uint8_t *)small_msg;
	size_t msg_len = strlen(small_msg);
	mailtls_smtp_results *sentinel = (mailtls_smtp_results *)&trace;
	mailtls_smtp_results *r = sentinel;
	char buf[80];
	size_t len = 0;

	test_use_smtp_handle(smtp);
	CHECK(mailtls_smtp_extensions(smtp) == NULL);
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_smtp_login(smtp, "user97", env.password, NULL));
	check_has_error(smtp);
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_smtp_login(smtp, "user97", env.password, "PLAIN"));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_smtp_login_oauth2(smtp, "user97", "token"));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED,
		 mailtls_smtp_send(smtp, "a@example.org", one_rcpt, 1, never_called_read, NULL, 10, &r));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED,
		 mailtls_smtp_send_bytes(smtp, "a@example.org", one_rcpt, 1, msg, msg_len, &r));
	/* An empty message (NULL with length 0) is no NULL argument. */
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED,
		 mailtls_smtp_send_bytes(smtp, "a@example.org", one_rcpt, 1, NULL, 0, &r));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED,
		 mailtls_smtp_send_file(smtp, "a@example.org", one_rcpt, 1, "/nonexistent/x.eml", &r));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_smtp_send_message(smtp, msg, msg_len, &r));
	CHECK(r == sentinel);
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_smtp_noop(smtp));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_smtp_rset(smtp));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_smtp_quit(smtp));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_smtp_peer_cert_sha256(smtp, buf, sizeof buf, &len));
	CHECK(mailtls_smtp_last_code(smtp) == 0);
	/* DSN is a setting of the handle: no connection needed. */
	CHECK_OK(mailtls_smtp_set_dsn(smtp, "SUCCESS", NULL, NULL, false));
	CHECK_OK(mailtls_smtp_set_dsn(smtp, NULL, NULL, NULL, false));
	CHECK(mailtls_smtp_last_code(smtp) == 0);
	close_handle(smtp);
}

/* --- invalid arguments ------------------------------------------------------ */

static void test_client_name_option(void)
{
	static const char *const bad[] = {
		"",
		"bad name",
		"under_score.example",
		"client.example\r\nMAIL FROM:<x@y>",
		"client\n",
		bad_utf8,
		"\xc3\xa9xample.org", /* not ASCII */
		"<client>",
	};
	mailtls_options *opts = mailtls_options_new();
	char long_name[300];
	char buf[256];
	size_t i, len = 0;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		mailtls_result rc = mailtls_options_set_client_name(opts, bad[i]);
		if (rc != MAILTLS_RESULT_INVALID_ARGUMENT)
			fprintf(stderr, "client name \"%s\" gave %u\n", bad[i], (unsigned)rc);
		CHECK(rc == MAILTLS_RESULT_INVALID_ARGUMENT);
	}
	CHECK_OK(mailtls_options_last_error(opts, buf, sizeof buf, &len));
	CHECK(len > 0);
	memset(long_name, 'a', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = '\0';
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_options_set_client_name(opts, long_name));
	CHECK_OK(mailtls_options_set_client_name(opts, "client.example.test"));
	CHECK_OK(mailtls_options_set_client_name(opts, "[192.0.2.1]"));
	CHECK_OK(mailtls_options_set_client_name(opts, "localhost"));
	CHECK_OK(mailtls_options_set_client_name(opts, NULL)); /* the default */
	CHECK_OK(mailtls_options_last_error(opts, buf, sizeof buf, &len));
	CHECK(len == 0);
	mailtls_options_free(opts);
}

/* Addresses that could break out of the command, invalid strings, DSN
 * values, mechanisms, files and messages: refused before anything is sent,
 * on a live session that goes on. */
static void test_invalid_arguments(const char *dir)
{
	static const char *const bad_addresses[] = {
		"a@example.org\r\nRCPT TO:<c@example.org>",
		"a@example.org\nRSET",
		"a@example.org\r",
		"a b@example.org",
		"a@example.org ",
		"\ta@example.org",
		"<a@example.org>",
		"a@example.org> SIZE=1",
		"a<@example.org",
		bad_utf8,
	};
	static const char *const script[] = {GREETING, EHLO_PLAIN, OK_NOOP, BYE};
	static const char no_from[] = "To: b@example.org\r\nSubject: x\r\n\r\nbody\r\n";
	static const char no_to[] = "From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n";
	static const char bad_from[] = "From: <<<\r\nTo: b@example.org\r\n\r\nbody\r\n";
	const uint8_t *msg = (const uint8_t *)small_msg;
	size_t msg_len = strlen(small_msg), i;
	struct fake_smtp server;
	mailtls_smtp *smtp = fake_session(&server, script, 4, 5000);
	char path[4096], long_envid[128];
	FILE *f;

	snprintf(path, sizeof path, "%s/small.eml", dir);
	f = fopen(path, "wb");
	CHECK(f != NULL);
	if (f != NULL) {
		fputs(small_msg, f);
		fclose(f);
	}
	trace_clear(&trace);
	for (i = 0; i < sizeof bad_addresses / sizeof bad_addresses[0]; i++) {
		const char *const to[2] = {"b@example.org", bad_addresses[i]};
		mailtls_result rc[6];
		size_t k;
		rc[0] = mailtls_smtp_send(smtp, bad_addresses[i], one_rcpt, 1, never_called_read, NULL, 10, NULL);
		rc[1] = mailtls_smtp_send(smtp, "a@example.org", to, 2, never_called_read, NULL, 10, NULL);
		rc[2] = mailtls_smtp_send_bytes(smtp, bad_addresses[i], one_rcpt, 1, msg, msg_len, NULL);
		rc[3] = mailtls_smtp_send_bytes(smtp, "a@example.org", to + 1, 1, msg, msg_len, NULL);
		rc[4] = mailtls_smtp_send_file(smtp, bad_addresses[i], one_rcpt, 1, path, NULL);
		rc[5] = mailtls_smtp_send_file(smtp, "a@example.org", to, 2, path, NULL);
		for (k = 0; k < 6; k++) {
			if (rc[k] != MAILTLS_RESULT_INVALID_ARGUMENT) {
				fprintf(stderr, "address %zu, call %zu: %u (%s)\n", i, k, (unsigned)rc[k],
					mailtls_result_str(rc[k]));
				CHECK(!"an invalid address is INVALID_ARGUMENT");
			}
		}
		check_has_error(smtp);
	}
	/* An empty recipient; the empty sender is fine (tested in smtp_flow). */
	{
		const char *const empty[1] = {""};
		CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
			 mailtls_smtp_send_bytes(smtp, "a@example.org", empty, 1, msg, msg_len, NULL));
	}
	/* A path that is not UTF-8; a file that cannot be read (FILE_ERROR,
	 * the session goes on). */
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
		 mailtls_smtp_send_file(smtp, "a@example.org", one_rcpt, 1, bad_utf8, NULL));
	CHECK_RC(MAILTLS_RESULT_FILE_ERROR,
		 mailtls_smtp_send_file(smtp, "a@example.org", one_rcpt, 1, "/nonexistent/mailtls/x.eml", NULL));
	check_has_error(smtp);
	CHECK_RC(MAILTLS_RESULT_FILE_ERROR, mailtls_smtp_send_file(smtp, "a@example.org", one_rcpt, 1, dir, NULL));

	/* send_message without a sender or a recipient, or unreadable. */
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
		 mailtls_smtp_send_message(smtp, (const uint8_t *)no_from, strlen(no_from), NULL));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
		 mailtls_smtp_send_message(smtp, (const uint8_t *)no_to, strlen(no_to), NULL));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
		 mailtls_smtp_send_message(smtp, (const uint8_t *)bad_from, strlen(bad_from), NULL));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_smtp_send_message(smtp, NULL, 0, NULL));

	/* Login: strings, mechanisms that are not SMTP's or take a token. */
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_smtp_login(smtp, bad_utf8, env.password, NULL));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_smtp_login(smtp, "user97", bad_utf8, "PLAIN"));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_smtp_login(smtp, "user97\r\nRSET", env.password, NULL));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_smtp_login(smtp, "user97", "pw\r\nRSET", "LOGIN"));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_smtp_login(smtp, "user97", env.password, bad_utf8));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_smtp_login(smtp, "user97", env.password, "NO-SUCH"));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_smtp_login(smtp, "user97", env.password, "USER"));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_smtp_login(smtp, "user97", env.password, "APOP"));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_smtp_login(smtp, "user97", env.password, "XOAUTH2"));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_smtp_login(smtp, "", env.password, NULL));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_smtp_login_oauth2(smtp, bad_utf8, "token"));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_smtp_login_oauth2(smtp, "user97", "t\r\nRSET"));
	/* The fake offers no AUTH at all. */
	CHECK_RC(MAILTLS_RESULT_NO_COMMON_MECHANISM, mailtls_smtp_login(smtp, "user97", env.password, NULL));
	CHECK_RC(MAILTLS_RESULT_NO_COMMON_MECHANISM, mailtls_smtp_login_oauth2(smtp, "user97", "token"));

	/* DSN: strings checked when set, values when used. */
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_smtp_set_dsn(smtp, bad_utf8, NULL, NULL, false));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_smtp_set_dsn(smtp, NULL, bad_utf8, NULL, false));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_smtp_set_dsn(smtp, NULL, NULL, bad_utf8, false));
	memset(long_envid, 'e', 101);
	long_envid[101] = '\0';
	{
		struct {
			const char *notify, *ret, *envid;
		} bad_dsn[] = {
			{"BOGUS", NULL, NULL},         {"NEVER,SUCCESS", NULL, NULL}, {NULL, "ALL", NULL},
			{NULL, NULL, long_envid},      {NULL, NULL, "\xc3\xa9t\xc3\xa9"}, {NULL, NULL, ""},
		};
		for (i = 0; i < sizeof bad_dsn / sizeof bad_dsn[0]; i++) {
			mailtls_result set = mailtls_smtp_set_dsn(smtp, bad_dsn[i].notify, bad_dsn[i].ret,
								  bad_dsn[i].envid, false);
			/* Refused when set (then nothing is sent) or, at the latest, when used. */
			mailtls_result sent =
				set == MAILTLS_RESULT_OK
					? mailtls_smtp_send_bytes(smtp, "a@example.org", one_rcpt, 1, msg, msg_len, NULL)
					: MAILTLS_RESULT_INVALID_ARGUMENT;
			if (!(set == MAILTLS_RESULT_INVALID_ARGUMENT ||
			      (set == MAILTLS_RESULT_OK && sent == MAILTLS_RESULT_INVALID_ARGUMENT))) {
				fprintf(stderr, "DSN case %zu: set %u, send %u\n", i, (unsigned)set, (unsigned)sent);
				CHECK(!"an invalid DSN request is INVALID_ARGUMENT");
			}
		}
		CHECK_OK(mailtls_smtp_set_dsn(smtp, NULL, NULL, NULL, false));
	}
	CHECK(trace.commands == 0);

	/* The session is in step. */
	CHECK_OK(mailtls_smtp_noop(smtp));
	CHECK_OK(mailtls_smtp_quit(smtp));
	close_handle(smtp);
	check_transcript(&server, "EHLO client.example.test\r\nNOOP\r\nQUIT\r\n");
	unlink(path);
}

/* --- fake servers ------------------------------------------------------------ */

/* EHLO refused: HELO, then a message goes out (no extension used). */
static void test_helo_fallback(void)
{
	static const char *const script[] = {
		GREETING, "502 5.5.2 Error: command not recognized\r\n", "250 fake.test\r\n", "250 Ok\r\n",
		"250 Ok\r\n", GO_AHEAD, "250 Ok: queued\r\n", "221 Bye\r\n"};
	static const char msg[] = "Subject: helo\r\n\r\n.dot\nlast";
	struct fake_smtp server;
	mailtls_smtp *smtp = fake_session(&server, script, 8, 5000);
	const mailtls_capabilities *ext = mailtls_smtp_extensions(smtp);
	mailtls_smtp_results *r = NULL;

	CHECK(ext != NULL);
	CHECK(mailtls_capabilities_count(ext) == 0);
	CHECK(!mailtls_capabilities_has(ext, "8BITMIME"));
	CHECK_OK(mailtls_smtp_send_bytes(smtp, "a@example.org", one_rcpt, 1, (const uint8_t *)msg, strlen(msg), &r));
	CHECK(mailtls_smtp_results_count(r) == 1);
	CHECK(mailtls_smtp_results_accepted(r, 0));
	CHECK(mailtls_smtp_results_code(r, 0) == 250);
	CHECK(mailtls_smtp_results_enhanced(r, 0) == NULL);
	CHECK(mailtls_smtp_results_text(r, 0) != NULL && strcmp(mailtls_smtp_results_text(r, 0), "Ok") == 0);
	mailtls_smtp_results_free(r);
	CHECK_OK(mailtls_smtp_quit(smtp));
	close_handle(smtp);
	check_transcript(&server, "EHLO client.example.test\r\n"
				  "HELO client.example.test\r\n"
				  "MAIL FROM:<a@example.org>\r\n"
				  "RCPT TO:<b@example.org>\r\n"
				  "DATA\r\n"
				  "Subject: helo\r\n\r\n..dot\r\nlast\r\n.\r\n"
				  "QUIT\r\n");
}

/* Connect to a fake server playing `script` with `security`; check the
 * result and that the handle is closed after it. */
static void check_fake_connect(const char *const *script, size_t count, mailtls_security security,
			       mailtls_result want, const char *transcript)
{
	struct fake_smtp server = fake_smtp_start(script, count);
	mailtls_smtp *smtp = fake_handle(security, 5000, "[192.0.2.1]");
	trace_clear(&trace);
	CHECK_RC(want, mailtls_smtp_connect(smtp, "127.0.0.1", server.port));
	check_has_error(smtp);
	check_closed(smtp);
	CHECK(mailtls_smtp_extensions(smtp) == NULL);
	close_handle(smtp);
	check_transcript(&server, transcript);
}

/* STARTTLS required but not offered, or refused: nothing more is said in
 * clear. */
static void test_starttls_failures(void)
{
	static const char *const not_offered[] = {GREETING, EHLO_PLAIN, BYE};
	static const char *const refused[] = {
		GREETING, "250-fake.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n",
		"454 4.7.0 TLS not available due to local problem\r\n", BYE};
	static const char *const no_ehlo[] = {GREETING, "500 5.5.1 what?\r\n", "250 fake.test\r\n", BYE};
	char buf[512];

	check_fake_connect(not_offered, 3, MAILTLS_SECURITY_STARTTLS, MAILTLS_RESULT_STARTTLS_UNAVAILABLE,
			   "EHLO [192.0.2.1]\r\n");
	CHECK(trace.commands == 1);
	/* AUTO on a port that is not 465 requires STARTTLS too. */
	check_fake_connect(not_offered, 3, MAILTLS_SECURITY_AUTO, MAILTLS_RESULT_STARTTLS_UNAVAILABLE,
			   "EHLO [192.0.2.1]\r\n");
	check_fake_connect(refused, 4, MAILTLS_SECURITY_STARTTLS, MAILTLS_RESULT_STARTTLS_UNAVAILABLE,
			   "EHLO [192.0.2.1]\r\nSTARTTLS\r\n");
	CHECK(trace.commands == 2);
	check_fake_connect(no_ehlo, 4, MAILTLS_SECURITY_STARTTLS, MAILTLS_RESULT_STARTTLS_UNAVAILABLE,
			   "EHLO [192.0.2.1]\r\nHELO [192.0.2.1]\r\n");

	/* The refusal's text is in the message. */
	{
		struct fake_smtp server = fake_smtp_start(refused, 4);
		mailtls_smtp *smtp = fake_handle(MAILTLS_SECURITY_STARTTLS, 5000, NULL);
		CHECK_RC(MAILTLS_RESULT_STARTTLS_UNAVAILABLE, mailtls_smtp_connect(smtp, "127.0.0.1", server.port));
		CHECK_OK(mailtls_smtp_last_error(smtp, buf, sizeof buf, NULL));
		CHECK(strstr(buf, "TLS not available") != NULL);
		close_handle(smtp);
		check_transcript(&server, NULL);
	}
}

/* 421: the server is closing the connection; the handle closes too. */
static void test_421(void)
{
	static const char *const on_noop[] = {GREETING, EHLO_PLAIN, OK_NOOP,
					      "421 4.3.2 Service shutting down\r\n", NULL};
	static const char *const on_mail[] = {GREETING, EHLO_PLAIN, "421 4.7.0 fake.test Error: too many errors\r\n",
					      NULL};
	static const char *const on_greeting[] = {"421 4.3.2 fake.test busy, try later\r\n", NULL};
	struct fake_smtp server;
	mailtls_smtp *smtp;
	mailtls_smtp_results *sentinel = (mailtls_smtp_results *)&trace;
	mailtls_smtp_results *r = sentinel;

	smtp = fake_session(&server, on_noop, 5, 5000);
	CHECK_OK(mailtls_smtp_noop(smtp));
	CHECK_RC(MAILTLS_RESULT_SERVER_ERROR, mailtls_smtp_noop(smtp));
	check_last_reply(smtp, 421, "4.3.2", "421 4.3.2 Service shutting down");
	check_has_error(smtp);
	check_closed(smtp);
	close_handle(smtp);
	check_transcript(&server, "EHLO client.example.test\r\nNOOP\r\nNOOP\r\n");

	smtp = fake_session(&server, on_mail, 4, 5000);
	CHECK_RC(MAILTLS_RESULT_SERVER_ERROR, mailtls_smtp_send_bytes(smtp, "a@example.org", one_rcpt, 1,
								      (const uint8_t *)small_msg, strlen(small_msg),
								      &r));
	CHECK(r == sentinel);
	check_last_reply(smtp, 421, "4.7.0", "421 4.7.0 fake.test Error: too many errors");
	check_closed(smtp);
	close_handle(smtp);
	check_transcript(&server, NULL);

	/* In the greeting: no enhanced codes known yet. */
	{
		struct fake_smtp s = fake_smtp_start(on_greeting, 2);
		smtp = fake_handle(MAILTLS_SECURITY_NONE, 5000, NULL);
		CHECK_RC(MAILTLS_RESULT_SERVER_ERROR, mailtls_smtp_connect(smtp, "127.0.0.1", s.port));
		CHECK(mailtls_smtp_last_code(smtp) == 421);
		check_closed(smtp);
		close_handle(smtp);
		check_transcript(&s, NULL);
	}
}

/* The connection drops in the middle of DATA, or before the final reply. */
static void test_drops(void)
{
	static const char *const after_go_ahead[] = {GREETING, EHLO_PLAIN, OK_MAIL, OK_RCPT, GO_AHEAD, NULL};
	static const char *const after_data[] = {GREETING, EHLO_PLAIN, OK_MAIL, OK_RCPT, GO_AHEAD, "", NULL};
	static const char *const in_reply[] = {GREETING, EHLO_PLAIN, "250-2.0.0 first line\r\n250-2.0.0 sec",
					       NULL};
	struct fake_smtp server;
	mailtls_smtp *smtp;
	size_t big_len = 4 * 1024 * 1024, i;
	unsigned char *big = malloc(big_len);
	struct mem_source src;
	mailtls_result rc;

	CHECK(big != NULL);
	if (big == NULL)
		return;
	for (i = 0; i < big_len; i++)
		big[i] = i % 64 == 63 ? '\n' : 'd';

	/* The server hangs up right after its 354: the content goes into a
	 * closed connection. */
	smtp = fake_session(&server, after_go_ahead, 6, 5000);
	memset(&src, 0, sizeof src);
	src.data = big;
	src.len = big_len;
	rc = mailtls_smtp_send(smtp, "a@example.org", one_rcpt, 1, mem_read, &src, MAILTLS_SIZE_UNKNOWN, NULL);
	if (rc != MAILTLS_RESULT_CONNECTION_CLOSED && rc != MAILTLS_RESULT_IO_ERROR) {
		fprintf(stderr, "drop during DATA: %u (%s)\n", (unsigned)rc, mailtls_result_str(rc));
		CHECK(!"a drop during DATA is CONNECTION_CLOSED or IO_ERROR");
	}
	check_has_error(smtp);
	check_closed(smtp);
	close_handle(smtp);
	check_transcript(&server, NULL);

	/* All of it sent, then no final reply. */
	smtp = fake_session(&server, after_data, 7, 5000);
	CHECK_RC(MAILTLS_RESULT_CONNECTION_CLOSED,
		 mailtls_smtp_send_bytes(smtp, "a@example.org", one_rcpt, 1, (const uint8_t *)small_msg,
					 strlen(small_msg), NULL));
	check_closed(smtp);
	close_handle(smtp);
	check_transcript(&server, NULL);

	/* In the middle of a multi-line reply. */
	smtp = fake_session(&server, in_reply, 4, 5000);
	CHECK_RC(MAILTLS_RESULT_CONNECTION_CLOSED, mailtls_smtp_noop(smtp));
	check_closed(smtp);
	close_handle(smtp);
	check_transcript(&server, NULL);
	free(big);
}

/* A server that stops answering: TIMEOUT with a short I/O timeout. */
static void test_stalls(void)
{
	static const char *const on_noop[] = {GREETING, EHLO_PLAIN, FAKE_STALL};
	static const char *const on_data_end[] = {GREETING, EHLO_PLAIN, OK_MAIL, OK_RCPT, GO_AHEAD, FAKE_STALL};
	static const char *const on_ehlo[] = {GREETING, FAKE_STALL};
	struct fake_smtp server;
	mailtls_smtp *smtp;
	uint16_t port;
	int fd;
	char buf[512];

	/* No greeting: the message hints at implicit TLS. */
	fd = silent_listener(&port);
	smtp = fake_handle(MAILTLS_SECURITY_NONE, 300, NULL);
	CHECK_RC(MAILTLS_RESULT_TIMEOUT, mailtls_smtp_connect(smtp, "127.0.0.1", port));
	CHECK_OK(mailtls_smtp_last_error(smtp, buf, sizeof buf, NULL));
	CHECK(strstr(buf, "TLS") != NULL);
	check_closed(smtp);
	close_handle(smtp);
	close(fd);

	server = fake_smtp_start(on_ehlo, 2);
	smtp = fake_handle(MAILTLS_SECURITY_NONE, 1000, NULL);
	CHECK_RC(MAILTLS_RESULT_TIMEOUT, mailtls_smtp_connect(smtp, "127.0.0.1", server.port));
	close_handle(smtp);
	check_transcript(&server, NULL);

	/* 1 s: the greeting and EHLO must still come in time under valgrind. */
	smtp = fake_session(&server, on_noop, 3, 1000);
	CHECK_RC(MAILTLS_RESULT_TIMEOUT, mailtls_smtp_noop(smtp));
	check_has_error(smtp);
	check_closed(smtp);
	close_handle(smtp);
	check_transcript(&server, NULL);

	smtp = fake_session(&server, on_data_end, 6, 1000);
	CHECK_RC(MAILTLS_RESULT_TIMEOUT, mailtls_smtp_send_bytes(smtp, "a@example.org", one_rcpt, 1,
								 (const uint8_t *)small_msg, strlen(small_msg), NULL));
	check_closed(smtp);
	close_handle(smtp);
	check_transcript(&server, NULL);
}

/* Replies that break the protocol. */
static void test_malformed(void)
{
	static const char *const garbage_greeting[] = {"HELLO THERE\r\n"};
	static const char *const bad_code[] = {GREETING, "250-fake.test\r\n251 changed its code\r\n"};
	static const char *const not_a_code[] = {GREETING, EHLO_PLAIN, "2x0 what\r\n"};
	static const char *const bad_separator[] = {GREETING, EHLO_PLAIN, "250+Ok\r\n"};
	static const char *const six_hundred[] = {GREETING, EHLO_PLAIN, "600 no such class\r\n"};
	static char endless[12000];
	const char *too_long[3] = {GREETING, EHLO_PLAIN, endless};
	struct fake_smtp server;
	mailtls_smtp *smtp;

	check_fake_connect(garbage_greeting, 1, MAILTLS_SECURITY_NONE, MAILTLS_RESULT_PROTOCOL_ERROR, "");
	check_fake_connect(bad_code, 2, MAILTLS_SECURITY_NONE, MAILTLS_RESULT_PROTOCOL_ERROR,
			   "EHLO [192.0.2.1]\r\n");

	smtp = fake_session(&server, not_a_code, 3, 5000);
	CHECK_RC(MAILTLS_RESULT_PROTOCOL_ERROR, mailtls_smtp_noop(smtp));
	check_has_error(smtp);
	check_closed(smtp);
	close_handle(smtp);
	check_transcript(&server, NULL);

	smtp = fake_session(&server, bad_separator, 3, 5000);
	CHECK_RC(MAILTLS_RESULT_PROTOCOL_ERROR, mailtls_smtp_noop(smtp));
	check_closed(smtp);
	close_handle(smtp);
	check_transcript(&server, NULL);

	smtp = fake_session(&server, six_hundred, 3, 5000);
	CHECK_RC(MAILTLS_RESULT_PROTOCOL_ERROR, mailtls_smtp_noop(smtp));
	check_closed(smtp);
	close_handle(smtp);
	check_transcript(&server, NULL);

	memset(endless, 'a', sizeof endless - 3);
	memcpy(endless, "250 ", 4);
	memcpy(endless + sizeof endless - 3, "\r\n", 3);
	smtp = fake_session(&server, too_long, 3, 5000);
	CHECK_RC(MAILTLS_RESULT_REPLY_TOO_LONG, mailtls_smtp_noop(smtp));
	check_closed(smtp);
	close_handle(smtp);
	check_transcript(&server, NULL);
}

/* Per-recipient results with pipelining; SIZE; a refusal after DATA. */
static void test_recipients_and_size(void)
{
	static const char *const script[] = {
		GREETING,
		"250-fake.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n",
		/* The first message: one accepted of four. */
		OK_MAIL, OK_RCPT, "450 4.2.0 <busy@example.org>: mailbox busy\r\n",
		"550 5.1.1 <nobody@example.org>: no such user\r\n", "553 no enhanced code here\r\n", GO_AHEAD,
		QUEUED,
		/* The second: refused after its content. */
		OK_MAIL, OK_RCPT, GO_AHEAD, "552 5.3.4 Message too big for this test\r\n",
		/* Then NOOP and QUIT. */
		OK_NOOP, BYE};
	static const char *const rcpts[4] = {"b@example.org", "busy@example.org", "nobody@example.org",
					     "c@example.org"};
	char big[1001], exact[1000];
	mailtls_smtp_results *sentinel = (mailtls_smtp_results *)&trace;
	mailtls_smtp_results *r = NULL;
	struct fake_smtp server;
	struct mem_source src;
	mailtls_smtp *smtp = fake_session(&server, script, sizeof script / sizeof script[0], 5000);
	const mailtls_capabilities *ext = mailtls_smtp_extensions(smtp);
	size_t i;

	CHECK(mailtls_capabilities_has(ext, "SIZE"));
	CHECK(mailtls_capabilities_arg(ext, 1, 0) != NULL &&
	      strcmp(mailtls_capabilities_arg(ext, 1, 0), "1000") == 0);

	/* Over SIZE: nothing sent, whatever the call. */
	memset(big, 'a', sizeof big);
	memset(&src, 0, sizeof src);
	src.data = (const unsigned char *)big;
	src.len = sizeof big;
	r = sentinel;
	CHECK_RC(MAILTLS_RESULT_MESSAGE_TOO_LARGE, mailtls_smtp_send_bytes(smtp, "a@example.org", one_rcpt, 1,
									   (const uint8_t *)big, sizeof big, &r));
	check_has_error(smtp);
	CHECK_RC(MAILTLS_RESULT_MESSAGE_TOO_LARGE,
		 mailtls_smtp_send(smtp, "a@example.org", one_rcpt, 1, mem_read, &src, sizeof big, &r));
	CHECK(src.calls == 0);
	CHECK(r == sentinel);
	CHECK(trace.commands == 1); /* EHLO */

	/* Exactly SIZE bytes pass the check; four recipients, one accepted. */
	memset(exact, 'b', sizeof exact);
	memcpy(exact, "Subject: x\r\n\r\n", 14);
	memcpy(exact + sizeof exact - 2, "\r\n", 2); /* as DATA carries it */
	r = NULL;
	CHECK_OK(mailtls_smtp_send_bytes(smtp, "a@example.org", rcpts, 4, (const uint8_t *)exact, sizeof exact, &r));
	CHECK(mailtls_smtp_results_count(r) == 4);
	CHECK(mailtls_smtp_results_accepted(r, 0));
	for (i = 1; i < 4; i++)
		CHECK(!mailtls_smtp_results_accepted(r, i));
	CHECK(mailtls_smtp_results_code(r, 0) == 250);
	CHECK(mailtls_smtp_results_code(r, 1) == 450); /* temporary */
	CHECK(mailtls_smtp_results_code(r, 2) == 550);
	CHECK(mailtls_smtp_results_code(r, 3) == 553);
	CHECK(mailtls_smtp_results_enhanced(r, 1) != NULL && strcmp(mailtls_smtp_results_enhanced(r, 1), "4.2.0") == 0);
	CHECK(mailtls_smtp_results_enhanced(r, 2) != NULL && strcmp(mailtls_smtp_results_enhanced(r, 2), "5.1.1") == 0);
	CHECK(mailtls_smtp_results_enhanced(r, 3) == NULL);
	CHECK(mailtls_smtp_results_text(r, 1) != NULL &&
	      strcmp(mailtls_smtp_results_text(r, 1), "<busy@example.org>: mailbox busy") == 0);
	CHECK(mailtls_smtp_results_text(r, 3) != NULL &&
	      strcmp(mailtls_smtp_results_text(r, 3), "no enhanced code here") == 0);
	for (i = 0; i < 4; i++)
		CHECK(mailtls_smtp_results_address(r, i) != NULL &&
		      strcmp(mailtls_smtp_results_address(r, i), rcpts[i]) == 0);
	mailtls_smtp_results_free(r);

	/* Refused after the content: SERVER_ERROR, results not written; the
	 * session goes on. */
	r = sentinel;
	CHECK_RC(MAILTLS_RESULT_SERVER_ERROR, mailtls_smtp_send_bytes(smtp, "a@example.org", one_rcpt, 1,
								      (const uint8_t *)small_msg, strlen(small_msg),
								      &r));
	CHECK(r == sentinel);
	check_last_reply(smtp, 552, "5.3.4", "552 5.3.4 Message too big for this test");
	CHECK_OK(mailtls_smtp_noop(smtp));
	CHECK(mailtls_smtp_last_code(smtp) == 0);
	CHECK_OK(mailtls_smtp_quit(smtp));
	close_handle(smtp);
	{
		/* Pipelined: MAIL, every RCPT and DATA in one go. */
		struct bytes got = fake_smtp_stop(&server);
		CHECK(mem_contains(got.data, got.len,
				   "MAIL FROM:<a@example.org> SIZE=1000\r\nRCPT TO:<b@example.org>\r\n"
				   "RCPT TO:<busy@example.org>\r\nRCPT TO:<nobody@example.org>\r\n"
				   "RCPT TO:<c@example.org>\r\nDATA\r\n"));
		CHECK(mem_contains(got.data, got.len, "\r\nNOOP\r\nQUIT\r\n"));
		bytes_free(&got);
	}
}

/* Non-ASCII addresses need SMTPUTF8. */
static void test_smtputf8(void)
{
	static const char *const without[] = {GREETING, EHLO_PLAIN, OK_NOOP, BYE};
	static const char *const with[] = {GREETING, "250-fake.test\r\n250 SMTPUTF8\r\n", OK_MAIL, OK_RCPT, GO_AHEAD,
					   QUEUED, BYE};
	static const char *const utf8_rcpt[1] = {"j\xc3\xb6rg@example.org"};
	struct fake_smtp server;
	mailtls_smtp *smtp;

	smtp = fake_session(&server, without, 4, 5000);
	CHECK_RC(MAILTLS_RESULT_SMTPUTF8_UNAVAILABLE,
		 mailtls_smtp_send_bytes(smtp, "a@example.org", utf8_rcpt, 1, (const uint8_t *)small_msg,
					 strlen(small_msg), NULL));
	check_has_error(smtp);
	CHECK_RC(MAILTLS_RESULT_SMTPUTF8_UNAVAILABLE,
		 mailtls_smtp_send_bytes(smtp, "\xc3\xa9t\xc3\xa9@example.org", one_rcpt, 1,
					 (const uint8_t *)small_msg, strlen(small_msg), NULL));
	CHECK(trace.commands == 1);
	/* Nothing was sent: the session goes on. */
	CHECK_OK(mailtls_smtp_noop(smtp));
	CHECK_OK(mailtls_smtp_quit(smtp));
	close_handle(smtp);
	check_transcript(&server, "EHLO client.example.test\r\nNOOP\r\nQUIT\r\n");

	smtp = fake_session(&server, with, 7, 5000);
	CHECK_OK(mailtls_smtp_send_bytes(smtp, "a@example.org", utf8_rcpt, 1, (const uint8_t *)small_msg,
					 strlen(small_msg), NULL));
	CHECK_OK(mailtls_smtp_quit(smtp));
	close_handle(smtp);
	check_transcript(&server, "EHLO client.example.test\r\n"
				  "MAIL FROM:<a@example.org> SMTPUTF8\r\n"
				  "RCPT TO:<j\xc3\xb6rg@example.org>\r\n"
				  "DATA\r\n"
				  "Subject: small\r\n\r\nhello\r\n.\r\n"
				  "QUIT\r\n");
}

/* The client name goes into EHLO (and HELO); the default is a valid one. */
static void test_client_name_in_ehlo(void)
{
	static const char *const script[] = {GREETING, EHLO_PLAIN, BYE};
	struct fake_smtp server = fake_smtp_start(script, 3);
	mailtls_smtp *smtp = fake_handle(MAILTLS_SECURITY_NONE, 5000, NULL);
	struct bytes got;
	size_t i;

	CHECK_OK(mailtls_smtp_connect(smtp, "127.0.0.1", server.port));
	CHECK_OK(mailtls_smtp_quit(smtp));
	close_handle(smtp);
	got = fake_smtp_stop(&server);
	CHECK(got.len > 7 && memcmp(got.data, "EHLO ", 5) == 0);
	/* One valid name: letters, digits, dots and hyphens, then CRLF. */
	for (i = 5; i < got.len && got.data[i] != '\r'; i++) {
		unsigned char c = got.data[i];
		CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '-');
	}
	CHECK(i > 5 && i + 1 < got.len && got.data[i + 1] == '\n');
	CHECK(!mem_contains(got.data, got.len, "client.example.test"));
	bytes_free(&got);
	/* The set names are in test_helo_fallback ("client.example.test")
	 * and check_fake_connect ("[192.0.2.1]"). */
}

/* A read callback that returns more than it was asked for: an error; the
 * message was cut in the middle of DATA, so the connection is unusable. */
static void test_callback_contract(void)
{
	static const char *const script[] = {GREETING, EHLO_PLAIN, OK_MAIL, OK_RCPT, GO_AHEAD, QUEUED, OK_NOOP, BYE};
	struct fake_smtp server;
	/* A short timeout: with the bug, the next call waits for it. */
	mailtls_smtp *smtp = fake_session(&server, script, 8, 1500);
	mailtls_result rc;

	rc = mailtls_smtp_send(smtp, "a@example.org", one_rcpt, 1, too_many_bytes, NULL, MAILTLS_SIZE_UNKNOWN,
			       NULL);
	CHECK(rc != MAILTLS_RESULT_OK);
	check_has_error(smtp);
	rc = mailtls_smtp_noop(smtp);
	/* The server holds a partial message: only closing discards it. */
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, rc);
	close_handle(smtp);
	check_transcript(&server, NULL);
}

/* --- the test Postfix's own refusals ---------------------------------------- */

static mailtls_smtp *postfix_handle(const char *ca, mailtls_security security, bool allow_plaintext,
				    uint32_t io_timeout_ms)
{
	mailtls_options *opts = mailtls_options_new();
	mailtls_smtp *smtp;
	if (ca != NULL)
		CHECK_OK(mailtls_options_add_ca_file(opts, ca));
	CHECK_OK(mailtls_options_set_security(opts, security));
	CHECK_OK(mailtls_options_set_allow_plaintext_auth(opts, allow_plaintext));
	CHECK_OK(mailtls_options_set_connect_timeout_ms(opts, 20000));
	CHECK_OK(mailtls_options_set_io_timeout_ms(opts, io_timeout_ms));
	CHECK_OK(mailtls_options_set_trace(opts, trace_record, &trace));
	smtp = mailtls_smtp_new(opts);
	mailtls_options_free(opts);
	test_use_smtp_handle(smtp);
	return smtp;
}

static void test_postfix_refusals(void)
{
	const char *const to97[1] = {"user97@localhost"};
	const char *const utf8_rcpt[1] = {"j\xc3\xb6rg@localhost"};
	mailtls_smtp_results *r = NULL;
	mailtls_smtp *smtp;
	const mailtls_capabilities *ext;
	char buf[256];
	size_t len = 0;
	mailtls_result rc;

	test_seed_mailbox(&env, "user97", NULL, 0);

	/* Security NONE on the submission port: the password is never sent
	 * in clear; Postfix offers AUTH only over TLS and wants STARTTLS
	 * before MAIL. */
	smtp = postfix_handle(NULL, MAILTLS_SECURITY_NONE, false, 60000);
	trace_clear(&trace);
	CHECK_OK(mailtls_smtp_connect(smtp, env.host, senv.submission_port));
	ext = mailtls_smtp_extensions(smtp);
	CHECK(mailtls_capabilities_has(ext, "STARTTLS"));
	CHECK(!mailtls_capabilities_has(ext, "AUTH"));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_smtp_peer_cert_sha256(smtp, buf, sizeof buf, &len));
	trace_clear(&trace);
	CHECK_RC(MAILTLS_RESULT_PLAINTEXT_AUTH_REFUSED, mailtls_smtp_login(smtp, "user97", env.password, NULL));
	check_has_error(smtp);
	CHECK_RC(MAILTLS_RESULT_PLAINTEXT_AUTH_REFUSED, mailtls_smtp_login(smtp, "user97", env.password, "PLAIN"));
	CHECK_RC(MAILTLS_RESULT_PLAINTEXT_AUTH_REFUSED, mailtls_smtp_login_oauth2(smtp, "user97", "token"));
	CHECK(trace.commands == 0);
	CHECK(!trace_contains(&trace, env.password));
	CHECK_RC(MAILTLS_RESULT_SERVER_ERROR,
		 mailtls_smtp_send_bytes(smtp, "user97@localhost", to97, 1, (const uint8_t *)small_msg,
					 strlen(small_msg), &r));
	CHECK(r == NULL);
	check_last_reply(smtp, 530, "5.7.0", "530 5.7.0 Must issue a STARTTLS command first");
	/* The message says what to change: encryption and a login. */
	CHECK_OK(mailtls_smtp_last_error(smtp, buf, sizeof buf, NULL));
	CHECK(strstr(buf, "choose STARTTLS or SSL/TLS and log in") != NULL);
	/* A refusal: the session goes on. */
	CHECK_OK(mailtls_smtp_noop(smtp));
	CHECK_OK(mailtls_smtp_quit(smtp));
	close_handle(smtp);

	/* ... and with plaintext allowed, still no AUTH to use. */
	smtp = postfix_handle(NULL, MAILTLS_SECURITY_NONE, true, 60000);
	CHECK_OK(mailtls_smtp_connect(smtp, env.host, senv.submission_port));
	trace_clear(&trace);
	CHECK_RC(MAILTLS_RESULT_NO_COMMON_MECHANISM, mailtls_smtp_login(smtp, "user97", env.password, NULL));
	CHECK(trace.commands == 0);
	CHECK_OK(mailtls_smtp_quit(smtp));
	close_handle(smtp);

	/* An unrelated CA: untrusted, with implicit TLS and after STARTTLS;
	 * no credential was ever asked for. */
	smtp = postfix_handle(env.other_ca, MAILTLS_SECURITY_TLS, false, 60000);
	CHECK_RC(MAILTLS_RESULT_CERTIFICATE_UNKNOWN_ISSUER, mailtls_smtp_connect(smtp, env.host, senv.smtps_port));
	check_has_error(smtp);
	/* OpenSSL's code and words, apart from the message. */
	{
		char detail[1024];
		CHECK_OK(mailtls_smtp_last_error_detail(smtp, detail, sizeof detail, NULL));
		CHECK(strstr(detail, "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, 20") != NULL);
	}
	check_closed(smtp);
	/* What the server sent stays on the handle, for the user to decide. */
	CHECK_OK(mailtls_smtp_peer_cert_sha256(smtp, buf, sizeof buf, &len));
	CHECK(strcmp(buf, env.server_sha256) == 0);
	CHECK(mailtls_certificate_failure(mailtls_smtp_peer_certificate(smtp)) ==
	      MAILTLS_RESULT_CERTIFICATE_UNKNOWN_ISSUER);
	close_handle(smtp);
	smtp = postfix_handle(env.other_ca, MAILTLS_SECURITY_AUTO, false, 60000);
	trace_clear(&trace);
	CHECK_RC(MAILTLS_RESULT_CERTIFICATE_UNKNOWN_ISSUER,
		 mailtls_smtp_connect(smtp, env.host, senv.submission_port));
	CHECK(trace_has_command(&trace, "STARTTLS"));
	CHECK(mailtls_smtp_peer_certificate(smtp) != NULL);
	check_closed(smtp);
	close_handle(smtp);

	/* STARTTLS asked of the implicit-TLS port: no greeting comes; a TLS
	 * probe tells why within seconds. */
	smtp = postfix_handle(env.ca, MAILTLS_SECURITY_STARTTLS, false, 60000);
	CHECK_RC(MAILTLS_RESULT_STARTTLS_UNAVAILABLE, mailtls_smtp_connect(smtp, env.host, senv.smtps_port));
	CHECK_OK(mailtls_smtp_last_error(smtp, buf, sizeof buf, &len));
	CHECK(strstr(buf, "expects TLS from the first byte") != NULL);
	close_handle(smtp);

	/* Over TLS without logging in: MAIL passes, every RCPT is refused.
	 * After login, a non-ASCII address goes with SMTPUTF8 (and is
	 * refused as unknown, not for its form). */
	smtp = postfix_handle(env.ca, MAILTLS_SECURITY_AUTO, false, 60000);
	CHECK_OK(mailtls_smtp_connect(smtp, env.host, senv.submission_port));
	CHECK_RC(MAILTLS_RESULT_RECIPIENTS_REFUSED,
		 mailtls_smtp_send_bytes(smtp, "user97@localhost", to97, 1, (const uint8_t *)small_msg,
					 strlen(small_msg), &r));
	CHECK(mailtls_smtp_results_count(r) == 1);
	CHECK(mailtls_smtp_results_code(r, 0) == 554);
	CHECK(mailtls_smtp_results_enhanced(r, 0) != NULL &&
	      strcmp(mailtls_smtp_results_enhanced(r, 0), "5.7.1") == 0);
	mailtls_smtp_results_free(r);
	r = NULL;
	/* The transaction the refusal left open must not stand in the way
	 * of AUTH (RFC 4954 forbids AUTH during a mail transaction). */
	rc = mailtls_smtp_login(smtp, "user97", env.password, NULL);
	CHECK_RC(MAILTLS_RESULT_OK, rc);
	trace_clear(&trace);
	CHECK_RC(MAILTLS_RESULT_RECIPIENTS_REFUSED,
		 mailtls_smtp_send_bytes(smtp, "user97@localhost", utf8_rcpt, 1, (const uint8_t *)small_msg,
					 strlen(small_msg), &r));
	CHECK(trace_has_command(&trace, "MAIL FROM:<user97@localhost> SIZE="));
	CHECK(trace_contains(&trace, " SMTPUTF8\n"));
	CHECK(mailtls_smtp_results_code(r, 0) == 550);
	CHECK(mailtls_smtp_results_enhanced(r, 0) != NULL &&
	      strcmp(mailtls_smtp_results_enhanced(r, 0), "5.1.1") == 0);
	mailtls_smtp_results_free(r);
	CHECK_OK(mailtls_smtp_quit(smtp));
	close_handle(smtp);
	/* Nothing reached the mailbox. */
	CHECK(test_wait_delivered(&env, "user97", NULL, 1, 0) == 0);
}

int main(void)
{
	char dir[] = "/tmp/mailtls-c-smtp-errors-XXXXXX";

	env = test_env_load();
	senv = test_smtp_env_load();
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}

	test_null_accessors();
	test_client_name_option();
	test_before_connect();
	test_null_smtp();
	test_invalid_arguments(dir);
	test_helo_fallback();
	test_starttls_failures();
	test_421();
	test_drops();
	test_stalls();
	test_malformed();
	test_recipients_and_size();
	test_smtputf8();
	test_client_name_in_ehlo();
	test_callback_contract();
	test_postfix_refusals();

	rmdir(dir);
	trace_clear(&trace);
	return test_finish("smtp_errors");
}
