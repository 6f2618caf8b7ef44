/*
 * SCRAM through the C API against a Dovecot 2.3 that offers SCRAM-SHA-1 and
 * SCRAM-SHA-256 (no -PLUS variant): forcing each mechanism, the automatic
 * order (SCRAM-SHA-256 first), mailtls_options_set_mechanisms(), refusals,
 * and a password SCRAM's SASLprep refuses. Users scram01 (password stored
 * only as a SCRAM-SHA-256 hash, so SCRAM-SHA-1 cannot work for it) and
 * scram02 (stored in plain).
 *
 * Needs the second, SCRAM-offering server set
 * (MAILTLS_DOVECOT_SCRAM=1 bash tests/servers/dovecot.sh start DIR) through
 * MAILTLS_TEST_SCRAM_POP3_PORT, MAILTLS_TEST_SCRAM_POP3S_PORT and
 * MAILTLS_TEST_SCRAM_CA, besides MAILTLS_TEST_HOST and
 * MAILTLS_TEST_PASSWORD; exits with status 2 if one is missing.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>

#include "common.h"

static const char *host, *password, *ca;
static uint16_t pop3_port, pop3s_port;

/* A password with a control character (U+0001), which SASLprep prohibits. */
static const char ctl_password[] = "ctl\001secret-4711";

/* A handle trusting the SCRAM set's CA, recording into `trace`, with the
 * allowed mechanisms `mechanisms` (NULL: all), connected. */
static mailtls_pop3 *connect_pop3(uint16_t port, mailtls_security security,
				  const char *mechanisms, struct trace_log *trace)
{
	mailtls_options *opts = mailtls_options_new();
	mailtls_pop3 *pop3;
	if (opts == NULL) {
		fprintf(stderr, "mailtls_options_new returned NULL\n");
		exit(2);
	}
	CHECK_OK(mailtls_options_add_ca_file(opts, ca));
	/* Generous: valgrind makes TLS handshakes slow. */
	CHECK_OK(mailtls_options_set_connect_timeout_ms(opts, 20000));
	CHECK_OK(mailtls_options_set_io_timeout_ms(opts, 60000));
	CHECK_OK(mailtls_options_set_security(opts, security));
	CHECK_OK(mailtls_options_set_trace(opts, trace_record, trace));
	if (mechanisms != NULL)
		CHECK_OK(mailtls_options_set_mechanisms(opts, mechanisms));
	pop3 = mailtls_pop3_new(opts);
	mailtls_options_free(opts);
	if (pop3 == NULL) {
		fprintf(stderr, "mailtls_pop3_new returned NULL\n");
		exit(2);
	}
	test_use_handle(pop3);
	CHECK_OK(mailtls_pop3_connect(pop3, host, port));
	return pop3;
}

static mailtls_pop3 *connect_pop3s(const char *mechanisms, struct trace_log *trace)
{
	return connect_pop3(pop3s_port, MAILTLS_SECURITY_TLS, mechanisms, trace);
}

/* The session works after the login, and ends cleanly. */
static void stat_and_quit(mailtls_pop3 *pop3)
{
	uint32_t count = 0;
	uint64_t octets = 0;
	CHECK_OK(mailtls_pop3_stat(pop3, &count, &octets));
	CHECK_OK(mailtls_pop3_quit(pop3));
}

static bool last_error_contains(const mailtls_pop3 *pop3, const char *needle)
{
	char buf[1024];
	mailtls_pop3_last_error(pop3, buf, sizeof buf, NULL);
	return strstr(buf, needle) != NULL;
}

/* "0 authenticating with MECH\n": the library's note of its choice. */
static bool trace_chose(const struct trace_log *trace, const char *mechanism)
{
	char line[128];
	snprintf(line, sizeof line, "0 authenticating with %s\n", mechanism);
	return trace_contains(trace, line);
}

/* Forced SCRAM-SHA-256 and SCRAM-SHA-1 log scram02 in, scram01 only with
 * SCRAM-SHA-256; the trace names the mechanism, redacts the client's
 * messages and never shows the password. */
static void forced_mechanisms(void)
{
	static const struct {
		const char *user, *mechanism, *name;
	} cases[] = {
		{"scram02", "SCRAM-SHA-256", "SCRAM-SHA-256"},
		{"scram02", "SCRAM-SHA-1", "SCRAM-SHA-1"},
		{"scram01", "SCRAM-SHA-256", "SCRAM-SHA-256"},
		/* Names in any case. */
		{"scram02", "scram-sha-1", "SCRAM-SHA-1"},
	};
	size_t i;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct trace_log trace = {0};
		mailtls_pop3 *pop3 = connect_pop3s(NULL, &trace);
		char command[64];
		snprintf(command, sizeof command, "AUTH %s <redacted>", cases[i].name);
		CHECK_OK(mailtls_pop3_login(pop3, cases[i].user, password, cases[i].mechanism));
		stat_and_quit(pop3);
		if (!trace_has_command(&trace, command))
			test_report(__FILE__, __LINE__, "trace_has_command(&trace, command)", command);
		CHECK(trace_chose(&trace, cases[i].name));
		/* The client-final message (with the proof) is redacted whole. */
		CHECK(trace_has_command(&trace, "<redacted>\n"));
		CHECK(!trace_contains(&trace, ",p="));
		CHECK(!trace_contains(&trace, password));
		CHECK(!trace_has_command(&trace, "AUTH PLAIN"));
		mailtls_pop3_free(pop3);
		trace_clear(&trace);
	}
}

/* Refused logins: SCRAM-SHA-1 for scram01 (no SHA-1 keys stored), a wrong
 * password with each variant. The session goes on after each. */
static void refusals(void)
{
	static const char wrong[] = "not-the-password-8273";
	static const char *const mechanisms[] = {"SCRAM-SHA-256", "SCRAM-SHA-1"};
	struct trace_log trace = {0};
	mailtls_pop3 *pop3 = connect_pop3s(NULL, &trace);
	size_t i;

	CHECK_RC(MAILTLS_RESULT_AUTH_FAILED, mailtls_pop3_login(pop3, "scram01", password, "SCRAM-SHA-1"));
	CHECK(trace_has_command(&trace, "AUTH SCRAM-SHA-1 <redacted>"));
	CHECK_OK(mailtls_pop3_login(pop3, "scram01", password, "SCRAM-SHA-256"));
	stat_and_quit(pop3);
	mailtls_pop3_free(pop3);

	for (i = 0; i < sizeof mechanisms / sizeof mechanisms[0]; i++) {
		pop3 = connect_pop3s(NULL, &trace);
		CHECK_RC(MAILTLS_RESULT_AUTH_FAILED, mailtls_pop3_login(pop3, "scram02", wrong, mechanisms[i]));
		CHECK(!last_error_contains(pop3, wrong));
		CHECK_RC(MAILTLS_RESULT_AUTH_FAILED, mailtls_pop3_login(pop3, "scram01", wrong, mechanisms[i]));
		CHECK(!last_error_contains(pop3, wrong));
		CHECK_OK(mailtls_pop3_login(pop3, "scram02", password, mechanisms[i]));
		stat_and_quit(pop3);
		mailtls_pop3_free(pop3);
	}
	CHECK(!trace_contains(&trace, wrong));
	CHECK(!trace_contains(&trace, password));
	trace_clear(&trace);
}

/* Without a named mechanism the client picks SCRAM-SHA-256, over implicit
 * TLS and over STLS, for both users; never -PLUS (not offered), nor PLAIN. */
static void automatic_order(void)
{
	static const char *const users[] = {"scram01", "scram02"};
	size_t i, stls;
	for (stls = 0; stls < 2; stls++) {
		for (i = 0; i < sizeof users / sizeof users[0]; i++) {
			struct trace_log trace = {0};
			mailtls_pop3 *pop3 = stls ? connect_pop3(pop3_port, MAILTLS_SECURITY_STARTTLS, NULL, &trace)
						  : connect_pop3s(NULL, &trace);
			CHECK_OK(mailtls_pop3_login(pop3, users[i], password, NULL));
			stat_and_quit(pop3);
			CHECK(trace_has_command(&trace, "STLS") == (stls == 1));
			CHECK(trace_has_command(&trace, "AUTH SCRAM-SHA-256 <redacted>"));
			CHECK(trace_chose(&trace, "SCRAM-SHA-256"));
			CHECK(!trace_has_command(&trace, "AUTH SCRAM-SHA-256-PLUS"));
			CHECK(!trace_has_command(&trace, "AUTH SCRAM-SHA-1"));
			CHECK(!trace_has_command(&trace, "AUTH PLAIN"));
			CHECK(!trace_contains(&trace, password));
			mailtls_pop3_free(pop3);
			trace_clear(&trace);
		}
	}
}

/* Dovecot 2.3 offers no -PLUS variant: forcing one sends nothing. */
static void plus_not_offered(void)
{
	static const char *const mechanisms[] = {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"};
	struct trace_log trace = {0};
	mailtls_pop3 *pop3 = connect_pop3s(NULL, &trace);
	size_t i, commands = trace.commands;
	for (i = 0; i < sizeof mechanisms / sizeof mechanisms[0]; i++)
		CHECK_RC(MAILTLS_RESULT_NO_COMMON_MECHANISM,
			 mailtls_pop3_login(pop3, "scram02", password, mechanisms[i]));
	CHECK(trace.commands == commands);
	CHECK(!trace_has_command(&trace, "AUTH"));
	/* The session is still there. */
	CHECK_OK(mailtls_pop3_login(pop3, "scram02", password, "SCRAM-SHA-256"));
	stat_and_quit(pop3);
	mailtls_pop3_free(pop3);
	trace_clear(&trace);
}

/* mailtls_options_set_mechanisms() limits the automatic choice. */
static void allowed_mechanisms(void)
{
	static const struct {
		const char *list, *user, *command;
	} cases[] = {
		{"SCRAM-SHA-256 PLAIN", "scram01", "AUTH SCRAM-SHA-256 <redacted>"},
		/* Without SCRAM-SHA-256, SCRAM-SHA-1 comes before PLAIN. */
		{"PLAIN,SCRAM-SHA-1", "scram02", "AUTH SCRAM-SHA-1 <redacted>"},
		{"scram-sha-1, plain", "scram02", "AUTH SCRAM-SHA-1 <redacted>"},
		{"PLAIN", "scram02", "AUTH PLAIN <redacted>"},
		{"CRAM-MD5\tSCRAM-SHA-256", "scram02", "AUTH SCRAM-SHA-256 <redacted>"},
	};
	struct trace_log trace = {0};
	mailtls_options *opts;
	mailtls_pop3 *pop3;
	size_t i, commands;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		pop3 = connect_pop3s(cases[i].list, &trace);
		CHECK_OK(mailtls_pop3_login(pop3, cases[i].user, password, NULL));
		stat_and_quit(pop3);
		if (!trace_has_command(&trace, cases[i].command))
			test_report(__FILE__, __LINE__, "trace_has_command(command)", cases[i].list);
		CHECK(!trace_contains(&trace, password));
		mailtls_pop3_free(pop3);
		trace_clear(&trace);
	}

	/* Only a -PLUS variant allowed: nothing in common, nothing sent. */
	pop3 = connect_pop3s("SCRAM-SHA-256-PLUS", &trace);
	commands = trace.commands;
	CHECK_RC(MAILTLS_RESULT_NO_COMMON_MECHANISM, mailtls_pop3_login(pop3, "scram02", password, NULL));
	CHECK(trace.commands == commands);
	mailtls_pop3_free(pop3);
	trace_clear(&trace);

	/* An unknown name is refused and leaves the previous list. */
	opts = mailtls_options_new();
	CHECK(opts != NULL);
	test_use_handle(NULL);
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_options_set_mechanisms(opts, "SCRAM-SHA-512"));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_options_set_mechanisms(opts, "SCRAM-SHA-256;PLAIN"));
	CHECK_OK(mailtls_options_set_mechanisms(opts, ""));
	CHECK_OK(mailtls_options_set_mechanisms(opts, NULL));
	mailtls_options_free(opts);
}

/* SASLprep prohibits control characters: forced SCRAM refuses such a
 * password before sending anything, without repeating it; the automatic
 * choice skips SCRAM instead. */
static void saslprep_refusal(void)
{
	static const char *const mechanisms[] = {"SCRAM-SHA-256", "SCRAM-SHA-1"};
	struct trace_log trace = {0};
	mailtls_pop3 *pop3 = connect_pop3s(NULL, &trace);
	size_t i, commands = trace.commands;
	for (i = 0; i < sizeof mechanisms / sizeof mechanisms[0]; i++) {
		CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
			 mailtls_pop3_login(pop3, "scram02", ctl_password, mechanisms[i]));
		CHECK(!last_error_contains(pop3, ctl_password));
		CHECK(!last_error_contains(pop3, "secret-4711"));
	}
	CHECK(trace.commands == commands);

	/* Not SCRAM: PLAIN carries it, and Dovecot refuses the wrong password. */
	CHECK_RC(MAILTLS_RESULT_AUTH_FAILED, mailtls_pop3_login(pop3, "scram02", ctl_password, NULL));
	CHECK(trace_has_command(&trace, "AUTH PLAIN"));
	CHECK(!trace_has_command(&trace, "AUTH SCRAM"));
	CHECK(!trace_contains(&trace, "secret-4711"));
	CHECK_OK(mailtls_pop3_login(pop3, "scram02", password, NULL));
	stat_and_quit(pop3);
	mailtls_pop3_free(pop3);
	trace_clear(&trace);
}

int main(void)
{
	struct test_scram_env env = test_scram_env_load();

	host = env.host;
	password = env.password;
	ca = env.ca;
	pop3_port = env.pop3_port;
	pop3s_port = env.pop3s_port;

	forced_mechanisms();
	refusals();
	automatic_order();
	plus_not_offered();
	allowed_mechanisms();
	saslprep_refusal();
	return test_finish("pop3_scram");
}
