// mailtls::probe() of mailtls.hpp against the test Dovecot and Postfix,
// given their ports and a closed one: each attempt's outcome, login and
// certificate, the recommendation (implicit TLS first), the refused
// certificate without the test CA, and bad arguments thrown before
// anything is tried. Uses user49 (logins only).
#include "common.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

namespace {

const char *const user = "user49";

/// A loopback port nothing listens on (bound, read, released).
std::uint16_t closed_port()
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	sockaddr_in addr{};
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof addr;
	bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr);
	getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len);
	close(fd);
	return ntohs(addr.sin_port);
}

mailtls::ProbeSettings real(const test::Env &env, const mailtls::Options *tls, std::uint16_t closed)
{
	mailtls::ProbeSettings settings;
	settings.endpoints = {
		{mailtls::Protocol::Pop3, env.pop3s_port, mailtls::Security::Tls},
		{mailtls::Protocol::Pop3, env.pop3_port, mailtls::Security::StartTls},
		{mailtls::Protocol::Smtp, env.smtps_port, mailtls::Security::Tls},
		{mailtls::Protocol::Smtp, env.submission_port, mailtls::Security::StartTls},
		{mailtls::Protocol::Smtp, closed, mailtls::Security::StartTls},
	};
	settings.timeout = std::chrono::seconds(20); // valgrind is slow
	settings.tls = tls;
	return settings;
}

void everything_works_and_implicit_tls_is_recommended(const test::Env &env, const std::string &sha256)
{
	mailtls::Options trusting;
	trusting.add_ca_file(env.ca);
	std::uint16_t closed = closed_port();
	mailtls::ProbeReport report;
	CHECK_NOTHROW(report = mailtls::probe(env.host, user, env.password, real(env, &trusting, closed)));
	CHECK(report.attempts.size() == 5);
	for (std::size_t i = 0; i < 4 && i < report.attempts.size(); i++) {
		const mailtls::ProbeAttempt &a = report.attempts[i];
		CHECK(a.works() && a.message.empty());
		CHECK(a.tls_version.rfind("TLSv1.", 0) == 0);
		CHECK(std::find(a.mechanisms.begin(), a.mechanisms.end(), "PLAIN") != a.mechanisms.end());
		CHECK(a.login == mailtls::ProbeLogin::Succeeded);
		CHECK(a.certificate.has_value() && a.certificate->sha256 == sha256);
	}
	if (report.attempts.size() == 5) {
		const mailtls::ProbeAttempt &failed = report.attempts[4];
		CHECK(failed.result == mailtls::Code::ConnectFailed);
		CHECK(failed.message.find(std::to_string(closed)) != std::string::npos);
		CHECK(failed.login == mailtls::ProbeLogin::NotTried && !failed.certificate);
	}
	const mailtls::ProbeAttempt *pop3 = report.recommended(mailtls::Protocol::Pop3);
	const mailtls::ProbeAttempt *smtp = report.recommended(mailtls::Protocol::Smtp);
	CHECK(pop3 != nullptr && pop3->port == env.pop3s_port && pop3->security == mailtls::Security::Tls);
	CHECK(smtp != nullptr && smtp->port == env.smtps_port);
}

void the_refused_certificate_is_told(const test::Env &env, const std::string &sha256)
{
	mailtls::ProbeReport report;
	CHECK_NOTHROW(report = mailtls::probe(env.host, std::nullopt, std::nullopt, real(env, nullptr, closed_port())));
	for (std::size_t i = 0; i < 4 && i < report.attempts.size(); i++) {
		const mailtls::ProbeAttempt &a = report.attempts[i];
		CHECK(a.result == mailtls::Code::CertificateUnknownIssuer);
		CHECK(a.certificate.has_value() && a.certificate->failure == a.result);
		CHECK(a.message.find(sha256) != std::string::npos);
		CHECK(a.login == mailtls::ProbeLogin::NotAsked);
	}
	CHECK(report.recommended(mailtls::Protocol::Pop3) == nullptr);
}

void bad_arguments_throw(const test::Env &env)
{
	CHECK_THROWS_ERROR(mailtls::probe(env.host, user), mailtls::Code::InvalidArgument, {});
	mailtls::ProbeSettings zero;
	zero.timeout = std::chrono::milliseconds(0);
	CHECK_THROWS_ERROR(mailtls::probe(env.host, std::nullopt, std::nullopt, zero), mailtls::Code::InvalidArgument, {});
	mailtls::ProbeSettings clear;
	clear.endpoints = {{mailtls::Protocol::Pop3, 110, mailtls::Security::None}};
	CHECK_THROWS_ERROR(mailtls::probe(env.host, std::nullopt, std::nullopt, clear), mailtls::Code::InvalidArgument,
			   { CHECK(std::string(err.what()).find("STARTTLS") != std::string::npos); });
	CHECK_THROWS_ERROR(mailtls::probe(std::string_view("a\0b", 3)), mailtls::Code::InvalidArgument, {});
}

} // namespace

int main()
{
	test::Env env = test::Env::load();
	std::string sha256 = test::Env::need("MAILTLS_TEST_SERVER_SHA256");
	everything_works_and_implicit_tls_is_recommended(env, sha256);
	the_refused_certificate_is_told(env, sha256);
	bad_arguments_throw(env);
	return test::finish("probe_test");
}
