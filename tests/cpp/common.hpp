// Shared helpers of the C++ tests of mailtls.hpp (the programs in
// tests/cpp): CHECK macros, the test servers' environment, mailbox seeding
// and delivered messages. Header-only; included by each test program.
#ifndef MAILTLS_TEST_CPP_COMMON_HPP
#define MAILTLS_TEST_CPP_COMMON_HPP

#include "mailtls.hpp"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace test {

inline int failures = 0;

inline void report(const char *file, int line, const std::string &what)
{
	failures++;
	std::cerr << file << ":" << line << ": CHECK failed: " << what << "\n";
}

/// Print PASS/FAIL for the program; the exit status of main().
inline int finish(const char *name)
{
	if (failures == 0) {
		std::cout << "PASS " << name << "\n";
		return 0;
	}
	std::cout << "FAIL " << name << ": " << failures << " check(s) failed\n";
	return 1;
}

inline std::string describe_error(const mailtls::Error &e)
{
	std::ostringstream out;
	out << "mailtls::Error code " << static_cast<unsigned>(e.code()) << " (" << mailtls::describe(e.code())
	    << "): " << e.what();
	if (!e.reply().empty())
		out << " | reply: " << e.reply();
	return out.str();
}

} // namespace test

/// Check a condition; on failure print it and go on.
#define CHECK(cond)                                                                                                \
	do {                                                                                                       \
		if (!(cond))                                                                                       \
			test::report(__FILE__, __LINE__, #cond);                                                   \
	} while (0)

/// Run a statement that must not throw; an exception is reported (with the
/// Error's detail) and the program goes on.
#define CHECK_NOTHROW(stmt)                                                                                        \
	do {                                                                                                       \
		try {                                                                                              \
			stmt;                                                                                      \
		} catch (const mailtls::Error &check_e_) {                                                         \
			test::report(__FILE__, __LINE__, std::string(#stmt) + " threw " + test::describe_error(check_e_)); \
		} catch (const std::exception &check_e_) {                                                         \
			test::report(__FILE__, __LINE__, std::string(#stmt) + " threw " + check_e_.what());       \
		}                                                                                                  \
	} while (0)

/// Run a statement that must throw mailtls::Error with `expected_code`;
/// the Error is then available as `err` in `checks`.
#define CHECK_THROWS_ERROR(stmt, expected_code, checks)                                                            \
	do {                                                                                                       \
		bool check_threw_ = false;                                                                         \
		try {                                                                                              \
			stmt;                                                                                      \
		} catch (const mailtls::Error &err) {                                                              \
			check_threw_ = true;                                                                       \
			if (err.code() != (expected_code))                                                         \
				test::report(__FILE__, __LINE__,                                                   \
					     std::string(#stmt) + " threw " + test::describe_error(err) +          \
						     ", expected code " #expected_code);                           \
			else {                                                                                     \
				checks;                                                                            \
			}                                                                                          \
		} catch (const std::exception &check_e_) {                                                         \
			check_threw_ = true;                                                                       \
			test::report(__FILE__, __LINE__, std::string(#stmt) + " threw " + check_e_.what() +       \
								 ", expected mailtls::Error " #expected_code);     \
		}                                                                                                  \
		if (!check_threw_)                                                                                 \
			test::report(__FILE__, __LINE__, std::string(#stmt) + " did not throw " #expected_code);  \
	} while (0)

namespace test {

/// The MAILTLS_TEST_* variables of tests/servers/{dovecot,postfix}.sh's env.sh.
struct Env {
	std::string host, ca, other_ca, password, maildir_root;
	std::uint16_t pop3_port{}, pop3s_port{}, submission_port{}, smtps_port{};

	static std::string need(const char *name)
	{
		const char *v = std::getenv(name);
		if (v == nullptr || *v == '\0') {
			std::cerr << name << " is not set: source the env.sh of tests/servers/dovecot.sh and postfix.sh\n";
			std::exit(2);
		}
		return v;
	}

	static std::uint16_t port(const char *name)
	{
		std::string v = need(name);
		unsigned long p = std::strtoul(v.c_str(), nullptr, 10);
		if (p == 0 || p > 65535) {
			std::cerr << name << " is not a port: " << v << "\n";
			std::exit(2);
		}
		return static_cast<std::uint16_t>(p);
	}

	static Env load()
	{
		Env env;
		env.host = need("MAILTLS_TEST_HOST");
		env.ca = need("MAILTLS_TEST_CA");
		env.other_ca = need("MAILTLS_TEST_OTHER_CA");
		env.password = need("MAILTLS_TEST_PASSWORD");
		env.maildir_root = need("MAILTLS_TEST_MAILDIR_ROOT");
		env.pop3_port = port("MAILTLS_TEST_POP3_PORT");
		env.pop3s_port = port("MAILTLS_TEST_POP3S_PORT");
		env.submission_port = port("MAILTLS_TEST_SMTP_SUBMISSION_PORT");
		env.smtps_port = port("MAILTLS_TEST_SMTPS_PORT");
		return env;
	}

	/// Options trusting the test CA, with timeouts that suit valgrind. The
	/// test ports are not the standard ones, so Security::Auto would mean
	/// STARTTLS on all of them: implicit TLS (the POP3S and SMTPS ports)
	/// is the default here.
	mailtls::Options options(mailtls::Security security = mailtls::Security::Tls) const
	{
		mailtls::Options options;
		options.security(security)
			.add_ca_file(ca)
			.connect_timeout(std::chrono::seconds(20))
			.io_timeout(std::chrono::seconds(60));
		return options;
	}

	std::filesystem::path maildir(const std::string &user) const
	{
		return std::filesystem::path(maildir_root) / user / "Maildir";
	}
};

/// Empty USER's Maildir and store `messages` (LF line ends, as on disk) in
/// new/ in order, so that they become messages 1..n (as tests/c/common.c's
/// test_seed_mailbox does). Exits with status 2 on a file system error.
inline void seed_mailbox(const Env &env, const std::string &user, const std::vector<std::string> &messages)
{
	namespace fs = std::filesystem;
	fs::path md = env.maildir(user);
	try {
		for (const char *sub : {"cur", "new"})
			for (const auto &entry : fs::directory_iterator(md / sub))
				fs::remove(entry.path());
		for (std::size_t i = 0; i < messages.size(); i++) {
			// Increasing timestamps keep the order; written in tmp/ and
			// renamed, as a delivery agent does.
			std::string name = std::to_string(1000000000UL + i) + ".M" + std::to_string(i) + "P" +
					   std::to_string(::getpid()) + ".mailtls-cpp-test";
			fs::path tmp = md / "tmp" / name;
			{
				std::ofstream out(tmp, std::ios::binary);
				out << messages[i];
				if (!out.flush())
					throw std::runtime_error("cannot write " + tmp.string());
			}
			// Dovecot reads the mail as uid/gid 65534 (tests run as root).
			if (::chown(tmp.c_str(), 65534, 65534) != 0)
				throw std::runtime_error("cannot chown " + tmp.string());
			fs::rename(tmp, md / "new" / name);
		}
	} catch (const std::exception &e) {
		std::cerr << "seeding " << user << ": " << e.what() << "\n";
		std::exit(2);
	}
}

/// What Dovecot sends for a message stored with LF line ends: every LF as
/// CRLF, and a final CRLF when the message does not end with one.
inline std::string expected_wire(const std::string &stored)
{
	std::string out;
	for (char c : stored) {
		if (c == '\n')
			out += "\r\n";
		else
			out += c;
	}
	if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0)
		out += "\r\n";
	return out;
}

/// The size Dovecot reports (LIST, STAT) for a message stored with LF line
/// ends: every LF counted as CRLF, but not the final CRLF it adds to a
/// message without one.
inline std::uint64_t list_size(const std::string &stored)
{
	std::uint64_t n = 0;
	for (char c : stored)
		n += c == '\n' ? 2 : 1;
	return n;
}

inline std::string read_file(const std::filesystem::path &path)
{
	std::ifstream in(path, std::ios::binary);
	return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// The delivered messages (files in new/ and cur/) of USER that contain
/// `marker`, waiting up to `timeout` for at least `count` of them.
inline std::vector<std::string> wait_delivered(const Env &env, const std::string &user, const std::string &marker,
					       std::size_t count,
					       std::chrono::milliseconds timeout = std::chrono::seconds(15))
{
	namespace fs = std::filesystem;
	auto deadline = std::chrono::steady_clock::now() + timeout;
	for (;;) {
		std::vector<std::string> found;
		for (const char *sub : {"new", "cur"}) {
			std::error_code ec;
			for (const auto &entry : fs::directory_iterator(env.maildir(user) / sub, ec)) {
				std::string content = read_file(entry.path());
				if (content.find(marker) != std::string::npos)
					found.push_back(std::move(content));
			}
		}
		if (found.size() >= count || std::chrono::steady_clock::now() >= deadline)
			return found;
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
}

} // namespace test

#endif
