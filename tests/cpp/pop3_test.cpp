// The POP3 side of mailtls.hpp against the test Dovecot: byte-exact
// fetching every way (whole, streamed, many, to a file), listings, the
// trace kept alive by the handle, cancelling from a sink (false, an
// exception, a call back into the same handle), a throwing trace, DELE and
// QUIT, and the Error of a wrong password and of an untrusted certificate.
// Uses users user32..user35 only. Run by tests/cpp/run.sh.
#include "common.hpp"

#include <memory>
#include <set>

namespace {

test::Env env;

const std::string msg_simple = "From: alice@example.org\n"
			       "To: user32@example.org\n"
			       "Subject: one\n"
			       "\n"
			       "Hello, this is message one.\n";

// Dot lines: stuffed by the server, unstuffed by the library.
const std::string msg_dots = "Subject: two\n"
			     "\n"
			     ".leading dot\n"
			     "..two dots\n"
			     ".\n"
			     "end of two\n";

// No final line end: Dovecot adds a CRLF.
const std::string msg_no_eol = "Subject: three\n\nno newline at the end";

// Large enough to arrive in many chunks.
std::string make_big()
{
	std::string m = "Subject: four (big)\n\n";
	for (int i = 0; i < 2000; i++)
		m += (i % 7 == 0 ? "." : "") + std::string("line ") + std::to_string(i) +
		     ": the quick brown fox jumps over the lazy dog\n";
	return m;
}
const std::string msg_big = make_big();

struct SinkFailure : std::runtime_error {
	using std::runtime_error::runtime_error;
};
struct TraceFailure : std::runtime_error {
	using std::runtime_error::runtime_error;
};

mailtls::Pop3 logged_in(const mailtls::Options &options, const std::string &user, std::uint16_t port)
{
	mailtls::Pop3 pop3(options);
	pop3.connect(env.host, port);
	pop3.login(user, env.password);
	return pop3;
}

// Everything retrieved byte-exact, every way; listings; the trace.
void test_fetch()
{
	const std::vector<std::string> stored = {msg_simple, msg_dots, msg_no_eol, msg_big};
	test::seed_mailbox(env, "user32", stored);
	auto lines = std::make_shared<std::vector<std::string>>();

	std::unique_ptr<mailtls::Pop3> pop3;
	{
		// The Options (and the lambda they hold) go out of scope before the
		// handle is used: the handle must keep the trace function alive.
		mailtls::Options options = env.options();
		options.trace([lines](mailtls::TraceKind kind, std::string_view line) {
			lines->push_back(std::to_string(static_cast<unsigned>(kind)) + " " + std::string(line));
		});
		pop3 = std::make_unique<mailtls::Pop3>(options);
	}
	CHECK_NOTHROW(pop3->connect(env.host, env.pop3s_port));
	CHECK_NOTHROW(pop3->login("user32", env.password));
	CHECK(!lines->empty());

	std::uint64_t total = 0;
	for (const auto &m : stored)
		total += test::list_size(m);
	mailtls::Stat stat;
	CHECK_NOTHROW(stat = pop3->stat());
	CHECK(stat.count == 4);
	CHECK(stat.octets == total);

	std::vector<mailtls::ListEntry> list;
	CHECK_NOTHROW(list = pop3->list());
	CHECK(list.size() == 4);
	for (std::size_t i = 0; i < list.size() && i < stored.size(); i++) {
		CHECK(list[i].number == i + 1);
		CHECK(list[i].octets == test::list_size(stored[i]));
	}
	std::vector<mailtls::UidlEntry> uidl;
	CHECK_NOTHROW(uidl = pop3->uidl());
	CHECK(uidl.size() == 4);
	std::set<std::string> uids;
	for (std::size_t i = 0; i < uidl.size(); i++) {
		CHECK(uidl[i].number == i + 1);
		CHECK(!uidl[i].uid.empty());
		uids.insert(uidl[i].uid);
	}
	CHECK(uids.size() == 4);
	std::vector<mailtls::MessageEntry> both;
	CHECK_NOTHROW(both = pop3->list_uidl());
	CHECK(both.size() == 4);
	for (std::size_t i = 0; i < both.size() && i < uidl.size() && i < list.size(); i++) {
		CHECK(both[i].number == i + 1);
		CHECK(both[i].uid == uidl[i].uid);
		CHECK(both[i].octets == list[i].octets);
	}
	std::string uid2;
	CHECK_NOTHROW(uid2 = pop3->uidl_one(2));
	CHECK(uidl.size() > 1 && uid2 == uidl[1].uid);
	std::uint64_t size4 = 0;
	CHECK_NOTHROW(size4 = pop3->list_one(4));
	CHECK(size4 == test::list_size(msg_big));

	// Whole messages into memory.
	for (std::uint32_t n = 1; n <= 4; n++) {
		std::string got;
		CHECK_NOTHROW(got = pop3->retr(n));
		CHECK(got == test::expected_wire(stored[n - 1]));
	}

	// Streamed: the big one in several chunks, joined byte-exact.
	std::string streamed;
	std::size_t chunks = 0;
	CHECK_NOTHROW(pop3->retr(4, [&](std::string_view chunk) {
		streamed.append(chunk);
		chunks++;
		return true;
	}));
	CHECK(streamed == test::expected_wire(msg_big));
	CHECK(chunks > 1);

	// Many at once (pipelined): each message's chunks, then its end, in order.
	std::vector<std::string> many(5);
	std::vector<std::uint32_t> ends;
	CHECK_NOTHROW(pop3->retr_many({3, 1, 4, 2}, [&](std::uint32_t n, std::string_view chunk, bool end) {
		if (n < 1 || n > 4)
			throw std::logic_error("retr_many: unexpected message number " + std::to_string(n));
		if (end) {
			CHECK(chunk.empty());
			ends.push_back(n);
		} else {
			many[n].append(chunk);
		}
		return true;
	}));
	CHECK((ends == std::vector<std::uint32_t>{3, 1, 4, 2}));
	for (std::uint32_t n = 1; n <= 4; n++)
		CHECK(many[n] == test::expected_wire(stored[n - 1]));

	// TOP 0: the headers and the blank line.
	std::string top;
	CHECK_NOTHROW(top = pop3->top(1, 0));
	CHECK(top == "From: alice@example.org\r\nTo: user32@example.org\r\nSubject: one\r\n\r\n");

	// Into a file.
	auto path = std::filesystem::temp_directory_path() / ("mailtls-cpp-test-" + std::to_string(::getpid()) + ".eml");
	CHECK_NOTHROW(pop3->retr_to_file(2, path.string()));
	CHECK(test::read_file(path) == test::expected_wire(msg_dots));
	std::filesystem::remove(path);

	// Capabilities and the certificate.
	bool has_uidl = false;
	for (const auto &cap : pop3->capabilities())
		has_uidl |= cap.name == "UIDL";
	CHECK(has_uidl);
	std::string fingerprint;
	CHECK_NOTHROW(fingerprint = pop3->peer_cert_sha256());
	CHECK(fingerprint == test::Env::need("MAILTLS_TEST_SERVER_SHA256"));

	CHECK_NOTHROW(pop3->quit());

	// The trace saw the commands, and never the password.
	bool saw_retr = false, saw_password = false;
	for (const auto &line : *lines) {
		saw_retr |= line == "1 RETR 1";
		saw_password |= line.find(env.password) != std::string::npos;
	}
	CHECK(saw_retr);
	CHECK(!saw_password);

	// Moving a session moves its handle; the moved-from one refuses calls.
	mailtls::Pop3 moved = std::move(*pop3);
	CHECK_NOTHROW(moved.connect(env.host, env.pop3s_port));
	CHECK_THROWS_ERROR(pop3->stat(), mailtls::Code::NullArgument, CHECK(std::string(err.what()).find("moved") != std::string::npos));
	CHECK_NOTHROW(moved.quit());
}

// STLS on the plain port.
void test_stls()
{
	mailtls::Options options = env.options(mailtls::Security::StartTls);
	CHECK_NOTHROW({
		mailtls::Pop3 pop3 = logged_in(options, "user32", env.pop3_port);
		CHECK(pop3.stat().count == 4);
		pop3.quit();
	});
}

// Cancelling from a sink: false, an exception, a call into the same handle.
void test_cancel()
{
	test::seed_mailbox(env, "user33", {msg_simple, msg_big});
	mailtls::Options options = env.options();
	mailtls::Pop3 pop3(options);
	CHECK_NOTHROW(pop3.connect(env.host, env.pop3s_port));
	CHECK_NOTHROW(pop3.login("user33", env.password));

	// A DELE before the cancellation is not committed: the connection is
	// closed without QUIT (mailtls.h).
	CHECK_NOTHROW(pop3.dele(1));
	int calls = 0;
	CHECK_THROWS_ERROR(pop3.retr(2,
				     [&](std::string_view) {
					     calls++;
					     return false;
				     }),
			   mailtls::Code::Cancelled, CHECK(*err.what() != '\0'));
	CHECK(calls == 1);
	CHECK_THROWS_ERROR(pop3.stat(), mailtls::Code::NotConnected, (void)err);

	// The handle connects again; both messages are still there.
	CHECK_NOTHROW(pop3.connect(env.host, env.pop3s_port));
	CHECK_NOTHROW(pop3.login("user33", env.password));
	CHECK_NOTHROW(CHECK(pop3.stat().count == 2));

	// A sink's exception comes out of retr() as itself.
	bool caught = false;
	try {
		pop3.retr(2, [](std::string_view) -> bool { throw SinkFailure("disk full"); });
	} catch (const SinkFailure &e) {
		caught = std::string(e.what()) == "disk full";
	} catch (const std::exception &e) {
		test::report(__FILE__, __LINE__, std::string("retr threw another exception: ") + e.what());
	}
	CHECK(caught);
	CHECK_THROWS_ERROR(pop3.noop(), mailtls::Code::NotConnected, (void)err);

	// The same from retr_many, at the end marker of the first message.
	CHECK_NOTHROW(pop3.connect(env.host, env.pop3s_port));
	CHECK_NOTHROW(pop3.login("user33", env.password));
	caught = false;
	std::vector<std::uint32_t> ended;
	try {
		pop3.retr_many({1, 2}, [&](std::uint32_t n, std::string_view, bool end) {
			if (end) {
				ended.push_back(n);
				throw SinkFailure("stop after one");
			}
			return true;
		});
	} catch (const SinkFailure &) {
		caught = true;
	} catch (const std::exception &e) {
		test::report(__FILE__, __LINE__, std::string("retr_many threw another exception: ") + e.what());
	}
	CHECK(caught);
	CHECK((ended == std::vector<std::uint32_t>{1}));

	// A sink calling into its own handle: HandleBusy thrown inside the sink,
	// which cancels and comes out of retr().
	CHECK_NOTHROW(pop3.connect(env.host, env.pop3s_port));
	CHECK_NOTHROW(pop3.login("user33", env.password));
	CHECK_THROWS_ERROR(pop3.retr(1,
				     [&](std::string_view) {
					     pop3.noop();
					     return true;
				     }),
			   mailtls::Code::HandleBusy, (void)err);
	CHECK_THROWS_ERROR(pop3.stat(), mailtls::Code::NotConnected, (void)err);
}

// A trace function that throws: the call completes, then its exception
// comes out; the session goes on.
void test_throwing_trace()
{
	mailtls::Options options = env.options();
	options.trace([](mailtls::TraceKind kind, std::string_view line) {
		if (kind == mailtls::TraceKind::Command && line == "STAT")
			throw TraceFailure("trace log full");
	});
	mailtls::Pop3 pop3(options);
	CHECK_NOTHROW(pop3.connect(env.host, env.pop3s_port));
	CHECK_NOTHROW(pop3.login("user33", env.password));
	bool caught = false;
	try {
		pop3.stat();
	} catch (const TraceFailure &) {
		caught = true;
	}
	CHECK(caught);
	CHECK_NOTHROW(CHECK(pop3.list().size() == 2));
	CHECK_NOTHROW(pop3.quit());
}

// DELE, RSET and QUIT commit as POP3 says; a refused DELE leaves the session up.
void test_dele()
{
	const std::string a = "Subject: a\n\nfirst\n", b = "Subject: b\n\nsecond\n", c = "Subject: c\n\nthird\n";
	test::seed_mailbox(env, "user34", {a, b, c});
	mailtls::Options options = env.options();
	mailtls::Pop3 pop3(options);
	CHECK_NOTHROW(pop3.connect(env.host, env.pop3s_port));
	CHECK_NOTHROW(pop3.login("user34", env.password));
	CHECK_NOTHROW(pop3.dele_many({1, 3}));
	CHECK_NOTHROW(pop3.rset());
	CHECK_NOTHROW(pop3.dele(2));
	CHECK_THROWS_ERROR(pop3.dele(9), mailtls::Code::ServerError, CHECK(err.reply().rfind("-ERR", 0) == 0));
	CHECK_NOTHROW(pop3.noop());
	CHECK_NOTHROW(pop3.quit());
	CHECK_THROWS_ERROR(pop3.stat(), mailtls::Code::NotConnected, (void)err);

	CHECK_NOTHROW(pop3.connect(env.host, env.pop3s_port));
	CHECK_NOTHROW(pop3.login("user34", env.password));
	CHECK_NOTHROW(CHECK(pop3.stat().count == 2));
	CHECK_NOTHROW(CHECK(pop3.retr(1) == test::expected_wire(a)));
	CHECK_NOTHROW(CHECK(pop3.retr(2) == test::expected_wire(c)));
	CHECK_NOTHROW(pop3.quit());
}

// The Error of a wrong password, an untrusted certificate, bad arguments.
void test_errors()
{
	test::seed_mailbox(env, "user35", {msg_simple});
	mailtls::Options options = env.options();
	mailtls::Pop3 pop3(options);
	CHECK_NOTHROW(pop3.connect(env.host, env.pop3s_port));
	const std::string wrong = "wrong-password-cpp";
	CHECK_THROWS_ERROR(pop3.login("user35", wrong), mailtls::Code::AuthFailed, {
		std::string what = err.what();
		CHECK(!what.empty());
		CHECK(what.find(wrong) == std::string::npos);
		CHECK(what.find(env.password) == std::string::npos);
		CHECK(err.reply().rfind("-ERR", 0) == 0);
		CHECK(err.reply().find("[AUTH]") != std::string::npos);
		CHECK(err.reply().find(wrong) == std::string::npos);
		CHECK(err.response_code() == "AUTH");
		CHECK(err.smtp_code() == 0);
	});
	// An Error is a std::runtime_error.
	try {
		pop3.login("user35", wrong);
		CHECK(!"login with a wrong password succeeded");
	} catch (const std::runtime_error &e) {
		CHECK(std::string(e.what()).find(wrong) == std::string::npos);
	}
	// After AUTH_FAILED the session goes on.
	CHECK_NOTHROW(pop3.login("user35", env.password));
	CHECK_NOTHROW(CHECK(pop3.stat().count == 1));
	CHECK_NOTHROW(pop3.quit());

	// Without the test CA (system store only), and with another CA.
	mailtls::Options untrusted;
	untrusted.security(mailtls::Security::Tls).connect_timeout(std::chrono::seconds(20)).io_timeout(std::chrono::seconds(60));
	mailtls::Pop3 no_ca(untrusted);
	CHECK_THROWS_ERROR(no_ca.connect(env.host, env.pop3s_port), mailtls::Code::CertificateUnknownIssuer,
			   CHECK(std::string(err.what()).find("not trusted") != std::string::npos));
	mailtls::Options other;
	other.security(mailtls::Security::Tls).add_ca_file(env.other_ca);
	mailtls::Pop3 other_ca(other);
	CHECK_THROWS_ERROR(other_ca.connect(env.host, env.pop3s_port), mailtls::Code::CertificateUnknownIssuer, (void)err);
	// Pinned, it is accepted without the CA.
	mailtls::Options pinned;
	pinned.security(mailtls::Security::Tls).pin_sha256(test::Env::need("MAILTLS_TEST_SERVER_SHA256"));
	mailtls::Pop3 pinned_pop3(pinned);
	CHECK_NOTHROW(pinned_pop3.connect(env.host, env.pop3s_port));
	CHECK_NOTHROW(pinned_pop3.quit());

	// Refused before the C API is called, or by its argument checks.
	mailtls::Pop3 idle(options);
	CHECK_THROWS_ERROR(idle.stat(), mailtls::Code::NotConnected, (void)err);
	CHECK_THROWS_ERROR(idle.login(std::string("user35\0x", 8), "pw"), mailtls::Code::InvalidArgument,
			   CHECK(std::string(err.what()).find("NUL") != std::string::npos));
	CHECK_THROWS_ERROR(idle.retr(1, mailtls::ChunkSink()), mailtls::Code::InvalidArgument, (void)err);
	CHECK_THROWS_ERROR(options.io_timeout(std::chrono::milliseconds(0)), mailtls::Code::InvalidArgument, (void)err);
	CHECK_THROWS_ERROR(options.add_ca_file("/nonexistent/ca.pem"), mailtls::Code::InvalidArgument,
			   CHECK(std::string(err.what()).find("/nonexistent/ca.pem") != std::string::npos));
	CHECK_THROWS_ERROR(options.pin_sha256("not hex"), mailtls::Code::InvalidArgument, (void)err);
	CHECK_THROWS_ERROR(options.mechanisms("NO-SUCH-MECH"), mailtls::Code::InvalidArgument, (void)err);
	mailtls::Options moved = std::move(options);
	CHECK_THROWS_ERROR(mailtls::Pop3 from_moved(options), mailtls::Code::NullArgument, (void)err);
	CHECK_THROWS_ERROR(idle.peer_cert_sha256(), mailtls::Code::NotConnected, (void)err);
}

} // namespace

int main()
{
	env = test::Env::load();
	test_fetch();
	test_stls();
	test_cancel();
	test_throwing_trace();
	test_dele();
	test_errors();
	return test::finish("pop3_test");
}
