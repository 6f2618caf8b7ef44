/*
 * The account probe of the C API against the test Dovecot and Postfix,
 * given their ports (mailtls_probe_add_endpoint) and a closed one: each
 * combination's result, message, TLS version, login methods, login and
 * certificate; the recommended setting per protocol (implicit TLS first);
 * a wrong password told per combination and never echoed; the refused
 * certificate told without the test CA; bad arguments refused with
 * nothing tried. Uses user cprobe01 (logins only).
 *
 * Run by tests/c/run.sh with the servers' env.sh sourced.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common.h"

static struct test_env env;
static struct test_smtp_env smtp_env;

/* A probe of the four real endpoints, implicit TLS first per protocol, and
 * a closed POP3 port last; with the test CA when `trusting`. */
static mailtls_probe *real_probe(bool trusting, uint16_t closed)
{
	mailtls_options *opts = trusting ? test_options(&env) : NULL;
	mailtls_probe *probe = mailtls_probe_new(opts);
	mailtls_options_free(opts);
	CHECK(probe != NULL);
	CHECK_OK(mailtls_probe_set_timeout_ms(probe, 20000)); /* valgrind is slow */
	CHECK_OK(mailtls_probe_add_endpoint(probe, MAILTLS_PROTOCOL_POP3, env.pop3s_port, MAILTLS_SECURITY_TLS));
	CHECK_OK(mailtls_probe_add_endpoint(probe, MAILTLS_PROTOCOL_POP3, env.pop3_port,
					    MAILTLS_SECURITY_STARTTLS));
	CHECK_OK(mailtls_probe_add_endpoint(probe, MAILTLS_PROTOCOL_SMTP, smtp_env.smtps_port,
					    MAILTLS_SECURITY_TLS));
	CHECK_OK(mailtls_probe_add_endpoint(probe, MAILTLS_PROTOCOL_SMTP, smtp_env.submission_port,
					    MAILTLS_SECURITY_STARTTLS));
	CHECK_OK(mailtls_probe_add_endpoint(probe, MAILTLS_PROTOCOL_POP3, closed, MAILTLS_SECURITY_TLS));
	return probe;
}

static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = list; p != NULL && (p = strstr(p, word)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

static void test_everything_works_and_implicit_tls_is_recommended(void)
{
	uint16_t closed = closed_port();
	mailtls_probe *probe = real_probe(true, closed);
	CHECK_OK(mailtls_probe_run(probe, env.host, "cprobe01", env.password));
	CHECK(mailtls_probe_attempt_count(probe) == 5);
	for (size_t i = 0; i < 4; i++) {
		CHECK_OK(mailtls_probe_attempt_result(probe, i));
		CHECK(mailtls_probe_attempt_message(probe, i) == NULL);
		const char *version = mailtls_probe_attempt_tls_version(probe, i);
		CHECK(version != NULL && strncmp(version, "TLSv1.", 6) == 0);
		CHECK(has_word(mailtls_probe_attempt_mechanisms(probe, i), "PLAIN"));
		CHECK(mailtls_probe_attempt_login(probe, i) == MAILTLS_PROBE_LOGIN_SUCCEEDED);
		CHECK(mailtls_probe_attempt_login_message(probe, i) == NULL);
		const mailtls_certificate *cert = mailtls_probe_attempt_certificate(probe, i);
		CHECK(cert != NULL && strcasecmp(mailtls_certificate_sha256(cert), env.server_sha256) == 0);
		CHECK(cert != NULL && mailtls_certificate_failure(cert) == MAILTLS_RESULT_OK);
	}
	CHECK(mailtls_probe_attempt_protocol(probe, 0) == MAILTLS_PROTOCOL_POP3);
	CHECK(mailtls_probe_attempt_protocol(probe, 2) == MAILTLS_PROTOCOL_SMTP);
	CHECK(mailtls_probe_attempt_port(probe, 3) == smtp_env.submission_port);
	CHECK(mailtls_probe_attempt_security(probe, 1) == MAILTLS_SECURITY_STARTTLS);
	/* POP3 "USER" is a login method too. */
	CHECK(has_word(mailtls_probe_attempt_mechanisms(probe, 0), "USER"));

	CHECK_RC(MAILTLS_RESULT_CONNECT_FAILED, mailtls_probe_attempt_result(probe, 4));
	char port[8];
	snprintf(port, sizeof port, "%u", (unsigned)closed);
	const char *message = mailtls_probe_attempt_message(probe, 4);
	CHECK(message != NULL && strstr(message, port) != NULL);
	CHECK(mailtls_probe_attempt_login(probe, 4) == MAILTLS_PROBE_LOGIN_NOT_TRIED);
	CHECK(mailtls_probe_attempt_certificate(probe, 4) == NULL);

	size_t index = 99;
	CHECK_OK(mailtls_probe_recommended(probe, MAILTLS_PROTOCOL_POP3, &index));
	CHECK(index == 0);
	CHECK_OK(mailtls_probe_recommended(probe, MAILTLS_PROTOCOL_SMTP, &index));
	CHECK(index == 2);
	mailtls_probe_free(probe);
}

static void test_a_wrong_password_is_told_and_never_echoed(void)
{
	mailtls_probe *probe = real_probe(true, closed_port());
	const char *wrong = "wrong-Pa55word-xyzzy";
	CHECK_OK(mailtls_probe_run(probe, env.host, "cprobe01", wrong));
	for (size_t i = 0; i < 4; i++) {
		CHECK(mailtls_probe_attempt_login(probe, i) == MAILTLS_PROBE_LOGIN_FAILED);
		CHECK_RC(MAILTLS_RESULT_AUTH_FAILED, mailtls_probe_attempt_login_result(probe, i));
		const char *why = mailtls_probe_attempt_login_message(probe, i);
		CHECK(why != NULL && strstr(why, "password") != NULL && strstr(why, wrong) == NULL);
	}
	/* The connection settings are right even so. */
	size_t index = 99;
	CHECK_OK(mailtls_probe_recommended(probe, MAILTLS_PROTOCOL_POP3, &index));
	CHECK(index == 0);
	mailtls_probe_free(probe);
}

static void test_without_the_ca_the_refused_certificate_is_told(void)
{
	mailtls_probe *probe = real_probe(false, closed_port());
	CHECK_OK(mailtls_probe_run(probe, env.host, NULL, NULL));
	for (size_t i = 0; i < 4; i++) {
		mailtls_result result = mailtls_probe_attempt_result(probe, i);
		CHECK(result != MAILTLS_RESULT_OK);
		const mailtls_certificate *cert = mailtls_probe_attempt_certificate(probe, i);
		CHECK(cert != NULL && mailtls_certificate_failure(cert) == result);
		const char *message = mailtls_probe_attempt_message(probe, i);
		CHECK(message != NULL && cert != NULL && strstr(message, mailtls_certificate_sha256(cert)) != NULL);
		CHECK(mailtls_probe_attempt_login(probe, i) == MAILTLS_PROBE_LOGIN_NOT_ASKED);
	}
	size_t index = 99;
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_probe_recommended(probe, MAILTLS_PROTOCOL_SMTP, &index));
	CHECK(index == 99);
	mailtls_probe_free(probe);
}

static void test_bad_arguments(void)
{
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_probe_run(NULL, "127.0.0.1", NULL, NULL));
	mailtls_probe *probe = mailtls_probe_new(NULL);
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_probe_run(probe, NULL, NULL, NULL));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_probe_run(probe, "127.0.0.1", "user", NULL));
	char message[256];
	CHECK_OK(mailtls_probe_last_error(probe, message, sizeof message, NULL));
	CHECK(strstr(message, "password") != NULL);
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_probe_run(probe, "mail.example\r\nQUIT", NULL, NULL));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_probe_set_timeout_ms(probe, 0));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_probe_set_protocols(probe, 0));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_probe_set_protocols(probe, 4));
	CHECK_OK(mailtls_probe_set_protocols(probe, MAILTLS_PROTOCOL_POP3 | MAILTLS_PROTOCOL_SMTP));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
		 mailtls_probe_add_endpoint(probe, MAILTLS_PROTOCOL_POP3, 110, MAILTLS_SECURITY_NONE));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
		 mailtls_probe_add_endpoint(probe, MAILTLS_PROTOCOL_POP3, 110, MAILTLS_SECURITY_AUTO));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_probe_add_endpoint(probe, 3, 110, MAILTLS_SECURITY_TLS));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
		 mailtls_probe_add_endpoint(probe, MAILTLS_PROTOCOL_POP3, 0, MAILTLS_SECURITY_TLS));
	CHECK_OK(mailtls_probe_add_endpoint(probe, MAILTLS_PROTOCOL_POP3, 995, MAILTLS_SECURITY_TLS));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
		 mailtls_probe_add_endpoint(probe, MAILTLS_PROTOCOL_POP3, 995, MAILTLS_SECURITY_TLS));
	/* Nothing ran: every accessor says so. */
	CHECK(mailtls_probe_attempt_count(probe) == 0);
	CHECK(mailtls_probe_attempt_port(probe, 0) == 0);
	CHECK(mailtls_probe_attempt_message(probe, 0) == NULL);
	CHECK(mailtls_probe_attempt_mechanisms(probe, 0) == NULL);
	CHECK(mailtls_probe_attempt_certificate(probe, 0) == NULL);
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_probe_attempt_result(probe, 0));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_probe_attempt_result(NULL, 0));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_probe_recommended(probe, MAILTLS_PROTOCOL_POP3, NULL));
	CHECK(mailtls_probe_attempt_count(NULL) == 0);
	mailtls_probe_free(probe);
	mailtls_probe_free(NULL);
}

int main(void)
{
	env = test_env_load();
	smtp_env = test_smtp_env_load();
	test_everything_works_and_implicit_tls_is_recommended();
	test_a_wrong_password_is_told_and_never_echoed();
	test_without_the_ca_the_refused_certificate_is_told();
	test_bad_arguments();
	return test_finish("probe");
}
