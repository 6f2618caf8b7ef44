/*
 * The whole POP3 flow of the C API against the test Dovecot: connecting
 * with implicit TLS and with STLS, every login mechanism, capabilities,
 * listings, every way of retrieving, deleting, the trace, the error detail
 * of a refused login, cancellation, and two sessions on two threads. Uses
 * users user70..user77 only.
 *
 * Run by tests/c/run.sh with tests/servers/dovecot.sh's env.sh sourced.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

static struct test_env env;
static struct trace_log trace; /* every trace line of the whole program */

/* --- the seeded messages ------------------------------------------------ */

static const char msg_simple[] = "From: alice@example.org\n"
				 "To: user70@example.org\n"
				 "Subject: one\n"
				 "\n"
				 "Hello, this is message one.\n";

/* Lines starting with a dot: the server stuffs them, the library must
 * unstuff them. A lone "." must not end the message early. */
static const char msg_dots[] = "Subject: two\n"
			       "\n"
			       ".leading dot\n"
			       "..two dots\n"
			       ".\n"
			       "...\n"
			       "end of two\n";

/* No final line end: Dovecot adds a CRLF. */
static const char msg_no_eol[] = "Subject: three\n"
				 "\n"
				 "no newline at the end";

/* For TOP: headers and five body lines. */
static const char msg_top[] = "From: bob@example.org\n"
			      "Subject: five\n"
			      "\n"
			      "body 1\n"
			      "body 2\n"
			      "body 3\n"
			      ".body 4\n"
			      "body 5\n";
static const char msg_top_0_lines[] = "From: bob@example.org\r\n"
				      "Subject: five\r\n"
				      "\r\n";
static const char msg_top_2_lines[] = "From: bob@example.org\r\n"
				      "Subject: five\r\n"
				      "\r\n"
				      "body 1\r\n"
				      "body 2\r\n";

/* Message four: large enough for many chunks, with dot lines throughout
 * and one long line. Built in main(). */
static char *msg_big;

static char *make_big_message(void)
{
	struct bytes b = {0};
	char line[128];
	int i;
	bytes_append(&b, "Subject: four (big)\n\n", 21);
	for (i = 0; i < 1000; i++) {
		int n = snprintf(line, sizeof line,
				 "%sline %04d: the quick brown fox jumps over the lazy dog\n",
				 i % 7 == 0 ? "." : "", i);
		bytes_append(&b, line, (size_t)n);
		if (i == 500) {
			int j;
			for (j = 0; j < 3000; j++)
				bytes_append(&b, "x", 1);
			bytes_append(&b, "\n", 1);
		}
	}
	return (char *)b.data; /* NUL-terminated by bytes_append */
}

#define NMSG 5
static const char *messages[NMSG];
static struct bytes wire[NMSG]; /* what the server sends for each */

/* --- helpers -------------------------------------------------------------- */

/* A handle on its own options (CA, trace), connected and logged in. */
static mailtls_pop3 *open_session(uint16_t port, mailtls_security security,
				  const char *user, const char *mechanism)
{
	mailtls_options *opts = test_options(&env);
	mailtls_pop3 *pop3;
	CHECK_OK(mailtls_options_set_security(opts, security));
	CHECK_OK(mailtls_options_set_trace(opts, trace_record, &trace));
	pop3 = mailtls_pop3_new(opts);
	mailtls_options_free(opts); /* the handle has its own copy */
	CHECK(pop3 != NULL);
	test_use_handle(pop3);
	CHECK_OK(mailtls_pop3_connect(pop3, env.host, port));
	CHECK_OK(mailtls_pop3_login(pop3, user, env.password, mechanism));
	return pop3;
}

static mailtls_pop3 *open_pop3s(const char *user)
{
	return open_session(env.pop3s_port, MAILTLS_SECURITY_TLS, user, NULL);
}

static uint32_t stat_count(mailtls_pop3 *pop3)
{
	uint32_t count = 0;
	uint64_t octets = 0;
	CHECK_OK(mailtls_pop3_stat(pop3, &count, &octets));
	return count;
}

static int cancel_sink(void *userdata, const uint8_t *data, size_t len)
{
	int *calls = userdata;
	(void)data;
	(void)len;
	(*calls)++;
	return 1; /* cancel at the first chunk */
}

/* retr_many: chunks appended per message; end markers counted and the
 * order of messages recorded. */
struct many {
	struct bytes got[NMSG + 1]; /* by message number */
	int ends[NMSG + 1];
	uint32_t order[16];
	size_t norder;
	uint32_t current; /* message in progress, 0 between messages */
	int misordered;   /* data for another message before an end marker */
};

static int many_sink(void *userdata, uint32_t number, const uint8_t *data, size_t len)
{
	struct many *m = userdata;
	if (number < 1 || number > NMSG) {
		m->misordered++;
		return 1;
	}
	if (m->current == 0) {
		m->current = number;
		if (m->norder < 16)
			m->order[m->norder++] = number;
	} else if (m->current != number) {
		m->misordered++;
	}
	if (data == NULL) {
		CHECK(len == 0);
		m->ends[number]++;
		m->current = 0;
		return 0;
	}
	bytes_append(&m->got[number], data, len);
	return 0;
}

static void many_free(struct many *m)
{
	int i;
	for (i = 0; i <= NMSG; i++)
		bytes_free(&m->got[i]);
}

/* The size Dovecot reports for message i (0-based): every LF counted as
 * CRLF, but not the final CRLF it adds to a message without one. */
static uint64_t list_size(size_t i)
{
	const char *p;
	uint64_t n = 0;
	for (p = messages[i]; *p != '\0'; p++)
		n += *p == '\n' ? 2 : 1;
	return n;
}

/* --- the tests ------------------------------------------------------------ */

static void check_capabilities(const mailtls_pop3 *pop3, bool after_stls)
{
	const mailtls_capabilities *caps = mailtls_pop3_capabilities(pop3);
	size_t i, n, a;
	bool sasl_plain = false, saw_sasl = false;

	CHECK(caps != NULL);
	n = mailtls_capabilities_count(caps);
	CHECK(n >= 4);
	for (i = 0; i < n; i++) {
		const char *name = mailtls_capabilities_name(caps, i);
		size_t nargs = mailtls_capabilities_arg_count(caps, i);
		CHECK(name != NULL && name[0] != '\0');
		if (name == NULL)
			continue;
		for (a = 0; a < nargs; a++) {
			const char *arg = mailtls_capabilities_arg(caps, i, a);
			CHECK(arg != NULL);
			if (strcmp(name, "SASL") == 0 && arg != NULL && strcmp(arg, "PLAIN") == 0)
				sasl_plain = true;
		}
		CHECK(mailtls_capabilities_arg(caps, i, nargs) == NULL);
		if (strcmp(name, "SASL") == 0) {
			saw_sasl = true;
			CHECK(nargs >= 3); /* PLAIN LOGIN CRAM-MD5 */
		}
	}
	CHECK(saw_sasl);
	CHECK(sasl_plain);
	CHECK(mailtls_capabilities_name(caps, n) == NULL);
	CHECK(mailtls_capabilities_arg_count(caps, n) == 0);
	CHECK(mailtls_capabilities_has(caps, "UIDL"));
	CHECK(mailtls_capabilities_has(caps, "top")); /* any case */
	CHECK(mailtls_capabilities_has(caps, "Pipelining"));
	CHECK(!mailtls_capabilities_has(caps, "NO-SUCH-CAPABILITY"));
	if (after_stls) /* the CAPA kept is the one read over TLS */
		CHECK(!mailtls_capabilities_has(caps, "STLS"));
}

static void check_fingerprint(const mailtls_pop3 *pop3)
{
	char hex[65];
	size_t len = 0;
	CHECK_OK(mailtls_pop3_peer_cert_sha256(pop3, hex, sizeof hex, &len));
	CHECK(len == 64);
	CHECK(strcmp(hex, env.server_sha256) == 0);
}

/* Listings, STAT, LIST/UIDL of one message. */
static void test_listings(mailtls_pop3 *pop3)
{
	mailtls_pop3_listing *list = NULL, *uidl = NULL, *both = NULL;
	uint32_t count = 0;
	uint64_t octets = 0, total = 0, one = 0;
	char uid[71];
	size_t i, uid_len = 0;

	for (i = 0; i < NMSG; i++)
		total += list_size(i);
	CHECK_OK(mailtls_pop3_stat(pop3, &count, &octets));
	CHECK(count == NMSG);
	CHECK(octets == total);

	CHECK_OK(mailtls_pop3_list(pop3, &list));
	CHECK_OK(mailtls_pop3_uidl(pop3, &uidl));
	CHECK_OK(mailtls_pop3_list_uidl(pop3, &both));
	CHECK(mailtls_pop3_listing_count(list) == NMSG);
	CHECK(mailtls_pop3_listing_count(uidl) == NMSG);
	CHECK(mailtls_pop3_listing_count(both) == NMSG);
	for (i = 0; i < NMSG; i++) {
		const char *u = mailtls_pop3_listing_uid(uidl, i);
		const char *b = mailtls_pop3_listing_uid(both, i);
		CHECK(mailtls_pop3_listing_number(list, i) == i + 1);
		CHECK(mailtls_pop3_listing_number(uidl, i) == i + 1);
		CHECK(mailtls_pop3_listing_number(both, i) == i + 1);
		/* LIST: sizes, no uids; UIDL: uids, no sizes; both: both. */
		CHECK(mailtls_pop3_listing_octets(list, i) == list_size(i));
		CHECK(mailtls_pop3_listing_uid(list, i) == NULL);
		CHECK(mailtls_pop3_listing_octets(uidl, i) == MAILTLS_OCTETS_UNKNOWN);
		CHECK(u != NULL && u[0] != '\0');
		CHECK(mailtls_pop3_listing_octets(both, i) == list_size(i));
		CHECK(b != NULL && u != NULL && strcmp(u, b) == 0);
		if (i > 0 && u != NULL) { /* unique */
			const char *prev = mailtls_pop3_listing_uid(uidl, i - 1);
			CHECK(prev != NULL && strcmp(prev, u) != 0);
		}
	}
	/* Out of range. */
	CHECK(mailtls_pop3_listing_number(both, NMSG) == 0);
	CHECK(mailtls_pop3_listing_octets(both, NMSG) == MAILTLS_OCTETS_UNKNOWN);
	CHECK(mailtls_pop3_listing_uid(both, NMSG) == NULL);

	CHECK_OK(mailtls_pop3_list_one(pop3, 2, &one));
	CHECK(one == list_size(1));
	CHECK_OK(mailtls_pop3_uidl_one(pop3, 2, uid, sizeof uid, &uid_len));
	CHECK(mailtls_pop3_listing_uid(both, 1) != NULL &&
	      strcmp(uid, mailtls_pop3_listing_uid(both, 1)) == 0);
	CHECK(uid_len == strlen(uid));

	/* No such message: a refusal, and the session goes on. */
	CHECK_RC(MAILTLS_RESULT_SERVER_ERROR, mailtls_pop3_list_one(pop3, 99, &one));
	CHECK(one == list_size(1)); /* outputs only written on success */
	CHECK_OK(mailtls_pop3_noop(pop3));

	mailtls_pop3_listing_free(list);
	mailtls_pop3_listing_free(uidl);
	mailtls_pop3_listing_free(both);
}

struct chunks {
	struct bytes data;
	int calls;
};

static int chunk_sink(void *userdata, const uint8_t *data, size_t len)
{
	struct chunks *c = userdata;
	CHECK(data != NULL);
	c->calls++;
	bytes_append(&c->data, data, len);
	return 0;
}

static void test_retrieval(mailtls_pop3 *pop3, const char *dir)
{
	size_t i;
	char path[4096];
	mailtls_buffer *buf = NULL;

	/* RETR streamed to a callback, every message byte-exact. */
	for (i = 0; i < NMSG; i++) {
		struct chunks c = {{0}, 0};
		CHECK_OK(mailtls_pop3_retr(pop3, (uint32_t)(i + 1), chunk_sink, &c));
		if (!bytes_equal(&c.data, wire[i].data, wire[i].len)) {
			fprintf(stderr, "message %zu differs: got %zu bytes, want %zu\n", i + 1,
				c.data.len, wire[i].len);
			CHECK(!"RETR content matches the stored message");
		}
		if (i == 3) /* the big one comes in several chunks */
			CHECK(c.calls > 1);
		bytes_free(&c.data);
	}

	/* RETR into memory. */
	CHECK_OK(mailtls_pop3_retr_bytes(pop3, 2, &buf));
	CHECK(buf != NULL);
	CHECK(mailtls_buffer_data(buf) != NULL);
	CHECK(mailtls_buffer_len(buf) == wire[1].len);
	CHECK(memcmp(mailtls_buffer_data(buf), wire[1].data, wire[1].len) == 0);
	mailtls_buffer_free(buf);

	/* RETR into a file, then compare the file, created and replaced. */
	snprintf(path, sizeof path, "%s/four.eml", dir);
	{
		FILE *f = fopen(path, "w");
		CHECK(f != NULL);
		if (f != NULL) {
			fputs("old content to be replaced", f);
			fclose(f);
		}
	}
	for (i = 0; i < 2; i++) {
		FILE *f;
		struct bytes got = {0};
		char chunk[8192];
		size_t n;
		uint32_t number = i == 0 ? 4 : 3;
		CHECK_OK(mailtls_pop3_retr_to_file(pop3, number, path));
		f = fopen(path, "rb");
		CHECK(f != NULL);
		if (f == NULL)
			continue;
		while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
			bytes_append(&got, chunk, n);
		fclose(f);
		CHECK(bytes_equal(&got, wire[number - 1].data, wire[number - 1].len));
		bytes_free(&got);
	}
	unlink(path);

	/* TOP with two body lines. */
	{
		struct bytes top = {0};
		CHECK_OK(mailtls_pop3_top(pop3, 5, 2, collect_sink, &top));
		CHECK(bytes_equal(&top, msg_top_2_lines, strlen(msg_top_2_lines)));
		bytes_free(&top);
		/* No body lines: the headers and the blank line. */
		CHECK_OK(mailtls_pop3_top(pop3, 5, 0, collect_sink, &top));
		CHECK(bytes_equal(&top, msg_top_0_lines, strlen(msg_top_0_lines)));
		bytes_free(&top);
	}
}

static void test_retr_many(mailtls_pop3 *pop3)
{
	static const uint32_t all[NMSG] = {1, 2, 3, 4, 5};
	static const uint32_t shuffled[3] = {5, 1, 3};
	struct many m;
	size_t i;

	memset(&m, 0, sizeof m);
	CHECK_OK(mailtls_pop3_retr_many(pop3, all, NMSG, many_sink, &m));
	CHECK(m.misordered == 0);
	CHECK(m.norder == NMSG);
	for (i = 0; i < NMSG; i++) {
		CHECK(m.order[i] == all[i]);
		CHECK(m.ends[i + 1] == 1);
		CHECK(bytes_equal(&m.got[i + 1], wire[i].data, wire[i].len));
	}
	many_free(&m);

	memset(&m, 0, sizeof m);
	CHECK_OK(mailtls_pop3_retr_many(pop3, shuffled, 3, many_sink, &m));
	CHECK(m.misordered == 0);
	CHECK(m.norder == 3);
	for (i = 0; i < 3; i++) {
		uint32_t n = shuffled[i];
		CHECK(m.order[i] == n);
		CHECK(m.ends[n] == 1);
		CHECK(bytes_equal(&m.got[n], wire[n - 1].data, wire[n - 1].len));
	}
	CHECK(m.ends[2] == 0 && m.ends[4] == 0);
	many_free(&m);

	/* Nothing to fetch: nothing happens. */
	memset(&m, 0, sizeof m);
	CHECK_OK(mailtls_pop3_retr_many(pop3, NULL, 0, many_sink, &m));
	CHECK(m.norder == 0);
	many_free(&m);
}

/* retr_batch: the same messages in one buffer, with their end offsets. */
static void test_retr_batch(mailtls_pop3 *pop3)
{
	static const uint32_t shuffled[3] = {5, 1, 3};
	static const uint32_t refused[3] = {2, 99, 4};
	uint64_t ends[3] = {0, 0, 0};
	size_t count = 42, i;
	uint64_t begin = 0;
	mailtls_buffer *buffer = NULL;

	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_retr_batch(pop3, shuffled, 3, NULL, ends, &count));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_retr_batch(pop3, shuffled, 3, &buffer, NULL, &count));
	CHECK(buffer == NULL && count == 42);
	CHECK_OK(mailtls_pop3_retr_batch(pop3, shuffled, 3, &buffer, ends, &count));
	CHECK(count == 3);
	for (i = 0; i < count; i++) {
		const struct bytes *want = &wire[shuffled[i] - 1];
		CHECK(ends[i] - begin == want->len);
		CHECK(memcmp(mailtls_buffer_data(buffer) + begin, want->data, want->len) == 0);
		begin = ends[i];
	}
	CHECK(mailtls_buffer_len(buffer) == begin);
	mailtls_buffer_free(buffer);

	/* A refused message: the ones before it come back, the session goes on. */
	buffer = NULL;
	CHECK_RC(MAILTLS_RESULT_SERVER_ERROR, mailtls_pop3_retr_batch(pop3, refused, 3, &buffer, ends, &count));
	CHECK(count == 1 && buffer != NULL);
	CHECK(ends[0] == wire[1].len && mailtls_buffer_len(buffer) == wire[1].len);
	mailtls_buffer_free(buffer);
	CHECK_OK(mailtls_pop3_noop(pop3));
}

/* Implicit TLS: the main read-only session of user70. */
static void test_main_session(const char *dir)
{
	mailtls_pop3 *pop3;
	const mailtls_capabilities *caps;
	size_t commands_before = trace.commands;

	test_seed_mailbox(&env, "user70", messages, NMSG);
	pop3 = open_pop3s("user70");
	check_fingerprint(pop3);
	check_capabilities(pop3, false);
	test_listings(pop3);
	test_retrieval(pop3, dir);
	test_retr_many(pop3);
	test_retr_batch(pop3);
	CHECK_OK(mailtls_pop3_noop(pop3));
	CHECK(trace_has_command(&trace, "NOOP"));
	CHECK(trace_has_command(&trace, "UIDL"));
	CHECK(trace_has_command(&trace, "RETR 4"));
	caps = mailtls_pop3_capabilities(pop3);
	CHECK_OK(mailtls_pop3_quit(pop3));
	CHECK(trace_has_command(&trace, "QUIT"));
	CHECK(trace.commands > commands_before);
	/* The capabilities stay valid until the next connect. */
	CHECK(mailtls_pop3_capabilities(pop3) == caps);
	CHECK(mailtls_capabilities_has(caps, "UIDL"));
	/* QUIT closed the connection. */
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_noop(pop3));
	/* The fingerprint of the last connection is still known. */
	check_fingerprint(pop3);
	mailtls_pop3_free(pop3);
	test_use_handle(NULL);
}

/* Every login mechanism, alternating implicit TLS and STLS (AUTO on a port
 * that is not 995). */
static void test_mechanisms(void)
{
	static const char *const mechs[] = {NULL, "USER", "APOP", "PLAIN", "LOGIN", "CRAM-MD5"};
	/* The command each mechanism starts with (NULL picks PLAIN: the
	 * server's certificate was verified). */
	static const char *const first[] = {"AUTH PLAIN", "USER user71", "APOP user71",
					    "AUTH PLAIN", "AUTH LOGIN", "AUTH CRAM-MD5"};
	const char *one[1];
	size_t i;

	one[0] = msg_simple;
	test_seed_mailbox(&env, "user71", one, 1);
	for (i = 0; i < sizeof mechs / sizeof mechs[0]; i++) {
		bool stls = i % 2 == 1;
		mailtls_pop3 *pop3;
		trace_clear(&trace);
		pop3 = open_session(stls ? env.pop3_port : env.pop3s_port,
				    stls ? MAILTLS_SECURITY_AUTO : MAILTLS_SECURITY_TLS,
				    "user71", mechs[i]);
		if (!trace_has_command(&trace, first[i])) {
			fprintf(stderr, "mechanism %s: no \"%s\" command; trace:\n%s",
				mechs[i] ? mechs[i] : "(auto)", first[i],
				(const char *)trace.all.data);
			CHECK(!"the mechanism's command was sent");
		}
		CHECK(trace_has_command(&trace, "STLS") == stls);
		if (stls)
			check_capabilities(pop3, true);
		check_fingerprint(pop3);
		CHECK(stat_count(pop3) == 1);
		CHECK_OK(mailtls_pop3_quit(pop3));
		CHECK(!trace_contains(&trace, env.password));
		mailtls_pop3_free(pop3);
		test_use_handle(NULL);
	}
}

static void test_deletions(void)
{
	mailtls_pop3 *pop3;
	mailtls_pop3_listing *uidl = NULL;
	char uid2[71];
	static const uint32_t two[2] = {1, 3};

	/* DELE then RSET: nothing removed. */
	test_seed_mailbox(&env, "user72", messages, NMSG);
	pop3 = open_pop3s("user72");
	CHECK_OK(mailtls_pop3_dele(pop3, 1));
	CHECK(stat_count(pop3) == NMSG - 1); /* STAT leaves out marked ones */
	CHECK_RC(MAILTLS_RESULT_SERVER_ERROR, mailtls_pop3_dele(pop3, 1)); /* already */
	CHECK_OK(mailtls_pop3_rset(pop3));
	CHECK(stat_count(pop3) == NMSG);
	CHECK_OK(mailtls_pop3_quit(pop3));

	/* DELE then QUIT: removed. */
	CHECK_OK(mailtls_pop3_connect(pop3, env.host, env.pop3s_port));
	CHECK_OK(mailtls_pop3_login(pop3, "user72", env.password, NULL));
	CHECK(stat_count(pop3) == NMSG);
	CHECK_OK(mailtls_pop3_uidl_one(pop3, 2, uid2, sizeof uid2, NULL));
	CHECK_OK(mailtls_pop3_dele(pop3, 1));
	CHECK_OK(mailtls_pop3_quit(pop3));

	CHECK_OK(mailtls_pop3_connect(pop3, env.host, env.pop3s_port));
	CHECK_OK(mailtls_pop3_login(pop3, "user72", env.password, NULL));
	CHECK(stat_count(pop3) == NMSG - 1);
	/* The old message 2 is now message 1. */
	CHECK_OK(mailtls_pop3_uidl(pop3, &uidl));
	CHECK(mailtls_pop3_listing_uid(uidl, 0) != NULL &&
	      strcmp(mailtls_pop3_listing_uid(uidl, 0), uid2) == 0);
	mailtls_pop3_listing_free(uidl);
	{
		struct bytes got = {0};
		CHECK_OK(mailtls_pop3_retr(pop3, 1, collect_sink, &got));
		CHECK(bytes_equal(&got, wire[1].data, wire[1].len));
		bytes_free(&got);
	}

	/* DELE of several, pipelined; a refusal stops the run. */
	CHECK_OK(mailtls_pop3_dele_many(pop3, two, 2));
	CHECK(stat_count(pop3) == NMSG - 3);
	{
		static const uint32_t bad[2] = {2, 99};
		CHECK_RC(MAILTLS_RESULT_SERVER_ERROR, mailtls_pop3_dele_many(pop3, bad, 2));
		CHECK(stat_count(pop3) == NMSG - 4); /* 2 stays marked */
	}
	CHECK_OK(mailtls_pop3_quit(pop3));

	CHECK_OK(mailtls_pop3_connect(pop3, env.host, env.pop3s_port));
	CHECK_OK(mailtls_pop3_login(pop3, "user72", env.password, NULL));
	CHECK(stat_count(pop3) == NMSG - 4);

	/* A listing and a buffer belong to the caller: they outlive the
	 * handle. */
	{
		mailtls_pop3_listing *list = NULL;
		mailtls_buffer *buf = NULL;
		CHECK_OK(mailtls_pop3_list_uidl(pop3, &list));
		CHECK_OK(mailtls_pop3_retr_bytes(pop3, 1, &buf));
		CHECK_OK(mailtls_pop3_quit(pop3));
		mailtls_pop3_free(pop3);
		test_use_handle(NULL);
		CHECK(mailtls_pop3_listing_count(list) == 1);
		CHECK(mailtls_pop3_listing_octets(list, 0) == list_size(4));
		CHECK(mailtls_pop3_listing_uid(list, 0) != NULL);
		CHECK(mailtls_buffer_len(buf) == wire[4].len);
		CHECK(memcmp(mailtls_buffer_data(buf), wire[4].data, wire[4].len) == 0);
		mailtls_pop3_listing_free(list);
		mailtls_buffer_free(buf);
	}
}

static void test_cancel(void)
{
	mailtls_pop3 *pop3;
	int calls = 0;
	struct many m;
	static const uint32_t nums[2] = {1, 2};

	test_seed_mailbox(&env, "user73", messages, NMSG);
	pop3 = open_pop3s("user73");
	CHECK_OK(mailtls_pop3_dele(pop3, 1));
	CHECK_RC(MAILTLS_RESULT_CANCELLED, mailtls_pop3_retr(pop3, 4, cancel_sink, &calls));
	CHECK(calls == 1);
	/* The stream was abandoned: the handle is closed. */
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_noop(pop3));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_quit(pop3));

	/* Closed without QUIT: the deletion was not committed. */
	CHECK_OK(mailtls_pop3_connect(pop3, env.host, env.pop3s_port));
	CHECK_OK(mailtls_pop3_login(pop3, "user73", env.password, NULL));
	CHECK(stat_count(pop3) == NMSG);

	/* Cancelling through the TOP callback closes the handle too. */
	calls = 0;
	CHECK_RC(MAILTLS_RESULT_CANCELLED, mailtls_pop3_top(pop3, 5, 1, cancel_sink, &calls));
	CHECK(calls == 1);
	memset(&m, 0, sizeof m);
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_retr_many(pop3, nums, 2, many_sink, &m));
	CHECK(m.norder == 0);
	many_free(&m);
	mailtls_pop3_free(pop3);
	test_use_handle(NULL);
}

static int many_cancel_at_end(void *userdata, uint32_t number, const uint8_t *data, size_t len)
{
	int *ends = userdata;
	(void)number;
	(void)len;
	if (data == NULL) {
		(*ends)++;
		return 1;
	}
	return 0;
}

static void test_cancel_many(void)
{
	mailtls_pop3 *pop3;
	int ends = 0;
	static const uint32_t nums[3] = {1, 2, 3};

	/* Another user: the server may still be closing user73's session. */
	test_seed_mailbox(&env, "user75", messages, NMSG);
	pop3 = open_pop3s("user75");
	CHECK_RC(MAILTLS_RESULT_CANCELLED,
		 mailtls_pop3_retr_many(pop3, nums, 3, many_cancel_at_end, &ends));
	CHECK(ends == 1);
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_stat(pop3, &(uint32_t){0},
								&(uint64_t){0}));
	mailtls_pop3_free(pop3);
	test_use_handle(NULL);
}

/* Two sessions at once on two threads, each handle created and connected
 * on the main thread and used on another (handles may move between
 * threads; distinct handles are independent). */
struct worker {
	const char *user;
	mailtls_pop3 *pop3;
	struct trace_log trace;
	struct many m;
};

static void *worker_main(void *arg)
{
	static const uint32_t all[NMSG] = {1, 2, 3, 4, 5};
	struct worker *w = arg;
	size_t i;
	test_use_handle(w->pop3);
	CHECK_OK(mailtls_pop3_login(w->pop3, w->user, env.password, NULL));
	CHECK_OK(mailtls_pop3_retr_many(w->pop3, all, NMSG, many_sink, &w->m));
	for (i = 0; i < NMSG; i++)
		CHECK(bytes_equal(&w->m.got[i + 1], wire[i].data, wire[i].len));
	return NULL;
}

static void test_threads(void)
{
	struct worker w[2];
	pthread_t threads[2];
	size_t i;

	memset(w, 0, sizeof w);
	w[0].user = "user76";
	w[1].user = "user77";
	for (i = 0; i < 2; i++) {
		mailtls_options *opts = test_options(&env);
		CHECK_OK(mailtls_options_set_security(opts, MAILTLS_SECURITY_TLS));
		CHECK_OK(mailtls_options_set_trace(opts, trace_record, &w[i].trace));
		test_seed_mailbox(&env, w[i].user, messages, NMSG);
		w[i].pop3 = mailtls_pop3_new(opts);
		mailtls_options_free(opts);
		test_use_handle(w[i].pop3);
		CHECK_OK(mailtls_pop3_connect(w[i].pop3, env.host, env.pop3s_port));
	}
	test_use_handle(NULL);
	for (i = 0; i < 2; i++)
		CHECK(pthread_create(&threads[i], NULL, worker_main, &w[i]) == 0);
	for (i = 0; i < 2; i++) {
		CHECK(pthread_join(threads[i], NULL) == 0);
		test_use_handle(w[i].pop3);
		CHECK_OK(mailtls_pop3_quit(w[i].pop3));
		CHECK(trace_has_command(&w[i].trace, "RETR 5"));
		CHECK(!trace_contains(&w[i].trace, env.password));
		mailtls_pop3_free(w[i].pop3);
		trace_clear(&w[i].trace);
		many_free(&w[i].m);
	}
	test_use_handle(NULL);
}

static void test_wrong_password(void)
{
	mailtls_pop3 *pop3;
	mailtls_options *opts = test_options(&env);
	static const char wrong[] = "not-the-password-XYZ";
	char buf[512];
	size_t len = 0;
	const char *const one[1] = {msg_simple};

	test_seed_mailbox(&env, "user74", one, 1);
	CHECK_OK(mailtls_options_set_security(opts, MAILTLS_SECURITY_TLS));
	CHECK_OK(mailtls_options_set_trace(opts, trace_record, &trace));
	pop3 = mailtls_pop3_new(opts);
	mailtls_options_free(opts);
	test_use_handle(pop3);
	CHECK_OK(mailtls_pop3_connect(pop3, env.host, env.pop3s_port));
	/* After a success the detail is empty. */
	CHECK_OK(mailtls_pop3_last_error(pop3, buf, sizeof buf, &len));
	CHECK(len == 0 && buf[0] == '\0');

	trace_clear(&trace);
	CHECK_RC(MAILTLS_RESULT_AUTH_FAILED, mailtls_pop3_login(pop3, "user74", wrong, "PLAIN"));
	CHECK_OK(mailtls_pop3_last_error(pop3, buf, sizeof buf, &len));
	CHECK(len > 0 && len == strlen(buf));
	CHECK(strstr(buf, wrong) == NULL);
	CHECK_OK(mailtls_pop3_last_reply(pop3, buf, sizeof buf, &len));
	CHECK(len > 0 && strncmp(buf, "-ERR", 4) == 0);
	CHECK(strstr(buf, wrong) == NULL);
	CHECK_OK(mailtls_pop3_last_response_code(pop3, buf, sizeof buf, &len));
	CHECK(strcmp(buf, "AUTH") == 0 && len == 4);
	CHECK(!trace_contains(&trace, wrong));

	/* The same with USER/PASS. */
	CHECK_RC(MAILTLS_RESULT_AUTH_FAILED, mailtls_pop3_login(pop3, "user74", wrong, "USER"));
	CHECK_OK(mailtls_pop3_last_reply(pop3, buf, sizeof buf, &len));
	CHECK(len > 0 && strncmp(buf, "-ERR", 4) == 0);
	CHECK(trace_has_command(&trace, "PASS <redacted>"));
	CHECK(!trace_contains(&trace, wrong));

	/* A refused login leaves the session usable. */
	CHECK_OK(mailtls_pop3_login(pop3, "user74", env.password, NULL));
	CHECK_OK(mailtls_pop3_last_reply(pop3, buf, sizeof buf, &len));
	CHECK(len == 0);
	CHECK(stat_count(pop3) == 1);
	CHECK_OK(mailtls_pop3_quit(pop3));
	mailtls_pop3_free(pop3);
	test_use_handle(NULL);
}

/* No secret ever reaches the trace: the password, nor the SASL payloads
 * that carry it (PLAIN: base64 of "\0user\0password"; LOGIN: base64 of the
 * password). */
static void check_trace_secrets(void)
{
	char plain[256];
	char *b64_plain, *b64_password;
	int n = snprintf(plain, sizeof plain, "%c%s%c%s", 0, "user71", 0, env.password);
	b64_plain = test_base64(plain, (size_t)n);
	b64_password = test_base64(env.password, strlen(env.password));
	CHECK(!trace_contains(&trace, env.password));
	CHECK(!trace_contains(&trace, b64_plain));
	CHECK(!trace_contains(&trace, b64_password));
	free(b64_plain);
	free(b64_password);
}

int main(void)
{
	char dir[] = "/tmp/mailtls-c-flow-XXXXXX";
	size_t i;

	env = test_env_load();
	msg_big = make_big_message();
	messages[0] = msg_simple;
	messages[1] = msg_dots;
	messages[2] = msg_no_eol;
	messages[3] = msg_big;
	messages[4] = msg_top;
	for (i = 0; i < NMSG; i++)
		wire[i] = test_expected_wire(messages[i]);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}

	test_main_session(dir);
	check_trace_secrets();
	test_mechanisms();
	check_trace_secrets();
	test_deletions();
	test_cancel();
	test_cancel_many();
	test_wrong_password();
	check_trace_secrets();
	test_threads();

	rmdir(dir);
	for (i = 0; i < NMSG; i++)
		bytes_free(&wire[i]);
	free(msg_big);
	trace_clear(&trace);
	return test_finish("pop3_flow");
}
