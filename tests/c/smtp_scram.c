/*
 * SCRAM through the C API for SMTP AUTH: Postfix authenticating through the
 * SASL of a Dovecot 2.3 that offers SCRAM-SHA-1 and SCRAM-SHA-256 (no -PLUS
 * variant), on the submission port (STARTTLS) and over implicit TLS:
 * forcing each mechanism, the automatic order (SCRAM-SHA-256 first),
 * mailtls_options_set_mechanisms(), refusals (535), and a password
 * SCRAM's SASLprep refuses. Users scram01 (password stored only as a
 * SCRAM-SHA-256 hash, so SCRAM-SHA-1 cannot work for it) and scram02
 * (stored in plain). Nothing is sent as mail.
 *
 * Needs the second, SCRAM-offering server set
 * (MAILTLS_DOVECOT_SCRAM=1 bash tests/servers/dovecot.sh start DIR, then
 * bash tests/servers/postfix.sh start DIR) through
 * MAILTLS_TEST_SCRAM_SUBMISSION_PORT, MAILTLS_TEST_SCRAM_SMTPS_PORT and
 * MAILTLS_TEST_SCRAM_CA, besides MAILTLS_TEST_HOST and
 * MAILTLS_TEST_PASSWORD; exits with status 2 if one is missing.
 */

#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>

#include "common.h"

static const char *host, *password, *ca;
static uint16_t submission_port, smtps_port;

/* A password with a control character (U+0001), which SASLprep prohibits. */
static const char ctl_password[] = "ctl\001secret-4711";


/* A handle trusting the SCRAM set's CA, recording into `trace`, with the
 * allowed mechanisms `mechanisms` (NULL: all), connected. */
static mailtls_smtp *connect_smtp(uint16_t port, mailtls_security security,
				  const char *mechanisms, struct trace_log *trace)
{
	mailtls_options *opts = mailtls_options_new();
	mailtls_smtp *smtp;
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
	smtp = mailtls_smtp_new(opts);
	mailtls_options_free(opts);
	if (smtp == NULL) {
		fprintf(stderr, "mailtls_smtp_new returned NULL\n");
		exit(2);
	}
	test_use_smtp_handle(smtp);
	CHECK_OK(mailtls_smtp_connect(smtp, host, port));
	return smtp;
}

static mailtls_smtp *connect_submission(const char *mechanisms, struct trace_log *trace)
{
	return connect_smtp(submission_port, MAILTLS_SECURITY_STARTTLS, mechanisms, trace);
}

/* The session works after the login, and ends cleanly. */
static void noop_and_quit(mailtls_smtp *smtp)
{
	CHECK_OK(mailtls_smtp_noop(smtp));
	CHECK_OK(mailtls_smtp_quit(smtp));
}

static bool last_error_contains(const mailtls_smtp *smtp, const char *needle)
{
	char buf[1024];
	mailtls_smtp_last_error(smtp, buf, sizeof buf, NULL);
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
		{"scram02", "Scram-Sha-256", "SCRAM-SHA-256"},
	};
	size_t i;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct trace_log trace = {0};
		mailtls_smtp *smtp = connect_submission(NULL, &trace);
		char command[64];
		snprintf(command, sizeof command, "AUTH %s <redacted>", cases[i].name);
		CHECK_OK(mailtls_smtp_login(smtp, cases[i].user, password, cases[i].mechanism));
		CHECK(trace_contains(&trace, "\n2 235 "));
		noop_and_quit(smtp);
		CHECK(trace_has_command(&trace, "STARTTLS"));
		if (!trace_has_command(&trace, command))
			test_report(__FILE__, __LINE__, "trace_has_command(&trace, command)", command);
		CHECK(trace_chose(&trace, cases[i].name));
		CHECK(trace_has_command(&trace, "<redacted>\n"));
		CHECK(!trace_contains(&trace, ",p="));
		CHECK(!trace_contains(&trace, password));
		CHECK(!trace_has_command(&trace, "AUTH PLAIN"));
		mailtls_smtp_free(smtp);
		trace_clear(&trace);
	}
}

/* Refused logins (535): SCRAM-SHA-1 for scram01 (no SHA-1 keys stored), a
 * wrong password with each variant. The session goes on after each. */
static void refusals(void)
{
	static const char wrong[] = "not-the-password-8273";
	static const char *const mechanisms[] = {"SCRAM-SHA-256", "SCRAM-SHA-1"};
	struct trace_log trace = {0};
	mailtls_smtp *smtp = connect_submission(NULL, &trace);
	size_t i;

	CHECK_RC(MAILTLS_RESULT_AUTH_FAILED, mailtls_smtp_login(smtp, "scram01", password, "SCRAM-SHA-1"));
	CHECK(mailtls_smtp_last_code(smtp) == 535);
	CHECK(trace_has_command(&trace, "AUTH SCRAM-SHA-1 <redacted>"));
	/* A refused credential is not retried with another mechanism. */
	CHECK(!trace_has_command(&trace, "AUTH SCRAM-SHA-256"));
	CHECK_OK(mailtls_smtp_login(smtp, "scram01", password, "SCRAM-SHA-256"));
	noop_and_quit(smtp);
	mailtls_smtp_free(smtp);

	for (i = 0; i < sizeof mechanisms / sizeof mechanisms[0]; i++) {
		smtp = connect_submission(NULL, &trace);
		CHECK_RC(MAILTLS_RESULT_AUTH_FAILED, mailtls_smtp_login(smtp, "scram02", wrong, mechanisms[i]));
		CHECK(mailtls_smtp_last_code(smtp) == 535);
		CHECK(!last_error_contains(smtp, wrong));
		CHECK_OK(mailtls_smtp_login(smtp, "scram02", password, mechanisms[i]));
		noop_and_quit(smtp);
		mailtls_smtp_free(smtp);
	}
	/* Nor with the automatic choice. */
	smtp = connect_submission(NULL, &trace);
	CHECK_RC(MAILTLS_RESULT_AUTH_FAILED, mailtls_smtp_login(smtp, "scram01", wrong, NULL));
	CHECK(mailtls_smtp_last_code(smtp) == 535);
	CHECK(!trace_has_command(&trace, "AUTH PLAIN"));
	CHECK(!last_error_contains(smtp, wrong));
	mailtls_smtp_free(smtp);
	CHECK(!trace_contains(&trace, wrong));
	CHECK(!trace_contains(&trace, password));
	trace_clear(&trace);
}

/* Without a named mechanism the client picks SCRAM-SHA-256, on the
 * submission port and over implicit TLS, for both users. */
static void automatic_order(void)
{
	static const char *const users[] = {"scram01", "scram02"};
	size_t i, tls;
	for (tls = 0; tls < 2; tls++) {
		for (i = 0; i < sizeof users / sizeof users[0]; i++) {
			struct trace_log trace = {0};
			mailtls_smtp *smtp = tls ? connect_smtp(smtps_port, MAILTLS_SECURITY_TLS, NULL, &trace)
						 : connect_submission(NULL, &trace);
			CHECK_OK(mailtls_smtp_login(smtp, users[i], password, NULL));
			noop_and_quit(smtp);
			CHECK(trace_has_command(&trace, "STARTTLS") == (tls == 0));
			CHECK(trace_has_command(&trace, "AUTH SCRAM-SHA-256 <redacted>"));
			CHECK(trace_chose(&trace, "SCRAM-SHA-256"));
			CHECK(!trace_has_command(&trace, "AUTH SCRAM-SHA-256-PLUS"));
			CHECK(!trace_has_command(&trace, "AUTH SCRAM-SHA-1"));
			CHECK(!trace_has_command(&trace, "AUTH PLAIN"));
			CHECK(!trace_contains(&trace, password));
			mailtls_smtp_free(smtp);
			trace_clear(&trace);
		}
	}
}

/* No -PLUS variant offered: forcing one sends nothing. */
static void plus_not_offered(void)
{
	static const char *const mechanisms[] = {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"};
	struct trace_log trace = {0};
	mailtls_smtp *smtp = connect_submission(NULL, &trace);
	size_t i, commands = trace.commands;
	for (i = 0; i < sizeof mechanisms / sizeof mechanisms[0]; i++)
		CHECK_RC(MAILTLS_RESULT_NO_COMMON_MECHANISM,
			 mailtls_smtp_login(smtp, "scram02", password, mechanisms[i]));
	CHECK(trace.commands == commands);
	CHECK_OK(mailtls_smtp_login(smtp, "scram02", password, "SCRAM-SHA-256"));
	noop_and_quit(smtp);
	mailtls_smtp_free(smtp);
	trace_clear(&trace);
}

/* mailtls_options_set_mechanisms() limits the automatic choice. */
static void allowed_mechanisms(void)
{
	static const struct {
		const char *list, *user, *command;
	} cases[] = {
		{"SCRAM-SHA-256 PLAIN", "scram01", "AUTH SCRAM-SHA-256 <redacted>"},
		{"PLAIN,SCRAM-SHA-1", "scram02", "AUTH SCRAM-SHA-1 <redacted>"},
		{"PLAIN", "scram02", "AUTH PLAIN <redacted>"},
	};
	struct trace_log trace = {0};
	mailtls_smtp *smtp;
	size_t i, commands;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		smtp = connect_submission(cases[i].list, &trace);
		CHECK_OK(mailtls_smtp_login(smtp, cases[i].user, password, NULL));
		noop_and_quit(smtp);
		if (!trace_has_command(&trace, cases[i].command))
			test_report(__FILE__, __LINE__, "trace_has_command(command)", cases[i].list);
		CHECK(!trace_contains(&trace, password));
		mailtls_smtp_free(smtp);
		trace_clear(&trace);
	}

	smtp = connect_submission("SCRAM-SHA-1-PLUS", &trace);
	commands = trace.commands;
	CHECK_RC(MAILTLS_RESULT_NO_COMMON_MECHANISM, mailtls_smtp_login(smtp, "scram02", password, NULL));
	CHECK(trace.commands == commands);
	mailtls_smtp_free(smtp);
	trace_clear(&trace);
}

/* SASLprep prohibits control characters: forced SCRAM refuses such a
 * password before sending anything, without repeating it. */
static void saslprep_refusal(void)
{
	static const char *const mechanisms[] = {"SCRAM-SHA-256", "SCRAM-SHA-1"};
	struct trace_log trace = {0};
	mailtls_smtp *smtp = connect_submission(NULL, &trace);
	size_t i, commands = trace.commands;
	for (i = 0; i < sizeof mechanisms / sizeof mechanisms[0]; i++) {
		CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
			 mailtls_smtp_login(smtp, "scram02", ctl_password, mechanisms[i]));
		CHECK(!last_error_contains(smtp, ctl_password));
		CHECK(!last_error_contains(smtp, "secret-4711"));
	}
	CHECK(trace.commands == commands);
	CHECK(!trace_contains(&trace, "secret-4711"));
	CHECK_OK(mailtls_smtp_login(smtp, "scram02", password, "SCRAM-SHA-256"));
	noop_and_quit(smtp);
	mailtls_smtp_free(smtp);
	trace_clear(&trace);
}

int main(void)
{
	struct test_scram_env env = test_scram_env_load();

	host = env.host;
	password = env.password;
	ca = env.ca;
	submission_port = env.submission_port;
	smtps_port = env.smtps_port;

	forced_mechanisms();
	refusals();
	automatic_order();
	plus_not_offered();
	allowed_mechanisms();
	saslprep_refusal();
	return test_finish("smtp_scram");
}
