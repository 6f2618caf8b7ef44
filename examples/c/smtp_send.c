/*
 * smtp_send: send a message file through an SMTP submission server over
 * verified TLS with mailtls, and show what the server said about each
 * recipient.
 *
 *   MAILTLS_PASSWORD=secret smtp_send HOST PORT USER FROM TO[,TO...] MESSAGE_FILE [--ca-file PEM] [--tls]
 *
 * FROM is the envelope sender (bounces go there), TO one or more envelope
 * recipients separated by commas; the message file is sent as it is (a
 * complete RFC 5322 message: headers, blank line, body), streamed, with
 * its line ends made CRLF. The password comes from the environment
 * variable MAILTLS_PASSWORD, never from the command line (where other
 * users could read it with ps). Port 465 means implicit TLS; any other
 * port (587, 25, ...) means plain SMTP upgraded with STARTTLS, which must
 * succeed (MAILTLS_SECURITY_AUTO); --tls asks for implicit TLS on another
 * port. --ca-file trusts an extra CA (e.g. a
 * private one) besides the system store.
 *
 * Exit status: 0 if at least one recipient accepted the message, 1 if
 * none did or something failed, 2 for a usage error.
 *
 * Build, from the repository root, after `cargo build --release`:
 *
 *   gcc -std=c11 -Wall -Wextra -O2 -I include -o smtp_send examples/c/smtp_send.c \
 *       -L target/release -lmailtls -Wl,-rpath,"$PWD/target/release"
 *
 * (or `make -C examples/c`); see pop3_fetch.c for linking the static
 * library.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailtls.h"

static void usage(void)
{
	fprintf(stderr, "usage: smtp_send HOST PORT USER FROM TO[,TO...] MESSAGE_FILE [--ca-file PEM] [--tls]\n"
			"The password is read from the environment variable MAILTLS_PASSWORD.\n");
	exit(2);
}

/* Print what failed with the library's explanation (which includes the
 * server's reply when there was one), or the result's description; say
 * whether a refusal is temporary. */
static void report(const mailtls_smtp *smtp, const char *what, mailtls_result rc)
{
	char detail[1024], reply[512];
	uint32_t code = mailtls_smtp_last_code(smtp);
	fflush(stdout); /* what was printed so far comes first */
	mailtls_smtp_last_error(smtp, detail, sizeof detail, NULL);
	mailtls_smtp_last_reply(smtp, reply, sizeof reply, NULL);
	fprintf(stderr, "smtp_send: %s failed: %s\n", what, detail[0] != '\0' ? detail : mailtls_result_str(rc));
	if (reply[0] != '\0' && strstr(detail, reply) == NULL)
		fprintf(stderr, "smtp_send: the server said: %s\n", reply);
	if (code >= 400 && code < 500)
		fprintf(stderr, "smtp_send: (a temporary refusal: try again later)\n");
}

/* Split "a@x,b@y" into a NULL-terminated array of copies; NULL if an
 * entry is empty. The caller frees the array and its first entry. */
static char **split_recipients(const char *list, size_t *count_out)
{
	char *copy = malloc(strlen(list) + 1), *p;
	char **out;
	size_t n = 1, i = 0;
	if (copy == NULL)
		return NULL;
	strcpy(copy, list);
	for (p = copy; *p != '\0'; p++)
		n += *p == ',';
	out = calloc(n + 1, sizeof *out);
	if (out == NULL) {
		free(copy);
		return NULL;
	}
	out[i++] = copy;
	for (p = copy; *p != '\0'; p++) {
		if (*p == ',') {
			*p = '\0';
			out[i++] = p + 1;
		}
	}
	for (i = 0; i < n; i++) {
		if (out[i][0] == '\0') {
			free(copy);
			free(out);
			return NULL;
		}
	}
	*count_out = n;
	return out;
}

/* One line per recipient: address, verdict, reply code, enhanced status
 * code and the server's text. */
static size_t print_results(const mailtls_smtp_results *results)
{
	size_t i, accepted = 0, n = mailtls_smtp_results_count(results);
	for (i = 0; i < n; i++) {
		const char *enhanced = mailtls_smtp_results_enhanced(results, i);
		const char *text = mailtls_smtp_results_text(results, i);
		uint32_t code = mailtls_smtp_results_code(results, i);
		bool ok = mailtls_smtp_results_accepted(results, i);
		accepted += ok;
		printf("%s: %s %u %s %s%s\n", mailtls_smtp_results_address(results, i),
		       ok ? "accepted" : "refused", (unsigned)code, enhanced != NULL ? enhanced : "-",
		       text != NULL ? text : "", !ok && code >= 400 && code < 500 ? " (temporary)" : "");
	}
	return accepted;
}

int main(int argc, char **argv)
{
	const char *host, *user, *from, *path, *ca_file = NULL;
	const char *password = getenv("MAILTLS_PASSWORD");
	bool implicit_tls = false; /* --tls: TLS from the first byte on any port */
	char *end, **recipients;
	long port;
	int i, status = 1;
	size_t count = 0, accepted;
	mailtls_options *opts;
	mailtls_smtp *smtp;
	mailtls_smtp_results *results = NULL;
	mailtls_result rc;

	if (argc < 7)
		usage();
	host = argv[1];
	port = strtol(argv[2], &end, 10);
	if (*end != '\0' || port < 1 || port > 65535) {
		fprintf(stderr, "smtp_send: not a port number: %s\n", argv[2]);
		return 2;
	}
	user = argv[3];
	from = argv[4];
	path = argv[6];
	for (i = 7; i < argc; i++) {
		if (strcmp(argv[i], "--ca-file") == 0 && i + 1 < argc)
			ca_file = argv[++i];
		else if (strcmp(argv[i], "--tls") == 0)
			implicit_tls = true;
		else
			usage();
	}
	if (password == NULL) {
		fprintf(stderr, "smtp_send: set the password in the environment variable MAILTLS_PASSWORD\n");
		return 2;
	}
	recipients = split_recipients(argv[5], &count);
	if (recipients == NULL) {
		fprintf(stderr, "smtp_send: empty recipient in \"%s\"\n", argv[5]);
		return 2;
	}

	/* Options: the defaults (AUTO security, TLS 1.2+, system CAs) plus an
	 * optional extra CA. */
	opts = mailtls_options_new();
	if (opts == NULL) {
		fprintf(stderr, "smtp_send: out of memory\n");
		free(recipients[0]);
		free(recipients);
		return 1;
	}
	if (implicit_tls)
		mailtls_options_set_security(opts, MAILTLS_SECURITY_TLS);
	if (ca_file != NULL && (rc = mailtls_options_add_ca_file(opts, ca_file)) != MAILTLS_RESULT_OK) {
		char detail[512];
		mailtls_options_last_error(opts, detail, sizeof detail, NULL);
		fprintf(stderr, "smtp_send: --ca-file: %s\n", detail);
		mailtls_options_free(opts);
		free(recipients[0]);
		free(recipients);
		return 1;
	}
	smtp = mailtls_smtp_new(opts);
	mailtls_options_free(opts); /* the handle keeps its own copy */
	if (smtp == NULL) {
		fprintf(stderr, "smtp_send: out of memory\n");
		free(recipients[0]);
		free(recipients);
		return 1;
	}

	if ((rc = mailtls_smtp_connect(smtp, host, (uint16_t)port)) != MAILTLS_RESULT_OK) {
		report(smtp, "connecting", rc);
		goto done;
	}
	/* A mechanism both sides support: PLAIN to this verified server. */
	if ((rc = mailtls_smtp_login(smtp, user, password, NULL)) != MAILTLS_RESULT_OK) {
		report(smtp, "logging in", rc);
		goto done;
	}

	/* The file is streamed; its size is declared, so a message over the
	 * server's SIZE limit fails before anything is sent. */
	rc = mailtls_smtp_send_file(smtp, from, (const char *const *)recipients, count, path, &results);
	if (rc != MAILTLS_RESULT_OK && rc != MAILTLS_RESULT_RECIPIENTS_REFUSED) {
		report(smtp, "sending", rc);
		goto done;
	}
	accepted = print_results(results);
	if (rc == MAILTLS_RESULT_RECIPIENTS_REFUSED) {
		fflush(stdout);
		fprintf(stderr, "smtp_send: every recipient was refused; nothing was sent\n");
	} else {
		printf("sent to %zu of %zu recipient(s)\n", accepted, count);
		status = 0;
	}

	/* The message is already accepted: a failing QUIT is only a warning. */
	if ((rc = mailtls_smtp_quit(smtp)) != MAILTLS_RESULT_OK)
		report(smtp, "QUIT", rc);
done:
	mailtls_smtp_results_free(results);
	mailtls_smtp_free(smtp); /* closes the connection if still open */
	free(recipients[0]);
	free(recipients);
	return status;
}
