/*
 * Safe mailbox download through the C API against the test Dovecot:
 * mailtls_pop3_sync_maildir() (first sync, nothing new, the files'
 * content), mailtls_pop3_sync() with a callback destination in
 * delete-after-saving mode, a callback that cannot save, the progress
 * callback (and cancelling from it), mark-seen, the state file's lock and
 * a corrupt state, the report accessors and the argument checks. Uses
 * users csync01..csync03 only.
 *
 * Run by tests/c/run.sh with tests/servers/dovecot.sh's env.sh sourced.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common.h"

static struct test_env env;

static const char *const messages[] = {
	"From: alice@example.org\nSubject: sync one\n\nfirst\n",
	"Subject: sync two\n\n.leading dot\n..two dots\nsecond\n",
	"Subject: sync three\n\nthird, without a final newline",
};
#define MESSAGES (sizeof messages / sizeof messages[0])

static char scratch[4096];

/* A logged-in session of USER over implicit TLS. */
static mailtls_pop3 *session(const char *user)
{
	mailtls_options *options = test_options(&env);
	mailtls_pop3 *pop3;
	CHECK_OK(mailtls_options_set_security(options, MAILTLS_SECURITY_TLS));
	pop3 = mailtls_pop3_new(options);
	mailtls_options_free(options);
	CHECK(pop3 != NULL);
	test_use_handle(pop3);
	CHECK_OK(mailtls_pop3_connect(pop3, env.host, env.pop3s_port));
	CHECK_OK(mailtls_pop3_login(pop3, user, env.password, NULL));
	return pop3;
}

static uint32_t on_server(const char *user)
{
	uint32_t count = 0;
	uint64_t octets = 0;
	mailtls_pop3 *pop3 = session(user);
	CHECK_OK(mailtls_pop3_stat(pop3, &count, &octets));
	CHECK_OK(mailtls_pop3_quit(pop3));
	mailtls_pop3_free(pop3);
	return count;
}

static mailtls_sync_options *sync_options(const char *state_name)
{
	char path[4200];
	mailtls_sync_options *options = mailtls_sync_options_new();
	CHECK(options != NULL);
	snprintf(path, sizeof path, "%s/%s", scratch, state_name);
	CHECK_OK(mailtls_sync_options_set_state_file(options, path));
	return options;
}

/* The files of DIR/new with the given content, counted. */
static size_t files_with(const char *dir, const char *content)
{
	char path[4200];
	size_t found = 0;
	struct dirent *e;
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		FILE *f;
		char buf[4096];
		size_t n;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		f = fopen(path, "rb");
		if (f == NULL)
			continue;
		n = fread(buf, 1, sizeof buf, f);
		fclose(f);
		if (n == strlen(content) && memcmp(buf, content, n) == 0)
			found++;
	}
	closedir(d);
	return found;
}

static size_t count_files(const char *dir)
{
	size_t n = 0;
	struct dirent *e;
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Dovecot adds a final line end to a message without one; the Maildir file
 * holds LF line ends, as stored. */
static void expected_file(const char *stored, char *out, size_t cap)
{
	size_t len = strlen(stored);
	snprintf(out, cap, "%s%s", stored, len && stored[len - 1] == '\n' ? "" : "\n");
}

/* --- Maildir: first sync, nothing new, the arguments ---------------------- */

struct progress_log {
	int calls;
	uint64_t done_messages, total_messages, done_bytes, total_bytes;
	int cancel_at; /* cancel on this call (1-based); 0 never */
};

static int record_progress(void *userdata, uint64_t done_messages, uint64_t total_messages,
			   uint64_t done_bytes, uint64_t total_bytes)
{
	struct progress_log *log = userdata;
	log->calls++;
	CHECK(done_messages <= total_messages && done_bytes <= total_bytes);
	log->done_messages = done_messages;
	log->total_messages = total_messages;
	log->done_bytes = done_bytes;
	log->total_bytes = total_bytes;
	return log->cancel_at == log->calls;
}

static void test_maildir(void)
{
	char maildir[4200], new_dir[4300], expected[512];
	struct progress_log progress = {0};
	mailtls_sync_report *report = (mailtls_sync_report *)&progress; /* must be overwritten */
	mailtls_sync_options *options = sync_options("csync01.state");
	mailtls_pop3 *pop3;
	size_t i;

	test_seed_mailbox(&env, "csync01", messages, MESSAGES);
	snprintf(maildir, sizeof maildir, "%s/csync01-maildir", scratch);
	snprintf(new_dir, sizeof new_dir, "%s/new", maildir);
	CHECK_OK(mailtls_sync_options_set_progress(options, record_progress, &progress));

	pop3 = session("csync01");
	CHECK_OK(mailtls_pop3_sync_maildir(pop3, options, maildir, &report));
	CHECK(report != NULL);
	CHECK(mailtls_sync_report_downloaded(report) == MESSAGES);
	CHECK(mailtls_sync_report_already_had(report) == 0);
	CHECK(mailtls_sync_report_deleted(report) == 0);
	CHECK(mailtls_sync_report_bytes(report) > 0);
	CHECK(mailtls_sync_report_count(report) == MESSAGES);
	for (i = 0; i < MESSAGES; i++) {
		CHECK(mailtls_sync_report_outcome(report, i) == MAILTLS_SYNC_OUTCOME_DOWNLOADED);
		CHECK(mailtls_sync_report_uid(report, i) != NULL);
		CHECK(mailtls_sync_report_size(report, i) > 0);
		CHECK(!mailtls_sync_report_deleted_at(report, i));
	}
	CHECK(mailtls_sync_report_outcome(report, MESSAGES) == MAILTLS_SYNC_OUTCOME_NONE);
	CHECK(mailtls_sync_report_uid(report, MESSAGES) == NULL);
	mailtls_sync_report_free(report);
	/* The sync ended the session with QUIT. */
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_noop(pop3));
	mailtls_pop3_free(pop3);

	CHECK(progress.calls >= (int)MESSAGES + 1);
	CHECK(progress.total_messages == MESSAGES && progress.done_messages == MESSAGES);
	CHECK(progress.done_bytes == progress.total_bytes && progress.total_bytes > 0);
	CHECK(count_files(new_dir) == MESSAGES);
	for (i = 0; i < MESSAGES; i++) {
		expected_file(messages[i], expected, sizeof expected);
		CHECK(files_with(new_dir, expected) == 1);
	}
	CHECK(on_server("csync01") == MESSAGES);

	/* Nothing new: nothing downloaded, every message already had. */
	pop3 = session("csync01");
	CHECK_OK(mailtls_pop3_sync_maildir(pop3, options, maildir, &report));
	CHECK(mailtls_sync_report_downloaded(report) == 0);
	CHECK(mailtls_sync_report_already_had(report) == MESSAGES);
	CHECK(mailtls_sync_report_outcome(report, 0) == MAILTLS_SYNC_OUTCOME_ALREADY_HAD);
	mailtls_sync_report_free(report);
	mailtls_pop3_free(pop3);
	CHECK(count_files(new_dir) == MESSAGES);

	/* Cancelling from the progress callback: CANCELLED, with a report. */
	test_seed_mailbox(&env, "csync01", messages, MESSAGES);
	{
		mailtls_sync_options *fresh = sync_options("csync01-cancel.state");
		char other[4300];
		struct progress_log cancel = {.cancel_at = 2};
		snprintf(other, sizeof other, "%s/csync01-cancel", scratch);
		CHECK_OK(mailtls_sync_options_set_retention(fresh, MAILTLS_RETENTION_DELETE_AFTER_SAVING, 0));
		CHECK_OK(mailtls_sync_options_set_progress(fresh, record_progress, &cancel));
		pop3 = session("csync01");
		CHECK_RC(MAILTLS_RESULT_CANCELLED, mailtls_pop3_sync_maildir(pop3, fresh, other, &report));
		CHECK(report != NULL);
		CHECK(mailtls_sync_report_deleted(report) == 0);
		mailtls_sync_report_free(report);
		mailtls_pop3_free(pop3);
		mailtls_sync_options_free(fresh);
		CHECK(on_server("csync01") == MESSAGES);
	}

	mailtls_sync_options_free(options);
}

static void test_arguments(void)
{
	mailtls_sync_report *report = NULL;
	mailtls_sync_options *options = mailtls_sync_options_new();
	mailtls_sync_options *no_state = mailtls_sync_options_new();
	char text[256];
	mailtls_pop3 *pop3;

	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_sync_options_set_state_file(options, NULL));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_sync_options_set_state_file(options, ""));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_sync_options_set_state_file(options, "\xff\xfe"));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT,
		 mailtls_sync_options_set_retention(options, MAILTLS_RETENTION_LEAVE_ON_SERVER, 5));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_sync_options_set_retention(options, 99, 0));
	CHECK_OK(mailtls_sync_options_last_error(options, text, sizeof text, NULL));
	CHECK(strstr(text, "retention") != NULL);
	CHECK_OK(mailtls_sync_options_set_retention(options, MAILTLS_RETENTION_DELETE_AFTER, 86400));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_sync_options_set_retention(NULL, 0, 0));

	pop3 = mailtls_pop3_new(NULL);
	report = (mailtls_sync_report *)text;
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_sync_maildir(pop3, NULL, "x", &report));
	CHECK(report == NULL);
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_sync_maildir(pop3, options, "x", NULL));
	CHECK_RC(MAILTLS_RESULT_INVALID_ARGUMENT, mailtls_pop3_sync_maildir(pop3, no_state, "x", &report));
	CHECK_OK(mailtls_pop3_last_error(pop3, text, sizeof text, NULL));
	CHECK(strstr(text, "mailtls_sync_options_set_state_file") != NULL);
	CHECK_OK(mailtls_sync_options_set_state_file(no_state, "/nonexistent/state"));
	CHECK_RC(MAILTLS_RESULT_NOT_CONNECTED, mailtls_pop3_sync_maildir(pop3, no_state, "x", &report));
	CHECK(report == NULL);
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_sync(pop3, no_state, NULL, NULL, &report));
	CHECK_RC(MAILTLS_RESULT_NULL_ARGUMENT, mailtls_pop3_sync_maildir(NULL, no_state, "x", &report));
	mailtls_pop3_free(pop3);

	/* The report accessors take NULL. */
	CHECK(mailtls_sync_report_count(NULL) == 0);
	CHECK(mailtls_sync_report_downloaded(NULL) == 0);
	CHECK(mailtls_sync_report_uid(NULL, 0) == NULL);
	CHECK(mailtls_sync_report_outcome(NULL, 0) == MAILTLS_SYNC_OUTCOME_NONE);
	CHECK(!mailtls_sync_report_deleted_at(NULL, 0));
	mailtls_sync_report_free(NULL);
	mailtls_sync_options_free(NULL);
	mailtls_sync_options_free(options);
	mailtls_sync_options_free(no_state);
}

/* --- a callback destination -------------------------------------------- */

struct store {
	struct bytes current;
	char current_uid[128];
	int events;
	int saved;
	int abandoned;
	int refuse_end_of; /* refuse END of this message (1-based); 0 never */
	char uids[8][128];
	struct bytes bodies[8];
};

static int store_message(void *userdata, mailtls_sync_event event, const char *uid, uint64_t size,
			 const uint8_t *data, size_t len)
{
	struct store *s = userdata;
	s->events++;
	CHECK(uid != NULL && size > 0);
	switch (event) {
	case MAILTLS_SYNC_EVENT_BEGIN:
		CHECK(data == NULL && len == 0);
		s->current.len = 0;
		snprintf(s->current_uid, sizeof s->current_uid, "%s", uid);
		return 0;
	case MAILTLS_SYNC_EVENT_DATA:
		CHECK(data != NULL && len > 0);
		CHECK(strcmp(uid, s->current_uid) == 0);
		bytes_append(&s->current, data, len);
		return 0;
	case MAILTLS_SYNC_EVENT_END:
		/* LIST's size, which Dovecot counts without the line end it
		 * adds to a message that has none. */
		CHECK(s->current.len == size || s->current.len == size + 2);
		if (s->refuse_end_of == s->saved + 1)
			return 1;
		if (s->saved < 8) {
			snprintf(s->uids[s->saved], sizeof s->uids[0], "%s", uid);
			bytes_append(&s->bodies[s->saved], s->current.data, s->current.len);
		}
		s->saved++;
		return 0;
	case MAILTLS_SYNC_EVENT_ABANDON:
		s->abandoned++;
		return 0;
	default:
		CHECK(!"unknown event");
		return 1;
	}
}

static void store_free(struct store *s)
{
	int i;
	bytes_free(&s->current);
	for (i = 0; i < 8; i++)
		bytes_free(&s->bodies[i]);
}

static void test_callback(void)
{
	mailtls_sync_report *report = NULL;
	mailtls_sync_options *options = sync_options("csync02.state");
	struct store refusing = {.refuse_end_of = 2};
	struct store store = {0};
	mailtls_pop3 *pop3;
	size_t i;

	test_seed_mailbox(&env, "csync02", messages, MESSAGES);
	CHECK_OK(mailtls_sync_options_set_retention(options, MAILTLS_RETENTION_DELETE_AFTER_SAVING, 0));

	/* A callback that cannot save message 2: the sync stops, nothing is
	 * deleted, message 1 is recorded. */
	pop3 = session("csync02");
	CHECK_RC(MAILTLS_RESULT_CANCELLED, mailtls_pop3_sync(pop3, options, store_message, &refusing, &report));
	CHECK(refusing.saved == 1);
	CHECK(mailtls_sync_report_downloaded(report) == 1);
	CHECK(mailtls_sync_report_deleted(report) == 0);
	mailtls_sync_report_free(report);
	mailtls_pop3_free(pop3);
	store_free(&refusing);
	CHECK(on_server("csync02") == MESSAGES);

	/* Again: message 1 is in the state, the other two come, all three are
	 * deleted. */
	pop3 = session("csync02");
	CHECK_OK(mailtls_pop3_sync(pop3, options, store_message, &store, &report));
	CHECK(store.saved == (int)MESSAGES - 1);
	CHECK(store.abandoned == 0);
	CHECK(mailtls_sync_report_downloaded(report) == MESSAGES - 1);
	CHECK(mailtls_sync_report_already_had(report) == 1);
	CHECK(mailtls_sync_report_deleted(report) == MESSAGES);
	for (i = 0; i < mailtls_sync_report_count(report); i++)
		CHECK(mailtls_sync_report_deleted_at(report, i));
	mailtls_sync_report_free(report);
	mailtls_pop3_free(pop3);
	for (i = 1; i < MESSAGES; i++) {
		struct bytes wire = test_expected_wire(messages[i]);
		CHECK(bytes_equal(&store.bodies[i - 1], wire.data, wire.len));
		bytes_free(&wire);
	}
	CHECK(strcmp(store.uids[0], store.uids[1]) != 0);
	store_free(&store);
	CHECK(on_server("csync02") == 0);
	mailtls_sync_options_free(options);
}

/* --- mark-seen, the lock, a corrupt state ------------------------------ */

static void test_state(void)
{
	char path[4200], lock[4300], maildir[4200];
	mailtls_sync_report *report = NULL;
	mailtls_sync_options *options = sync_options("csync03.state");
	mailtls_pop3 *pop3;
	int fd;
	FILE *f;

	test_seed_mailbox(&env, "csync03", messages, MESSAGES);
	snprintf(maildir, sizeof maildir, "%s/csync03-maildir", scratch);
	CHECK_OK(mailtls_sync_options_set_mark_seen_only(options, true));
	pop3 = session("csync03");
	CHECK_OK(mailtls_pop3_sync_maildir(pop3, options, maildir, &report));
	CHECK(mailtls_sync_report_marked_seen(report) == MESSAGES);
	CHECK(mailtls_sync_report_downloaded(report) == 0);
	CHECK(mailtls_sync_report_outcome(report, 0) == MAILTLS_SYNC_OUTCOME_MARKED_SEEN);
	mailtls_sync_report_free(report);
	mailtls_pop3_free(pop3);
	snprintf(path, sizeof path, "%s/csync03-maildir/new", scratch);
	CHECK(count_files(path) == 0);

	/* Another program holds the lock: STATE_LOCKED at once. */
	CHECK_OK(mailtls_sync_options_set_mark_seen_only(options, false));
	snprintf(lock, sizeof lock, "%s/csync03.state.lock", scratch);
	fd = open(lock, O_RDWR | O_CREAT, 0600);
	CHECK(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0);
	pop3 = session("csync03");
	CHECK_RC(MAILTLS_RESULT_STATE_LOCKED, mailtls_pop3_sync_maildir(pop3, options, maildir, &report));
	CHECK(report != NULL && mailtls_sync_report_count(report) == 0);
	mailtls_sync_report_free(report);
	mailtls_pop3_free(pop3);
	close(fd);

	/* A state file that is not one: STATE_CORRUPT, nothing downloaded. */
	snprintf(path, sizeof path, "%s/csync03.state", scratch);
	f = fopen(path, "wb");
	CHECK(f != NULL);
	fputs("this is not a mailtls state\n", f);
	fclose(f);
	pop3 = session("csync03");
	CHECK_RC(MAILTLS_RESULT_STATE_CORRUPT, mailtls_pop3_sync_maildir(pop3, options, maildir, &report));
	mailtls_sync_report_free(report);
	mailtls_pop3_free(pop3);
	snprintf(path, sizeof path, "%s/csync03-maildir/new", scratch);
	CHECK(count_files(path) == 0);
	CHECK(on_server("csync03") == MESSAGES);
	CHECK(strcmp(mailtls_result_str(MAILTLS_RESULT_STATE_CORRUPT), "unknown result code") != 0);
	mailtls_sync_options_free(options);
}

int main(void)
{
	char template[] = "/tmp/mailtls-c-sync.XXXXXX";
	env = test_env_load();
	if (mkdtemp(template) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(scratch, sizeof scratch, "%s", template);
	test_arguments();
	test_maildir();
	test_callback();
	test_state();
	/* The scratch directory stays for a failed run to be looked at. */
	return test_finish("pop3_sync");
}
