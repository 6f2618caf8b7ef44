/*
 * Error paths of the C API: NULL for every pointer argument, invalid
 * arguments (UTF-8, CR/LF, unknown numbers, bad pins), calls in the wrong
 * state, certificate failures, plaintext refusal, result strings, buffer
 * rules, the version, and network and protocol failures (against scripted
 * fake servers forked from this program). Uses users user80..user84 only.
 *
 * Run by tests/c/run.sh with tests/servers/dovecot.sh's env.sh sourced.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static struct test_env env;
static struct trace_log trace;

static const char msg_one[] = "Subject: one\n\nfirst message\n";
static const char msg_two[] = "Subject: two\n\nsecond message, somewhat longer than the first\n";

/* Invalid UTF-8: a lone continuation byte and an overlong encoding. */
static const char bad_utf8[] = "user80\x80\xc0\xaf";

static int never_called_data(void *userdata, const uint8_t *data, size_t len)
{
	(void)userdata;
	(void)data;
	(void)len;
	CHECK(!"a data callback was called");
	return 1;
}

static int never_called_message(void *userdata, uint32_t number, const uint8_t *data, size_t len)
{
	(void)userdata;
	(void)number;
	(void)data;
	(void)len;
	CHECK(!"a message callback was called");
	return 1;
}

static void never_called_trace(void *userdata, mailtls_trace_kind kind, const uint8_t *data,
			       size_t len)
{
	(void)userdata;
	(void)kind;
	(void)data;
	(void)len;
}

/* What retr_many delivered: message 1's bytes and end markers, and any
 * call for another message. */
struct seen {
	struct bytes first;
	int first_ends;
	int other;
};

static int record_message(void *userdata, uint32_t number, const uint8_t *data, size_t len)
{
	struct seen *s = userdata;
	if (number != 1)
		s->other++;
	else if (data == NULL)
		s->first_ends++;
	else
		bytes_append(&s->first, data, len);
	return 0;
}

/* A handle with the test CA and the trace, not connected. */
static mailtls_pop3 *new_handle(mailtls_security security)
{
	mailtls_options *opts = test_options(&env);
	mailtls_pop3 *pop3;
	CHECK_OK(mailtls_options_set_security(opts, security));
	CHECK_OK(mailtls_options_set_trace(opts, trace_record, &trace));
	pop3 = mailtls_pop3_new(opts);
	mailtls_options_free(opts);
	CHECK(pop3 != NULL);
	test_use_handle(pop3);
	return pop3;
}

static mailtls_pop3 *open_pop3s(const char *user)
{
	mailtls_pop3 *pop3 = new_handle(MAILTLS_SECURITY_TLS);
	CHECK_OK(mailtls_pop3_connect(pop3, env.host, env.pop3s_port));
	CHECK_OK(mailtls_pop3_login(pop3, user, env.password, NULL));
	return pop3;
}

static void close_handle(mailtls_pop3 *pop3)
{
	mailtls_pop3_free(pop3);
	test_use_handle(NULL);
}

/* The handle's last error message is not empty. */
static void check_has_error(const mailtls_pop3 *pop3)
{
	char buf[1024]; /* TLS failures carry the library's own words too */
	size_t len = 0;
	CHECK_OK(mailtls_pop3_last_error(pop3, buf, sizeof buf, &len));
	CHECK(len > 0 && buf[0] != '\0');
}

/* --- NULL arguments ------------------------------------------------------- */

/* Accessors and free functions without a handle. */
static void test_null_accessors(void)
{
	mailtls_buffer_free(NULL);
	mailtls_pop3_listing_free(NULL);
	mailtls_options_free(NULL);
	mailtls_pop3_free(NULL);

	CHECK(mailtls_buffer_data(NULL) == NULL);
	CHECK(mailtls_buffer_len(NULL) == 0);

	CHECK(mailtls_capabilities_count(NULL) == 0);
	CHECK(mailtls_capabilities_name(NULL, 0) == NULL);
	CHECK(mailtls_capabilities_arg_count(NULL, 0) == 0);
	CHECK(mailtls_capabilities_arg(NULL, 0, 0) == NULL);
	CHECK(!mailtls_capabilities_has(NULL, "UIDL"));
	CHECK(!mailtls_capabilities_has(NULL, NULL));

	CHECK(mailtls_pop3_listing_count(NULL) == 0);
	CHECK(mailtls_pop3_listing_number(NULL, 0) == 0);
	CHECK(mailtls_pop3_listing_octets(NULL, 0) == MAILTLS_OCTETS_UNKNOWN);
	CHECK(mailtls_pop3_listing_uid(NULL, 0) == NULL);

	CHECK(mailtls_pop3_capabilities(NULL) == NULL);
}

/* The buffer rules of the last_* functions with NULL pointers. */
static void check_null_copy_out(mailtls_result (*fn)(const mailtls_pop3 *, char *, size_t, size_t *),
				const mailtls_pop3 *pop3)
{
	char buf[16];
	size_t len = 12345;
	mailtls_result rc;
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, fn(NULL, buf, sizeof buf, &len));
	CHECK(len == 12345);
	/* len_out is optional. */
	CHECK(fn(pop3, buf, sizeof buf, NULL) != MAILTLS_RESULT_NULL_ARGUMENT);
	/* A NULL buffer only asks for the length: OK for an empty text,
	 * BUFFER_TOO_SMALL otherwise. */
	rc = fn(pop3, NULL, 0, &len);
	CHECK(len != 12345);
	CHECK(rc == (len == 0 ? MAILTLS_RESULT_OK : MAILTLS_RESULT_BUFFER_TOO_SMALL));
}

static void test_null_options(void)
{
	mailtls_options *opts = mailtls_options_new();
	char buf[64];
	size_t len = 0;
	mailtls_result rc;

	CHECK(opts != NULL);
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_options_set_security(NULL, MAILTLS_SECURITY_TLS));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_options_set_min_tls_version(NULL, MAILTLS_TLS_1_2));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_options_add_ca_file(NULL, env.ca));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_options_add_ca_file(opts, NULL));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_options_add_ca_pem(NULL, (const uint8_t *)"x", 1));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_options_add_ca_pem(opts, NULL, 10));
	/* No bytes at all is not a CA, whatever the pointer. */
	rc = mailtls_options_add_ca_pem(opts, NULL, 0);
	CHECK(rc == MAILTLS_RESULT_INVALID_ARGUMENT || rc == MAILTLS_RESULT_NULL_ARGUMENT);
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_options_set_pin_sha256(NULL, env.server_sha256));
	CHECK_OK(mailtls_options_set_pin_sha256(opts, NULL)); /* removes the pin */
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_options_set_danger_accept_invalid_certs(NULL, false));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_options_set_connect_timeout_ms(NULL, 1000));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_options_set_io_timeout_ms(NULL, 1000));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_options_set_mechanisms(NULL, "PLAIN"));
	CHECK_OK(mailtls_options_set_mechanisms(opts, NULL)); /* allows all */
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_options_set_allow_plaintext_auth(NULL, false));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_options_set_utf8(NULL, false));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_options_set_max_message_bytes(NULL, 1));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_options_set_trace(NULL, never_called_trace, NULL));
	CHECK_OK(mailtls_options_set_trace(opts, NULL, NULL)); /* removes the trace */
	CHECK_OK(mailtls_options_set_trace(opts, never_called_trace, NULL)); /* userdata may be NULL */
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_options_last_error(NULL, buf, sizeof buf, &len));

	/* The NULL is reported on the options. */
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_options_add_ca_file(opts, NULL));
	CHECK_OK(mailtls_options_last_error(opts, buf, sizeof buf, &len));
	CHECK(len > 0 && strstr(buf, "NULL") != NULL);
	rc = mailtls_options_last_error(opts, NULL, 0, &len);
	CHECK(rc == MAILTLS_RESULT_BUFFER_TOO_SMALL || rc == MAILTLS_RESULT_NULL_ARGUMENT);
	/* ... and cleared by the next successful call. */
	CHECK_OK(mailtls_options_set_utf8(opts, true));
	CHECK_OK(mailtls_options_last_error(opts, buf, sizeof buf, &len));
	CHECK(len == 0 && buf[0] == '\0');

	/* NULL options mean the defaults. */
	{
		mailtls_pop3 *pop3 = mailtls_pop3_new(NULL);
		CHECK(pop3 != NULL);
		mailtls_pop3_free(pop3);
	}
	mailtls_options_free(opts);
}

/* Every POP3 function with a NULL for each pointer argument. With a
 * connected, logged-in handle the NULL must be caught before anything is
 * sent and must leave the session usable. */
static void check_null_pop3_args(mailtls_pop3 *pop3)
{
	static const uint32_t nums[2] = {1, 2};
	uint32_t count = 777;
	uint64_t octets = 777;
	mailtls_pop3_listing *listing = (mailtls_pop3_listing *)&count; /* sentinel */
	mailtls_buffer *buffer = (mailtls_buffer *)&count;
	char buf[80];
	size_t len = 777;

	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_connect(NULL, env.host, env.pop3s_port));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_login(NULL, "user80", env.password, NULL));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_login(pop3, NULL, env.password, NULL));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_login(pop3, "user80", NULL, NULL));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_login(pop3, NULL, NULL, "PLAIN"));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_login_oauth2(NULL, "user80", "token"));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_login_oauth2(pop3, NULL, "token"));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_login_oauth2(pop3, "user80", NULL));
	check_has_error(pop3);

	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_stat(NULL, &count, &octets));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_stat(pop3, NULL, &octets));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_stat(pop3, &count, NULL));
	CHECK(count == 777 && octets == 777); /* outputs untouched */

	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_list(NULL, &listing));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_list(pop3, NULL));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_uidl(NULL, &listing));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_uidl(pop3, NULL));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_list_uidl(NULL, &listing));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_list_uidl(pop3, NULL));
	CHECK(listing == (mailtls_pop3_listing *)&count);
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_list_one(NULL, 1, &octets));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_list_one(pop3, 1, NULL));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_uidl_one(NULL, 1, buf, sizeof buf, &len));
	/* A NULL buf is a length query (the text copy rules), not a NULL argument. */

	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_retr(NULL, 1, never_called_data, NULL));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_retr(pop3, 1, NULL, NULL));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_top(NULL, 1, 0, never_called_data, NULL));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_top(pop3, 1, 0, NULL, NULL));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_retr_bytes(NULL, 1, &buffer));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_retr_bytes(pop3, 1, NULL));
	CHECK(buffer == (mailtls_buffer *)&count);
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_retr_to_file(NULL, 1, "/tmp/x.eml"));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_retr_to_file(pop3, 1, NULL));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT,
		 mailtls_pop3_retr_many(NULL, nums, 2, never_called_message, NULL));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT,
		 mailtls_pop3_retr_many(pop3, NULL, 2, never_called_message, NULL));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_retr_many(pop3, nums, 2, NULL, NULL));

	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_dele(NULL, 1));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_dele_many(NULL, nums, 2));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_dele_many(pop3, NULL, 2));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_rset(NULL));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_noop(NULL));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_quit(NULL));

	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_peer_cert_sha256(NULL, buf, sizeof buf, &len));
	check_null_copy_out(mailtls_pop3_last_error, pop3);
	check_null_copy_out(mailtls_pop3_last_reply, pop3);
	check_null_copy_out(mailtls_pop3_last_response_code, pop3);

	/* The last failure names what was NULL. */
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_retr(pop3, 1, NULL, NULL));
	CHECK_OK(mailtls_pop3_last_error(pop3, buf, sizeof buf, &len));
	CHECK(strstr(buf, "NULL") != NULL);
}

static void test_null_pop3(void)
{
	mailtls_pop3 *pop3;
	const char *const one[1] = {msg_one};
	uint32_t count = 0;
	uint64_t octets = 0;

	/* Not connected. */
	pop3 = new_handle(MAILTLS_SECURITY_TLS);
	check_null_pop3_args(pop3);
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_connect(pop3, NULL, env.pop3s_port));
	close_handle(pop3);

	/* Connected and logged in: nothing is sent for a NULL argument. */
	test_seed_mailbox(&env, "user80", one, 1);
	pop3 = open_pop3s("user80");
	trace_clear(&trace);
	check_null_pop3_args(pop3);
	CHECK(trace.commands == 0);
	CHECK_OK(mailtls_pop3_stat(pop3, &count, &octets));
	CHECK(count == 1);
	/* connect checks the host before closing the open connection. */
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_connect(pop3, NULL, env.pop3s_port));
	CHECK_OK(mailtls_pop3_noop(pop3));
	CHECK_OK(mailtls_pop3_quit(pop3));
	close_handle(pop3);
}

/* --- invalid arguments ---------------------------------------------------- */

static void test_invalid_options(void)
{
	mailtls_options *opts = mailtls_options_new();
	char buf[256];
	size_t len = 0;
	char dir[] = "/tmp/mailtls-c-errors-XXXXXX";
	char path[4096];
	FILE *f;
	static const char *const bad_pins[] = {
		"",
		"00",
		/* 63 digits */
		"000000000000000000000000000000000000000000000000000000000000000",
		/* 66 digits */
		"000000000000000000000000000000000000000000000000000000000000000000",
		/* 64 characters, one not hex */
		"g000000000000000000000000000000000000000000000000000000000000000",
		"00 00000000000000000000000000000000000000000000000000000000000000",
		"sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	};
	size_t i;

	CHECK(opts != NULL);
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_options_set_security(opts, 4));
	CHECK_OK(mailtls_options_last_error(opts, buf, sizeof buf, &len));
	CHECK(len > 0);
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_options_set_security(opts, 99));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_options_set_security(opts, UINT32_MAX));
	CHECK_OK(mailtls_options_set_security(opts, MAILTLS_SECURITY_AUTO));
	CHECK_OK(mailtls_options_set_security(opts, MAILTLS_SECURITY_TLS));
	CHECK_OK(mailtls_options_set_security(opts, MAILTLS_SECURITY_STARTTLS));
	CHECK_OK(mailtls_options_set_security(opts, MAILTLS_SECURITY_NONE));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_options_set_min_tls_version(opts, 2));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_options_set_min_tls_version(opts, UINT32_MAX));
	CHECK_OK(mailtls_options_set_min_tls_version(opts, MAILTLS_TLS_1_3));
	CHECK_OK(mailtls_options_set_min_tls_version(opts, MAILTLS_TLS_1_2));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_options_set_connect_timeout_ms(opts, 0));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_options_set_io_timeout_ms(opts, 0));

	for (i = 0; i < sizeof bad_pins / sizeof bad_pins[0]; i++) {
		mailtls_result rc = mailtls_options_set_pin_sha256(opts, bad_pins[i]);
		if (rc != MAILTLS_RESULT_INVALID_ARGUMENT)
			fprintf(stderr, "pin \"%s\" gave %u\n", bad_pins[i], (unsigned)rc);
		CHECK(rc == MAILTLS_RESULT_INVALID_ARGUMENT);
	}
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_options_set_pin_sha256(opts, bad_utf8));
	CHECK_OK(mailtls_options_set_pin_sha256(opts, env.server_sha256));

	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_options_set_mechanisms(opts, "PLAIN FOO"));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_options_set_mechanisms(opts, bad_utf8));
	CHECK_OK(mailtls_options_set_mechanisms(opts, "plain, cram-md5 LOGIN"));
	CHECK_OK(mailtls_options_set_mechanisms(opts, ""));

	/* CA files: missing, not UTF-8, no certificate; PEM text: garbage. */
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
		 mailtls_options_add_ca_file(opts, "/nonexistent/mailtls-ca.pem"));
	CHECK_OK(mailtls_options_last_error(opts, buf, sizeof buf, &len));
	CHECK(strstr(buf, "/nonexistent/mailtls-ca.pem") != NULL);
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_options_add_ca_file(opts, bad_utf8));
	if (mkdtemp(dir) == NULL) {
		CHECK(!"mkdtemp");
	} else {
		snprintf(path, sizeof path, "%s/empty.pem", dir);
		f = fopen(path, "w");
		CHECK(f != NULL);
		if (f != NULL) {
			fputs("this is no certificate\n", f);
			fclose(f);
		}
		CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_options_add_ca_file(opts, path));
		unlink(path);
		rmdir(dir);
	}
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
		 mailtls_options_add_ca_pem(opts, (const uint8_t *)"garbage", 7));
	{
		/* The real CA as PEM text is accepted. */
		struct bytes pem = {0};
		char chunk[4096];
		size_t n;
		f = fopen(env.ca, "rb");
		CHECK(f != NULL);
		if (f != NULL) {
			while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
				bytes_append(&pem, chunk, n);
			fclose(f);
		}
		CHECK_OK(mailtls_options_add_ca_pem(opts, pem.data, pem.len));
		bytes_free(&pem);
	}
	CHECK_OK(mailtls_options_add_ca_file(opts, env.ca));
	mailtls_options_free(opts);
}

/* Invalid UTF-8 and an unknown mechanism, before any connection and on a
 * connected handle. */
static void test_invalid_strings(void)
{
	mailtls_pop3 *pop3 = new_handle(MAILTLS_SECURITY_TLS);
	const mailtls_capabilities *caps;
	const char *const one[1] = {msg_one};

	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_pop3_connect(pop3, bad_utf8, 995));
	check_has_error(pop3);

	test_seed_mailbox(&env, "user81", one, 1);
	CHECK_OK(mailtls_pop3_connect(pop3, env.host, env.pop3s_port));
	trace_clear(&trace);
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_pop3_login(pop3, bad_utf8, env.password, NULL));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_pop3_login(pop3, "user81", bad_utf8, NULL));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_pop3_login(pop3, "user81", bad_utf8, "USER"));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
		 mailtls_pop3_login(pop3, "user81", env.password, bad_utf8));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
		 mailtls_pop3_login(pop3, "user81", env.password, "NO-SUCH-MECH"));
	/* An OAuth mechanism takes a token, not a password. */
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
		 mailtls_pop3_login(pop3, "user81", env.password, "XOAUTH2"));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_pop3_login(pop3, "", env.password, NULL));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_pop3_login_oauth2(pop3, bad_utf8, "token"));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_pop3_login_oauth2(pop3, "user81", bad_utf8));
	CHECK(trace.commands == 0);
	/* Dovecot offers no OAuth mechanism: nothing in common. */
	CHECK_RC(MAILTLS_RESULT_NO_COMMON_MECHANISM, mailtls_pop3_login_oauth2(pop3, "user81", "tok"));
	CHECK(trace.commands == 0);

	caps = mailtls_pop3_capabilities(pop3);
	CHECK(caps != NULL);
	CHECK(!mailtls_capabilities_has(caps, NULL));
	CHECK(!mailtls_capabilities_has(caps, "UIDL\x80"));

	/* A mailbox command before login does not fit the state. */
	{
		uint32_t count = 0;
		uint64_t octets = 0;
		CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_pop3_stat(pop3, &count, &octets));
	}
	CHECK_OK(mailtls_pop3_login(pop3, "user81", env.password, NULL));
	/* Twice does not fit either. */
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_pop3_login(pop3, "user81", env.password, NULL));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_pop3_retr_to_file(pop3, 1, bad_utf8));
	CHECK_OK(mailtls_pop3_noop(pop3));
	CHECK_OK(mailtls_pop3_quit(pop3));
	close_handle(pop3);
}

/* CR or LF in a user name or password: refused before anything is sent, so
 * the server never sees an injected command. */
static void test_crlf_injection(void)
{
	static const char *const users[] = {"user81\r\nDELE 1", "user81\nDELE 1", "user81\rDELE 1"};
	static const char *const mechs[] = {NULL, "USER", "APOP", "PLAIN", "LOGIN", "CRAM-MD5"};
	const char *const one[1] = {msg_one};
	mailtls_pop3 *pop3 = new_handle(MAILTLS_SECURITY_AUTO);
	size_t u, m;
	uint32_t count = 0;
	uint64_t octets = 0;

	test_seed_mailbox(&env, "user81", one, 1);
	/* STLS on the plain port. */
	CHECK_OK(mailtls_pop3_connect(pop3, env.host, env.pop3_port));
	trace_clear(&trace);
	for (m = 0; m < sizeof mechs / sizeof mechs[0]; m++) {
		for (u = 0; u < sizeof users / sizeof users[0]; u++)
			CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
				 mailtls_pop3_login(pop3, users[u], env.password, mechs[m]));
		CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
			 mailtls_pop3_login(pop3, "user81", "pw\r\nDELE 1", mechs[m]));
	}
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_pop3_login_oauth2(pop3, users[0], "token"));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_pop3_login_oauth2(pop3, "user81", "t\r\nDELE 1"));
	CHECK(trace.commands == 0);
	CHECK(!trace_contains(&trace, "DELE"));

	/* The session goes on; the message was not deleted. */
	CHECK_OK(mailtls_pop3_login(pop3, "user81", env.password, "USER"));
	CHECK_OK(mailtls_pop3_stat(pop3, &count, &octets));
	CHECK(count == 1);
	CHECK_OK(mailtls_pop3_quit(pop3));
	CHECK(!trace_contains(&trace, "DELE"));
	close_handle(pop3);
}

/* --- state ------------------------------------------------------------------ */

static void check_not_connected(mailtls_pop3 *pop3)
{
	static const uint32_t nums[2] = {1, 2};
	uint32_t count = 0;
	uint64_t octets = 0;
	mailtls_pop3_listing *listing = NULL;
	mailtls_buffer *buffer = NULL;
	char buf[80];
	size_t len = 0;

	CHECK(mailtls_pop3_capabilities(pop3) == NULL);
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_login(pop3, "user82", env.password, NULL));
	check_has_error(pop3);
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_login_oauth2(pop3, "user82", "token"));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_stat(pop3, &count, &octets));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_list(pop3, &listing));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_uidl(pop3, &listing));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_list_uidl(pop3, &listing));
	CHECK(listing == NULL);
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_list_one(pop3, 1, &octets));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_uidl_one(pop3, 1, buf, sizeof buf, &len));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_retr(pop3, 1, never_called_data, NULL));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_top(pop3, 1, 0, never_called_data, NULL));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_retr_bytes(pop3, 1, &buffer));
	CHECK(buffer == NULL);
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_retr_to_file(pop3, 1, "/tmp/never.eml"));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED,
		 mailtls_pop3_retr_many(pop3, nums, 2, never_called_message, NULL));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_dele(pop3, 1));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_dele_many(pop3, nums, 2));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_rset(pop3));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_noop(pop3));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_quit(pop3));
}

static void test_before_connect(void)
{
	mailtls_pop3 *pop3 = mailtls_pop3_new(NULL);
	char buf[80];
	size_t len = 0;

	test_use_handle(pop3);
	check_not_connected(pop3);
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_peer_cert_sha256(pop3, buf, sizeof buf, &len));
	close_handle(pop3);
}

/* Server refusals, limits and local file errors on a live session. */
static void test_session_errors(void)
{
	const char *const two[2] = {msg_one, msg_two};
	mailtls_options *opts;
	mailtls_pop3 *pop3;
	mailtls_buffer *buffer = NULL;
	struct bytes got = {0};
	char buf[256], dir[] = "/tmp/mailtls-c-errors-XXXXXX", path[4096];
	size_t len = 0;

	test_seed_mailbox(&env, "user82", two, 2);
	pop3 = open_pop3s("user82");

	/* No such message: SERVER_ERROR with the reply; the session goes on. */
	CHECK_RC(MAILTLS_RESULT_SERVER_ERROR, mailtls_pop3_retr(pop3, 99, never_called_data, NULL));
	CHECK_OK(mailtls_pop3_last_reply(pop3, buf, sizeof buf, &len));
	CHECK(strncmp(buf, "-ERR", 4) == 0);
	CHECK_RC(MAILTLS_RESULT_SERVER_ERROR, mailtls_pop3_retr_bytes(pop3, 99, &buffer));
	CHECK(buffer == NULL);
	CHECK_RC(MAILTLS_RESULT_SERVER_ERROR, mailtls_pop3_dele(pop3, 99));
	CHECK_OK(mailtls_pop3_noop(pop3));

	/* retr_many stops at the refusal; the messages before it arrived
	 * whole; the pipelined rest is drained and the session goes on. */
	{
		static const uint32_t nums[3] = {1, 99, 2};
		struct seen seen;
		struct bytes want = test_expected_wire(msg_one);
		memset(&seen, 0, sizeof seen);
		CHECK_RC(MAILTLS_RESULT_SERVER_ERROR,
			 mailtls_pop3_retr_many(pop3, nums, 3, record_message, &seen));
		CHECK(seen.first_ends == 1 && seen.other == 0);
		CHECK(bytes_equal(&seen.first, want.data, want.len));
		CHECK_OK(mailtls_pop3_last_error(pop3, buf, sizeof buf, &len));
		CHECK(strstr(buf, "99") != NULL); /* names the message */
		bytes_free(&seen.first);
		bytes_free(&want);
		CHECK_OK(mailtls_pop3_list_one(pop3, 2, &(uint64_t){0}));
		CHECK_OK(mailtls_pop3_noop(pop3));
	}
	/* ... and the detail is cleared by the successful call. */
	CHECK_OK(mailtls_pop3_last_reply(pop3, buf, sizeof buf, &len));
	CHECK(len == 0);

	/* uidl_one and peer_cert_sha256 into too small buffers. */
	CHECK_RC(MAILTLS_RESULT_BUFFER_TOO_SMALL, mailtls_pop3_uidl_one(pop3, 1, buf, 4, &len));
	CHECK(strlen(buf) == 3 && len > 3);
	CHECK_RC(MAILTLS_RESULT_BUFFER_TOO_SMALL, mailtls_pop3_peer_cert_sha256(pop3, buf, 64, &len));
	CHECK(len == 64 && strlen(buf) == 63 && strncmp(buf, env.server_sha256, 63) == 0);
	{
		/* A NULL buffer at most asks for the length. */
		mailtls_result rc = mailtls_pop3_peer_cert_sha256(pop3, NULL, 0, &len);
		CHECK(rc == MAILTLS_RESULT_BUFFER_TOO_SMALL || rc == MAILTLS_RESULT_NULL_ARGUMENT);
		if (rc == MAILTLS_RESULT_BUFFER_TOO_SMALL)
			CHECK(len == 64);
	}

	/* A local file that cannot be written: FILE_ERROR, nothing left. */
	if (mkdtemp(dir) == NULL) {
		CHECK(!"mkdtemp");
	} else {
		DIR *d;
		struct dirent *e;
		int entries = 0;
		CHECK_RC(MAILTLS_RESULT_FILE_ERROR,
			 mailtls_pop3_retr_to_file(pop3, 1, "/nonexistent-dir/mailtls/1.eml"));
		/* The target is a directory: the rename at the end fails. */
		snprintf(path, sizeof path, "%s/target", dir);
		CHECK(mkdir(path, 0700) == 0);
		CHECK_RC(MAILTLS_RESULT_FILE_ERROR, mailtls_pop3_retr_to_file(pop3, 1, path));
		d = opendir(dir);
		CHECK(d != NULL);
		while (d != NULL && (e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			entries++;
			if (strcmp(e->d_name, "target") != 0) {
				fprintf(stderr, "left behind: %s\n", e->d_name);
				CHECK(!"no temporary file left behind");
				snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
				unlink(path);
			}
		}
		if (d != NULL)
			closedir(d);
		CHECK(entries == 1);
		snprintf(path, sizeof path, "%s/target", dir);
		rmdir(path);
		rmdir(dir);
	}
	close_handle(pop3);

	/* The in-memory limit: streaming is not limited, retr_bytes is, and
	 * going over it closes the connection. */
	opts = test_options(&env);
	CHECK_OK(mailtls_options_set_security(opts, MAILTLS_SECURITY_TLS));
	CHECK_OK(mailtls_options_set_max_message_bytes(opts, 10));
	pop3 = mailtls_pop3_new(opts);
	mailtls_options_free(opts);
	test_use_handle(pop3);
	CHECK_OK(mailtls_pop3_connect(pop3, env.host, env.pop3s_port));
	CHECK_OK(mailtls_pop3_login(pop3, "user82", env.password, NULL));
	CHECK_OK(mailtls_pop3_retr(pop3, 2, collect_sink, &got));
	CHECK(got.len > 10);
	bytes_free(&got);
	CHECK_RC(MAILTLS_RESULT_MESSAGE_TOO_LARGE, mailtls_pop3_retr_bytes(pop3, 2, &buffer));
	CHECK(buffer == NULL);
	check_has_error(pop3);
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_noop(pop3));
	close_handle(pop3);
}

/* --- certificates and plaintext ----------------------------------------- */

static mailtls_pop3 *handle_with(const char *ca, const char *pin, mailtls_security security)
{
	mailtls_options *opts = mailtls_options_new();
	mailtls_pop3 *pop3;
	CHECK_OK(mailtls_options_set_security(opts, security));
	CHECK_OK(mailtls_options_set_io_timeout_ms(opts, 60000));
	CHECK_OK(mailtls_options_set_trace(opts, trace_record, &trace));
	if (ca != NULL)
		CHECK_OK(mailtls_options_add_ca_file(opts, ca));
	if (pin != NULL)
		CHECK_OK(mailtls_options_set_pin_sha256(opts, pin));
	pop3 = mailtls_pop3_new(opts);
	mailtls_options_free(opts);
	test_use_handle(pop3);
	return pop3;
}

static void test_certificates(void)
{
	mailtls_pop3 *pop3;
	char buf[80], pin[128];
	size_t len = 0, i, o = 0;
	/* A pin that is not the server's. */
	static const char wrong_pin[] =
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

	/* Only an unrelated CA: untrusted, on implicit TLS and after STLS. */
	pop3 = handle_with(env.other_ca, NULL, MAILTLS_SECURITY_TLS);
	CHECK_RC(MAILTLS_RESULT_CERTIFICATE_UNKNOWN_ISSUER,
		 mailtls_pop3_connect(pop3, env.host, env.pop3s_port));
	check_has_error(pop3);
	/* The fingerprint of what the server sent, for the user to pin. */
	CHECK_OK(mailtls_pop3_peer_cert_sha256(pop3, buf, sizeof buf, &len));
	CHECK(strcmp(buf, env.server_sha256) == 0);
	check_not_connected(pop3);
	close_handle(pop3);

	pop3 = handle_with(env.other_ca, NULL, MAILTLS_SECURITY_AUTO);
	trace_clear(&trace);
	CHECK_RC(MAILTLS_RESULT_CERTIFICATE_UNKNOWN_ISSUER,
		 mailtls_pop3_connect(pop3, env.host, env.pop3_port));
	CHECK(trace_has_command(&trace, "STLS"));
	close_handle(pop3);

	/* The system store alone does not know the test CA either. */
	pop3 = handle_with(NULL, NULL, MAILTLS_SECURITY_TLS);
	CHECK_RC(MAILTLS_RESULT_CERTIFICATE_UNKNOWN_ISSUER,
		 mailtls_pop3_connect(pop3, env.host, env.pop3s_port));
	close_handle(pop3);

	/* A wrong pin is refused even with the right CA. */
	pop3 = handle_with(env.ca, wrong_pin, MAILTLS_SECURITY_TLS);
	CHECK_RC(MAILTLS_RESULT_CERTIFICATE_PIN_MISMATCH,
		 mailtls_pop3_connect(pop3, env.host, env.pop3s_port));
	check_has_error(pop3);
	close_handle(pop3);

	/* The right pin, without the CA, written upper case with colons. */
	for (i = 0; env.server_sha256[i] != '\0' && o + 4 < sizeof pin; i++) {
		char c = env.server_sha256[i];
		pin[o++] = (char)(c >= 'a' && c <= 'f' ? c - 'a' + 'A' : c);
		if (i % 2 == 1 && env.server_sha256[i + 1] != '\0')
			pin[o++] = ':';
	}
	pin[o] = '\0';
	pop3 = handle_with(NULL, pin, MAILTLS_SECURITY_TLS);
	CHECK_OK(mailtls_pop3_connect(pop3, env.host, env.pop3s_port));
	CHECK_OK(mailtls_pop3_login(pop3, "user83", env.password, NULL));
	CHECK_OK(mailtls_pop3_peer_cert_sha256(pop3, buf, sizeof buf, &len));
	CHECK(strcmp(buf, env.server_sha256) == 0);
	CHECK_OK(mailtls_pop3_quit(pop3));
	close_handle(pop3);
}

/* Copy one of the handle's error texts into a fresh malloc'd string. */
static char *error_text(const mailtls_pop3 *pop3,
			mailtls_result (*get)(const mailtls_pop3 *, char *, size_t, size_t *))
{
	size_t len = 0;
	char *text;
	get(pop3, NULL, 0, &len);
	text = malloc(len + 1);
	CHECK(text != NULL);
	CHECK_OK(get(pop3, text, len + 1, NULL));
	return text;
}

/* The certificate a failed connect leaves on the handle, its facts, and
 * the TLS library's words kept apart from the message. */
static void test_certificate_facts(void)
{
	mailtls_pop3 *pop3;
	const mailtls_certificate *cert, *again;
	char *message, *detail;
	const uint8_t *der;
	size_t der_len = 0, names;
	int64_t now = (int64_t)time(NULL);

	CHECK(mailtls_pop3_peer_certificate(NULL) == NULL);
	pop3 = handle_with(env.other_ca, NULL, MAILTLS_SECURITY_TLS);
	CHECK(mailtls_pop3_peer_certificate(pop3) == NULL);
	trace_clear(&trace);
	CHECK_RC(MAILTLS_RESULT_CERTIFICATE_UNKNOWN_ISSUER,
		 mailtls_pop3_connect(pop3, env.host, env.pop3s_port));
	cert = mailtls_pop3_peer_certificate(pop3);
	CHECK(cert != NULL);
	CHECK(mailtls_certificate_failure(cert) == MAILTLS_RESULT_CERTIFICATE_UNKNOWN_ISSUER);
	CHECK(strcmp(mailtls_certificate_sha256(cert), env.server_sha256) == 0);
	CHECK(strcmp(mailtls_certificate_subject(cert), "O=mailtls tests, CN=localhost") == 0);
	CHECK(strcmp(mailtls_certificate_issuer(cert), "O=mailtls tests, CN=mailtls test CA") == 0);
	names = mailtls_certificate_name_count(cert);
	CHECK(names == 2);
	CHECK(strcmp(mailtls_certificate_name(cert, 0), "localhost") == 0);
	CHECK(strcmp(mailtls_certificate_name(cert, 1), "127.0.0.1") == 0);
	CHECK(mailtls_certificate_name(cert, 2) == NULL);
	CHECK(mailtls_certificate_not_before(cert) <= now);
	CHECK(mailtls_certificate_not_after(cert) > now);
	CHECK(!mailtls_certificate_self_signed(cert));
	der = mailtls_certificate_der(cert, &der_len);
	CHECK(der != NULL && der_len > 100 && der[0] == 0x30);
	CHECK(mailtls_certificate_der(cert, NULL) == der);

	/* The message: who issued it and the fingerprint, no OpenSSL text. */
	message = error_text(pop3, mailtls_pop3_last_error);
	CHECK(strstr(message, "issued by \"mailtls test CA\", which is not a trusted CA") != NULL);
	CHECK(strstr(message, env.server_sha256) != NULL);
	CHECK(strstr(message, "error:") == NULL && strstr(message, "X509_V_ERR") == NULL);
	CHECK(strstr(message, "SSL routines") == NULL);
	/* The detail: the code and the library's words, also in the trace. */
	detail = error_text(pop3, mailtls_pop3_last_error_detail);
	CHECK(strstr(detail, "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, 20") != NULL);
	CHECK(strstr(detail, "the TLS library said: ") != NULL);
	CHECK(trace_contains(&trace, detail));
	free(message);
	free(detail);

	/* The certificate stays until the next connect, which replaces it. */
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_noop(pop3));
	CHECK(mailtls_pop3_peer_certificate(pop3) == cert);
	CHECK_RC(MAILTLS_RESULT_CONNECT_FAILED, mailtls_pop3_connect(pop3, env.host, closed_port()));
	CHECK(mailtls_pop3_peer_certificate(pop3) == NULL);
	detail = error_text(pop3, mailtls_pop3_last_error_detail);
	CHECK(detail[0] == '\0');
	free(detail);
	close_handle(pop3);

	/* After a verified connect: the same facts, failure OK. */
	pop3 = handle_with(env.ca, NULL, MAILTLS_SECURITY_TLS);
	CHECK_OK(mailtls_pop3_connect(pop3, env.host, env.pop3s_port));
	again = mailtls_pop3_peer_certificate(pop3);
	CHECK(again != NULL);
	CHECK(mailtls_certificate_failure(again) == MAILTLS_RESULT_OK);
	CHECK(strcmp(mailtls_certificate_sha256(again), env.server_sha256) == 0);
	CHECK_OK(mailtls_pop3_quit(pop3));
	CHECK(mailtls_pop3_peer_certificate(pop3) == again);
	close_handle(pop3);

	/* NULL gives the documented nothing. */
	CHECK(mailtls_certificate_sha256(NULL) == NULL);
	CHECK(mailtls_certificate_subject(NULL) == NULL);
	CHECK(mailtls_certificate_issuer(NULL) == NULL);
	CHECK(mailtls_certificate_name_count(NULL) == 0);
	CHECK(mailtls_certificate_name(NULL, 0) == NULL);
	CHECK(mailtls_certificate_not_before(NULL) == 0);
	CHECK(mailtls_certificate_not_after(NULL) == 0);
	CHECK(!mailtls_certificate_self_signed(NULL));
	CHECK(mailtls_certificate_failure(NULL) == MAILTLS_RESULT_OK);
	der_len = 7;
	CHECK(mailtls_certificate_der(NULL, &der_len) == NULL && der_len == 0);
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_last_error_detail(NULL, NULL, 0, NULL));
}

static void test_plaintext(void)
{
	mailtls_pop3 *pop3;
	mailtls_options *opts;
	char buf[80];
	size_t len = 0;
	uint32_t count = 0;
	uint64_t octets = 0;
	const char *const one[1] = {msg_one};

	test_seed_mailbox(&env, "user83", one, 1);
	/* Security NONE: every login refused, nothing sent. */
	pop3 = handle_with(NULL, NULL, MAILTLS_SECURITY_NONE);
	CHECK_OK(mailtls_pop3_connect(pop3, env.host, env.pop3_port));
	trace_clear(&trace);
	CHECK_RC(MAILTLS_RESULT_PLAINTEXT_AUTH_REFUSED,
		 mailtls_pop3_login(pop3, "user83", env.password, NULL));
	check_has_error(pop3);
	CHECK_RC(MAILTLS_RESULT_PLAINTEXT_AUTH_REFUSED,
		 mailtls_pop3_login(pop3, "user83", env.password, "USER"));
	CHECK_RC(MAILTLS_RESULT_PLAINTEXT_AUTH_REFUSED,
		 mailtls_pop3_login(pop3, "user83", env.password, "CRAM-MD5"));
	CHECK_RC(MAILTLS_RESULT_PLAINTEXT_AUTH_REFUSED,
		 mailtls_pop3_login_oauth2(pop3, "user83", "token"));
	CHECK(trace.commands == 0);
	CHECK(!trace_contains(&trace, env.password));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_peer_cert_sha256(pop3, buf, sizeof buf, &len));
	close_handle(pop3);

	/* ... unless explicitly allowed. */
	opts = mailtls_options_new();
	CHECK_OK(mailtls_options_set_security(opts, MAILTLS_SECURITY_NONE));
	CHECK_OK(mailtls_options_set_allow_plaintext_auth(opts, true));
	CHECK_OK(mailtls_options_set_mechanisms(opts, "USER"));
	CHECK_OK(mailtls_options_set_trace(opts, trace_record, &trace));
	pop3 = mailtls_pop3_new(opts);
	mailtls_options_free(opts);
	test_use_handle(pop3);
	trace_clear(&trace);
	CHECK_OK(mailtls_pop3_connect(pop3, env.host, env.pop3_port));
	CHECK_OK(mailtls_pop3_login(pop3, "user83", env.password, NULL));
	CHECK(trace_has_command(&trace, "USER user83"));
	CHECK(trace_has_command(&trace, "PASS <redacted>"));
	CHECK(!trace_contains(&trace, env.password));
	CHECK_OK(mailtls_pop3_stat(pop3, &count, &octets));
	CHECK(count == 1);
	CHECK_OK(mailtls_pop3_quit(pop3));
	close_handle(pop3);
}

/* --- network and protocol failures ------------------------------------- */

/* A handle for a local fake server: short timeouts, trace on. */
static mailtls_pop3 *fake_handle(mailtls_security security, uint32_t io_timeout_ms,
				 const char *mechanisms)
{
	mailtls_options *opts = mailtls_options_new();
	mailtls_pop3 *pop3;
	CHECK_OK(mailtls_options_set_security(opts, security));
	CHECK_OK(mailtls_options_set_connect_timeout_ms(opts, 5000));
	CHECK_OK(mailtls_options_set_io_timeout_ms(opts, io_timeout_ms));
	CHECK_OK(mailtls_options_set_allow_plaintext_auth(opts, true));
	CHECK_OK(mailtls_options_set_mechanisms(opts, mechanisms));
	CHECK_OK(mailtls_options_set_trace(opts, trace_record, &trace));
	pop3 = mailtls_pop3_new(opts);
	mailtls_options_free(opts);
	test_use_handle(pop3);
	return pop3;
}

/* Connect to a fake server playing `script`; check the result. */
static void check_fake(const char *const *script, size_t count, mailtls_security security,
		       mailtls_result want)
{
	struct fake_server server = fake_server_start(script, count);
	mailtls_pop3 *pop3 = fake_handle(security, 5000, NULL);
	CHECK_RC(want, mailtls_pop3_connect(pop3, "127.0.0.1", server.port));
	check_has_error(pop3);
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_noop(pop3));
	close_handle(pop3);
	fake_server_stop(&server);
}

static void test_network_errors(void)
{
	mailtls_pop3 *pop3;
	uint16_t port;
	int fd;
	char buf[256];
	size_t len = 0;

	/* Nothing listens: the whole message, said once, in the library's
	 * words with the OS's number once. */
	pop3 = fake_handle(MAILTLS_SECURITY_NONE, 5000, NULL);
	port = closed_port();
	CHECK_RC(MAILTLS_RESULT_CONNECT_FAILED, mailtls_pop3_connect(pop3, "127.0.0.1", port));
	{
		char want[256];
		snprintf(want, sizeof want,
			 "nothing accepts connections on 127.0.0.1 port %u (connection refused, os error %d): "
			 "check the port number, or whether the server is running",
			 (unsigned)port, ECONNREFUSED);
		CHECK_OK(mailtls_pop3_last_error(pop3, buf, sizeof buf, &len));
		if (strcmp(buf, want) != 0)
			fprintf(stderr, "refused: got \"%s\"\n     want \"%s\"\n", buf, want);
		CHECK(strcmp(buf, want) == 0);
	}
	/* A name that cannot exist (RFC 2606). */
	CHECK_RC(MAILTLS_RESULT_RESOLVE_FAILED,
		 mailtls_pop3_connect(pop3, "no-such-host.invalid", 110));
	{
		const char *opening = "could not find the server name \"no-such-host.invalid\": ";
		CHECK_OK(mailtls_pop3_last_error(pop3, buf, sizeof buf, &len));
		CHECK(strncmp(buf, opening, strlen(opening)) == 0);
	}
	close_handle(pop3);

	/* A server that accepts but never greets. */
	fd = silent_listener(&port);
	pop3 = fake_handle(MAILTLS_SECURITY_NONE, 300, NULL);
	CHECK_RC(MAILTLS_RESULT_TIMEOUT, mailtls_pop3_connect(pop3, "127.0.0.1", port));
	check_has_error(pop3);
	close_handle(pop3);
	close(fd);

	/* STLS expected on the implicit-TLS port: the server waits for a TLS
	 * hello, the client for a greeting; a TLS probe on a second
	 * connection tells, long before the 60 s I/O timeout. */
	pop3 = fake_handle(MAILTLS_SECURITY_STARTTLS, 60000, NULL);
	CHECK_RC(MAILTLS_RESULT_STARTTLS_UNAVAILABLE, mailtls_pop3_connect(pop3, env.host, env.pop3s_port));
	CHECK_OK(mailtls_pop3_last_error(pop3, buf, sizeof buf, &len));
	CHECK(strstr(buf, "expects TLS from the first byte") != NULL);
	CHECK(strstr(buf, "choose SSL/TLS") != NULL);
	close_handle(pop3);

	/* Greeting refused, connection closed, garbage, an endless line. */
	{
		static const char *const refused[] = {"-ERR [SYS/TEMP] too busy\r\n"};
		struct fake_server server = fake_server_start(refused, 1);
		pop3 = fake_handle(MAILTLS_SECURITY_NONE, 5000, NULL);
		CHECK_RC(MAILTLS_RESULT_SERVER_ERROR, mailtls_pop3_connect(pop3, "127.0.0.1", server.port));
		CHECK_OK(mailtls_pop3_last_reply(pop3, buf, sizeof buf, &len));
		CHECK(strcmp(buf, "-ERR [SYS/TEMP] too busy") == 0);
		CHECK_OK(mailtls_pop3_last_response_code(pop3, buf, sizeof buf, &len));
		CHECK(strcmp(buf, "SYS/TEMP") == 0);
		close_handle(pop3);
		fake_server_stop(&server);
	}
	{
		static const char *const hang_up[] = {NULL};
		check_fake(hang_up, 1, MAILTLS_SECURITY_NONE, MAILTLS_RESULT_CONNECTION_CLOSED);
	}
	{
		static const char *const garbage[] = {"HELLO THERE\r\n"};
		check_fake(garbage, 1, MAILTLS_SECURITY_NONE, MAILTLS_RESULT_PROTOCOL_ERROR);
	}
	{
		static char endless[12000];
		const char *script[1];
		memset(endless, 'a', sizeof endless - 3);
		memcpy(endless, "+OK ", 4);
		memcpy(endless + sizeof endless - 3, "\r\n", 3);
		script[0] = endless;
		check_fake(script, 1, MAILTLS_SECURITY_NONE, MAILTLS_RESULT_REPLY_TOO_LONG);
	}

	/* No STLS in CAPA, or STLS refused: never go on in clear. */
	{
		static const char *const no_stls[] = {"+OK hello\r\n", "+OK\r\nUSER\r\n.\r\n"};
		trace_clear(&trace);
		check_fake(no_stls, 2, MAILTLS_SECURITY_AUTO, MAILTLS_RESULT_STARTTLS_UNAVAILABLE);
		CHECK(trace_has_command(&trace, "CAPA"));
		CHECK(trace.commands == 1);
	}
	{
		static const char *const stls_refused[] = {
			"+OK hello\r\n", "+OK\r\nSTLS\r\nUSER\r\n.\r\n", "-ERR not today\r\n"};
		trace_clear(&trace);
		check_fake(stls_refused, 3, MAILTLS_SECURITY_STARTTLS,
			   MAILTLS_RESULT_STARTTLS_UNAVAILABLE);
		CHECK(trace_has_command(&trace, "STLS"));
		CHECK(trace.commands == 2);
	}

	/* Only USER offered, only CRAM-MD5 allowed: nothing in common, and
	 * nothing sent. The session goes on. */
	{
		static const char *const user_only[] = {"+OK hello\r\n", "+OK\r\nUSER\r\n.\r\n",
							"+OK bye\r\n"};
		struct fake_server server = fake_server_start(user_only, 3);
		pop3 = fake_handle(MAILTLS_SECURITY_NONE, 5000, "CRAM-MD5");
		CHECK_OK(mailtls_pop3_connect(pop3, "127.0.0.1", server.port));
		trace_clear(&trace);
		CHECK_RC(MAILTLS_RESULT_NO_COMMON_MECHANISM,
			 mailtls_pop3_login(pop3, "user84", env.password, NULL));
		/* APOP needs a timestamp in the greeting. */
		CHECK_RC(MAILTLS_RESULT_NO_COMMON_MECHANISM,
			 mailtls_pop3_login(pop3, "user84", env.password, "APOP"));
		CHECK(trace.commands == 0);
		CHECK_OK(mailtls_pop3_quit(pop3));
		close_handle(pop3);
		fake_server_stop(&server);
	}

	/* The connection drops in the middle of a message. */
	{
		static const char *const drop[] = {"+OK hello\r\n", "+OK\r\nUSER\r\n.\r\n",
						   "+OK\r\n", "+OK logged in\r\n",
						   "+OK 100 octets\r\nSubject: cut\r\n\r\nhalf a", NULL};
		struct fake_server server = fake_server_start(drop, 6);
		struct bytes got = {0};
		pop3 = fake_handle(MAILTLS_SECURITY_NONE, 5000, NULL);
		CHECK_OK(mailtls_pop3_connect(pop3, "127.0.0.1", server.port));
		CHECK_OK(mailtls_pop3_login(pop3, "user84", "pw", "USER"));
		CHECK_RC(MAILTLS_RESULT_CONNECTION_CLOSED, mailtls_pop3_retr(pop3, 1, collect_sink, &got));
		CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_noop(pop3));
		bytes_free(&got);
		close_handle(pop3);
		fake_server_stop(&server);
	}
}

/* --- results, buffers, version ------------------------------------------ */

static void test_result_strings(void)
{
	static const mailtls_result codes[] = {
		MAILTLS_RESULT_OK,
		MAILTLS_RESULT_NULL_ARGUMENT,
		MAILTLS_RESULT_INVALID_ARGUMENT,
		MAILTLS_RESULT_BUFFER_TOO_SMALL,
		MAILTLS_RESULT_NOT_CONNECTED,
		MAILTLS_RESULT_HANDLE_BUSY,
		MAILTLS_RESULT_RESOLVE_FAILED,
		MAILTLS_RESULT_CONNECT_FAILED,
		MAILTLS_RESULT_TIMEOUT,
		MAILTLS_RESULT_CONNECTION_CLOSED,
		MAILTLS_RESULT_IO_ERROR,
		MAILTLS_RESULT_TLS_ERROR,
		MAILTLS_RESULT_TLS_VERSION,
		MAILTLS_RESULT_CERTIFICATE_UNTRUSTED,
		MAILTLS_RESULT_CERTIFICATE_HOST_MISMATCH,
		MAILTLS_RESULT_CERTIFICATE_PIN_MISMATCH,
		MAILTLS_RESULT_STARTTLS_UNAVAILABLE,
		MAILTLS_RESULT_CERTIFICATE_EXPIRED,
		MAILTLS_RESULT_CERTIFICATE_NOT_YET_VALID,
		MAILTLS_RESULT_CERTIFICATE_SELF_SIGNED,
		MAILTLS_RESULT_CERTIFICATE_UNKNOWN_ISSUER,
		MAILTLS_RESULT_CERTIFICATE_REVOKED,
		MAILTLS_RESULT_PLAINTEXT_AUTH_REFUSED,
		MAILTLS_RESULT_NO_COMMON_MECHANISM,
		MAILTLS_RESULT_AUTH_FAILED,
		MAILTLS_RESULT_SERVER_ERROR,
		MAILTLS_RESULT_MESSAGE_TOO_LARGE,
		MAILTLS_RESULT_PROTOCOL_ERROR,
		MAILTLS_RESULT_REPLY_TOO_LONG,
		MAILTLS_RESULT_CANCELLED,
		MAILTLS_RESULT_FILE_ERROR,
		MAILTLS_RESULT_PANIC,
	};
	static const mailtls_result unknown[] = {1, 99, 105, 206, 999, 0x7fffffff, UINT32_MAX};
	size_t n = sizeof codes / sizeof codes[0], i, j;
	const char *unknown_str = mailtls_result_str(UINT32_MAX);

	CHECK(unknown_str != NULL && strcmp(unknown_str, "unknown result code") == 0);
	for (i = 0; i < n; i++) {
		const char *s = mailtls_result_str(codes[i]);
		CHECK(s != NULL && s[0] != '\0');
		if (s == NULL)
			continue;
		CHECK(strcmp(s, unknown_str) != 0);
		for (j = 0; j < i; j++) /* each code has its own text */
			CHECK(strcmp(s, mailtls_result_str(codes[j])) != 0);
	}
	for (i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
		const char *s = mailtls_result_str(unknown[i]);
		CHECK(s != NULL && strcmp(s, "unknown result code") == 0);
	}
}

/* The buffer rules of mailtls_pop3_last_error (the same code serves every
 * copy-out function): truncation, NUL termination, full length. */
static void test_buffer_too_small(void)
{
	mailtls_pop3 *pop3 = mailtls_pop3_new(NULL);
	char full[512], small[32];
	size_t full_len = 0, len = 0;

	test_use_handle(pop3);
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_noop(pop3));
	CHECK_OK(mailtls_pop3_last_error(pop3, full, sizeof full, &full_len));
	CHECK(full_len == strlen(full) && full_len > 8);

	memset(small, 'Z', sizeof small);
	CHECK_RC(MAILTLS_RESULT_BUFFER_TOO_SMALL, mailtls_pop3_last_error(pop3, small, 8, &len));
	CHECK(len == full_len);
	CHECK(small[7] == '\0' && strlen(small) == 7);
	CHECK(memcmp(small, full, 7) == 0);
	CHECK(small[8] == 'Z'); /* nothing written past buf_len */

	memset(small, 'Z', sizeof small);
	CHECK_RC(MAILTLS_RESULT_BUFFER_TOO_SMALL, mailtls_pop3_last_error(pop3, small, 1, &len));
	CHECK(small[0] == '\0' && small[1] == 'Z' && len == full_len);

	/* A zero-length buffer is not written at all. */
	memset(small, 'Z', sizeof small);
	CHECK_RC(MAILTLS_RESULT_BUFFER_TOO_SMALL, mailtls_pop3_last_error(pop3, small, 0, &len));
	CHECK(small[0] == 'Z' && len == full_len);

	/* Without len_out. */
	CHECK_RC(MAILTLS_RESULT_BUFFER_TOO_SMALL, mailtls_pop3_last_error(pop3, small, 8, NULL));

	/* Exactly the length: no room for the NUL. Length + 1: fits. */
	if (full_len + 1 <= sizeof full) {
		char *exact = malloc(full_len + 1);
		CHECK(exact != NULL);
		if (exact != NULL) {
			CHECK_RC(MAILTLS_RESULT_BUFFER_TOO_SMALL,
				 mailtls_pop3_last_error(pop3, exact, full_len, &len));
			CHECK(strlen(exact) == full_len - 1);
			CHECK_OK(mailtls_pop3_last_error(pop3, exact, full_len + 1, &len));
			CHECK(strcmp(exact, full) == 0 && len == full_len);
			free(exact);
		}
	}

	/* Reading the detail does not change it. */
	CHECK_OK(mailtls_pop3_last_error(pop3, full, sizeof full, &len));
	CHECK(len == full_len);
	close_handle(pop3);
}

static void test_version(void)
{
	char want[64];
	const char *v = mailtls_version();
	snprintf(want, sizeof want, "%d.%d.%d", MAILTLS_VERSION_MAJOR, MAILTLS_VERSION_MINOR,
		 MAILTLS_VERSION_PATCH);
	CHECK(v != NULL && strcmp(v, want) == 0);
	CHECK(mailtls_version() == v); /* static */
}

int main(void)
{
	env = test_env_load();

	test_version();
	test_result_strings();
	test_null_accessors();
	test_null_options();
	test_invalid_options();
	test_buffer_too_small();
	test_before_connect();
	test_null_pop3();
	test_invalid_strings();
	test_crlf_injection();
	test_session_errors();
	test_certificates();
	test_certificate_facts();
	test_plaintext();
	test_network_errors();

	trace_clear(&trace);
	return test_finish("pop3_errors");
}
