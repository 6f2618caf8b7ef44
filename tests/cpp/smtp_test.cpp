// The SMTP side of mailtls.hpp against the test Postfix: sending to an
// accepted and a refused recipient (per-recipient results, byte-exact
// delivery), every recipient refused, send_file, a streamed send and a
// source that throws, and the Error of a wrong password and of an
// untrusted certificate. Uses users user36 and user37 only.
// Run by tests/cpp/run.sh.
#include "common.hpp"

#include <algorithm>

namespace {

test::Env env;

struct SourceFailure : std::runtime_error {
	using std::runtime_error::runtime_error;
};

// A message with LF line ends (sent as CRLF), dot lines and a marker to
// find it by in the maildir.
std::string make_message(const std::string &user, const std::string &marker)
{
	return "From: C++ Test <" + user + "@localhost>\nTo: " + user + "@localhost\nSubject: " + marker +
	       "\n\n.a line with a dot\n..two dots\nlast line of " + marker + "\n";
}

// What Postfix stores for a message sent by user to user: two lines added on top.
std::string delivered_form(const std::string &user, const std::string &message)
{
	return "Return-Path: <" + user + "@localhost>\nDelivered-To: " + user + "@localhost\n" + message;
}

// The one delivered message with `marker` is `expected`, byte for byte.
void check_delivered(const std::string &user, const std::string &marker, const std::string &expected)
{
	std::vector<std::string> got = test::wait_delivered(env, user, marker, 1);
	CHECK(got.size() == 1);
	if (got.size() == 1 && got[0] != expected) {
		test::report(__FILE__, __LINE__, "delivered message differs");
		std::cerr << "    got:\n" << got[0] << "    expected:\n" << expected;
	}
}

mailtls::Smtp logged_in(const mailtls::Options &options, const std::string &user)
{
	mailtls::Smtp smtp(options);
	smtp.connect(env.host, env.submission_port);
	smtp.login(user, env.password);
	return smtp;
}

std::string marker(const char *what)
{
	return std::string("cpp-") + what + "-" + std::to_string(::getpid());
}

// One accepted, one refused recipient; then every recipient refused.
void test_send()
{
	mailtls::Options options = env.options(mailtls::Security::Auto);
	std::vector<std::string> commands;
	options.trace([&commands](mailtls::TraceKind kind, std::string_view line) {
		if (kind == mailtls::TraceKind::Command)
			commands.emplace_back(line);
	});
	mailtls::Smtp smtp(options);
	CHECK_NOTHROW(smtp.connect(env.host, env.submission_port)); // Auto: STARTTLS
	bool has_auth = false;
	for (const auto &ext : smtp.extensions())
		has_auth |= ext.name == "AUTH";
	CHECK(has_auth);
	CHECK_NOTHROW(smtp.login("user36", env.password));

	const std::string mark = marker("send");
	const std::string message = make_message("user36", mark);
	std::vector<mailtls::RecipientResult> results;
	CHECK_NOTHROW(results = smtp.send("user36@localhost", {"user36@localhost", "nobody-cpp@localhost"}, message));
	CHECK(results.size() == 2);
	if (results.size() == 2) {
		CHECK(results[0].address == "user36@localhost");
		CHECK(results[0].accepted);
		CHECK(results[0].code == 250);
		CHECK(results[0].enhanced == "2.1.5");
		CHECK(results[1].address == "nobody-cpp@localhost");
		CHECK(!results[1].accepted);
		CHECK(results[1].code == 550);
		CHECK(results[1].enhanced == "5.1.1");
		CHECK(results[1].text.find("User unknown") != std::string::npos);
	}
	check_delivered("user36", mark, delivered_form("user36", message));
	CHECK(std::find(commands.begin(), commands.end(), "RCPT TO:<nobody-cpp@localhost>") != commands.end());
	CHECK(std::none_of(commands.begin(), commands.end(),
			   [](const std::string &line) { return line.find(env.password) != std::string::npos; }));

	// Every recipient refused: nothing sent, Error with every reply.
	CHECK_THROWS_ERROR(smtp.send("user36@localhost", {"nobody-1@localhost", "nobody-2@localhost"}, message),
			   mailtls::Code::RecipientsRefused, {
				   CHECK(err.recipients().size() == 2);
				   for (const auto &r : err.recipients()) {
					   CHECK(!r.accepted);
					   CHECK(r.code == 550);
				   }
				   CHECK(err.recipients().size() == 2 &&
					 err.recipients()[1].address == "nobody-2@localhost");
			   });
	// The session goes on.
	CHECK_NOTHROW(smtp.noop());
	CHECK_NOTHROW(smtp.quit());
	CHECK_THROWS_ERROR(smtp.noop(), mailtls::Code::NotConnected, (void)err);
}

// send_file, send_stream (in small chunks) and a source that throws.
void test_file_and_stream()
{
	mailtls::Options options = env.options(mailtls::Security::StartTls);
	mailtls::Smtp smtp(options);
	CHECK_NOTHROW(smtp = logged_in(options, "user37"));

	const std::string file_mark = marker("file");
	const std::string file_message = make_message("user37", file_mark);
	auto path = std::filesystem::temp_directory_path() / ("mailtls-cpp-send-" + std::to_string(::getpid()) + ".eml");
	{
		std::ofstream out(path, std::ios::binary);
		out << file_message;
	}
	std::vector<mailtls::RecipientResult> results;
	CHECK_NOTHROW(results = smtp.send_file("user37@localhost", {"user37@localhost"}, path.string()));
	CHECK(results.size() == 1 && results[0].accepted && results[0].code == 250);
	check_delivered("user37", file_mark, delivered_form("user37", file_message));
	std::filesystem::remove(path);
	CHECK_THROWS_ERROR(smtp.send_file("user37@localhost", {"user37@localhost"}, path.string()),
			   mailtls::Code::FileError,
			   CHECK(std::string(err.what()).find(path.filename().string()) != std::string::npos));

	const std::string stream_mark = marker("stream");
	const std::string stream_message = make_message("user37", stream_mark);
	std::size_t offset = 0;
	CHECK_NOTHROW(results = smtp.send_stream("user37@localhost", {"user37@localhost"},
						 [&](char *buffer, std::size_t capacity) {
							 std::size_t n = std::min<std::size_t>(
								 {capacity, 7, stream_message.size() - offset});
							 stream_message.copy(buffer, n, offset);
							 offset += n;
							 return n;
						 }));
	CHECK(results.size() == 1 && results[0].accepted);
	check_delivered("user37", stream_mark, delivered_form("user37", stream_message));

	// A throwing source cancels; its exception comes out as itself and the
	// connection is closed (the server discards the partial message).
	const std::string cancel_mark = marker("cancel");
	const std::string cancel_message = make_message("user37", cancel_mark);
	int calls = 0;
	bool caught = false;
	try {
		smtp.send_stream("user37@localhost", {"user37@localhost"}, [&](char *buffer, std::size_t capacity) {
			if (++calls > 1)
				throw SourceFailure("source broke");
			std::size_t n = std::min<std::size_t>(capacity, 10);
			cancel_message.copy(buffer, n);
			return n;
		});
	} catch (const SourceFailure &e) {
		caught = std::string(e.what()) == "source broke";
	} catch (const std::exception &e) {
		test::report(__FILE__, __LINE__, std::string("send_stream threw another exception: ") + e.what());
	}
	CHECK(caught);
	CHECK(calls == 2);
	CHECK_THROWS_ERROR(smtp.noop(), mailtls::Code::NotConnected, (void)err);
	CHECK(test::wait_delivered(env, "user37", cancel_mark, 1, std::chrono::seconds(1)).empty());
}

// The Error of a wrong password and of an untrusted certificate.
void test_errors()
{
	mailtls::Options options = env.options();
	mailtls::Smtp smtp(options);
	CHECK_NOTHROW(smtp.connect(env.host, env.smtps_port));
	const std::string wrong = "wrong-password-cpp";
	CHECK_THROWS_ERROR(smtp.login("user36", wrong), mailtls::Code::AuthFailed, {
		std::string what = err.what();
		CHECK(!what.empty());
		CHECK(what.find(wrong) == std::string::npos);
		CHECK(err.smtp_code() == 535);
		CHECK(err.enhanced_code() == "5.7.8");
		CHECK(err.reply().rfind("535", 0) == 0);
		CHECK(err.reply().find(wrong) == std::string::npos);
		CHECK(err.response_code().empty());
	});
	CHECK_NOTHROW(smtp.login("user36", env.password));
	CHECK_NOTHROW(smtp.quit());

	mailtls::Options untrusted;
	untrusted.security(mailtls::Security::Tls);
	mailtls::Smtp no_ca(untrusted);
	CHECK_THROWS_ERROR(no_ca.connect(env.host, env.smtps_port), mailtls::Code::CertificateUnknownIssuer,
			   CHECK(std::string(err.what()).find("not trusted") != std::string::npos));
	CHECK_THROWS_ERROR(no_ca.send("a@localhost", {std::string("b@local\0host", 12)}, "x"),
			   mailtls::Code::InvalidArgument, (void)err);
	CHECK_THROWS_ERROR(no_ca.send("a@localhost", {"b@localhost"}, "x"), mailtls::Code::NotConnected, (void)err);
}

} // namespace

int main()
{
	env = test::Env::load();
	test_send();
	test_file_and_stream();
	test_errors();
	return test::finish("smtp_test");
}
