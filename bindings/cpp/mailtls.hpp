/*
 * mailtls.hpp: a header-only C++17 interface to mailtls, a POP3 and SMTP
 * submission client over verified TLS, built on the C API of mailtls.h.
 *
 * Build: add the directory of mailtls.h and this header to the include
 * path (installed, both are in include/mailtls/) and link libmailtls.
 *
 * Exceptions instead of result codes:
 * - Every failure of the library throws mailtls::Error, which carries the
 *   result code (code()), the library's message (what(), never holding a
 *   password or token), the server's reply (reply()) and its codes: the
 *   POP3 response code (response_code(), e.g. "AUTH") or the SMTP reply
 *   code and enhanced status code (smtp_code(), enhanced_code()).
 * - Out of memory throws std::bad_alloc, as the standard library does.
 * - No exception crosses the C library. What a callback of yours throws
 *   (a sink, a message source, a trace function) is caught inside the C
 *   callback and kept; a sink or source then cancels the C call. When the
 *   C call has returned, the first exception a callback threw during it is
 *   rethrown, unchanged, in place of the call's result or Error. A sink
 *   that returns false (without throwing) cancels too; the call then
 *   throws Error with Code::Cancelled.
 * - A trace function cannot cancel anything: what it throws is kept and
 *   rethrown when the call that ran it returns, after that call completed
 *   as the library decided (e.g. a DELE may have been done; a retrieved
 *   message is dropped). What a trace throws outside a call of this
 *   wrapper (while a Pop3 or Smtp is destroyed or created) is discarded,
 *   since destructors do not throw.
 *
 * Ownership:
 * - Options, Pop3 and Smtp own their C handles and free them in their
 *   destructors; they are move-only. A moved-from object holds no handle:
 *   every call on it throws Error with Code::NullArgument (destroying or
 *   assigning to it is fine).
 * - A Pop3 or Smtp copies its Options when it is created (as the C API
 *   does): changing or destroying the Options later does not affect it.
 * - The trace function and the certificate callback: Options keeps each
 *   in a shared_ptr, and every Pop3 and Smtp created from those Options
 *   holds a copy of that shared_ptr, so the function lives as long as the
 *   last handle that may call it. Setting another one on the Options later
 *   makes a new shared state; handles created before keep calling the old
 *   function.
 * - Strings passed in are copied before a call returns; string_views
 *   passed to callbacks are valid only during that callback.
 *
 * Thread rules (those of the C API): a Pop3 or Smtp may move between
 * threads between calls but takes one call at a time; a call made while
 * another runs on the same object (from another thread, or from one of its
 * own callbacks) throws Error with Code::HandleBusy and does nothing.
 * Distinct objects are independent. Options must not be changed while a
 * Pop3 or Smtp is being created from them on another thread. Callbacks run
 * on the thread that made the call. One trace function is shared by every
 * handle created from the same Options: if those handles are used on
 * several threads, the function runs on all of them, possibly at once, and
 * must be thread-safe. version() and describe() are thread-safe.
 */

#ifndef MAILTLS_HPP
#define MAILTLS_HPP

#include "mailtls.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

/// The C++ interface of mailtls.
namespace mailtls {

/// The result codes of the C API (MAILTLS_RESULT_*), as thrown in Error.
/// New codes may be added: treat unknown values as generic failures.
enum class Code : mailtls_result {
	Ok = MAILTLS_RESULT_OK,                                   ///< Success (never thrown).
	NullArgument = MAILTLS_RESULT_NULL_ARGUMENT,              ///< A required handle was missing (a moved-from object).
	InvalidArgument = MAILTLS_RESULT_INVALID_ARGUMENT,        ///< An argument is invalid or does not fit the session's state.
	BufferTooSmall = MAILTLS_RESULT_BUFFER_TOO_SMALL,         ///< Not thrown by this wrapper (it sizes its buffers).
	NotConnected = MAILTLS_RESULT_NOT_CONNECTED,              ///< No open connection (never connected, after QUIT, or closed after an error).
	HandleBusy = MAILTLS_RESULT_HANDLE_BUSY,                  ///< Another call on the same object is running.
	ResolveFailed = MAILTLS_RESULT_RESOLVE_FAILED,            ///< The host name could not be resolved.
	ConnectFailed = MAILTLS_RESULT_CONNECT_FAILED,            ///< No address of the host accepted the connection in time.
	Timeout = MAILTLS_RESULT_TIMEOUT,                         ///< The server did not answer within the I/O timeout.
	ConnectionClosed = MAILTLS_RESULT_CONNECTION_CLOSED,      ///< The server closed the connection unexpectedly.
	IoError = MAILTLS_RESULT_IO_ERROR,                        ///< Another network error.
	ProxyUnreachable = MAILTLS_RESULT_PROXY_UNREACHABLE,      ///< The proxy could not be reached.
	ProxyAuthFailed = MAILTLS_RESULT_PROXY_AUTH_FAILED,       ///< The proxy refused its credentials or wants some.
	ProxyTargetFailed = MAILTLS_RESULT_PROXY_TARGET_FAILED,   ///< The proxy could not connect to the mail server.
	ProxyProtocol = MAILTLS_RESULT_PROXY_PROTOCOL,            ///< The proxy broke its protocol.
	TlsError = MAILTLS_RESULT_TLS_ERROR,                      ///< The TLS handshake failed for another reason.
	TlsVersion = MAILTLS_RESULT_TLS_VERSION,                  ///< No TLS version in common.
	CertificateUntrusted = MAILTLS_RESULT_CERTIFICATE_UNTRUSTED,        ///< The server certificate is not trusted.
	CertificateHostMismatch = MAILTLS_RESULT_CERTIFICATE_HOST_MISMATCH, ///< The certificate does not name the host.
	CertificatePinMismatch = MAILTLS_RESULT_CERTIFICATE_PIN_MISMATCH,   ///< The certificate is not the pinned one.
	StartTlsUnavailable = MAILTLS_RESULT_STARTTLS_UNAVAILABLE,          ///< STARTTLS/STLS required but not offered, or the port expects TLS from the first byte.
	CertificateExpired = MAILTLS_RESULT_CERTIFICATE_EXPIRED,            ///< The certificate has expired (or the clock is wrong).
	CertificateNotYetValid = MAILTLS_RESULT_CERTIFICATE_NOT_YET_VALID,  ///< The certificate is not valid yet (or the clock is wrong).
	CertificateSelfSigned = MAILTLS_RESULT_CERTIFICATE_SELF_SIGNED,     ///< The certificate is self-signed.
	CertificateUnknownIssuer = MAILTLS_RESULT_CERTIFICATE_UNKNOWN_ISSUER, ///< Issued by a CA that is not trusted.
	CertificateRevoked = MAILTLS_RESULT_CERTIFICATE_REVOKED,            ///< The certificate was revoked.
	PlaintextAuthRefused = MAILTLS_RESULT_PLAINTEXT_AUTH_REFUSED,       ///< Credentials would go unencrypted; nothing was sent.
	NoCommonMechanism = MAILTLS_RESULT_NO_COMMON_MECHANISM,             ///< No allowed mechanism is offered by the server.
	AuthFailed = MAILTLS_RESULT_AUTH_FAILED,                  ///< The server refused the credentials.
	EncryptionRequired = MAILTLS_RESULT_ENCRYPTION_REQUIRED,  ///< Logins only over TLS: not a wrong password.
	ServerError = MAILTLS_RESULT_SERVER_ERROR,                ///< The server refused a command; see Error::reply().
	MessageTooLarge = MAILTLS_RESULT_MESSAGE_TOO_LARGE,       ///< The message exceeds the server's SIZE or the in-memory limit.
	RecipientsRefused = MAILTLS_RESULT_RECIPIENTS_REFUSED,    ///< Every recipient was refused; see Error::recipients().
	SmtpUtf8Unavailable = MAILTLS_RESULT_SMTPUTF8_UNAVAILABLE,          ///< Non-ASCII addresses or headers, no SMTPUTF8.
	EightBitMimeUnavailable = MAILTLS_RESULT_EIGHTBITMIME_UNAVAILABLE,  ///< 8-bit content, no 8BITMIME.
	UidlUnavailable = MAILTLS_RESULT_UIDL_UNAVAILABLE,        ///< No UIDL: a sync that leaves mail on the server cannot run.
	ProtocolError = MAILTLS_RESULT_PROTOCOL_ERROR,            ///< The server broke the protocol.
	ReplyTooLong = MAILTLS_RESULT_REPLY_TOO_LONG,             ///< A reply line was longer than the library accepts.
	Cancelled = MAILTLS_RESULT_CANCELLED,                     ///< A callback cancelled the call.
	FileError = MAILTLS_RESULT_FILE_ERROR,                    ///< A local file could not be read or written.
	StateLocked = MAILTLS_RESULT_STATE_LOCKED,                ///< Another sync of the same account is running.
	StateCorrupt = MAILTLS_RESULT_STATE_CORRUPT,              ///< The sync state file cannot be read.
	Panic = MAILTLS_RESULT_PANIC,                             ///< An internal error of mailtls (a bug).
};

/// A static English description of a code ("unknown result code" for a
/// code this library does not know). Thread-safe.
inline const char *describe(Code code) noexcept
{
	return mailtls_result_str(static_cast<mailtls_result>(code));
}

/// The version of the loaded library ("0.1.0"); compare it with the
/// MAILTLS_VERSION_* macros to detect a header/library mismatch.
inline std::string_view version() noexcept
{
	return mailtls_version();
}

/// How the connection is secured (MAILTLS_SECURITY_*). Nothing ever falls
/// back to a weaker mode.
enum class Security : mailtls_security {
	Auto = MAILTLS_SECURITY_AUTO,         ///< Implicit TLS on 995/465, required STARTTLS/STLS elsewhere (default).
	Tls = MAILTLS_SECURITY_TLS,           ///< Implicit TLS from the first byte.
	StartTls = MAILTLS_SECURITY_STARTTLS, ///< A plain connection upgraded with STLS/STARTTLS.
	None = MAILTLS_SECURITY_NONE,         ///< No encryption (credentials refused unless allowed).
};

/// A proxy protocol (MAILTLS_PROXY_*; see Options::proxy).
enum class ProxyKind : mailtls_proxy_kind {
	Socks5 = MAILTLS_PROXY_SOCKS5,                 ///< SOCKS5, the proxy resolves the mail server's name.
	Socks5LocalDns = MAILTLS_PROXY_SOCKS5_LOCAL_DNS, ///< SOCKS5, the name looked up here.
	Socks4a = MAILTLS_PROXY_SOCKS4A,               ///< SOCKS4a (a user name, no password).
	Http = MAILTLS_PROXY_HTTP,                     ///< HTTP CONNECT, Basic authentication.
	Https = MAILTLS_PROXY_HTTPS,                   ///< HTTP CONNECT over TLS to the proxy.
};

/// The oldest TLS version accepted (MAILTLS_TLS_*).
enum class TlsVersion : mailtls_tls_version {
	Tls12 = MAILTLS_TLS_1_2, ///< TLS 1.2 or newer (default).
	Tls13 = MAILTLS_TLS_1_3, ///< TLS 1.3 only.
};

/// What a trace line shows (MAILTLS_TRACE_*).
enum class TraceKind : mailtls_trace_kind {
	Info = MAILTLS_TRACE_INFO,       ///< A note from the library (connecting, TLS established, mechanism).
	Command = MAILTLS_TRACE_COMMAND, ///< A command sent, without CRLF; secrets replaced by "<redacted>".
	Reply = MAILTLS_TRACE_REPLY,     ///< A status or continuation line received, without CRLF.
};

/// A trace function: one protocol line or note, valid only during the
/// call. Passwords, tokens and AUTH payloads arrive as "<redacted>". See
/// the header comment for what happens to an exception it throws.
using TraceCallback = std::function<void(TraceKind kind, std::string_view line)>;

/// A sink for a streamed message: gets the message's bytes in order, in
/// chunks (byte-exact, CRLF line ends as the server sent them). Return
/// true to go on, false to cancel.
using ChunkSink = std::function<bool(std::string_view chunk)>;

/// A sink for Pop3::retr_many(): the chunks of message `number` in order
/// (with `end` false), then one call with an empty chunk and `end` true
/// when that message is complete. Return true to go on, false to cancel.
using MessageSink = std::function<bool(std::uint32_t number, std::string_view chunk, bool end)>;

/// A message source for Smtp::send_stream(): copy up to `capacity` bytes
/// of the message into `buffer` and return how many, 0 at the end. Throw
/// to cancel the send (the exception comes out of send_stream()).
using MessageSource = std::function<std::size_t(char *buffer, std::size_t capacity)>;

/// A server certificate's facts, copied from a mailtls_certificate: the
/// certificate of a session, of a connect that failed on it
/// (Error::certificate()), or the one a CertificateCallback is asked about.
struct Certificate {
	std::string sha256;             ///< SHA-256 of the DER, 64 lower-case hex digits: what Options::pin_sha256() takes.
	std::string subject;            ///< The subject, e.g. "O=Hosting, CN=server1.hosting.example".
	std::string issuer;             ///< The issuer, the same way.
	std::vector<std::string> names; ///< What it is valid for: DNS names and addresses, else the common name.
	std::int64_t not_before{};      ///< Valid from (Unix time, UTC).
	std::int64_t not_after{};       ///< Valid until (Unix time, UTC).
	bool self_signed{};             ///< Issued by itself.
	Code failure{Code::Ok};         ///< Why verification failed (a Certificate* code), Code::Ok if it did not.
	std::string der;                ///< The certificate itself, DER-encoded.
};

/// A certificate callback: asked when the server's certificate fails
/// verification, before anything but the handshake (for STARTTLS, the
/// greeting, capabilities and STLS/STARTTLS) has been sent, with the
/// certificate and the code the connect fails with if it refuses. Return
/// true to trust exactly this certificate for this connection only
/// (nothing is stored: pin cert.sha256 to trust it next time), false to
/// refuse. An exception it throws refuses, and is rethrown by connect().
/// Never asked about a certificate that verified, a pinned one, or with
/// danger_accept_invalid_certs. It runs on the connecting thread and must
/// not call into the same Pop3 or Smtp.
using CertificateCallback = std::function<bool(const Certificate &cert, Code reason)>;

/// The server's reply to one recipient of a send.
struct RecipientResult {
	std::string address;  ///< The address as given to the send call.
	bool accepted{};      ///< Whether the server accepted it (a 2xx reply to its RCPT).
	std::uint32_t code{}; ///< The reply code, e.g. 250, 450, 550 (4xx temporary, 5xx permanent).
	std::string enhanced; ///< The enhanced status code, e.g. "5.1.1"; empty if the server sent none.
	std::string text;     ///< The reply's text, without the codes.
};

/// The server's side of a failure (Error): each part empty where the
/// failure carried none.
struct ErrorDetail {
	std::string reply;                       ///< The server's reply line.
	std::string response_code;               ///< POP3: the RFC 2449/3206 response code, e.g. "AUTH".
	std::uint32_t smtp_code{};               ///< SMTP: the reply code, e.g. 535 (0 if none).
	std::string enhanced_code;               ///< SMTP: the enhanced status code, e.g. "5.7.8".
	std::vector<RecipientResult> recipients; ///< SMTP, Code::RecipientsRefused: every recipient's reply.
	std::string tls_detail;                  ///< TLS failures: the TLS library's code and words.
	std::optional<Certificate> certificate;  ///< Certificate failures: the certificate the server sent.
};

/// A failure of the library, or a refusal of this wrapper before calling it
/// (e.g. a NUL byte in an argument: Code::InvalidArgument).
class Error : public std::runtime_error {
public:
	/// An error with `code` and `message` (what()) and nothing from the server.
	Error(Code code, const std::string &message) : Error(code, message, ErrorDetail()) {}

	/// An error with `code` and `message` (what()), plus the server's side.
	Error(Code code, const std::string &message, ErrorDetail detail)
		: std::runtime_error(message), code_(code),
		  detail_(std::make_shared<const ErrorDetail>(std::move(detail)))
	{
	}

	/// The result code of the failed call.
	Code code() const noexcept { return code_; }
	/// The server's reply line of the failure (e.g. "-ERR [AUTH] Authentication failed." or
	/// "535 5.7.8 Error: authentication failed: ..."); empty if none.
	const std::string &reply() const noexcept { return detail_->reply; }
	/// POP3: the response code of the reply, upper case without brackets ("AUTH",
	/// "IN-USE", "SYS/TEMP", ...); empty if none.
	const std::string &response_code() const noexcept { return detail_->response_code; }
	/// SMTP: the reply code (4xx temporary, 5xx permanent); 0 if the failure carried no reply.
	std::uint32_t smtp_code() const noexcept { return detail_->smtp_code; }
	/// SMTP: the enhanced status code, e.g. "5.7.8"; empty if none.
	const std::string &enhanced_code() const noexcept { return detail_->enhanced_code; }
	/// SMTP, Code::RecipientsRefused: the reply to every recipient; otherwise empty.
	const std::vector<RecipientResult> &recipients() const noexcept { return detail_->recipients; }
	/// TLS failures (certificate, version, handshake): the TLS library's own code and
	/// words, which what() leaves out; for a log or a bug report. Empty otherwise.
	const std::string &tls_detail() const noexcept { return detail_->tls_detail; }
	/// A connect that failed on the certificate (a Certificate* code): the certificate
	/// the server sent, when it could be read; otherwise empty.
	const std::optional<Certificate> &certificate() const noexcept { return detail_->certificate; }

private:
	Code code_;
	// Shared so that copying an Error (as exceptions are) cannot throw.
	std::shared_ptr<const ErrorDetail> detail_;
};

/// Implementation details of the wrapper; not part of its interface.
namespace detail {

/// The state of one C call made by the wrapper: the first exception a
/// callback threw during it. Scopes nest (a callback may call another
/// handle), so each remembers the one it replaced on this thread.
class CallScope {
public:
	CallScope() noexcept : previous_(current()) { current() = this; }
	~CallScope() { current() = previous_; }
	CallScope(const CallScope &) = delete;
	CallScope &operator=(const CallScope &) = delete;

	/// Keep the exception being handled, unless an earlier one is kept.
	/// Call only inside a catch block.
	void capture() noexcept
	{
		if (!exception_)
			exception_ = std::current_exception();
	}

	/// Rethrow the kept exception, if any.
	void rethrow_captured()
	{
		if (exception_) {
			std::exception_ptr e = std::move(exception_);
			exception_ = nullptr;
			std::rethrow_exception(e);
		}
	}

	/// The innermost scope of this thread, or nullptr outside any call.
	static CallScope *&current() noexcept
	{
		static thread_local CallScope *scope = nullptr;
		return scope;
	}

private:
	CallScope *previous_;
	std::exception_ptr exception_;
};

/// The trace function of an Options, shared with every handle made from it.
struct TraceState {
	TraceCallback callback;
};

/// The certificate callback of an Options, shared the same way.
struct CertificateState {
	CertificateCallback callback;
};

/// What an Options and every handle made from it keep alive for the C
/// library's callbacks.
struct Callbacks {
	std::shared_ptr<const TraceState> trace;
	std::shared_ptr<const CertificateState> certificate;
};

/// The facts of `cert`, copied.
inline Certificate certificate_from(const mailtls_certificate *cert)
{
	Certificate c;
	auto text = [](const char *t) { return t != nullptr ? std::string(t) : std::string(); };
	c.sha256 = text(mailtls_certificate_sha256(cert));
	c.subject = text(mailtls_certificate_subject(cert));
	c.issuer = text(mailtls_certificate_issuer(cert));
	for (std::size_t i = 0; i < mailtls_certificate_name_count(cert); i++)
		c.names.push_back(text(mailtls_certificate_name(cert, i)));
	c.not_before = mailtls_certificate_not_before(cert);
	c.not_after = mailtls_certificate_not_after(cert);
	c.self_signed = mailtls_certificate_self_signed(cert);
	c.failure = static_cast<Code>(mailtls_certificate_failure(cert));
	std::size_t len = 0;
	const std::uint8_t *der = mailtls_certificate_der(cert, &len);
	if (der != nullptr)
		c.der.assign(reinterpret_cast<const char *>(der), len);
	return c;
}

/// The certificate a session or its last failed connect tells, if any.
inline std::optional<Certificate> optional_certificate(const mailtls_certificate *cert)
{
	if (cert == nullptr)
		return std::nullopt;
	return certificate_from(cert);
}

/// The certificate `rc` is about: the handle's, if a connect failed with
/// `rc` on it (not one kept from an earlier connect).
inline std::optional<Certificate> refused_certificate(const mailtls_certificate *cert, mailtls_result rc)
{
	if (cert == nullptr || rc == MAILTLS_RESULT_OK || mailtls_certificate_failure(cert) != rc)
		return std::nullopt;
	return certificate_from(cert);
}

/// The C certificate callback: calls the std::function; what it throws
/// refuses the certificate and is kept for the connect to rethrow.
inline mailtls_certificate_decision certificate_trampoline(void *userdata, const mailtls_certificate *cert,
							   mailtls_result reason) noexcept
{
	try {
		const auto *state = static_cast<const CertificateState *>(userdata);
		return state->callback(certificate_from(cert), static_cast<Code>(reason))
			       ? MAILTLS_CERTIFICATE_ACCEPT_ONCE
			       : MAILTLS_CERTIFICATE_REFUSE;
	} catch (...) {
		if (CallScope *scope = CallScope::current())
			scope->capture();
		return MAILTLS_CERTIFICATE_REFUSE;
	}
}

/// The C trace callback: calls the std::function, keeps what it throws.
inline void trace_trampoline(void *userdata, mailtls_trace_kind kind, const std::uint8_t *data,
			     std::size_t len) noexcept
{
	try {
		const auto *state = static_cast<const TraceState *>(userdata);
		state->callback(static_cast<TraceKind>(kind),
				std::string_view(reinterpret_cast<const char *>(data), len));
	} catch (...) {
		// Outside a call of the wrapper (e.g. in a destructor) there is no
		// one to rethrow to: the exception is dropped, as documented.
		if (CallScope *scope = CallScope::current())
			scope->capture();
	}
}

/// The userdata of a ChunkSink passed to the C library.
struct ChunkContext {
	const ChunkSink *sink;
	CallScope *scope;
};

inline int chunk_trampoline(void *userdata, const std::uint8_t *data, std::size_t len) noexcept
{
	auto *ctx = static_cast<ChunkContext *>(userdata);
	try {
		return (*ctx->sink)(std::string_view(reinterpret_cast<const char *>(data), len)) ? 0 : 1;
	} catch (...) {
		ctx->scope->capture();
		return 1;
	}
}

/// The userdata of a MessageSink passed to the C library.
struct MessageContext {
	const MessageSink *sink;
	CallScope *scope;
};

inline int message_trampoline(void *userdata, std::uint32_t number, const std::uint8_t *data,
			      std::size_t len) noexcept
{
	auto *ctx = static_cast<MessageContext *>(userdata);
	try {
		bool end = data == nullptr;
		std::string_view chunk = end ? std::string_view()
					     : std::string_view(reinterpret_cast<const char *>(data), len);
		return (*ctx->sink)(number, chunk, end) ? 0 : 1;
	} catch (...) {
		ctx->scope->capture();
		return 1;
	}
}

/// The userdata of a MessageSource passed to the C library.
struct SourceContext {
	const MessageSource *source;
	CallScope *scope;
};

inline std::int64_t source_trampoline(void *userdata, std::uint8_t *buf, std::size_t len) noexcept
{
	auto *ctx = static_cast<SourceContext *>(userdata);
	try {
		// The C API returns an int64_t count: never ask for more than fits.
		std::size_t cap = len;
		if (cap > static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max()))
			cap = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
		std::size_t n = (*ctx->source)(reinterpret_cast<char *>(buf), cap);
		if (n > cap)
			throw Error(Code::InvalidArgument,
				    "the message source returned " + std::to_string(n) +
					    " bytes for a buffer of " + std::to_string(cap));
		return static_cast<std::int64_t>(n);
	} catch (...) {
		ctx->scope->capture();
		return -1;
	}
}

/// `text` as a NUL-terminated copy; throws Error (InvalidArgument) naming
/// `what` if it holds a NUL byte, which the C API would silently cut at.
inline std::string c_string(std::string_view text, const char *what)
{
	if (text.find('\0') != std::string_view::npos)
		throw Error(Code::InvalidArgument, std::string(what) + " contains a NUL byte");
	return std::string(text);
}

/// Copy a text with the C API's buffer rules (ask for the length, then
/// copy); "" when the text is empty or cannot be read (handle busy).
template <class Handle>
std::string copy_text(mailtls_result (*fn)(const Handle *, char *, std::size_t, std::size_t *),
		      const Handle *handle)
{
	std::size_t len = 0;
	mailtls_result rc = fn(handle, nullptr, 0, &len);
	// Retry if the text grew in between (it cannot on one thread, but the
	// loop costs nothing and never leaves a truncated text).
	for (int attempt = 0; attempt < 4 && rc == MAILTLS_RESULT_BUFFER_TOO_SMALL; attempt++) {
		std::string text(len + 1, '\0');
		rc = fn(handle, text.data(), text.size(), &len);
		if (rc == MAILTLS_RESULT_OK) {
			text.resize(len);
			return text;
		}
	}
	return std::string();
}

/// The message for an error: the handle's last error message, else the
/// code's description.
inline std::string message_or_description(std::string message, Code code)
{
	return message.empty() ? std::string(describe(code)) : message;
}

struct ListingFree {
	void operator()(mailtls_pop3_listing *listing) const noexcept { mailtls_pop3_listing_free(listing); }
};
struct BufferFree {
	void operator()(mailtls_buffer *buffer) const noexcept { mailtls_buffer_free(buffer); }
};
struct ResultsFree {
	void operator()(mailtls_smtp_results *results) const noexcept { mailtls_smtp_results_free(results); }
};

using ListingPtr = std::unique_ptr<mailtls_pop3_listing, ListingFree>;
using BufferPtr = std::unique_ptr<mailtls_buffer, BufferFree>;
using ResultsPtr = std::unique_ptr<mailtls_smtp_results, ResultsFree>;

inline std::string buffer_string(const mailtls_buffer *buffer)
{
	return std::string(reinterpret_cast<const char *>(mailtls_buffer_data(buffer)), mailtls_buffer_len(buffer));
}

inline std::string optional_text(const char *text)
{
	return text != nullptr ? std::string(text) : std::string();
}

inline std::vector<RecipientResult> recipient_results(const mailtls_smtp_results *results)
{
	std::vector<RecipientResult> out;
	std::size_t count = mailtls_smtp_results_count(results);
	out.reserve(count);
	for (std::size_t i = 0; i < count; i++) {
		RecipientResult r;
		r.address = optional_text(mailtls_smtp_results_address(results, i));
		r.accepted = mailtls_smtp_results_accepted(results, i);
		r.code = mailtls_smtp_results_code(results, i);
		r.enhanced = optional_text(mailtls_smtp_results_enhanced(results, i));
		r.text = optional_text(mailtls_smtp_results_text(results, i));
		out.push_back(std::move(r));
	}
	return out;
}

/// Error for a moved-from object.
[[noreturn]] inline void throw_moved_from(const char *type)
{
	throw Error(Code::NullArgument, std::string("this mailtls::") + type +
						" was moved from and holds no handle");
}

} // namespace detail

/// One capability (POP3 CAPA) or extension (SMTP EHLO) of a server.
struct Capability {
	std::string name;              ///< The name, upper case, e.g. "SASL" or "SIZE".
	std::vector<std::string> args; ///< Its arguments as the server sent them, e.g. {"PLAIN", "LOGIN"}.
};

namespace detail {
inline std::vector<Capability> capability_list(const mailtls_capabilities *caps)
{
	std::vector<Capability> out;
	std::size_t count = mailtls_capabilities_count(caps);
	out.reserve(count);
	for (std::size_t i = 0; i < count; i++) {
		Capability c;
		c.name = optional_text(mailtls_capabilities_name(caps, i));
		std::size_t args = mailtls_capabilities_arg_count(caps, i);
		for (std::size_t a = 0; a < args; a++)
			c.args.push_back(optional_text(mailtls_capabilities_arg(caps, i, a)));
		out.push_back(std::move(c));
	}
	return out;
}
} // namespace detail

/**
 * Connection options: security mode, TLS settings, timeouts, mechanisms,
 * trace. Defaults: security Auto, TLS 1.2 minimum, certificates verified
 * against the system store, connect timeout 30 s, I/O timeout 60 s, all
 * mechanisms, plaintext authentication refused, in-memory message limit
 * 256 MiB, no trace. Setters return *this for chaining and throw Error on
 * an invalid value. A Pop3 or Smtp copies the options when created.
 * Move-only.
 */
class Options {
public:
	/// Options with the defaults. Throws std::bad_alloc if memory is exhausted.
	Options() : handle_(mailtls_options_new())
	{
		if (handle_ == nullptr)
			throw std::bad_alloc();
	}
	/// Frees the C options (handles created from them are not affected).
	~Options() { mailtls_options_free(handle_); }
	/// Takes the other's handle and trace; the other is left empty.
	Options(Options &&other) noexcept
		: handle_(std::exchange(other.handle_, nullptr)), callbacks_(std::move(other.callbacks_))
	{
	}
	/// Frees these options and takes the other's.
	Options &operator=(Options &&other) noexcept
	{
		if (this != &other) {
			mailtls_options_free(handle_);
			handle_ = std::exchange(other.handle_, nullptr);
			callbacks_ = std::move(other.callbacks_);
		}
		return *this;
	}
	Options(const Options &) = delete;            ///< Move-only.
	Options &operator=(const Options &) = delete; ///< Move-only.

	/// Set the security mode.
	Options &security(Security mode)
	{
		return check(mailtls_options_set_security(handle(), static_cast<mailtls_security>(mode)));
	}
	/// Set the oldest TLS version accepted.
	Options &min_tls_version(TlsVersion version)
	{
		return check(mailtls_options_set_min_tls_version(handle(), static_cast<mailtls_tls_version>(version)));
	}
	/// Trust the CA certificates of a PEM file (read now), in addition to the system store.
	Options &add_ca_file(std::string_view path)
	{
		return check(mailtls_options_add_ca_file(handle(), detail::c_string(path, "the CA file path").c_str()));
	}
	/// Trust the CA certificates in PEM text (copied), in addition to the system store.
	Options &add_ca_pem(std::string_view pem)
	{
		return check(mailtls_options_add_ca_pem(handle(), reinterpret_cast<const std::uint8_t *>(pem.data()),
							pem.size()));
	}
	/// Pin the server certificate by the SHA-256 of its DER encoding (64 hex digits,
	/// colons allowed): it is then accepted whoever signed it, any other is refused.
	Options &pin_sha256(std::string_view hex)
	{
		return check(mailtls_options_set_pin_sha256(handle(), detail::c_string(hex, "the pin").c_str()));
	}
	/// Remove the pin.
	Options &clear_pin() { return check(mailtls_options_set_pin_sha256(handle(), nullptr)); }
	/// DANGEROUS: accept any server certificate, even expired, self-signed or for another
	/// host; anyone on the network path can then read the password. Prefer add_ca_file()
	/// or pin_sha256().
	Options &danger_accept_invalid_certs(bool accept)
	{
		return check(mailtls_options_set_danger_accept_invalid_certs(handle(), accept));
	}
	/// How long each connection attempt (per resolved address) may take: 1 ms to 2^32-1 ms.
	Options &connect_timeout(std::chrono::milliseconds timeout)
	{
		return check(mailtls_options_set_connect_timeout_ms(handle(), timeout_ms(timeout, "connect_timeout")));
	}
	/// How long to wait for the server on each read or write: 1 ms to 2^32-1 ms. A server
	/// that stalls longer gives Code::Timeout.
	Options &io_timeout(std::chrono::milliseconds timeout)
	{
		return check(mailtls_options_set_io_timeout_ms(handle(), timeout_ms(timeout, "io_timeout")));
	}
	/// Restrict the mechanisms an automatic login may use: names separated by spaces or
	/// commas from SCRAM-SHA-256(-PLUS), SCRAM-SHA-1(-PLUS), USER, APOP, PLAIN, LOGIN, CRAM-MD5, XOAUTH2, OAUTHBEARER; "" allows all.
	Options &mechanisms(std::string_view list)
	{
		return check(mailtls_options_set_mechanisms(handle(), detail::c_string(list, "the mechanism list").c_str()));
	}
	/// Allow credentials on a connection without TLS (Security::None). Off by default.
	Options &allow_plaintext_auth(bool allow)
	{
		return check(mailtls_options_set_allow_plaintext_auth(handle(), allow));
	}
	/// Ask for POP3 UTF-8 mode (RFC 6856) when the server offers it.
	Options &utf8(bool enable) { return check(mailtls_options_set_utf8(handle(), enable)); }
	/// The largest message Pop3::retr(n) holds in memory; larger ones give
	/// Code::MessageTooLarge. Streaming and file retrieval have no limit.
	Options &max_message_bytes(std::uint64_t max)
	{
		return check(mailtls_options_set_max_message_bytes(handle(), max));
	}
	/// The name this host gives in SMTP's EHLO (a domain or an address literal such as
	/// "[192.0.2.1]").
	Options &client_name(std::string_view name)
	{
		return check(mailtls_options_set_client_name(handle(), detail::c_string(name, "the client name").c_str()));
	}
	/// Connect through the proxy `url` (socks5h://, socks5://, socks4a://, http:// or
	/// https://, with optional user:password@; see mailtls_options_set_proxy()). TLS to the
	/// mail server still runs inside the tunnel, checked against the mail server's name.
	Options &proxy(std::string_view url)
	{
		return check(mailtls_options_set_proxy(handle(), detail::c_string(url, "the proxy URL").c_str()));
	}
	/// Connect through a proxy given by fields (see mailtls_options_set_proxy_fields()):
	/// port 0 for the kind's default; an empty user means no credentials.
	Options &proxy(ProxyKind kind, std::string_view host, std::uint16_t port, std::string_view user = {},
		       std::string_view password = {})
	{
		const std::string host_c = detail::c_string(host, "the proxy host");
		const std::string user_c = detail::c_string(user, "the proxy user name");
		const std::string password_c = detail::c_string(password, "the proxy password");
		return check(mailtls_options_set_proxy_fields(handle(), static_cast<mailtls_proxy_kind>(kind),
							      host_c.c_str(), port, user.empty() ? nullptr : user_c.c_str(),
							      user.empty() ? nullptr : password_c.c_str()));
	}
	/// Connect directly again (or through the environment's proxy, if asked).
	Options &clear_proxy() { return check(mailtls_options_set_proxy(handle(), nullptr)); }
	/// With no proxy set, use the one ALL_PROXY names, except for NO_PROXY's hosts (as
	/// curl reads them). Off by default.
	Options &proxy_from_environment(bool enable)
	{
		return check(mailtls_options_set_proxy_from_environment(handle(), enable));
	}
	/// Restore the default EHLO name (this host's name if valid, else "localhost").
	Options &default_client_name() { return check(mailtls_options_set_client_name(handle(), nullptr)); }
	/// Set the trace function (an empty function removes it). It is kept alive by these
	/// options and by every Pop3 and Smtp created from them (see the header comment).
	Options &trace(TraceCallback callback)
	{
		if (!callback) {
			check(mailtls_options_set_trace(handle(), nullptr, nullptr));
			callbacks_.trace.reset();
			return *this;
		}
		auto state = std::make_shared<const detail::TraceState>(detail::TraceState{std::move(callback)});
		// The C options keep a raw pointer: the shared_ptr held here and
		// by every handle made afterwards keeps it valid.
		check(mailtls_options_set_trace(handle(), detail::trace_trampoline,
						const_cast<detail::TraceState *>(state.get())));
		callbacks_.trace = std::move(state);
		return *this;
	}
	/// Set the certificate callback (an empty function removes it): see
	/// CertificateCallback. Kept alive as the trace function is.
	Options &certificate_callback(CertificateCallback callback)
	{
		if (!callback) {
			check(mailtls_options_set_certificate_callback(handle(), nullptr, nullptr));
			callbacks_.certificate.reset();
			return *this;
		}
		auto state = std::make_shared<const detail::CertificateState>(detail::CertificateState{std::move(callback)});
		check(mailtls_options_set_certificate_callback(handle(), detail::certificate_trampoline,
								const_cast<detail::CertificateState *>(state.get())));
		callbacks_.certificate = std::move(state);
		return *this;
	}

	/// The C options, for calls this wrapper does not cover (nullptr if moved from).
	/// Do not set a trace through it: the wrapper would not keep its userdata alive.
	const mailtls_options *c_options() const noexcept { return handle_; }

private:
	friend class Pop3;
	friend class Smtp;

	mailtls_options *handle()
	{
		if (handle_ == nullptr)
			detail::throw_moved_from("Options");
		return handle_;
	}
	const mailtls_options *checked_handle() const
	{
		if (handle_ == nullptr)
			detail::throw_moved_from("Options");
		return handle_;
	}

	Options &check(mailtls_result rc)
	{
		if (rc != MAILTLS_RESULT_OK) {
			Code code = static_cast<Code>(rc);
			throw Error(code, detail::message_or_description(
						  detail::copy_text(mailtls_options_last_error, handle_), code));
		}
		return *this;
	}

	static std::uint32_t timeout_ms(std::chrono::milliseconds timeout, const char *name)
	{
		if (timeout.count() < 1 || timeout.count() > static_cast<long long>(std::numeric_limits<std::uint32_t>::max()))
			throw Error(Code::InvalidArgument, std::string(name) + " must be between 1 ms and 4294967295 ms, not " +
								   std::to_string(timeout.count()) + " ms");
		return static_cast<std::uint32_t>(timeout.count());
	}

	mailtls_options *handle_;
	detail::Callbacks callbacks_;
};

/// STAT: the number of messages in the mailbox and their total size.
struct Stat {
	std::uint32_t count{};  ///< Number of messages.
	std::uint64_t octets{}; ///< Their total size in octets.
};

/// One entry of Pop3::list().
struct ListEntry {
	std::uint32_t number{}; ///< The message number (1-based).
	std::uint64_t octets{}; ///< Its size in octets, as the server counts it.
};

/// One entry of Pop3::uidl().
struct UidlEntry {
	std::uint32_t number{}; ///< The message number (1-based).
	std::string uid;        ///< Its unique id, stable across sessions.
};

/// One entry of Pop3::list_uidl(): number, size and unique id.
struct MessageEntry {
	std::uint32_t number{}; ///< The message number (1-based).
	std::uint64_t octets{}; ///< Its size in octets.
	std::string uid;        ///< Its unique id.
};

/**
 * A POP3 session owning a mailtls_pop3 handle; move-only.
 *
 * After an error that leaves the stream in an unknown state (timeout,
 * dropped connection, protocol violation, TLS failure, cancellation,
 * including a sink that returned false or threw) the connection is closed
 * without QUIT, so the server commits no deletion; later calls throw
 * Error with Code::NotConnected until the next connect(). After a server
 * refusal (Code::ServerError, Code::AuthFailed) the session goes on.
 */
class Pop3 {
public:
	/// A session with the default options. Throws std::bad_alloc if memory is exhausted.
	Pop3() : handle_(mailtls_pop3_new(nullptr))
	{
		if (handle_ == nullptr)
			throw std::bad_alloc();
	}
	/// A session with a copy of `options`; holds their trace function (if any) alive.
	/// Throws std::bad_alloc if memory is exhausted (or the options are being changed on
	/// another thread, which the thread rules forbid), Error if `options` was moved from.
	explicit Pop3(const Options &options)
		: handle_(mailtls_pop3_new(options.checked_handle())), callbacks_(options.callbacks_)
	{
		if (handle_ == nullptr)
			throw std::bad_alloc();
	}
	/// Closes any connection without QUIT (deletions are not committed) and frees the handle.
	~Pop3() { mailtls_pop3_free(handle_); }
	/// Takes the other's handle; the other is left empty.
	Pop3(Pop3 &&other) noexcept
		: handle_(std::exchange(other.handle_, nullptr)), callbacks_(std::move(other.callbacks_))
	{
	}
	/// Frees this session (without QUIT) and takes the other's.
	Pop3 &operator=(Pop3 &&other) noexcept
	{
		if (this != &other) {
			mailtls_pop3_free(handle_);
			handle_ = std::exchange(other.handle_, nullptr);
			callbacks_ = std::move(other.callbacks_);
		}
		return *this;
	}
	Pop3(const Pop3 &) = delete;            ///< Move-only.
	Pop3 &operator=(const Pop3 &) = delete; ///< Move-only.

	/// Connect to `host` on `port` (0: 995 for Security::Tls, else 110), read the greeting
	/// and capabilities and secure the connection as the options say. Any previous
	/// connection is closed first.
	void connect(std::string_view host, std::uint16_t port = 0)
	{
		std::string h = detail::c_string(host, "the host name");
		run([&] { return mailtls_pop3_connect(handle(), h.c_str(), port); });
	}
	/// Log in with a password. `mechanism` empty picks one both sides support (see
	/// mailtls_pop3_login()); or "SCRAM-SHA-256", "USER", "APOP", "PLAIN", "LOGIN", "CRAM-MD5", ... forces it.
	/// A refusal throws Error with Code::AuthFailed, the server's reply() and response_code().
	void login(std::string_view user, std::string_view password, std::string_view mechanism = {})
	{
		std::string u = detail::c_string(user, "the user name");
		std::string p = detail::c_string(password, "the password");
		std::string m = detail::c_string(mechanism, "the mechanism");
		run([&] {
			return mailtls_pop3_login(handle(), u.c_str(), p.c_str(), m.empty() ? nullptr : m.c_str());
		});
	}
	/// Log in with an OAuth 2 bearer token (OAUTHBEARER or XOAUTH2, as the server offers).
	void login_oauth2(std::string_view user, std::string_view token)
	{
		std::string u = detail::c_string(user, "the user name");
		std::string t = detail::c_string(token, "the token");
		run([&] { return mailtls_pop3_login_oauth2(handle(), u.c_str(), t.c_str()); });
	}
	/// The server's capabilities (CAPA; after STLS the ones sent over TLS); empty if not
	/// connected yet.
	std::vector<Capability> capabilities() const
	{
		return detail::capability_list(mailtls_pop3_capabilities(const_handle()));
	}
	/// STAT: the number of messages and their total size.
	Stat stat()
	{
		Stat s;
		run([&] { return mailtls_pop3_stat(handle(), &s.count, &s.octets); });
		return s;
	}
	/// LIST: every message's number and size.
	std::vector<ListEntry> list()
	{
		detail::ListingPtr listing = fetch_listing(mailtls_pop3_list);
		std::vector<ListEntry> out(mailtls_pop3_listing_count(listing.get()));
		for (std::size_t i = 0; i < out.size(); i++)
			out[i] = ListEntry{mailtls_pop3_listing_number(listing.get(), i),
					   mailtls_pop3_listing_octets(listing.get(), i)};
		return out;
	}
	/// UIDL: every message's number and unique id.
	std::vector<UidlEntry> uidl()
	{
		detail::ListingPtr listing = fetch_listing(mailtls_pop3_uidl);
		std::vector<UidlEntry> out(mailtls_pop3_listing_count(listing.get()));
		for (std::size_t i = 0; i < out.size(); i++)
			out[i] = UidlEntry{mailtls_pop3_listing_number(listing.get(), i),
					   detail::optional_text(mailtls_pop3_listing_uid(listing.get(), i))};
		return out;
	}
	/// UIDL and LIST together (pipelined when the server supports it): every message's
	/// number, size and unique id.
	std::vector<MessageEntry> list_uidl()
	{
		detail::ListingPtr listing = fetch_listing(mailtls_pop3_list_uidl);
		std::vector<MessageEntry> out(mailtls_pop3_listing_count(listing.get()));
		for (std::size_t i = 0; i < out.size(); i++)
			out[i] = MessageEntry{mailtls_pop3_listing_number(listing.get(), i),
					      mailtls_pop3_listing_octets(listing.get(), i),
					      detail::optional_text(mailtls_pop3_listing_uid(listing.get(), i))};
		return out;
	}
	/// LIST for one message: its size (Code::ServerError if there is no such message).
	std::uint64_t list_one(std::uint32_t number)
	{
		std::uint64_t octets = 0;
		run([&] { return mailtls_pop3_list_one(handle(), number, &octets); });
		return octets;
	}
	/// UIDL for one message: its unique id.
	std::string uidl_one(std::uint32_t number)
	{
		char buf[72]; // 71 bytes always suffice (mailtls.h)
		std::size_t len = 0;
		run([&] { return mailtls_pop3_uidl_one(handle(), number, buf, sizeof buf, &len); });
		return std::string(buf, len);
	}
	/// RETR into memory: the whole message, byte-exact (CRLF line ends as the server sent
	/// them). Over the options' max_message_bytes: Code::MessageTooLarge (the connection is
	/// closed, as after a cancellation).
	std::string retr(std::uint32_t number)
	{
		mailtls_buffer *raw = nullptr;
		detail::CallScope scope;
		mailtls_result rc = mailtls_pop3_retr_bytes(handle(), number, &raw);
		detail::BufferPtr buffer(raw);
		finish(scope, rc);
		return detail::buffer_string(buffer.get());
	}
	/// RETR streamed to `sink` in chunks, dot-unstuffed and byte-exact. A sink that returns
	/// false cancels: Error with Code::Cancelled. A sink that throws cancels too, and its
	/// exception comes out of retr(). Either way the connection is closed without QUIT.
	void retr(std::uint32_t number, const ChunkSink &sink)
	{
		require(static_cast<bool>(sink), "the sink of retr() is empty");
		run([&] {
			detail::ChunkContext ctx{&sink, detail::CallScope::current()};
			return mailtls_pop3_retr(handle(), number, detail::chunk_trampoline, &ctx);
		});
	}
	/// TOP into memory: the headers and the first `lines` body lines of message `number`.
	std::string top(std::uint32_t number, std::uint32_t lines)
	{
		std::string out;
		top(number, lines, [&out](std::string_view chunk) {
			out.append(chunk);
			return true;
		});
		return out;
	}
	/// TOP streamed to `sink`, as retr(number, sink).
	void top(std::uint32_t number, std::uint32_t lines, const ChunkSink &sink)
	{
		require(static_cast<bool>(sink), "the sink of top() is empty");
		run([&] {
			detail::ChunkContext ctx{&sink, detail::CallScope::current()};
			return mailtls_pop3_top(handle(), number, lines, detail::chunk_trampoline, &ctx);
		});
	}
	/// RETR into the file at `path`, created or replaced only when the message is complete
	/// (no file is left behind on failure). Code::FileError if it cannot be written.
	void retr_to_file(std::uint32_t number, std::string_view path)
	{
		std::string p = detail::c_string(path, "the file path");
		run([&] { return mailtls_pop3_retr_to_file(handle(), number, p.c_str()); });
	}
	/// RETR for several messages, in that order, pipelined when the server supports it:
	/// `sink` gets each message's chunks and then its end (see MessageSink). A refused
	/// message stops the run with Code::ServerError (the messages before it were delivered
	/// whole); cancelling (false or an exception) behaves as in retr(number, sink).
	void retr_many(const std::vector<std::uint32_t> &numbers, const MessageSink &sink)
	{
		require(static_cast<bool>(sink), "the sink of retr_many() is empty");
		run([&] {
			detail::MessageContext ctx{&sink, detail::CallScope::current()};
			return mailtls_pop3_retr_many(handle(), numbers.data(), numbers.size(),
						      detail::message_trampoline, &ctx);
		});
	}
	/// DELE: mark message `number` deleted. quit() commits; rset() undoes.
	void dele(std::uint32_t number)
	{
		run([&] { return mailtls_pop3_dele(handle(), number); });
	}
	/// DELE for several messages (pipelined when supported). Every message is attempted; on
	/// Code::ServerError the message names the refused ones and the others are marked.
	void dele_many(const std::vector<std::uint32_t> &numbers)
	{
		run([&] { return mailtls_pop3_dele_many(handle(), numbers.data(), numbers.size()); });
	}
	/// RSET: unmark every message marked deleted in this session.
	void rset()
	{
		run([&] { return mailtls_pop3_rset(handle()); });
	}
	/// NOOP: keep the session alive.
	void noop()
	{
		run([&] { return mailtls_pop3_noop(handle()); });
	}
	/// QUIT: end the session; the server removes the messages marked deleted. The
	/// connection is closed whatever the outcome (Code::ServerError: the server could not
	/// remove some). connect() may be called again.
	void quit()
	{
		run([&] { return mailtls_pop3_quit(handle()); });
	}
	/// The SHA-256 fingerprint of the server certificate of the current or last connection
	/// (64 lowercase hex digits). Code::NotConnected if no TLS connection was made.
	std::string peer_cert_sha256() const
	{
		char buf[65];
		std::size_t len = 0;
		mailtls_result rc = mailtls_pop3_peer_cert_sha256(const_handle(), buf, sizeof buf, &len);
		if (rc != MAILTLS_RESULT_OK)
			throw Error(static_cast<Code>(rc), std::string("no server certificate: ") +
								   describe(static_cast<Code>(rc)));
		return std::string(buf, len);
	}
	/// The server certificate of the current or last connect, also after a connect that
	/// failed on it (then its `failure` says why); empty if no TLS handshake got as far as
	/// the certificate. A certificate accepted by the CertificateCallback keeps its failure.
	std::optional<Certificate> peer_certificate() const
	{
		return detail::optional_certificate(mailtls_pop3_peer_certificate(const_handle()));
	}

	/// The C handle, for calls this wrapper does not cover (nullptr if moved from). It
	/// stays owned by this object.
	mailtls_pop3 *c_handle() noexcept { return handle_; }

private:
	mailtls_pop3 *handle()
	{
		if (handle_ == nullptr)
			detail::throw_moved_from("Pop3");
		return handle_;
	}
	const mailtls_pop3 *const_handle() const
	{
		if (handle_ == nullptr)
			detail::throw_moved_from("Pop3");
		return handle_;
	}

	static void require(bool condition, const char *message)
	{
		if (!condition)
			throw Error(Code::InvalidArgument, message);
	}

	/// Run one C call in a CallScope and turn its outcome into a return or a throw.
	template <class Call>
	void run(Call &&call)
	{
		handle(); // a moved-from object throws before anything else
		detail::CallScope scope;
		mailtls_result rc = call();
		finish(scope, rc);
	}

	/// A callback's exception first, then the C result as an Error.
	void finish(detail::CallScope &scope, mailtls_result rc)
	{
		scope.rethrow_captured();
		if (rc != MAILTLS_RESULT_OK)
			throw error(rc);
	}

	Error error(mailtls_result rc) const
	{
		Code code = static_cast<Code>(rc);
		ErrorDetail info;
		info.reply = detail::copy_text(mailtls_pop3_last_reply, handle_);
		info.response_code = detail::copy_text(mailtls_pop3_last_response_code, handle_);
		info.tls_detail = detail::copy_text(mailtls_pop3_last_error_detail, handle_);
		info.certificate = detail::refused_certificate(mailtls_pop3_peer_certificate(handle_), rc);
		return Error(code, detail::message_or_description(detail::copy_text(mailtls_pop3_last_error, handle_), code),
			     std::move(info));
	}

	detail::ListingPtr fetch_listing(mailtls_result (*fn)(mailtls_pop3 *, mailtls_pop3_listing **))
	{
		mailtls_pop3_listing *raw = nullptr;
		mailtls_pop3 *h = handle();
		detail::CallScope scope;
		mailtls_result rc = fn(h, &raw);
		detail::ListingPtr listing(raw);
		finish(scope, rc);
		return listing;
	}

	mailtls_pop3 *handle_;
	detail::Callbacks callbacks_;
};

/**
 * An SMTP submission session owning a mailtls_smtp handle; move-only.
 *
 * After an error that leaves the stream in an unknown state (timeout,
 * dropped connection, protocol violation, TLS failure, cancellation, or a
 * 421 reply) the connection is closed; later calls throw Error with
 * Code::NotConnected until the next connect(). After a refusal
 * (Code::ServerError, Code::AuthFailed, Code::RecipientsRefused) the
 * session goes on and the next message can be sent.
 *
 * The send functions return the reply to every recipient, in the order
 * given. If some are refused, the message goes to the others and the
 * refused ones have `accepted` false; if all are refused, nothing is sent
 * and Error with Code::RecipientsRefused carries them in recipients().
 */
class Smtp {
public:
	/// A session with the default options. Throws std::bad_alloc if memory is exhausted.
	Smtp() : handle_(mailtls_smtp_new(nullptr))
	{
		if (handle_ == nullptr)
			throw std::bad_alloc();
	}
	/// A session with a copy of `options`; holds their trace function (if any) alive.
	/// Throws as Pop3(const Options&).
	explicit Smtp(const Options &options)
		: handle_(mailtls_smtp_new(options.checked_handle())), callbacks_(options.callbacks_)
	{
		if (handle_ == nullptr)
			throw std::bad_alloc();
	}
	/// Closes any connection without QUIT and frees the handle.
	~Smtp() { mailtls_smtp_free(handle_); }
	/// Takes the other's handle; the other is left empty.
	Smtp(Smtp &&other) noexcept
		: handle_(std::exchange(other.handle_, nullptr)), callbacks_(std::move(other.callbacks_))
	{
	}
	/// Frees this session (without QUIT) and takes the other's.
	Smtp &operator=(Smtp &&other) noexcept
	{
		if (this != &other) {
			mailtls_smtp_free(handle_);
			handle_ = std::exchange(other.handle_, nullptr);
			callbacks_ = std::move(other.callbacks_);
		}
		return *this;
	}
	Smtp(const Smtp &) = delete;            ///< Move-only.
	Smtp &operator=(const Smtp &) = delete; ///< Move-only.

	/// Connect to `host` on `port` (0: 465 for Security::Tls, else 587), say EHLO and
	/// secure the connection as the options say (Auto: implicit TLS on 465, required
	/// STARTTLS elsewhere). Any previous connection is closed first.
	void connect(std::string_view host, std::uint16_t port = 0)
	{
		std::string h = detail::c_string(host, "the host name");
		run([&] { return mailtls_smtp_connect(handle(), h.c_str(), port); });
	}
	/// AUTH with a password. `mechanism` empty picks one both sides support (see
	/// mailtls_smtp_login()); or "SCRAM-SHA-256", "PLAIN", "LOGIN", "CRAM-MD5", ... A refusal throws Error with
	/// Code::AuthFailed, the server's reply(), smtp_code() and enhanced_code().
	void login(std::string_view user, std::string_view password, std::string_view mechanism = {})
	{
		std::string u = detail::c_string(user, "the user name");
		std::string p = detail::c_string(password, "the password");
		std::string m = detail::c_string(mechanism, "the mechanism");
		run([&] { return mailtls_smtp_login(handle(), u.c_str(), p.c_str(), m.empty() ? nullptr : m.c_str()); });
	}
	/// AUTH with an OAuth 2 bearer token (OAUTHBEARER, else XOAUTH2).
	void login_oauth2(std::string_view user, std::string_view token)
	{
		std::string u = detail::c_string(user, "the user name");
		std::string t = detail::c_string(token, "the token");
		run([&] { return mailtls_smtp_login_oauth2(handle(), u.c_str(), t.c_str()); });
	}
	/// The EHLO extensions (after STARTTLS the ones announced over TLS); empty if not
	/// connected yet.
	std::vector<Capability> extensions() const
	{
		return detail::capability_list(mailtls_smtp_extensions(const_handle()));
	}
	/// Send `message` (an RFC 5322 message; line ends are made CRLF and dots stuffed) from
	/// `from` (the envelope sender, "" for none) to the addresses `to`. The content is looked
	/// at first: 8-bit content to a server without 8BITMIME (or UTF-8 headers without
	/// SMTPUTF8) throws before anything is sent.
	std::vector<RecipientResult> send(std::string_view from, const std::vector<std::string> &to,
					  std::string_view message)
	{
		Envelope envelope(from, to);
		return send_with([&](mailtls_smtp_results **results) {
			return mailtls_smtp_send_bytes(handle(), envelope.from.c_str(), envelope.recipients.data(),
						       envelope.recipients.size(),
						       reinterpret_cast<const std::uint8_t *>(message.data()),
						       message.size(), results);
		});
	}
	/// Send the file at `path` as the message, streamed (read once for its size and needs,
	/// then again for DATA); otherwise as send(). Code::FileError if it cannot be read.
	std::vector<RecipientResult> send_file(std::string_view from, const std::vector<std::string> &to,
					       std::string_view path)
	{
		Envelope envelope(from, to);
		std::string p = detail::c_string(path, "the file path");
		return send_with([&](mailtls_smtp_results **results) {
			return mailtls_smtp_send_file(handle(), envelope.from.c_str(), envelope.recipients.data(),
						      envelope.recipients.size(), p.c_str(), results);
		});
	}
	/// Send a message read from `source` (see MessageSource), streamed: it never sits whole
	/// in memory. `size` is declared as SIZE= and checked against the server's limit before
	/// any byte is sent (the size DATA carries, or a bound of it); unknown:
	/// MAILTLS_SIZE_UNKNOWN. The content is not known in advance (see mailtls_smtp_send()
	/// for what that means for 8-bit and UTF-8 content). A source that throws cancels the
	/// send, and its exception comes out of send_stream().
	std::vector<RecipientResult> send_stream(std::string_view from, const std::vector<std::string> &to,
						 const MessageSource &source, std::uint64_t size = MAILTLS_SIZE_UNKNOWN)
	{
		if (!source)
			throw Error(Code::InvalidArgument, "the source of send_stream() is empty");
		Envelope envelope(from, to);
		return send_with([&](mailtls_smtp_results **results) {
			detail::SourceContext ctx{&source, detail::CallScope::current()};
			return mailtls_smtp_send(handle(), envelope.from.c_str(), envelope.recipients.data(),
						 envelope.recipients.size(), detail::source_trampoline, &ctx, size,
						 results);
		});
	}
	/// Send a whole RFC 5322 message with the envelope taken from its headers (Sender or
	/// From; To, Cc, Bcc, or the latest Resent- block); Bcc fields are removed from what is
	/// sent. Code::InvalidArgument if it has no usable sender or recipient.
	std::vector<RecipientResult> send_message(std::string_view message)
	{
		return send_with([&](mailtls_smtp_results **results) {
			return mailtls_smtp_send_message(handle(), reinterpret_cast<const std::uint8_t *>(message.data()),
							 message.size(), results);
		});
	}
	/// NOOP.
	void noop()
	{
		run([&] { return mailtls_smtp_noop(handle()); });
	}
	/// RSET: abandon any transaction in progress.
	void rset()
	{
		run([&] { return mailtls_smtp_rset(handle()); });
	}
	/// QUIT: end the session; the connection is closed whatever the outcome. connect() may
	/// be called again.
	void quit()
	{
		run([&] { return mailtls_smtp_quit(handle()); });
	}
	/// The SHA-256 fingerprint of the server certificate of the current or last connection
	/// (64 lowercase hex digits). Code::NotConnected if no TLS connection was made.
	std::string peer_cert_sha256() const
	{
		char buf[65];
		std::size_t len = 0;
		mailtls_result rc = mailtls_smtp_peer_cert_sha256(const_handle(), buf, sizeof buf, &len);
		if (rc != MAILTLS_RESULT_OK)
			throw Error(static_cast<Code>(rc), std::string("no server certificate: ") +
								   describe(static_cast<Code>(rc)));
		return std::string(buf, len);
	}
	/// The server certificate of the current or last connect, also after a connect that
	/// failed on it (then its `failure` says why); empty if no TLS handshake got as far as
	/// the certificate. A certificate accepted by the CertificateCallback keeps its failure.
	std::optional<Certificate> peer_certificate() const
	{
		return detail::optional_certificate(mailtls_smtp_peer_certificate(const_handle()));
	}

	/// The C handle, for calls this wrapper does not cover (nullptr if moved from). It
	/// stays owned by this object.
	mailtls_smtp *c_handle() noexcept { return handle_; }

private:
	/// The envelope as the C API takes it; checked for NUL bytes.
	struct Envelope {
		std::string from;
		std::vector<std::string> to;
		std::vector<const char *> recipients;

		Envelope(std::string_view sender, const std::vector<std::string> &addresses)
			: from(detail::c_string(sender, "the sender address"))
		{
			to.reserve(addresses.size());
			recipients.reserve(addresses.size());
			for (const std::string &address : addresses)
				to.push_back(detail::c_string(address, "a recipient address"));
			for (const std::string &address : to)
				recipients.push_back(address.c_str());
		}
	};

	mailtls_smtp *handle()
	{
		if (handle_ == nullptr)
			detail::throw_moved_from("Smtp");
		return handle_;
	}
	const mailtls_smtp *const_handle() const
	{
		if (handle_ == nullptr)
			detail::throw_moved_from("Smtp");
		return handle_;
	}

	/// Run one C call in a CallScope and turn its outcome into a return or a throw.
	template <class Call>
	void run(Call &&call)
	{
		handle(); // a moved-from object throws before anything else
		detail::CallScope scope;
		mailtls_result rc = call();
		scope.rethrow_captured();
		if (rc != MAILTLS_RESULT_OK)
			throw error(rc, {});
	}

	/// Run one send and collect its per-recipient results (written by the C API on OK
	/// and RECIPIENTS_REFUSED).
	template <class Call>
	std::vector<RecipientResult> send_with(Call &&call)
	{
		handle(); // a moved-from object throws before anything else
		mailtls_smtp_results *raw = nullptr;
		detail::CallScope scope;
		mailtls_result rc = call(&raw);
		detail::ResultsPtr results(raw);
		scope.rethrow_captured();
		std::vector<RecipientResult> list = detail::recipient_results(results.get());
		if (rc != MAILTLS_RESULT_OK)
			throw error(rc, std::move(list));
		return list;
	}

	Error error(mailtls_result rc, std::vector<RecipientResult> recipients) const
	{
		Code code = static_cast<Code>(rc);
		ErrorDetail info;
		info.reply = detail::copy_text(mailtls_smtp_last_reply, handle_);
		info.smtp_code = mailtls_smtp_last_code(handle_);
		info.enhanced_code = detail::copy_text(mailtls_smtp_last_enhanced_code, handle_);
		info.recipients = std::move(recipients);
		info.tls_detail = detail::copy_text(mailtls_smtp_last_error_detail, handle_);
		info.certificate = detail::refused_certificate(mailtls_smtp_peer_certificate(handle_), rc);
		return Error(code, detail::message_or_description(detail::copy_text(mailtls_smtp_last_error, handle_), code),
			     std::move(info));
	}

	mailtls_smtp *handle_;
	detail::Callbacks callbacks_;
};

/// A mail protocol, for probe().
enum class Protocol : mailtls_protocol {
	Pop3 = MAILTLS_PROTOCOL_POP3, ///< POP3 (standard ports 995 with TLS, 110 with STLS).
	Smtp = MAILTLS_PROTOCOL_SMTP, ///< SMTP submission (465 with TLS; 587, 26, 25 with STARTTLS).
};

/// How the login went on one combination of a probe.
enum class ProbeLogin : mailtls_probe_login {
	NotAsked = MAILTLS_PROBE_LOGIN_NOT_ASKED,   ///< No credentials were given.
	NotTried = MAILTLS_PROBE_LOGIN_NOT_TRIED,   ///< The combination failed: no password was sent.
	Succeeded = MAILTLS_PROBE_LOGIN_SUCCEEDED, ///< The server accepted the user name and password.
	Failed = MAILTLS_PROBE_LOGIN_FAILED,       ///< Refused or failed: see login_result and login_message.
};

/// One combination for probe() to try.
struct ProbeEndpoint {
	Protocol protocol{Protocol::Pop3};
	std::uint16_t port{};
	Security security{Security::Tls}; ///< Security::Tls or Security::StartTls only.
};

/// What probe() tries and how.
struct ProbeSettings {
	/// The protocols whose standard ports are tried (empty: both). Ignored when endpoints is set.
	std::vector<Protocol> protocols;
	/// Exactly these combinations instead, in order of preference.
	std::vector<ProbeEndpoint> endpoints;
	/// How long the probe may take (about): each connection and read is bounded by it too.
	std::chrono::milliseconds timeout{5000};
	/// Trusted CAs, pin and minimum TLS version come from these (nullptr: the defaults);
	/// their other settings do not apply. Must outlive the call only.
	const Options *tls{};
};

/// One combination's outcome.
struct ProbeAttempt {
	Protocol protocol{};
	std::uint16_t port{};
	Security security{};
	Code result{Code::Ok};             ///< Code::Ok: connected, TLS up, certificate verified (or pinned).
	std::string message;               ///< Why not, and what to change; empty when it works.
	std::string tls_version;           ///< E.g. "TLSv1.3"; empty without TLS or with native-tls.
	std::vector<std::string> mechanisms; ///< Login methods offered over TLS (SASL names, POP3 USER and APOP).
	ProbeLogin login{ProbeLogin::NotAsked};
	Code login_result{Code::Ok};       ///< For ProbeLogin::Failed: e.g. Code::AuthFailed.
	std::string login_message;         ///< For ProbeLogin::Failed: why, and what to change.
	std::optional<Certificate> certificate; ///< The session's certificate, or the one refused.

	/// Whether the combination works.
	bool works() const noexcept { return result == Code::Ok; }
};

/// Every combination's outcome, in order of preference.
struct ProbeReport {
	std::vector<ProbeAttempt> attempts;
	std::optional<std::size_t> recommended_pop3; ///< Index of the setting to use for POP3, if any works.
	std::optional<std::size_t> recommended_smtp; ///< The same for SMTP.

	/// The setting to use for `protocol` (implicit TLS first; one whose login
	/// succeeded before one that only connects); nullptr if nothing works.
	const ProbeAttempt *recommended(Protocol protocol) const noexcept
	{
		const std::optional<std::size_t> &index = protocol == Protocol::Pop3 ? recommended_pop3 : recommended_smtp;
		return index ? &attempts[*index] : nullptr;
	}
};

namespace detail {
struct ProbeFree {
	void operator()(mailtls_probe *probe) const noexcept { mailtls_probe_free(probe); }
};

inline ProbeAttempt probe_attempt(const mailtls_probe *p, std::size_t i)
{
	ProbeAttempt a;
	a.protocol = static_cast<Protocol>(mailtls_probe_attempt_protocol(p, i));
	a.port = mailtls_probe_attempt_port(p, i);
	a.security = static_cast<Security>(mailtls_probe_attempt_security(p, i));
	a.result = static_cast<Code>(mailtls_probe_attempt_result(p, i));
	a.message = optional_text(mailtls_probe_attempt_message(p, i));
	a.tls_version = optional_text(mailtls_probe_attempt_tls_version(p, i));
	std::string methods = optional_text(mailtls_probe_attempt_mechanisms(p, i));
	for (std::size_t start = 0; start < methods.size();) {
		std::size_t end = methods.find(' ', start);
		if (end == std::string::npos)
			end = methods.size();
		if (end > start)
			a.mechanisms.push_back(methods.substr(start, end - start));
		start = end + 1;
	}
	a.login = static_cast<ProbeLogin>(mailtls_probe_attempt_login(p, i));
	a.login_result = static_cast<Code>(mailtls_probe_attempt_login_result(p, i));
	a.login_message = optional_text(mailtls_probe_attempt_login_message(p, i));
	a.certificate = optional_certificate(mailtls_probe_attempt_certificate(p, i));
	return a;
}
} // namespace detail

/// Probe `host`: try its standard POP3 and SMTP combinations (or
/// settings.endpoints) at once and return within about settings.timeout.
/// With `user` and `password` (both, or neither) it logs in where the
/// connection is encrypted and the certificate verified, never elsewhere.
/// Throws Error with Code::InvalidArgument for a bad argument (nothing is
/// tried then), std::bad_alloc if memory is exhausted; each combination's
/// own outcome is in the report, not thrown. Blocks the calling thread.
inline ProbeReport probe(std::string_view host, std::optional<std::string_view> user = std::nullopt,
			 std::optional<std::string_view> password = std::nullopt, const ProbeSettings &settings = {})
{
	std::unique_ptr<mailtls_probe, detail::ProbeFree> p(
		mailtls_probe_new(settings.tls != nullptr ? settings.tls->c_options() : nullptr));
	if (!p)
		throw std::bad_alloc();
	auto check = [&](mailtls_result rc) {
		if (rc != MAILTLS_RESULT_OK) {
			Code code = static_cast<Code>(rc);
			throw Error(code, detail::message_or_description(
						  detail::copy_text(mailtls_probe_last_error, p.get()), code));
		}
	};
	long long ms = settings.timeout.count();
	if (ms < 1 || ms > static_cast<long long>(std::numeric_limits<std::uint32_t>::max()))
		throw Error(Code::InvalidArgument, "the probe's timeout must be between 1 ms and 4294967295 ms");
	check(mailtls_probe_set_timeout_ms(p.get(), static_cast<std::uint32_t>(ms)));
	if (!settings.protocols.empty()) {
		std::uint32_t mask = 0;
		for (Protocol protocol : settings.protocols)
			mask |= static_cast<std::uint32_t>(protocol);
		check(mailtls_probe_set_protocols(p.get(), mask));
	}
	for (const ProbeEndpoint &e : settings.endpoints)
		check(mailtls_probe_add_endpoint(p.get(), static_cast<mailtls_protocol>(e.protocol), e.port,
						 static_cast<mailtls_security>(e.security)));
	if (user.has_value() != password.has_value())
		throw Error(Code::InvalidArgument, "give both user and password, or neither");
	std::string h = detail::c_string(host, "the host name");
	std::string u = user ? detail::c_string(*user, "the user name") : std::string();
	std::string pw = password ? detail::c_string(*password, "the password") : std::string();
	check(mailtls_probe_run(p.get(), h.c_str(), user ? u.c_str() : nullptr, password ? pw.c_str() : nullptr));
	ProbeReport report;
	for (std::size_t i = 0; i < mailtls_probe_attempt_count(p.get()); i++)
		report.attempts.push_back(detail::probe_attempt(p.get(), i));
	std::size_t index = 0;
	if (mailtls_probe_recommended(p.get(), MAILTLS_PROTOCOL_POP3, &index) == MAILTLS_RESULT_OK)
		report.recommended_pop3 = index;
	if (mailtls_probe_recommended(p.get(), MAILTLS_PROTOCOL_SMTP, &index) == MAILTLS_RESULT_OK)
		report.recommended_smtp = index;
	return report;
}

} // namespace mailtls

#endif /* MAILTLS_HPP */
