/*
 * The whole SMTP submission flow of the C API against the test Postfix:
 * connecting to the submission port (AUTO: STARTTLS), the SMTPS port
 * (implicit TLS) and the plain port (STARTTLS); every login mechanism; the
 * EHLO extensions; every way of sending (a read callback with and without
 * a size, bytes, a file, a whole message with its envelope taken from the
 * headers); per-recipient results; refusals; the SIZE limit; byte-exact
 * delivery, checked in the maildir and through Dovecot POP3 (the round
 * trip); many messages over one connection; DSN; cancellation; a wrong
 * password; the trace. Uses users user79, user85..user88 and user90..user96 only
 * (user89 belongs to the POP3 example run by tests/c/run.sh).
 *
 * Run by tests/c/run.sh with the env.sh of tests/servers/dovecot.sh and
 * tests/servers/postfix.sh sourced.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

/* Postfix delivers asynchronously, a few milliseconds after its 250. */
#define DELIVERY_MS 15000

static struct test_env env;
static struct test_smtp_env senv;
static struct trace_log trace;     /* the trace of the current step */
static struct trace_log all_trace; /* every trace line of the program */

/* The trace callback of every handle: into both logs. */
static void trace_both(void *userdata, mailtls_trace_kind kind, const uint8_t *data, size_t len)
{
	(void)userdata;
	trace_record(&trace, kind, data, len);
	bytes_append(&all_trace.all, data, len);
	bytes_append(&all_trace.all, "\n", 1);
}

/* --- messages ------------------------------------------------------------- */

/* A message of about 3 KB with dot lines, CRLF and bare LF line ends and,
 * when `eight_bit`, bytes over 127; `marker` makes it findable. */
static struct bytes make_message(const char *marker, bool eight_bit)
{
	struct bytes b = {0};
	char line[160];
	int i, n;
	n = snprintf(line, sizeof line,
		     "From: C Test <user85@localhost>\r\nTo: user85@localhost\r\n"
		     "Subject: %s\r\nX-Mailtls-C-Test: %s\r\n\r\n",
		     marker, marker);
	bytes_append(&b, line, (size_t)n);
	for (i = 0; i < 60; i++) {
		if (i % 4 == 0)
			n = snprintf(line, sizeof line, ".line %02d starts with a dot\r\n", i);
		else if (i % 4 == 1)
			n = snprintf(line, sizeof line, "line %02d ends with a bare LF\n", i);
		else if (i % 4 == 2 && eight_bit)
			n = snprintf(line, sizeof line, "line %02d: caf\xc3\xa9 \xe9t\xe9 \xff\r\n", i);
		else
			n = snprintf(line, sizeof line, "line %02d: the quick brown fox jumps\r\n", i);
		bytes_append(&b, line, (size_t)n);
	}
	bytes_append(&b, "..\r\n.\r\nlast line", 16);
	return b;
}

/* The special one: leading dots, a lone dot line, bare LF, a bare CR (made
 * a line end by the library), 8-bit bytes and no final line end. */
static struct bytes make_exact_message(const char *marker)
{
	struct bytes b = {0};
	char head[256];
	int n = snprintf(head, sizeof head,
			 "From: user85@localhost\r\nTo: user91@localhost\r\nSubject: exact %s\r\n"
			 "X-Mailtls-C-Test: %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
			 "Content-Transfer-Encoding: 8bit\r\n\r\n",
			 marker, marker);
	static const char body[] = ".leading dot\r\n"
				   "..two leading dots\r\n"
				   ".\r\n"
				   "after a lone dot\r\n"
				   "bare LF\nnext line\n"
				   "bare CR\rafter it\r\n"
				   "8-bit: caf\xc3\xa9 \xe9t\xe9 \xfc\xff\xfe\x80\r\n"
				   "\r\n"
				   "...\r\n"
				   "no final line end";
	bytes_append(&b, head, (size_t)n);
	bytes_append(&b, body, sizeof body - 1);
	return b;
}

/* `data` with every line end (CRLF, bare LF, bare CR) made `eol` and a
 * final one added: the message as stored (LF) or as it travels (CRLF). */
static struct bytes normalized(const void *data, size_t len, const char *eol)
{
	const unsigned char *p = data;
	struct bytes out = {0};
	size_t i;
	bool at_line_start = true;
	for (i = 0; i < len; i++) {
		if (p[i] == '\r' || p[i] == '\n') {
			if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n')
				i++;
			bytes_append(&out, eol, strlen(eol));
			at_line_start = true;
		} else {
			bytes_append(&out, p + i, 1);
			at_line_start = false;
		}
	}
	if (!at_line_start)
		bytes_append(&out, eol, strlen(eol));
	if (out.data == NULL)
		bytes_append(&out, "", 0);
	return out;
}

/* What Postfix stores for a message: its two lines on top, then the
 * message with LF line ends. */
static struct bytes expected_stored(const char *from, const char *user, const void *msg, size_t len)
{
	struct bytes want = {0}, body = normalized(msg, len, "\n");
	char head[256];
	int n = snprintf(head, sizeof head, "Return-Path: <%s>\nDelivered-To: %s@localhost\n", from, user);
	bytes_append(&want, head, (size_t)n);
	bytes_append(&want, body.data, body.len);
	bytes_free(&body);
	return want;
}

static void show_difference(const char *what, const struct bytes *got, const struct bytes *want)
{
	size_t i = 0;
	while (i < got->len && i < want->len && got->data[i] == want->data[i])
		i++;
	fprintf(stderr, "%s: got %zu bytes, want %zu; first difference at byte %zu\n"
			"--- got:\n%s\n--- want:\n%s\n---\n",
		what, got->len, want->len, i, (const char *)got->data, (const char *)want->data);
}

/* Wait for the one message of USER carrying `marker` and compare it with
 * what Postfix should have stored. */
static void check_delivered(const char *user, const char *marker, const char *from, const void *msg,
			    size_t len)
{
	struct bytes got = {0}, want;
	size_t n = test_wait_delivered(&env, user, marker, 1, DELIVERY_MS);
	if (n != 1) {
		fprintf(stderr, "%s: %zu messages with \"%s\"\n", user, n, marker);
		CHECK(!"exactly one message delivered");
		return;
	}
	CHECK(test_read_delivered(&env, user, marker, &got));
	want = expected_stored(from, user, msg, len);
	if (!bytes_equal(&got, want.data, want.len)) {
		show_difference(marker, &got, &want);
		CHECK(!"the delivered message is the one sent");
	}
	bytes_free(&got);
	bytes_free(&want);
}

/* --- a read callback streaming from memory ------------------------------ */

/* Small odd-sized pieces: CRLFs and leading dots fall across calls. */
static const size_t pieces[] = {1, 3, 7, 13, 31, 97, 5, 11, 2};

struct mem_source {
	const unsigned char *data;
	size_t len, pos;
	size_t calls;
	size_t cancel_at; /* return -1 on this call (1-based); 0: never */
};

static int64_t mem_read(void *userdata, uint8_t *buf, size_t len)
{
	struct mem_source *s = userdata;
	size_t n;
	s->calls++;
	if (s->cancel_at != 0 && s->calls >= s->cancel_at)
		return -1;
	CHECK(buf != NULL && len > 0);
	n = pieces[s->calls % (sizeof pieces / sizeof pieces[0])];
	if (n > s->len - s->pos)
		n = s->len - s->pos;
	if (n > len)
		n = len;
	memcpy(buf, s->data + s->pos, n);
	s->pos += n;
	return (int64_t)n;
}

static struct mem_source source_of(const struct bytes *b)
{
	struct mem_source s;
	memset(&s, 0, sizeof s);
	s.data = b->data;
	s.len = b->len;
	return s;
}

/* --- sessions and the trace ----------------------------------------------- */

static mailtls_smtp *new_smtp(mailtls_security security)
{
	mailtls_options *opts = test_options(&env);
	mailtls_smtp *smtp;
	CHECK_OK(mailtls_options_set_security(opts, security));
	CHECK_OK(mailtls_options_set_trace(opts, trace_both, NULL));
	smtp = mailtls_smtp_new(opts);
	mailtls_options_free(opts); /* the handle has its own copy */
	CHECK(smtp != NULL);
	if (smtp == NULL)
		exit(2);
	test_use_smtp_handle(smtp);
	return smtp;
}

static mailtls_smtp *open_smtp(uint16_t port, mailtls_security security, const char *user,
			       const char *mechanism)
{
	mailtls_smtp *smtp = new_smtp(security);
	CHECK_OK(mailtls_smtp_connect(smtp, env.host, port));
	if (user != NULL)
		CHECK_OK(mailtls_smtp_login(smtp, user, env.password, mechanism));
	return smtp;
}

static void close_smtp(mailtls_smtp *smtp)
{
	mailtls_smtp_free(smtp);
	test_use_smtp_handle(NULL);
}

/* The text of the last command line starting with `prefix` ("" if none)
 * into buf. */
static const char *last_command(const char *prefix, char *buf, size_t size)
{
	const char *line = (const char *)trace.all.data;
	size_t n = strlen(prefix);
	buf[0] = '\0';
	while (line != NULL && *line != '\0') {
		const char *end = strchr(line, '\n');
		size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
		if (len >= 2 + n && strncmp(line, "1 ", 2) == 0 && strncmp(line + 2, prefix, n) == 0)
			snprintf(buf, size, "%.*s", (int)(len - 2), line + 2);
		line = end != NULL ? end + 1 : NULL;
	}
	return buf;
}

/* Whether the last MAIL command holds `needle` is `present`; if not, say
 * what it was. */
static bool mail_command_has(const char *needle, bool present)
{
	char buf[512];
	last_command("MAIL FROM:", buf, sizeof buf);
	if ((strstr(buf, needle) != NULL) == present)
		return true;
	fprintf(stderr, "\"%s\" %s in \"%s\"\n", needle, present ? "not" : "unexpected", buf);
	return false;
}

static void check_fingerprint(const mailtls_smtp *smtp)
{
	char hex[65];
	size_t len = 0;
	CHECK_OK(mailtls_smtp_peer_cert_sha256(smtp, hex, sizeof hex, &len));
	CHECK(len == 64);
	CHECK(strcmp(hex, env.server_sha256) == 0);
	/* Buffer rules: len_out optional; a NULL buffer asks for the length;
	 * 64 bytes are one too few. */
	CHECK_OK(mailtls_smtp_peer_cert_sha256(smtp, hex, sizeof hex, NULL));
	len = 0;
	CHECK_RC(MAILTLS_RESULT_BUFFER_TOO_SMALL, mailtls_smtp_peer_cert_sha256(smtp, NULL, 0, &len));
	CHECK(len == 64);
	CHECK_RC(MAILTLS_RESULT_BUFFER_TOO_SMALL, mailtls_smtp_peer_cert_sha256(smtp, hex, 64, &len));
	CHECK(strlen(hex) == 63 && strncmp(hex, env.server_sha256, 63) == 0);
}

/* The extensions Postfix announces over TLS. */
static void check_extensions(const mailtls_smtp *smtp)
{
	const mailtls_capabilities *ext = mailtls_smtp_extensions(smtp);
	size_t i, n, a;
	bool size_seen = false, auth_seen = false;
	char limit[32];

	snprintf(limit, sizeof limit, "%llu", (unsigned long long)senv.size_limit);
	CHECK(ext != NULL);
	n = mailtls_capabilities_count(ext);
	CHECK(n >= 8);
	for (i = 0; i < n; i++) {
		const char *name = mailtls_capabilities_name(ext, i);
		size_t nargs = mailtls_capabilities_arg_count(ext, i);
		CHECK(name != NULL && name[0] != '\0');
		if (name == NULL)
			continue;
		CHECK(strcmp(name, "LOCALHOST") != 0); /* the greeting line is none */
		if (strcmp(name, "SIZE") == 0) {
			size_seen = true;
			CHECK(nargs == 1);
			CHECK(mailtls_capabilities_arg(ext, i, 0) != NULL &&
			      strcmp(mailtls_capabilities_arg(ext, i, 0), limit) == 0);
		}
		if (strcmp(name, "AUTH") == 0) {
			bool plain = false, login = false, cram = false;
			auth_seen = true;
			CHECK(nargs == 3);
			for (a = 0; a < nargs; a++) {
				const char *arg = mailtls_capabilities_arg(ext, i, a);
				CHECK(arg != NULL);
				if (arg == NULL)
					continue;
				plain |= strcmp(arg, "PLAIN") == 0;
				login |= strcmp(arg, "LOGIN") == 0;
				cram |= strcmp(arg, "CRAM-MD5") == 0;
			}
			CHECK(plain && login && cram);
		}
		CHECK(mailtls_capabilities_arg(ext, i, nargs) == NULL);
	}
	CHECK(size_seen);
	CHECK(auth_seen);
	CHECK(mailtls_capabilities_name(ext, n) == NULL);
	CHECK(mailtls_capabilities_arg_count(ext, n) == 0);
	CHECK(mailtls_capabilities_has(ext, "PIPELINING"));
	CHECK(mailtls_capabilities_has(ext, "8bitmime")); /* any case */
	CHECK(mailtls_capabilities_has(ext, "SMTPUTF8"));
	CHECK(mailtls_capabilities_has(ext, "DSN"));
	CHECK(mailtls_capabilities_has(ext, "EnhancedStatusCodes"));
	CHECK(mailtls_capabilities_has(ext, "CHUNKING"));
	CHECK(mailtls_capabilities_has(ext, "SIZE"));
	CHECK(mailtls_capabilities_has(ext, "AUTH"));
	/* Announced in clear only: the list kept is the one read over TLS. */
	CHECK(!mailtls_capabilities_has(ext, "STARTTLS"));
	CHECK(!mailtls_capabilities_has(ext, "NO-SUCH-EXTENSION"));
}

/* One accepted recipient's result. */
static void check_accepted(const mailtls_smtp_results *r, size_t i, const char *address)
{
	const char *a = mailtls_smtp_results_address(r, i);
	const char *e = mailtls_smtp_results_enhanced(r, i);
	const char *t = mailtls_smtp_results_text(r, i);
	CHECK(a != NULL && strcmp(a, address) == 0);
	CHECK(mailtls_smtp_results_accepted(r, i));
	CHECK(mailtls_smtp_results_code(r, i) == 250);
	CHECK(e != NULL && strcmp(e, "2.1.5") == 0);
	CHECK(t != NULL && strcmp(t, "Ok") == 0);
}

/* One recipient refused as unknown (550 5.1.1). */
static void check_unknown(const mailtls_smtp_results *r, size_t i, const char *address)
{
	const char *a = mailtls_smtp_results_address(r, i);
	const char *e = mailtls_smtp_results_enhanced(r, i);
	const char *t = mailtls_smtp_results_text(r, i);
	CHECK(a != NULL && strcmp(a, address) == 0);
	CHECK(!mailtls_smtp_results_accepted(r, i));
	CHECK(mailtls_smtp_results_code(r, i) == 550);
	CHECK(e != NULL && strcmp(e, "5.1.1") == 0);
	CHECK(t != NULL && strstr(t, address) != NULL && strstr(t, "User unknown") != NULL);
	CHECK(t != NULL && strncmp(t, "5.1.1", 5) != 0); /* the text has no code */
}

static void check_out_of_range(const mailtls_smtp_results *r)
{
	size_t n = mailtls_smtp_results_count(r);
	CHECK(mailtls_smtp_results_address(r, n) == NULL);
	CHECK(!mailtls_smtp_results_accepted(r, n));
	CHECK(mailtls_smtp_results_code(r, n) == 0);
	CHECK(mailtls_smtp_results_enhanced(r, n) == NULL);
	CHECK(mailtls_smtp_results_text(r, n) == NULL);
	CHECK(mailtls_smtp_results_address(r, (size_t)-1) == NULL);
}

/* The detail is empty after a successful call. */
static void check_no_detail(const mailtls_smtp *smtp)
{
	char buf[256];
	size_t len = 1;
	CHECK_OK(mailtls_smtp_last_error(smtp, buf, sizeof buf, &len));
	CHECK(len == 0 && buf[0] == '\0');
	CHECK_OK(mailtls_smtp_last_reply(smtp, buf, sizeof buf, &len));
	CHECK(len == 0);
	CHECK_OK(mailtls_smtp_last_enhanced_code(smtp, buf, sizeof buf, &len));
	CHECK(len == 0);
	CHECK(mailtls_smtp_last_code(smtp) == 0);
}

/* --- the main session: user85 on the submission port --------------------- */

/* Messages sent in the main session, checked once it is over (Postfix
 * delivers meanwhile). */
static struct bytes msg_cb_sized, msg_cb_unknown, msg_bytes, msg_file, msg_dsn, msg_dsn_off;
static struct bytes msg_exact[3];

static const char bcc_message[] = "From: C Test <user85@localhost>\r\n"
				  "To: user86@localhost\r\n"
				  "Cc: \"Someone, Else\" <user87@localhost>\r\n"
				  "Bcc: user88@localhost,\r\n"
				  "\tnobody-bcc@localhost\r\n"
				  "Subject: send_message\r\n"
				  "X-Mailtls-C-Test: send-message\r\n"
				  "\r\n"
				  "Bcc: in the body is no header\r\n"
				  "hidden copies\r\n";
/* What is sent of it: the Bcc field and its continuation line left out. */
static const char bcc_message_sent[] = "From: C Test <user85@localhost>\r\n"
				       "To: user86@localhost\r\n"
				       "Cc: \"Someone, Else\" <user87@localhost>\r\n"
				       "Subject: send_message\r\n"
				       "X-Mailtls-C-Test: send-message\r\n"
				       "\r\n"
				       "Bcc: in the body is no header\r\n"
				       "hidden copies\r\n";

static const char several_message[] = "Subject: several\r\nX-Mailtls-C-Test: several\r\n\r\nto some\r\n";
static const char after_refusal_message[] = "Subject: after\r\nX-Mailtls-C-Test: after-refusal\r\n\r\nok\r\n";

#define MANY 20

/* The size DATA carries `m` in, which SIZE= declares for a message the
 * library looks at: line ends as CRLF (a final one added), leading dots
 * doubled, the terminating "." not counted. */
static size_t data_size(const struct bytes *m)
{
	const unsigned char *p = m->data;
	size_t i, n = 0;
	bool at_line_start = true;
	for (i = 0; i < m->len; i++) {
		if (p[i] == '\r' || p[i] == '\n') {
			if (p[i] == '\r' && i + 1 < m->len && p[i + 1] == '\n')
				i++;
			n += 2;
			at_line_start = true;
			continue;
		}
		if (at_line_start && p[i] == '.')
			n++;
		n++;
		at_line_start = false;
	}
	return at_line_start ? n : n + 2;
}

static void send_streams(mailtls_smtp *smtp)
{
	const char *const to85[1] = {"user85@localhost"};
	mailtls_smtp_results *r = NULL;
	struct mem_source src;
	char size_param[64];

	/* A read callback with the size given: SIZE= declared; its content
	 * is unknown, so BODY=8BITMIME too. */
	trace_clear(&trace);
	src = source_of(&msg_cb_sized);
	CHECK_OK(mailtls_smtp_send(smtp, "user85@localhost", to85, 1, mem_read, &src, msg_cb_sized.len, &r));
	CHECK(src.pos == src.len);
	CHECK(src.calls > 50); /* small pieces */
	CHECK(mailtls_smtp_results_count(r) == 1);
	check_accepted(r, 0, "user85@localhost");
	check_out_of_range(r);
	mailtls_smtp_results_free(r);
	r = NULL;
	snprintf(size_param, sizeof size_param, " SIZE=%zu", msg_cb_sized.len);
	CHECK(mail_command_has(size_param, true));
	CHECK(mail_command_has(" BODY=8BITMIME", true));
	CHECK(trace_has_command(&trace, "RCPT TO:<user85@localhost>"));
	CHECK(trace_has_command(&trace, "DATA"));
	check_no_detail(smtp);

	/* Size unknown: no SIZE=. results_out may be NULL. */
	trace_clear(&trace);
	src = source_of(&msg_cb_unknown);
	CHECK_OK(mailtls_smtp_send(smtp, "user85@localhost", to85, 1, mem_read, &src, MAILTLS_SIZE_UNKNOWN,
				   NULL));
	CHECK(src.pos == src.len);
	CHECK(mail_command_has(" SIZE=", false));
	CHECK(mail_command_has(" BODY=8BITMIME", true));

	/* Bytes: the null sender (""); ASCII only, so no BODY=8BITMIME. */
	trace_clear(&trace);
	CHECK_OK(mailtls_smtp_send_bytes(smtp, "", to85, 1, msg_bytes.data, msg_bytes.len, &r));
	CHECK(mailtls_smtp_results_count(r) == 1);
	check_accepted(r, 0, "user85@localhost");
	mailtls_smtp_results_free(r);
	r = NULL;
	CHECK(trace_has_command(&trace, "MAIL FROM:<> SIZE="));
	snprintf(size_param, sizeof size_param, " SIZE=%zu", data_size(&msg_bytes));
	CHECK(mail_command_has(size_param, true));
	CHECK(mail_command_has("BODY=8BITMIME", false));
}

static void send_file_test(mailtls_smtp *smtp, const char *dir)
{
	const char *const to85[1] = {"user85@localhost"};
	mailtls_smtp_results *r = NULL;
	char path[4096], size_param[64];
	FILE *f;

	snprintf(path, sizeof path, "%s/message.eml", dir);
	f = fopen(path, "wb");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	CHECK(fwrite(msg_file.data, 1, msg_file.len, f) == msg_file.len);
	fclose(f);
	trace_clear(&trace);
	CHECK_OK(mailtls_smtp_send_file(smtp, "user85@localhost", to85, 1, path, &r));
	CHECK(mailtls_smtp_results_count(r) == 1);
	check_accepted(r, 0, "user85@localhost");
	mailtls_smtp_results_free(r);
	/* The file's size as DATA carries it is declared; its 8-bit content
	 * is. */
	snprintf(size_param, sizeof size_param, " SIZE=%zu", data_size(&msg_file));
	CHECK(mail_command_has(size_param, true));
	CHECK(mail_command_has(" BODY=8BITMIME", true));
	unlink(path);
}

/* send_message: the envelope from the headers, Bcc dropped. */
static void send_message_test(mailtls_smtp *smtp)
{
	mailtls_smtp_results *r = NULL;
	static const char *const rcpts[4] = {"user86@localhost", "user87@localhost", "user88@localhost",
					     "nobody-bcc@localhost"};
	size_t i;

	trace_clear(&trace);
	CHECK_OK(mailtls_smtp_send_message(smtp, (const uint8_t *)bcc_message, strlen(bcc_message), &r));
	CHECK(mailtls_smtp_results_count(r) == 4);
	for (i = 0; i < 3; i++)
		check_accepted(r, i, rcpts[i]);
	check_unknown(r, 3, rcpts[3]);
	check_out_of_range(r);
	mailtls_smtp_results_free(r);
	CHECK(trace_has_command(&trace, "MAIL FROM:<user85@localhost>"));
	for (i = 0; i < 4; i++) {
		char cmd[128];
		snprintf(cmd, sizeof cmd, "RCPT TO:<%s>", rcpts[i]);
		CHECK(trace_has_command(&trace, cmd));
	}
}

/* Several recipients, one unknown: OK, results for each, delivered to the
 * others. Then every recipient refused. */
static void refusals_test(mailtls_smtp *smtp)
{
	static const char *const several[3] = {"user90@localhost", "nosuchuser@localhost", "user95@localhost"};
	static const char *const none[2] = {"nosuch-1@localhost", "nosuch-2@localhost"};
	mailtls_smtp_results *r = NULL, *sentinel = (mailtls_smtp_results *)&r;
	struct mem_source src;
	struct bytes none_msg = {0};
	char buf[1024];
	size_t i;

	CHECK_OK(mailtls_smtp_send_bytes(smtp, "user85@localhost", several, 3, (const uint8_t *)several_message,
					 strlen(several_message), &r));
	CHECK(mailtls_smtp_results_count(r) == 3);
	check_accepted(r, 0, several[0]);
	check_unknown(r, 1, several[1]);
	check_accepted(r, 2, several[2]);
	mailtls_smtp_results_free(r);
	r = NULL;
	check_no_detail(smtp);

	/* All refused: RECIPIENTS_REFUSED, nothing sent, results written. */
	bytes_append(&none_msg, "Subject: to nobody\r\n\r\nnever sent\r\n", 35);
	src = source_of(&none_msg);
	trace_clear(&trace);
	CHECK_RC(MAILTLS_RESULT_RECIPIENTS_REFUSED,
		 mailtls_smtp_send(smtp, "user85@localhost", none, 2, mem_read, &src, none_msg.len, &r));
	CHECK(src.calls == 0); /* not a byte of content read */
	CHECK(r != NULL);
	CHECK(mailtls_smtp_results_count(r) == 2);
	for (i = 0; i < 2; i++)
		check_unknown(r, i, none[i]);
	check_out_of_range(r);
	mailtls_smtp_results_free(r);
	r = NULL;
	CHECK_OK(mailtls_smtp_last_error(smtp, buf, sizeof buf, NULL));
	CHECK(buf[0] != '\0');
	/* The same without results_out, and with send_bytes. */
	CHECK_RC(MAILTLS_RESULT_RECIPIENTS_REFUSED, mailtls_smtp_send_bytes(smtp, "user85@localhost", none, 2,
									   none_msg.data, none_msg.len, NULL));
	bytes_free(&none_msg);

	/* The session goes on: the next message is sent (after an RSET). */
	trace_clear(&trace);
	r = sentinel;
	CHECK_OK(mailtls_smtp_send_bytes(smtp, "user85@localhost", several, 1,
					 (const uint8_t *)after_refusal_message, strlen(after_refusal_message), &r));
	CHECK(r != sentinel && mailtls_smtp_results_count(r) == 1);
	if (r != sentinel)
		mailtls_smtp_results_free(r);
	CHECK_OK(mailtls_smtp_noop(smtp));
}

/* Over the SIZE limit: refused before anything is sent; then a message
 * whose size is unknown, refused by the server after DATA. */
static void size_limit_test(mailtls_smtp *smtp)
{
	const char *const to85[1] = {"user85@localhost"};
	size_t big_len = (size_t)senv.size_limit + 1;
	unsigned char *big = malloc(big_len);
	mailtls_smtp_results *r = (mailtls_smtp_results *)&big; /* sentinel */
	struct mem_source src;
	char buf[256];
	size_t i, len = 0;

	CHECK(big != NULL);
	if (big == NULL)
		return;
	/* Lines of 76 "a" and CRLF. */
	for (i = 0; i < big_len; i++)
		big[i] = i % 78 == 76 ? '\r' : i % 78 == 77 ? '\n' : 'a';

	trace_clear(&trace);
	memset(&src, 0, sizeof src);
	src.data = big;
	src.len = big_len;
	CHECK_RC(MAILTLS_RESULT_MESSAGE_TOO_LARGE,
		 mailtls_smtp_send(smtp, "user85@localhost", to85, 1, mem_read, &src, big_len, &r));
	CHECK(src.calls == 0);
	CHECK(r == (mailtls_smtp_results *)&big); /* not written */
	CHECK(trace.commands == 0);
	CHECK_OK(mailtls_smtp_last_error(smtp, buf, sizeof buf, &len));
	CHECK(len > 0);
	CHECK_RC(MAILTLS_RESULT_MESSAGE_TOO_LARGE,
		 mailtls_smtp_send_bytes(smtp, "user85@localhost", to85, 1, big, big_len, &r));
	CHECK(r == (mailtls_smtp_results *)&big);
	CHECK(trace.commands == 0);
	/* Nothing was sent: the session is in step. */
	CHECK_OK(mailtls_smtp_noop(smtp));

	/* Unknown size: the server reads it all and refuses it with 552;
	 * the session goes on. */
	memset(&src, 0, sizeof src);
	src.data = big;
	src.len = big_len;
	CHECK_RC(MAILTLS_RESULT_SERVER_ERROR, mailtls_smtp_send(smtp, "user85@localhost", to85, 1, mem_read, &src,
								MAILTLS_SIZE_UNKNOWN, &r));
	CHECK(r == (mailtls_smtp_results *)&big);
	CHECK(src.pos == src.len);
	CHECK(mailtls_smtp_last_code(smtp) == 552);
	CHECK_OK(mailtls_smtp_last_enhanced_code(smtp, buf, sizeof buf, &len));
	CHECK(strcmp(buf, "5.3.4") == 0 && len == 5);
	CHECK_OK(mailtls_smtp_last_reply(smtp, buf, sizeof buf, &len));
	CHECK(strncmp(buf, "552 5.3.4 ", 10) == 0);
	CHECK_OK(mailtls_smtp_noop(smtp));
	check_no_detail(smtp);
	free(big);
}

/* The special message three ways to user91: callback, bytes, file. */
static void exact_test(mailtls_smtp *smtp, const char *dir)
{
	const char *const to91[1] = {"user91@localhost"};
	struct mem_source src = source_of(&msg_exact[0]);
	char path[4096];
	FILE *f;

	CHECK_OK(mailtls_smtp_send(smtp, "user85@localhost", to91, 1, mem_read, &src, MAILTLS_SIZE_UNKNOWN,
				   NULL));
	CHECK_OK(mailtls_smtp_send_bytes(smtp, "user85@localhost", to91, 1, msg_exact[1].data, msg_exact[1].len,
					 NULL));
	snprintf(path, sizeof path, "%s/exact.eml", dir);
	f = fopen(path, "wb");
	CHECK(f != NULL);
	if (f == NULL)
		return;
	CHECK(fwrite(msg_exact[2].data, 1, msg_exact[2].len, f) == msg_exact[2].len);
	fclose(f);
	CHECK_OK(mailtls_smtp_send_file(smtp, "user85@localhost", to91, 1, path, NULL));
	unlink(path);
}

static void dsn_test(mailtls_smtp *smtp)
{
	const char *const to93[1] = {"user93@localhost"};
	char buf[512];

	/* No NOTIFY=SUCCESS, and a sender outside: no report comes back. */
	CHECK_OK(mailtls_smtp_set_dsn(smtp, "FAILURE,DELAY", "HDRS", "c-envid+1", true));
	trace_clear(&trace);
	CHECK_OK(mailtls_smtp_send_bytes(smtp, "c-test@example.org", to93, 1, msg_dsn.data, msg_dsn.len, NULL));
	CHECK(mail_command_has(" RET=HDRS", true));
	CHECK(mail_command_has(" ENVID=c-envid+2B1", true)); /* xtext */
	last_command("RCPT TO:", buf, sizeof buf);
	CHECK(strcmp(buf, "RCPT TO:<user93@localhost> NOTIFY=FAILURE,DELAY ORCPT=rfc822;user93@localhost") == 0);

	/* All NULL and false clears the request. */
	CHECK_OK(mailtls_smtp_set_dsn(smtp, NULL, NULL, NULL, false));
	trace_clear(&trace);
	CHECK_OK(mailtls_smtp_send_bytes(smtp, "c-test@example.org", to93, 1, msg_dsn_off.data, msg_dsn_off.len,
					 NULL));
	CHECK(mail_command_has(" RET=", false));
	CHECK(trace_has_command(&trace, "RCPT TO:<user93@localhost>"));
	last_command("RCPT TO:", buf, sizeof buf);
	CHECK(strcmp(buf, "RCPT TO:<user93@localhost>") == 0);
}

/* MANY messages over the one connection, each way in turn. */
static void many_test(mailtls_smtp *smtp)
{
	const char *const to92[1] = {"user92@localhost"};
	int i;
	for (i = 0; i < MANY; i++) {
		char msg[256];
		int n = snprintf(msg, sizeof msg,
				 "From: user85@localhost\r\nTo: user92@localhost\r\nSubject: many %02d\r\n\r\n"
				 "message %02d of %d\r\n",
				 i, i, MANY);
		if (i % 2 == 0) {
			CHECK_OK(mailtls_smtp_send_message(smtp, (const uint8_t *)msg, (size_t)n, NULL));
		} else {
			struct bytes b = {0};
			struct mem_source src;
			bytes_append(&b, msg, (size_t)n);
			src = source_of(&b);
			CHECK_OK(mailtls_smtp_send(smtp, "user85@localhost", to92, 1, mem_read, &src, b.len, NULL));
			bytes_free(&b);
		}
	}
}

/* The outbox path: a batch on one session, with a refused message and an
 * invalid address among good ones, delivered to user79. */
#define BATCH 12
struct batch_outcome {
	size_t calls;
	size_t next_index;
	mailtls_result result[BATCH + 2];
	uint32_t smtp_code[BATCH + 2];
	size_t accepted[BATCH + 2];
};

static void on_batch_result(void *userdata, size_t index, mailtls_result result, const mailtls_smtp_results *results,
			    uint32_t smtp_code, const char *error)
{
	struct batch_outcome *out = userdata;
	size_t i;
	CHECK(index == out->next_index); /* in order, each once */
	CHECK(error != NULL && (result == MAILTLS_RESULT_OK) == (error[0] == '\0'));
	out->next_index = index + 1;
	out->calls++;
	if (index >= BATCH + 2)
		return;
	out->result[index] = result;
	out->smtp_code[index] = smtp_code;
	out->accepted[index] = 0;
	for (i = 0; results != NULL && i < mailtls_smtp_results_count(results); i++)
		out->accepted[index] += mailtls_smtp_results_accepted(results, i);
}

static void test_batch(void)
{
	mailtls_smtp *smtp = new_smtp(MAILTLS_SECURITY_AUTO);
	static const char *const good[1] = {"user79@localhost"};
	static const char *const unknown[1] = {"nobody-batch@localhost"};
	static const char *const invalid[1] = {"not an address"};
	char bodies[BATCH][128];
	mailtls_smtp_message messages[BATCH + 2];
	struct batch_outcome out = {0};
	size_t i, m = 0;

	for (i = 0; i < BATCH; i++) {
		int n = snprintf(bodies[i], sizeof bodies[i], "Subject: batch %02zu\r\n\r\n.line %02zu\r\n", i, i);
		if (i == 4)
			messages[m++] = (mailtls_smtp_message){"user85@localhost", unknown, 1, (const uint8_t *)"x", 1};
		if (i == 8)
			messages[m++] = (mailtls_smtp_message){"user85@localhost", invalid, 1, (const uint8_t *)"x", 1};
		messages[m++] = (mailtls_smtp_message){"user85@localhost", good, 1, (const uint8_t *)bodies[i], (size_t)n};
	}
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_smtp_send_batch(smtp, messages, m, NULL, &out));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_smtp_send_batch(smtp, messages, m, on_batch_result, &out));
	CHECK_OK(mailtls_smtp_connect(smtp, env.host, senv.submission_port));
	CHECK_OK(mailtls_smtp_login(smtp, "user85", env.password, NULL));
	trace_clear(&trace);
	CHECK_OK(mailtls_smtp_send_batch(smtp, messages, m, on_batch_result, &out));
	CHECK(out.calls == m);
	for (i = 0; i < m; i++) {
		if (i == 4) {
			CHECK_RC(MAILTLS_RESULT_RECIPIENTS_REFUSED, out.result[i]);
			CHECK(out.accepted[i] == 0);
		} else if (i == 9) {
			CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, out.result[i]);
		} else {
			CHECK_RC(MAILTLS_RESULT_OK, out.result[i]);
			CHECK(out.accepted[i] == 1 && out.smtp_code[i] == 0);
		}
	}
	CHECK_OK(mailtls_smtp_noop(smtp));
	CHECK_OK(mailtls_smtp_quit(smtp));
	close_smtp(smtp);
	CHECK(test_wait_delivered(&env, "user79", NULL, BATCH, DELIVERY_MS) == BATCH);
	for (i = 0; i < BATCH; i++) {
		char subject[64];
		snprintf(subject, sizeof subject, "\nSubject: batch %02zu\n", i);
		CHECK(test_wait_delivered(&env, "user79", subject, 1, 0) == 1);
	}
}

static void test_main_session(const char *dir)
{
	mailtls_smtp *smtp = new_smtp(MAILTLS_SECURITY_AUTO);
	const mailtls_capabilities *ext;
	char buf[128];
	size_t len = 0;

	/* Not connected yet: no extensions, no fingerprint. */
	CHECK(mailtls_smtp_extensions(smtp) == NULL);
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_smtp_peer_cert_sha256(smtp, buf, sizeof buf, &len));

	trace_clear(&trace);
	CHECK_OK(mailtls_smtp_connect(smtp, env.host, senv.submission_port));
	/* AUTO on a port that is not 465: STARTTLS, then EHLO again. */
	CHECK(trace_has_command(&trace, "EHLO "));
	CHECK(trace_has_command(&trace, "STARTTLS"));
	CHECK(trace_contains(&trace, "0 TLS established"));
	check_extensions(smtp);
	check_fingerprint(smtp);
	check_no_detail(smtp);
	CHECK_OK(mailtls_smtp_login(smtp, "user85", env.password, NULL));
	/* PLAIN, with an initial response: the certificate was verified. */
	CHECK(trace_has_command(&trace, "AUTH PLAIN <redacted>"));
	/* Logging in twice does not fit the state. */
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_smtp_login(smtp, "user85", env.password, NULL));

	send_streams(smtp);
	send_file_test(smtp, dir);
	send_message_test(smtp);
	refusals_test(smtp);
	size_limit_test(smtp);
	exact_test(smtp, dir);
	dsn_test(smtp);
	many_test(smtp);

	CHECK_OK(mailtls_smtp_rset(smtp));
	CHECK_OK(mailtls_smtp_noop(smtp));
	ext = mailtls_smtp_extensions(smtp);
	trace_clear(&trace);
	CHECK_OK(mailtls_smtp_quit(smtp));
	CHECK(trace_has_command(&trace, "QUIT"));
	CHECK(trace_contains(&trace, "2 221 "));
	/* The extensions stay valid until the next connect; the fingerprint
	 * of the last connection is still known. */
	CHECK(mailtls_smtp_extensions(smtp) == ext);
	CHECK(mailtls_capabilities_has(ext, "PIPELINING"));
	check_fingerprint(smtp);
	/* QUIT closed the connection. */
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_smtp_noop(smtp));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_smtp_quit(smtp));
	close_smtp(smtp);
}

/* What the main session delivered. */
static void check_main_deliveries(void)
{
	size_t i;
	struct bytes got = {0};

	check_delivered("user85", "X-Mailtls-C-Test: cb-sized", "user85@localhost", msg_cb_sized.data,
			msg_cb_sized.len);
	check_delivered("user85", "X-Mailtls-C-Test: cb-unknown", "user85@localhost", msg_cb_unknown.data,
			msg_cb_unknown.len);
	check_delivered("user85", "X-Mailtls-C-Test: bytes", "", msg_bytes.data, msg_bytes.len);
	check_delivered("user85", "X-Mailtls-C-Test: file", "user85@localhost", msg_file.data, msg_file.len);

	/* send_message: To, Cc and Bcc each got it once, without the Bcc
	 * field. */
	check_delivered("user86", "X-Mailtls-C-Test: send-message", "user85@localhost", bcc_message_sent,
			strlen(bcc_message_sent));
	check_delivered("user87", "X-Mailtls-C-Test: send-message", "user85@localhost", bcc_message_sent,
			strlen(bcc_message_sent));
	check_delivered("user88", "X-Mailtls-C-Test: send-message", "user85@localhost", bcc_message_sent,
			strlen(bcc_message_sent));
	CHECK(test_read_delivered(&env, "user88", "send-message", &got));
	CHECK(!mem_contains(got.data, got.len, "\nBcc: user88"));
	CHECK(!mem_contains(got.data, got.len, "nobody-bcc"));
	bytes_free(&got);

	/* The accepted ones of the several recipients, and the message sent
	 * after every recipient was refused. */
	check_delivered("user90", "X-Mailtls-C-Test: several", "user85@localhost", several_message,
			strlen(several_message));
	check_delivered("user95", "X-Mailtls-C-Test: several", "user85@localhost", several_message,
			strlen(several_message));
	check_delivered("user90", "X-Mailtls-C-Test: after-refusal", "user85@localhost", after_refusal_message,
			strlen(after_refusal_message));

	check_delivered("user93", "X-Mailtls-C-Test: dsn-on", "c-test@example.org", msg_dsn.data, msg_dsn.len);
	check_delivered("user93", "X-Mailtls-C-Test: dsn-off", "c-test@example.org", msg_dsn_off.data,
			msg_dsn_off.len);

	/* Every one of the many, once each. */
	CHECK(test_wait_delivered(&env, "user92", NULL, MANY, DELIVERY_MS) == MANY);
	for (i = 0; i < MANY; i++) {
		char subject[64];
		snprintf(subject, sizeof subject, "\nSubject: many %02zu\n", i);
		if (test_wait_delivered(&env, "user92", subject, 1, 0) != 1) {
			fprintf(stderr, "message %zu of the many: not delivered once\n", i);
			CHECK(!"each of the many delivered once");
		}
	}

	/* The three copies of the exact message: byte for byte on disk. */
	for (i = 0; i < 3; i++) {
		char marker[64];
		snprintf(marker, sizeof marker, "X-Mailtls-C-Test: exact-%zu\r", i);
		/* Stored with LF: look for the marker without CR. */
		marker[strlen(marker) - 1] = '\n';
		check_delivered("user91", marker, "user85@localhost", msg_exact[i].data, msg_exact[i].len);
	}
}

/* The round trip: the exact messages fetched back through Dovecot POP3
 * are the stored files with CRLF line ends, and what was sent (every line
 * end CRLF, a final one added) below the two delivery lines. */
static void test_pop3_round_trip(void)
{
	mailtls_options *opts = test_options(&env);
	mailtls_pop3 *pop3;
	uint32_t count = 0, n;
	uint64_t octets = 0;
	int seen[3] = {0, 0, 0};
	static const char delivery_lines[] = "Return-Path: <user85@localhost>\r\n"
					     "Delivered-To: user91@localhost\r\n";

	CHECK_OK(mailtls_options_set_security(opts, MAILTLS_SECURITY_TLS));
	pop3 = mailtls_pop3_new(opts);
	mailtls_options_free(opts);
	test_use_handle(pop3);
	CHECK_OK(mailtls_pop3_connect(pop3, env.host, env.pop3s_port));
	CHECK_OK(mailtls_pop3_login(pop3, "user91", env.password, NULL));
	CHECK_OK(mailtls_pop3_stat(pop3, &count, &octets));
	CHECK(count == 3);
	for (n = 1; n <= count && n <= 3; n++) {
		mailtls_buffer *buf = NULL;
		const uint8_t *data;
		size_t len, i;
		CHECK_OK(mailtls_pop3_retr_bytes(pop3, n, &buf));
		data = mailtls_buffer_data(buf);
		len = mailtls_buffer_len(buf);
		for (i = 0; i < 3; i++) {
			char marker[64];
			struct bytes stored = {0}, want_file, want_sent, head = {0};
			snprintf(marker, sizeof marker, "X-Mailtls-C-Test: exact-%zu\r\n", i);
			if (data == NULL || !mem_contains(data, len, marker))
				continue;
			seen[i]++;
			/* The stored file with CRLF. */
			marker[strlen(marker) - 2] = '\n';
			marker[strlen(marker) - 1] = '\0';
			CHECK(test_read_delivered(&env, "user91", marker, &stored));
			want_file = normalized(stored.data, stored.len, "\r\n");
			if (!bytes_equal(&want_file, data, len)) {
				struct bytes got = {0};
				bytes_append(&got, data, len);
				show_difference("POP3 vs maildir", &got, &want_file);
				bytes_free(&got);
				CHECK(!"the POP3 copy is the stored file with CRLF");
			}
			/* What was sent, below the delivery lines. */
			bytes_append(&head, delivery_lines, strlen(delivery_lines));
			want_sent = normalized(msg_exact[i].data, msg_exact[i].len, "\r\n");
			bytes_append(&head, want_sent.data, want_sent.len);
			if (!bytes_equal(&head, data, len)) {
				struct bytes got = {0};
				bytes_append(&got, data, len);
				show_difference("POP3 vs sent", &got, &head);
				bytes_free(&got);
				CHECK(!"the POP3 copy is the message sent");
			}
			bytes_free(&stored);
			bytes_free(&want_file);
			bytes_free(&want_sent);
			bytes_free(&head);
		}
		mailtls_buffer_free(buf);
	}
	CHECK(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
	CHECK_OK(mailtls_pop3_quit(pop3));
	mailtls_pop3_free(pop3);
	test_use_handle(NULL);
}

/* --- every mechanism on every port --------------------------------------- */

struct mech_case {
	const char *mechanism;
	uint16_t *port;
	mailtls_security security;
	bool starttls;
	const char *command; /* the AUTH command as traced */
};

static void test_mechanisms(void)
{
	struct mech_case cases[] = {
		{NULL, &senv.submission_port, MAILTLS_SECURITY_AUTO, true, "AUTH PLAIN <redacted>"},
		{"PLAIN", &senv.smtps_port, MAILTLS_SECURITY_TLS, false, "AUTH PLAIN <redacted>"},
		{"LOGIN", &senv.plain_port, MAILTLS_SECURITY_STARTTLS, true, "AUTH LOGIN"},
		{"CRAM-MD5", &senv.submission_port, MAILTLS_SECURITY_STARTTLS, true, "AUTH CRAM-MD5"},
	};
	const char *const to94[1] = {"user94@localhost"};
	size_t i, n = sizeof cases / sizeof cases[0];

	for (i = 0; i < n; i++) {
		mailtls_smtp *smtp;
		char msg[160];
		int len;
		trace_clear(&trace);
		smtp = open_smtp(*cases[i].port, cases[i].security, "user94", cases[i].mechanism);
		if (!trace_has_command(&trace, cases[i].command)) {
			fprintf(stderr, "case %zu (%s): no \"%s\"; trace:\n%s", i,
				cases[i].mechanism ? cases[i].mechanism : "(auto)", cases[i].command,
				(const char *)trace.all.data);
			CHECK(!"the mechanism's command was sent");
		}
		CHECK(trace_has_command(&trace, "STARTTLS") == cases[i].starttls);
		check_extensions(smtp);
		check_fingerprint(smtp);
		len = snprintf(msg, sizeof msg, "Subject: mechanism %zu\r\nX-Mailtls-C-Test: mech-%zu\r\n\r\nvia %s\r\n",
			       i, i, cases[i].mechanism ? cases[i].mechanism : "auto");
		CHECK_OK(mailtls_smtp_send_bytes(smtp, "user94@localhost", to94, 1, (const uint8_t *)msg,
						 (size_t)len, NULL));
		CHECK_OK(mailtls_smtp_quit(smtp));
		close_smtp(smtp);
	}
	CHECK(test_wait_delivered(&env, "user94", "X-Mailtls-C-Test: mech-", n, DELIVERY_MS) == n);
}

/* The plain port: STARTTLS, and mail without AUTH to a local mailbox;
 * relaying elsewhere is refused (554 5.7.1). */
static void test_plain_port_unauthenticated(void)
{
	static const char msg[] = "Subject: no auth\r\nX-Mailtls-C-Test: no-auth\r\n\r\nlocal delivery\r\n";
	const char *const to94[1] = {"user94@localhost"};
	const char *const away[1] = {"someone@example.com"};
	mailtls_smtp *smtp = open_smtp(senv.plain_port, MAILTLS_SECURITY_STARTTLS, NULL, NULL);
	mailtls_smtp_results *r = NULL;

	CHECK_OK(mailtls_smtp_send_bytes(smtp, "c-test@example.org", to94, 1, (const uint8_t *)msg, strlen(msg),
					 NULL));
	CHECK_RC(MAILTLS_RESULT_RECIPIENTS_REFUSED, mailtls_smtp_send_bytes(smtp, "c-test@example.org", away, 1,
									   (const uint8_t *)msg, strlen(msg), &r));
	CHECK(mailtls_smtp_results_count(r) == 1);
	CHECK(!mailtls_smtp_results_accepted(r, 0));
	CHECK(mailtls_smtp_results_code(r, 0) == 554);
	CHECK(mailtls_smtp_results_enhanced(r, 0) != NULL &&
	      strcmp(mailtls_smtp_results_enhanced(r, 0), "5.7.1") == 0);
	CHECK(mailtls_smtp_results_text(r, 0) != NULL &&
	      strstr(mailtls_smtp_results_text(r, 0), "Relay access denied") != NULL);
	/* Not logged in: the message says that logging in is the change. */
	{
		char buf[1024];
		CHECK_OK(mailtls_smtp_last_error(smtp, buf, sizeof buf, NULL));
		CHECK(strstr(buf, "only for a logged-in user") != NULL);
	}
	mailtls_smtp_results_free(r);
	CHECK_OK(mailtls_smtp_quit(smtp));
	close_smtp(smtp);
	check_delivered("user94", "X-Mailtls-C-Test: no-auth", "c-test@example.org", msg, strlen(msg));
}

/* --- cancellation and a wrong password (user96: nothing delivered) ------ */

static void test_cancel(void)
{
	const char *const to96[1] = {"user96@localhost"};
	struct bytes msg = make_message("cancelled", false);
	struct mem_source src = source_of(&msg);
	mailtls_smtp_results *r = (mailtls_smtp_results *)&src; /* sentinel */
	mailtls_smtp *smtp = open_smtp(senv.submission_port, MAILTLS_SECURITY_AUTO, "user96", NULL);

	/* At the first read: MAIL, RCPT and DATA went out, no content. */
	src.cancel_at = 1;
	CHECK_RC(MAILTLS_RESULT_CANCELLED,
		 mailtls_smtp_send(smtp, "user96@localhost", to96, 1, mem_read, &src, msg.len, &r));
	CHECK(src.calls == 1);
	CHECK(r == (mailtls_smtp_results *)&src);
	/* The stream was abandoned in the middle of DATA: closed. */
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_smtp_noop(smtp));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_smtp_rset(smtp));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_smtp_quit(smtp));

	/* In the middle of the content, after the handle connected again. */
	CHECK_OK(mailtls_smtp_connect(smtp, env.host, senv.submission_port));
	CHECK_OK(mailtls_smtp_login(smtp, "user96", env.password, NULL));
	src = source_of(&msg);
	src.cancel_at = 40;
	CHECK_RC(MAILTLS_RESULT_CANCELLED,
		 mailtls_smtp_send(smtp, "user96@localhost", to96, 1, mem_read, &src, MAILTLS_SIZE_UNKNOWN, NULL));
	CHECK(src.calls == 40 && src.pos > 0 && src.pos < src.len);
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_smtp_noop(smtp));
	close_smtp(smtp);
	bytes_free(&msg);
}

static void test_wrong_password(void)
{
	static const char wrong[] = "not-the-password-XYZ";
	mailtls_smtp *smtp = open_smtp(senv.submission_port, MAILTLS_SECURITY_AUTO, NULL, NULL);
	char buf[512];
	size_t len = 0;
	char plain[128], *b64_plain, *b64_wrong;
	int n;

	trace_clear(&trace);
	CHECK_RC(MAILTLS_RESULT_AUTH_FAILED, mailtls_smtp_login(smtp, "user96", wrong, "PLAIN"));
	CHECK(mailtls_smtp_last_code(smtp) == 535);
	CHECK_OK(mailtls_smtp_last_enhanced_code(smtp, buf, sizeof buf, &len));
	CHECK(strcmp(buf, "5.7.8") == 0 && len == 5);
	CHECK_OK(mailtls_smtp_last_reply(smtp, buf, sizeof buf, &len));
	CHECK(strncmp(buf, "535 5.7.8 ", 10) == 0 && len == strlen(buf));
	CHECK(strstr(buf, wrong) == NULL);
	CHECK_OK(mailtls_smtp_last_error(smtp, buf, sizeof buf, &len));
	CHECK(len > 0 && strstr(buf, "535") != NULL);
	CHECK(strstr(buf, wrong) == NULL);
	/* A refused login is not retried with another mechanism. */
	CHECK(!trace_has_command(&trace, "AUTH LOGIN"));
	CHECK(!trace_has_command(&trace, "AUTH CRAM-MD5"));

	CHECK_RC(MAILTLS_RESULT_AUTH_FAILED, mailtls_smtp_login(smtp, "user96", wrong, "LOGIN"));
	CHECK(mailtls_smtp_last_code(smtp) == 535);
	CHECK(trace_has_command(&trace, "AUTH LOGIN"));
	CHECK(trace_has_command(&trace, "<redacted>"));

	n = snprintf(plain, sizeof plain, "%c%s%c%s", 0, "user96", 0, wrong);
	b64_plain = test_base64(plain, (size_t)n);
	b64_wrong = test_base64(wrong, strlen(wrong));
	CHECK(!trace_contains(&trace, wrong));
	CHECK(!trace_contains(&trace, b64_plain));
	CHECK(!trace_contains(&trace, b64_wrong));
	free(b64_plain);
	free(b64_wrong);

	/* The session goes on. */
	CHECK_OK(mailtls_smtp_login(smtp, "user96", env.password, "CRAM-MD5"));
	check_no_detail(smtp);
	CHECK_OK(mailtls_smtp_noop(smtp));
	CHECK_OK(mailtls_smtp_quit(smtp));
	close_smtp(smtp);
}

/* No secret ever reached the trace: the password, nor the PLAIN payloads
 * ("\0user\0password") nor LOGIN's (the password alone) in base64. */
static void check_trace_secrets(void)
{
	static const char *const users[] = {"user85", "user94", "user96"};
	char *b64;
	size_t i;
	CHECK(all_trace.all.len > 0);
	CHECK(!trace_contains(&all_trace, env.password));
	b64 = test_base64(env.password, strlen(env.password));
	CHECK(!trace_contains(&all_trace, b64));
	free(b64);
	for (i = 0; i < sizeof users / sizeof users[0]; i++) {
		char plain[256];
		int n = snprintf(plain, sizeof plain, "%c%s%c%s", 0, users[i], 0, env.password);
		b64 = test_base64(plain, (size_t)n);
		CHECK(!trace_contains(&all_trace, b64));
		free(b64);
	}
}

int main(void)
{
	/* Not user89: the POP3 example of tests/c/run.sh has it. */
	static const char *const users[] = {"user79", "user85", "user86", "user87", "user88", "user90",
					    "user91", "user92", "user93", "user94", "user95", "user96"};
	char dir[] = "/tmp/mailtls-c-smtp-flow-XXXXXX";
	size_t i;

	env = test_env_load();
	senv = test_smtp_env_load();
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	for (i = 0; i < sizeof users / sizeof users[0]; i++)
		test_seed_mailbox(&env, users[i], NULL, 0);

	msg_cb_sized = make_message("cb-sized", false);
	msg_cb_unknown = make_message("cb-unknown", true);
	msg_bytes = make_message("bytes", false);
	msg_file = make_message("file", true);
	msg_dsn = make_message("dsn-on", false);
	msg_dsn_off = make_message("dsn-off", false);
	for (i = 0; i < 3; i++) {
		char marker[32];
		snprintf(marker, sizeof marker, "exact-%zu", i);
		msg_exact[i] = make_exact_message(marker);
	}

	test_main_session(dir);
	test_batch();
	test_mechanisms();
	test_plain_port_unauthenticated();
	test_cancel();
	test_wrong_password();
	check_main_deliveries();
	test_pop3_round_trip();
	check_trace_secrets();
	/* Cancelled sends and refusals delivered nothing. */
	CHECK(test_wait_delivered(&env, "user96", NULL, 1, 0) == 0);

	rmdir(dir);
	bytes_free(&msg_cb_sized);
	bytes_free(&msg_cb_unknown);
	bytes_free(&msg_bytes);
	bytes_free(&msg_file);
	bytes_free(&msg_dsn);
	bytes_free(&msg_dsn_off);
	for (i = 0; i < 3; i++)
		bytes_free(&msg_exact[i]);
	trace_clear(&trace);
	trace_clear(&all_trace);
	return test_finish("smtp_flow");
}
