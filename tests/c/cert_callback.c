/*
 * The certificate callback of the C API against the test Dovecot and
 * Postfix, with options that trust another CA (so the servers'
 * certificates come from an unknown issuer): it is called once, with the
 * certificate's facts and the reason, before any command but CAPA/STLS;
 * ACCEPT_ONCE lets the connect go on to a login, nothing is stored; any
 * other answer fails the connect with the reason and no credential sent;
 * it is never called for a verified certificate or a pin mismatch; inside
 * it, the same handle answers HANDLE_BUSY. Uses users certcb01, certcb02
 * (logins only; their mailboxes are only read).
 *
 * Run by tests/c/run.sh with the servers' env.sh sourced.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

static struct test_env env;
static struct trace_log trace;

/* What the callback was shown, and what it answers. */
struct asked {
	mailtls_certificate_decision answer;
	int calls;
	mailtls_result reason;
	char sha256[65];
	size_t names;
	bool self_signed;
	mailtls_result failure; /* mailtls_certificate_failure() of cert */
	size_t commands_before; /* trace commands sent before the call */
	const mailtls_pop3 *pop3; /* the handle connecting (may be NULL) */
	mailtls_result busy;      /* what a call into that handle gave */
};

static mailtls_certificate_decision decide(void *userdata, const mailtls_certificate *cert,
					   mailtls_result reason)
{
	struct asked *a = userdata;
	const char *sha256 = mailtls_certificate_sha256(cert);
	a->calls++;
	a->reason = reason;
	a->names = mailtls_certificate_name_count(cert);
	a->self_signed = mailtls_certificate_self_signed(cert);
	a->failure = mailtls_certificate_failure(cert);
	a->commands_before = trace.commands;
	if (sha256 != NULL && strlen(sha256) < sizeof a->sha256)
		strcpy(a->sha256, sha256);
	if (a->pop3 != NULL)
		a->busy = mailtls_pop3_peer_cert_sha256(a->pop3, NULL, 0, NULL);
	return a->answer;
}

/* Options trusting another CA, over `security`, asking `asked`. */
static mailtls_options *untrusting(mailtls_security security, struct asked *asked)
{
	mailtls_options *opts = mailtls_options_new();
	CHECK(opts != NULL);
	CHECK_OK(mailtls_options_add_ca_file(opts, env.other_ca));
	CHECK_OK(mailtls_options_set_connect_timeout_ms(opts, 20000));
	CHECK_OK(mailtls_options_set_io_timeout_ms(opts, 60000));
	CHECK_OK(mailtls_options_set_security(opts, security));
	CHECK_OK(mailtls_options_set_trace(opts, trace_record, &trace));
	if (asked != NULL)
		CHECK_OK(mailtls_options_set_certificate_callback(opts, decide, asked));
	return opts;
}

static mailtls_pop3 *pop3_with(mailtls_options *opts)
{
	mailtls_pop3 *pop3 = mailtls_pop3_new(opts);
	CHECK(pop3 != NULL);
	mailtls_options_free(opts);
	test_use_handle(pop3);
	return pop3;
}

static void accepted_once(mailtls_security security, uint16_t port, const char *user)
{
	struct asked asked = { .answer = MAILTLS_CERTIFICATE_ACCEPT_ONCE };
	mailtls_pop3 *pop3 = pop3_with(untrusting(security, &asked));
	const mailtls_certificate *cert;
	uint32_t count = 0;
	uint64_t size = 0;
	size_t before = security == MAILTLS_SECURITY_STARTTLS ? 2 : 0;

	asked.pop3 = pop3;
	trace_clear(&trace);
	CHECK_OK(mailtls_pop3_connect(pop3, env.host, port));
	CHECK(asked.calls == 1);
	CHECK(asked.reason == MAILTLS_RESULT_CERTIFICATE_UNKNOWN_ISSUER);
	CHECK(asked.failure == MAILTLS_RESULT_CERTIFICATE_UNKNOWN_ISSUER);
	CHECK(strcmp(asked.sha256, env.server_sha256) == 0);
	CHECK(asked.names == 2 && !asked.self_signed);
	/* Nothing but STARTTLS's CAPA and STLS went out before the decision. */
	CHECK(asked.commands_before == before);
	CHECK(asked.busy == MAILTLS_RESULT_HANDLE_BUSY);
	/* The certificate stays on the handle, with why it failed. */
	cert = mailtls_pop3_peer_certificate(pop3);
	CHECK(cert != NULL);
	CHECK(mailtls_certificate_failure(cert) == MAILTLS_RESULT_CERTIFICATE_UNKNOWN_ISSUER);
	CHECK(strcmp(mailtls_certificate_sha256(cert), env.server_sha256) == 0);
	CHECK(trace_contains(&trace, "accepted for this connection by the certificate callback"));

	CHECK_OK(mailtls_pop3_login(pop3, user, env.password, NULL));
	CHECK_OK(mailtls_pop3_stat(pop3, &count, &size));
	CHECK_OK(mailtls_pop3_quit(pop3));

	/* Accepted once: the next connect asks again. */
	CHECK_OK(mailtls_pop3_connect(pop3, env.host, port));
	CHECK(asked.calls == 2);
	CHECK_OK(mailtls_pop3_quit(pop3));
	mailtls_pop3_free(pop3);
	test_use_handle(NULL);
}

static void refused(mailtls_security security, uint16_t port, mailtls_certificate_decision answer)
{
	struct asked asked = { .answer = answer };
	mailtls_pop3 *pop3 = pop3_with(untrusting(security, &asked));
	size_t before = security == MAILTLS_SECURITY_STARTTLS ? 2 : 0;

	trace_clear(&trace);
	CHECK_RC(MAILTLS_RESULT_CERTIFICATE_UNKNOWN_ISSUER, mailtls_pop3_connect(pop3, env.host, port));
	CHECK(asked.calls == 1);
	/* Nothing at all went out after the handshake, no credential. */
	CHECK(trace.commands == before);
	CHECK(!trace_has_command(&trace, "USER") && !trace_has_command(&trace, "PASS"));
	CHECK(!trace_has_command(&trace, "AUTH") && !trace_has_command(&trace, "APOP"));
	CHECK(trace_contains(&trace, "refused by the certificate callback"));
	CHECK(mailtls_pop3_peer_certificate(pop3) != NULL);
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_noop(pop3));
	mailtls_pop3_free(pop3);
	test_use_handle(NULL);
}

static void never_asked(void)
{
	struct asked asked = { .answer = MAILTLS_CERTIFICATE_ACCEPT_ONCE };
	mailtls_options *opts = test_options(&env);
	mailtls_pop3 *pop3;

	/* A verified certificate. */
	CHECK_OK(mailtls_options_set_security(opts, MAILTLS_SECURITY_TLS));
	CHECK_OK(mailtls_options_set_certificate_callback(opts, decide, &asked));
	pop3 = mailtls_pop3_new(opts);
	test_use_handle(pop3);
	CHECK_OK(mailtls_pop3_connect(pop3, env.host, env.pop3s_port));
	CHECK(mailtls_certificate_failure(mailtls_pop3_peer_certificate(pop3)) == MAILTLS_RESULT_OK);
	CHECK_OK(mailtls_pop3_quit(pop3));
	mailtls_pop3_free(pop3);

	/* A pin mismatch, even with an accepting callback. */
	CHECK_OK(mailtls_options_set_pin_sha256(
		opts, "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"));
	pop3 = mailtls_pop3_new(opts);
	test_use_handle(pop3);
	CHECK_RC(MAILTLS_RESULT_CERTIFICATE_PIN_MISMATCH, mailtls_pop3_connect(pop3, env.host, env.pop3s_port));
	mailtls_pop3_free(pop3);
	mailtls_options_free(opts);
	CHECK(asked.calls == 0);

	/* A NULL callback removes it: the connect fails without asking. */
	opts = untrusting(MAILTLS_SECURITY_TLS, &asked);
	CHECK_OK(mailtls_options_set_certificate_callback(opts, NULL, NULL));
	pop3 = pop3_with(opts);
	CHECK_RC(MAILTLS_RESULT_CERTIFICATE_UNKNOWN_ISSUER, mailtls_pop3_connect(pop3, env.host, env.pop3s_port));
	CHECK(asked.calls == 0);
	mailtls_pop3_free(pop3);
	test_use_handle(NULL);
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_options_set_certificate_callback(NULL, decide, &asked));
}

static void smtp(void)
{
	struct test_smtp_env smtp_env = test_smtp_env_load();
	uint16_t ports[2] = { smtp_env.smtps_port, smtp_env.submission_port };
	mailtls_security modes[2] = { MAILTLS_SECURITY_TLS, MAILTLS_SECURITY_STARTTLS };
	for (int i = 0; i < 2; i++) {
		struct asked asked = { .answer = MAILTLS_CERTIFICATE_ACCEPT_ONCE };
		mailtls_options *opts = untrusting(modes[i], &asked);
		mailtls_smtp *smtp = mailtls_smtp_new(opts);
		test_use_smtp_handle(smtp);
		CHECK_OK(mailtls_smtp_connect(smtp, env.host, ports[i]));
		CHECK(asked.calls == 1 && asked.reason == MAILTLS_RESULT_CERTIFICATE_UNKNOWN_ISSUER);
		CHECK_OK(mailtls_smtp_quit(smtp));
		mailtls_smtp_free(smtp);

		asked.answer = MAILTLS_CERTIFICATE_REFUSE;
		smtp = mailtls_smtp_new(opts);
		test_use_smtp_handle(smtp);
		CHECK_RC(MAILTLS_RESULT_CERTIFICATE_UNKNOWN_ISSUER, mailtls_smtp_connect(smtp, env.host, ports[i]));
		CHECK(asked.calls == 2);
		mailtls_smtp_free(smtp);
		mailtls_options_free(opts);
	}
	test_use_smtp_handle(NULL);
}

int main(void)
{
	env = test_env_load();
	accepted_once(MAILTLS_SECURITY_TLS, env.pop3s_port, "certcb01");
	accepted_once(MAILTLS_SECURITY_STARTTLS, env.pop3_port, "certcb02");
	refused(MAILTLS_SECURITY_TLS, env.pop3s_port, MAILTLS_CERTIFICATE_REFUSE);
	refused(MAILTLS_SECURITY_STARTTLS, env.pop3_port, MAILTLS_CERTIFICATE_REFUSE);
	/* Any value other than ACCEPT_ONCE refuses. */
	refused(MAILTLS_SECURITY_TLS, env.pop3s_port, 7);
	never_asked();
	smtp();
	bytes_free(&trace.all);
	return test_finish("cert_callback");
}
