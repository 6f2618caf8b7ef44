/*
 * pop3_fetch: download the new messages of a POP3 mailbox over verified
 * TLS into a Maildir with mailtls's sync, which never loses a message and
 * never saves one twice. By default messages stay on the server and a
 * state file remembers which ones this program has; --delete removes each
 * from the server once it is safely on disk (flushed, renamed into new/,
 * recorded).
 *
 *   MAILTLS_PASSWORD=secret pop3_fetch HOST PORT USER --maildir DIR
 *       [--state FILE] [--delete] [--ca-file PEM] [--tls]
 *
 * The password comes from the environment variable MAILTLS_PASSWORD, never
 * from the command line (where other users could read it with ps). Port
 * 995 means implicit TLS; any other port means plain POP3 upgraded with
 * STLS, which must succeed (MAILTLS_SECURITY_AUTO); --tls asks for implicit
 * TLS on another port. --ca-file trusts an extra CA (e.g. a private one)
 * besides the system store. The state file (default DIR/.mailtls-sync-state)
 * is one per account: give each account its own Maildir or --state.
 *
 * Build, from the repository root, after `cargo build --release`:
 *
 *   gcc -std=c11 -Wall -Wextra -O2 -I include -o pop3_fetch examples/c/pop3_fetch.c \
 *       -L target/release -lmailtls -Wl,-rpath,"$PWD/target/release"
 *
 * (or `make -C examples/c`). The -rpath lets the program find
 * libmailtls.so without LD_LIBRARY_PATH; an installed library needs
 * neither -L nor -rpath. To link the static library instead:
 *
 *   gcc -std=c11 -O2 -I include -o pop3_fetch examples/c/pop3_fetch.c \
 *       target/release/libmailtls.a -lssl -lcrypto -lpthread -ldl -lm
 */
#define _POSIX_C_SOURCE 200809L /* isatty */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mailtls.h"

static void usage(void)
{
	fprintf(stderr, "usage: pop3_fetch HOST PORT USER --maildir DIR [--state FILE] [--delete]\n"
			"                  [--ca-file PEM] [--tls]\n"
			"The password is read from the environment variable "
			"MAILTLS_PASSWORD.\n");
	exit(2);
}

/* Print what failed with the library's explanation (which includes the
 * server's reply when there was one), or the result's description. */
static void report(const mailtls_pop3 *pop3, const char *what, mailtls_result rc)
{
	char detail[512], reply[512];
	mailtls_pop3_last_error(pop3, detail, sizeof detail, NULL);
	mailtls_pop3_last_reply(pop3, reply, sizeof reply, NULL);
	fprintf(stderr, "pop3_fetch: %s failed: %s\n", what,
		detail[0] != '\0' ? detail : mailtls_result_str(rc));
	if (reply[0] != '\0' && strstr(detail, reply) == NULL)
		fprintf(stderr, "pop3_fetch: the server said: %s\n", reply);
}

/* Progress on one line of a terminal, redrawn per message. */
static int show_progress(void *userdata, uint64_t done_messages, uint64_t total_messages,
			 uint64_t done_bytes, uint64_t total_bytes)
{
	(void)userdata;
	if (!isatty(STDERR_FILENO))
		return 0;
	if (total_messages > 0)
		fprintf(stderr, "\rfetching %llu/%llu messages, %llu/%llu bytes",
			(unsigned long long)done_messages, (unsigned long long)total_messages,
			(unsigned long long)done_bytes, (unsigned long long)total_bytes);
	if (total_messages > 0 && done_messages == total_messages)
		fputc('\n', stderr);
	return 0; /* non-zero would cancel */
}

/* What the sync did, per message and in totals. */
static void print_report(const mailtls_sync_report *r)
{
	size_t n, count = mailtls_sync_report_count(r);
	for (n = 0; n < count; n++) {
		const char *uid = mailtls_sync_report_uid(r, n);
		const char *what;
		switch (mailtls_sync_report_outcome(r, n)) {
		case MAILTLS_SYNC_OUTCOME_DOWNLOADED: what = "saved"; break;
		case MAILTLS_SYNC_OUTCOME_TOO_LARGE: what = "too large, left on the server"; break;
		case MAILTLS_SYNC_OUTCOME_UNAVAILABLE: what = "refused by the server, tried again next time"; break;
		default: continue; /* already had: not worth a line */
		}
		printf("%s %llu %s%s\n", uid != NULL ? uid : "-",
		       (unsigned long long)mailtls_sync_report_size(r, n), what,
		       mailtls_sync_report_deleted_at(r, n) ? ", deleted on the server" : "");
	}
	printf("%llu new, %llu already had, %llu deleted on the server\n",
	       (unsigned long long)mailtls_sync_report_downloaded(r),
	       (unsigned long long)mailtls_sync_report_already_had(r),
	       (unsigned long long)mailtls_sync_report_deleted(r));
}

/* The sync options: the state file and the deletion policy. NULL if out
 * of memory or the state path is not valid (printed). */
static mailtls_sync_options *make_sync_options(const char *maildir, const char *state, bool delete)
{
	char default_state[4096];
	mailtls_result rc;
	mailtls_sync_options *options = mailtls_sync_options_new();
	if (options == NULL) {
		fprintf(stderr, "pop3_fetch: out of memory\n");
		return NULL;
	}
	if (state == NULL) {
		snprintf(default_state, sizeof default_state, "%s/.mailtls-sync-state", maildir);
		state = default_state;
	}
	if ((rc = mailtls_sync_options_set_state_file(options, state)) != MAILTLS_RESULT_OK) {
		char detail[512];
		mailtls_sync_options_last_error(options, detail, sizeof detail, NULL);
		fprintf(stderr, "pop3_fetch: --state: %s\n", detail);
		mailtls_sync_options_free(options);
		return NULL;
	}
	if (delete)
		mailtls_sync_options_set_retention(options, MAILTLS_RETENTION_DELETE_AFTER_SAVING, 0);
	mailtls_sync_options_set_progress(options, show_progress, NULL);
	return options;
}

int main(int argc, char **argv)
{
	const char *host, *user, *ca_file = NULL, *maildir = NULL, *state = NULL;
	const char *password = getenv("MAILTLS_PASSWORD");
	bool implicit_tls = false; /* --tls: TLS from the first byte on any port */
	bool delete = false;
	char *end;
	long port;
	int i, status = 1;
	mailtls_options *opts;
	mailtls_sync_options *sync_options = NULL;
	mailtls_sync_report *sync_report = NULL;
	mailtls_pop3 *pop3;
	mailtls_result rc;

	if (argc < 4)
		usage();
	host = argv[1];
	port = strtol(argv[2], &end, 10);
	if (*end != '\0' || port < 1 || port > 65535) {
		fprintf(stderr, "pop3_fetch: not a port number: %s\n", argv[2]);
		return 2;
	}
	user = argv[3];
	for (i = 4; i < argc; i++) {
		if (strcmp(argv[i], "--ca-file") == 0 && i + 1 < argc)
			ca_file = argv[++i];
		else if (strcmp(argv[i], "--tls") == 0)
			implicit_tls = true;
		else if (strcmp(argv[i], "--maildir") == 0 && i + 1 < argc)
			maildir = argv[++i];
		else if (strcmp(argv[i], "--state") == 0 && i + 1 < argc)
			state = argv[++i];
		else if (strcmp(argv[i], "--delete") == 0)
			delete = true;
		else
			usage();
	}
	if (maildir == NULL)
		usage();
	if (password == NULL) {
		fprintf(stderr, "pop3_fetch: set the password in the environment "
				"variable MAILTLS_PASSWORD\n");
		return 2;
	}

	/* Options: the defaults (AUTO security, TLS 1.2+, system CAs) plus an
	 * optional extra CA. */
	opts = mailtls_options_new();
	if (opts == NULL) {
		fprintf(stderr, "pop3_fetch: out of memory\n");
		return 1;
	}
	if (implicit_tls)
		mailtls_options_set_security(opts, MAILTLS_SECURITY_TLS);
	if (ca_file != NULL && (rc = mailtls_options_add_ca_file(opts, ca_file)) != MAILTLS_RESULT_OK) {
		char detail[512];
		mailtls_options_last_error(opts, detail, sizeof detail, NULL);
		fprintf(stderr, "pop3_fetch: --ca-file: %s\n", detail);
		mailtls_options_free(opts);
		return 1;
	}
	pop3 = mailtls_pop3_new(opts);
	mailtls_options_free(opts); /* the handle keeps its own copy */
	if (pop3 == NULL) {
		fprintf(stderr, "pop3_fetch: out of memory\n");
		return 1;
	}
	if ((sync_options = make_sync_options(maildir, state, delete)) == NULL)
		goto done;

	if ((rc = mailtls_pop3_connect(pop3, host, (uint16_t)port)) != MAILTLS_RESULT_OK) {
		report(pop3, "connecting", rc);
		goto done;
	}
	if ((rc = mailtls_pop3_login(pop3, user, password, NULL)) != MAILTLS_RESULT_OK) {
		report(pop3, "logging in", rc);
		goto done;
	}

	/* Lists the mailbox, downloads what is new into the Maildir (each file
	 * flushed and renamed into new/, new/ flushed, recorded in the state
	 * file), deletes only what is saved (with --delete), and ends with
	 * QUIT. On a failure the report says what was saved until then, and
	 * nothing unsaved was deleted. */
	rc = mailtls_pop3_sync_maildir(pop3, sync_options, maildir, &sync_report);
	if (sync_report != NULL)
		print_report(sync_report);
	if (rc != MAILTLS_RESULT_OK) {
		report(pop3, "fetching", rc);
		goto done;
	}
	status = 0;
done:
	mailtls_sync_report_free(sync_report);
	mailtls_sync_options_free(sync_options);
	mailtls_pop3_free(pop3); /* closes the connection if still open */
	return status;
}
