/*
 * The proxy options of the C API: the URL and the separate fields, each
 * bad value refused with the previous setting kept and no password in the
 * message; POP3S and POP3 with STLS through the test microsocks (SOCKS5),
 * SMTP submission with STARTTLS through the test tinyproxy (HTTP CONNECT,
 * Basic authentication), the proxy password kept out of the trace; the
 * proxy results for wrong credentials and a proxy that is not running;
 * the environment's proxy read only when asked, and NO_PROXY. Uses user
 * cproxy01 (logins only).
 *
 * Run by tests/c/run.sh with the servers' env.sh and the proxies'
 * proxies.env sourced (tests/servers/proxies.sh).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>

#include "common.h"

static struct test_env env;
static struct test_smtp_env smtp_env;
static struct trace_log trace;

static const char *need(const char *name)
{
	const char *v = getenv(name);
	if (v == NULL || *v == '\0') {
		fprintf(stderr, "%s is not set: start the proxies (tests/servers/proxies.sh) and source proxies.env\n",
			name);
		exit(2);
	}
	return v;
}

static char *last_options_error(const mailtls_options *opts)
{
	static char buf[1024];
	buf[0] = '\0';
	mailtls_options_last_error(opts, buf, sizeof buf, NULL);
	return buf;
}

static char *last_pop3_error(const mailtls_pop3 *pop3)
{
	static char buf[1024];
	buf[0] = '\0';
	mailtls_pop3_last_error(pop3, buf, sizeof buf, NULL);
	return buf;
}

static void test_bad_proxy_settings_are_refused_and_keep_the_previous_one(void)
{
	mailtls_options *opts = mailtls_options_new();
	CHECK(opts != NULL);
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_options_set_proxy(NULL, "socks5h://127.0.0.1:1080"));
	CHECK_OK(mailtls_options_set_proxy(opts, "socks5h://127.0.0.1:1"));
	static const char *const bad[] = {
		"ftp://127.0.0.1:21",                  /* unknown scheme */
		"https://127.0.0.1:3128?x=1",          /* a query */
		"socks5h://127.0.0.1:99999",           /* port out of range */
		"socks5h://127.0.0.1:1080/path",       /* a path */
		"127.0.0.1:1080",                      /* no scheme */
		"socks4a://user:secret-9@127.0.0.1",   /* SOCKS4a has no password */
		"http://a b@127.0.0.1",                /* a space */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_options_set_proxy(opts, bad[i]));
		CHECK(strstr(last_options_error(opts), "secret-9") == NULL);
	}
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_options_set_proxy(opts, "socks5h://\xc3\x28@host"));

	char long_user[300];
	memset(long_user, 'u', sizeof long_user - 1);
	long_user[sizeof long_user - 1] = '\0';
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
		 mailtls_options_set_proxy_fields(opts, MAILTLS_PROXY_SOCKS5, "127.0.0.1", 1080, long_user, "p"));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
		 mailtls_options_set_proxy_fields(opts, 99, "127.0.0.1", 1080, NULL, NULL));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
		 mailtls_options_set_proxy_fields(opts, MAILTLS_PROXY_HTTP, "127.0.0.1", 3128, NULL, "secret-9"));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
		 mailtls_options_set_proxy_fields(opts, MAILTLS_PROXY_HTTP, "127.0.0.1", 3128, "u", "a\r\nb"));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
		 mailtls_options_set_proxy_fields(opts, MAILTLS_PROXY_HTTP, "", 3128, NULL, NULL));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT,
		 mailtls_options_set_proxy_fields(opts, MAILTLS_PROXY_HTTP, NULL, 3128, NULL, NULL));

	/* The proxy set first is still the one used: port 1 refuses. */
	mailtls_pop3 *pop3 = mailtls_pop3_new(opts);
	CHECK_RC(MAILTLS_RESULT_PROXY_UNREACHABLE, mailtls_pop3_connect(pop3, env.host, env.pop3s_port));
	CHECK(strstr(last_pop3_error(pop3), "the SOCKS5 proxy 127.0.0.1:1") != NULL);
	mailtls_pop3_free(pop3);

	/* NULL removes it: a direct connection again. */
	CHECK_OK(mailtls_options_set_proxy(opts, NULL));
	mailtls_options_free(opts);
}

static mailtls_options *options_with_trace(mailtls_security security)
{
	mailtls_options *opts = test_options(&env);
	CHECK_OK(mailtls_options_set_security(opts, security));
	CHECK_OK(mailtls_options_set_trace(opts, trace_record, &trace));
	return opts;
}

static void pop3_through(mailtls_options *opts, uint16_t port)
{
	mailtls_pop3 *pop3 = mailtls_pop3_new(opts);
	CHECK(pop3 != NULL);
	CHECK_OK(mailtls_pop3_connect(pop3, env.host, port));
	CHECK_OK(mailtls_pop3_login(pop3, "cproxy01", env.password, NULL));
	CHECK_OK(mailtls_pop3_noop(pop3));
	CHECK_OK(mailtls_pop3_quit(pop3));
	mailtls_pop3_free(pop3);
}

static void test_pop3_through_socks5(void)
{
	char url[128];
	snprintf(url, sizeof url, "socks5h://127.0.0.1:%s", need("MAILTLS_TEST_SOCKS_PORT"));

	mailtls_options *opts = options_with_trace(MAILTLS_SECURITY_TLS);
	CHECK_OK(mailtls_options_set_proxy(opts, url));
	pop3_through(opts, env.pop3s_port);
	mailtls_options_free(opts);

	opts = options_with_trace(MAILTLS_SECURITY_STARTTLS);
	CHECK_OK(mailtls_options_set_proxy_fields(opts, MAILTLS_PROXY_SOCKS5_LOCAL_DNS, "127.0.0.1",
						  (uint16_t)atoi(need("MAILTLS_TEST_SOCKS_PORT")), NULL, NULL));
	trace_clear(&trace);
	pop3_through(opts, env.pop3_port);
	CHECK(trace_contains(&trace, "looked up here"));
	mailtls_options_free(opts);
}

static void test_smtp_through_http_connect_keeps_the_password_out_of_the_trace(void)
{
	const char *user = need("MAILTLS_TEST_HTTP_PROXY_USER");
	const char *password = need("MAILTLS_TEST_HTTP_PROXY_PASSWORD");
	uint16_t port = (uint16_t)atoi(need("MAILTLS_TEST_HTTP_PROXY_PORT"));
	mailtls_options *opts = options_with_trace(MAILTLS_SECURITY_STARTTLS);
	CHECK_OK(mailtls_options_set_proxy_fields(opts, MAILTLS_PROXY_HTTP, "127.0.0.1", port, user, password));
	trace_clear(&trace);
	mailtls_smtp *smtp = mailtls_smtp_new(opts);
	CHECK_OK(mailtls_smtp_connect(smtp, env.host, smtp_env.submission_port));
	CHECK_OK(mailtls_smtp_login(smtp, "cproxy01", env.password, NULL));
	CHECK_OK(mailtls_smtp_quit(smtp));
	mailtls_smtp_free(smtp);
	CHECK(trace_has_command(&trace, "CONNECT "));
	CHECK(trace_has_command(&trace, "Proxy-Authorization: Basic <redacted>"));
	CHECK(!trace_contains(&trace, password));

	/* Wrong credentials: the proxy's own result, the password not shown. */
	CHECK_OK(mailtls_options_set_proxy_fields(opts, MAILTLS_PROXY_HTTP, "127.0.0.1", port, user, "wrong-secret-7"));
	smtp = mailtls_smtp_new(opts);
	CHECK_RC(MAILTLS_RESULT_PROXY_AUTH_FAILED, mailtls_smtp_connect(smtp, env.host, smtp_env.submission_port));
	char buf[1024];
	CHECK_RC(MAILTLS_RESULT_OK, mailtls_smtp_last_error(smtp, buf, sizeof buf, NULL));
	CHECK(strstr(buf, "refused the proxy user name and password") != NULL);
	CHECK(strstr(buf, "wrong-secret-7") == NULL);
	CHECK(!trace_contains(&trace, "wrong-secret-7"));
	mailtls_smtp_free(smtp);
	mailtls_options_free(opts);
}

static mailtls_result connect_with_environment(bool from_environment)
{
	mailtls_options *opts = test_options(&env);
	CHECK_OK(mailtls_options_set_security(opts, MAILTLS_SECURITY_TLS));
	CHECK_OK(mailtls_options_set_proxy_from_environment(opts, from_environment));
	mailtls_pop3 *pop3 = mailtls_pop3_new(opts);
	mailtls_result rc = mailtls_pop3_connect(pop3, env.host, env.pop3s_port);
	mailtls_pop3_free(pop3);
	mailtls_options_free(opts);
	return rc;
}

static void test_the_environment_is_read_only_when_asked(void)
{
	char url[64];
	snprintf(url, sizeof url, "socks5h://127.0.0.1:%u", (unsigned)closed_port());
	CHECK(setenv("all_proxy", url, 1) == 0);
	CHECK_OK(connect_with_environment(false));
	CHECK_RC(MAILTLS_RESULT_PROXY_UNREACHABLE, connect_with_environment(true));
	CHECK(setenv("no_proxy", env.host, 1) == 0);
	CHECK_OK(connect_with_environment(true));
	CHECK(unsetenv("no_proxy") == 0);
	CHECK(setenv("all_proxy", "gopher://x", 1) == 0);
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, connect_with_environment(true));
	CHECK(unsetenv("all_proxy") == 0);
}

static void test_the_probe_goes_through_the_options_proxy(void)
{
	char url[64];
	snprintf(url, sizeof url, "socks5h://127.0.0.1:%u", (unsigned)closed_port());
	mailtls_options *opts = test_options(&env);
	CHECK_OK(mailtls_options_set_proxy(opts, url));
	mailtls_probe *probe = mailtls_probe_new(opts);
	mailtls_options_free(opts);
	CHECK(probe != NULL);
	CHECK_OK(mailtls_probe_set_timeout_ms(probe, 20000));
	CHECK_OK(mailtls_probe_add_endpoint(probe, MAILTLS_PROTOCOL_POP3, env.pop3s_port, MAILTLS_SECURITY_TLS));
	CHECK_OK(mailtls_probe_add_endpoint(probe, MAILTLS_PROTOCOL_SMTP, smtp_env.submission_port,
					    MAILTLS_SECURITY_STARTTLS));
	CHECK_OK(mailtls_probe_run(probe, env.host, NULL, NULL));
	CHECK(mailtls_probe_attempt_count(probe) == 2);
	for (size_t i = 0; i < mailtls_probe_attempt_count(probe); i++)
		CHECK_RC(MAILTLS_RESULT_PROXY_UNREACHABLE, mailtls_probe_attempt_result(probe, i));
	mailtls_probe_free(probe);
}

int main(void)
{
	env = test_env_load();
	smtp_env = test_smtp_env_load();
	test_bad_proxy_settings_are_refused_and_keep_the_previous_one();
	test_pop3_through_socks5();
	test_smtp_through_http_connect_keeps_the_password_out_of_the_trace();
	test_the_environment_is_read_only_when_asked();
	test_the_probe_goes_through_the_options_proxy();
	return test_finish("proxy");
}
