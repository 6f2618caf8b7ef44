// Options::proxy of mailtls.hpp: POP3S through the test microsocks (a URL)
// and SMTP submission through the test tinyproxy (the fields), the proxy
// failures as mailtls::Error with their codes and without the proxy
// password, bad URLs thrown before anything is sent. Uses user cproxy01
// (logins only). Needs the proxies of tests/servers/proxies.sh (their
// proxies.env sourced).
#include "common.hpp"

namespace {

const char *const user = "cproxy01";

void pop3s_through_socks5(const test::Env &env)
{
	mailtls::Options options = env.options();
	options.proxy("socks5h://127.0.0.1:" + test::Env::need("MAILTLS_TEST_SOCKS_PORT"));
	mailtls::Pop3 pop3(options);
	CHECK_NOTHROW(pop3.connect(env.host, env.pop3s_port));
	CHECK_NOTHROW(pop3.login(user, env.password));
	CHECK_NOTHROW(pop3.noop());
	CHECK_NOTHROW(pop3.quit());
}

void smtp_through_http_connect(const test::Env &env)
{
	const std::uint16_t port = test::Env::port("MAILTLS_TEST_HTTP_PROXY_PORT");
	const std::string proxy_user = test::Env::need("MAILTLS_TEST_HTTP_PROXY_USER");
	const std::string proxy_password = test::Env::need("MAILTLS_TEST_HTTP_PROXY_PASSWORD");
	mailtls::Options options = env.options(mailtls::Security::StartTls);
	options.proxy(mailtls::ProxyKind::Http, "127.0.0.1", port, proxy_user, proxy_password);
	{
		mailtls::Smtp smtp(options);
		CHECK_NOTHROW(smtp.connect(env.host, env.submission_port));
		CHECK_NOTHROW(smtp.login(user, env.password));
		CHECK_NOTHROW(smtp.quit());
	}
	options.proxy(mailtls::ProxyKind::Http, "127.0.0.1", port, proxy_user, "wrong-secret-3");
	mailtls::Smtp refused(options);
	CHECK_THROWS_ERROR(refused.connect(env.host, env.submission_port), mailtls::Code::ProxyAuthFailed, {
		CHECK(std::string(err.what()).find("401") != std::string::npos);
		CHECK(std::string(err.what()).find("wrong-secret-3") == std::string::npos);
	});
}

void failures_have_their_codes(const test::Env &env)
{
	mailtls::Options options = env.options();
	options.proxy("socks5h://127.0.0.1:1");
	mailtls::Pop3 pop3(options);
	CHECK_THROWS_ERROR(pop3.connect(env.host, env.pop3s_port), mailtls::Code::ProxyUnreachable, {});

	mailtls::Options bad;
	CHECK_THROWS_ERROR(bad.proxy("gopher://127.0.0.1"), mailtls::Code::InvalidArgument, {});
	CHECK_THROWS_ERROR(bad.proxy(std::string_view("socks5h://a\0b", 13)), mailtls::Code::InvalidArgument, {});
	CHECK_THROWS_ERROR(bad.proxy(mailtls::ProxyKind::Socks4a, "127.0.0.1", 1080, "u", "secret-4"),
			   mailtls::Code::InvalidArgument,
			   { CHECK(std::string(err.what()).find("secret-4") == std::string::npos); });
	CHECK_NOTHROW(bad.proxy(mailtls::ProxyKind::Https, "proxy.example", 0).clear_proxy());
	CHECK_NOTHROW(bad.proxy_from_environment(false));
}

} // namespace

int main()
{
	test::Env env = test::Env::load();
	pop3s_through_socks5(env);
	smtp_through_http_connect(env);
	failures_have_their_codes(env);
	return test::finish("proxy_test");
}
