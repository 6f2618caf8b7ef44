// The certificate API of mailtls.hpp against the test Dovecot and Postfix,
// whose certificates come from a CA that options without add_ca_file() do
// not trust: Error::certificate() and tls_detail() after a refused connect,
// the CertificateCallback (refuse, accept once, throw), and
// peer_certificate(). Uses user48 (logins only).
#include "common.hpp"

#include <cstdlib>
#include <stdexcept>

namespace {

const char *const user = "user48";

/// Options that do not trust the test CA, over implicit TLS.
mailtls::Options untrusting()
{
	mailtls::Options options;
	options.security(mailtls::Security::Tls)
		.connect_timeout(std::chrono::seconds(20))
		.io_timeout(std::chrono::seconds(60));
	return options;
}

void a_refused_connect_tells_the_certificate(const test::Env &env, const std::string &sha256)
{
	mailtls::Pop3 pop3(untrusting());
	CHECK_THROWS_ERROR(pop3.connect(env.host, env.pop3s_port), mailtls::Code::CertificateUnknownIssuer, {
		CHECK(err.certificate().has_value());
		if (err.certificate()) {
			CHECK(err.certificate()->sha256 == sha256);
			CHECK(err.certificate()->failure == mailtls::Code::CertificateUnknownIssuer);
			CHECK(!err.certificate()->names.empty());
			CHECK(!err.certificate()->der.empty());
			CHECK(err.certificate()->not_before < err.certificate()->not_after);
		}
		// The fingerprint to pin is in the message; the TLS library's words are not.
		CHECK(std::string(err.what()).find(sha256) != std::string::npos);
		CHECK(!err.tls_detail().empty());
		CHECK(std::string(err.what()).find(err.tls_detail()) == std::string::npos);
	});
	// The handle keeps it too, until the next connect.
	CHECK(pop3.peer_certificate().has_value() && pop3.peer_certificate()->sha256 == sha256);
}

void the_callback_decides(const test::Env &env, const std::string &sha256)
{
	// Refused: the same error, and the callback saw the facts.
	int asked = 0;
	std::string seen;
	{
		mailtls::Options options = untrusting();
		options.certificate_callback([&](const mailtls::Certificate &cert, mailtls::Code reason) {
			asked++;
			seen = cert.sha256;
			CHECK(reason == mailtls::Code::CertificateUnknownIssuer);
			return false;
		});
		mailtls::Pop3 pop3(options);
		CHECK_THROWS_ERROR(pop3.connect(env.host, env.pop3s_port), mailtls::Code::CertificateUnknownIssuer,
				   { CHECK(err.certificate().has_value()); });
		CHECK(asked == 1 && seen == sha256);
	}
	// Accepted once: the session logs in, and still tells why it failed.
	{
		mailtls::Options options = untrusting();
		options.certificate_callback([](const mailtls::Certificate &, mailtls::Code) { return true; });
		mailtls::Pop3 pop3(options);
		CHECK_NOTHROW(pop3.connect(env.host, env.pop3s_port));
		CHECK_NOTHROW(pop3.login(user, env.password));
		std::optional<mailtls::Certificate> cert = pop3.peer_certificate();
		CHECK(cert && cert->sha256 == sha256 && cert->failure == mailtls::Code::CertificateUnknownIssuer);
		CHECK_NOTHROW(pop3.quit());
	}
	// A throwing callback refuses, and its exception comes out of connect().
	{
		mailtls::Options options = untrusting();
		options.certificate_callback(
			[](const mailtls::Certificate &, mailtls::Code) -> bool { throw std::runtime_error("no dialog"); });
		mailtls::Smtp smtp(options);
		bool rethrown = false;
		try {
			smtp.connect(env.host, env.smtps_port);
		} catch (const std::runtime_error &ex) {
			rethrown = std::string(ex.what()) == "no dialog";
		}
		CHECK(rethrown);
	}
	// Never asked about a certificate that verifies.
	{
		mailtls::Options options = env.options();
		bool called = false;
		options.certificate_callback([&](const mailtls::Certificate &, mailtls::Code) { return called = true; });
		mailtls::Smtp smtp(options);
		CHECK_NOTHROW(smtp.connect(env.host, env.smtps_port));
		CHECK(!called);
		std::optional<mailtls::Certificate> cert = smtp.peer_certificate();
		CHECK(cert && cert->failure == mailtls::Code::Ok && cert->sha256 == sha256);
		CHECK_NOTHROW(smtp.quit());
	}
}

} // namespace

int main()
{
	test::Env env = test::Env::load();
	std::string sha256 = test::Env::need("MAILTLS_TEST_SERVER_SHA256");
	a_refused_connect_tells_the_certificate(env, sha256);
	the_callback_decides(env, sha256);
	return test::finish("certificate_test");
}
