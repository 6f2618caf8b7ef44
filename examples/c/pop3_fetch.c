/*
 * pop3_fetch: download every message of a POP3 mailbox over verified TLS
 * with mailtls, saving each one as DIR/<uid>.eml. Messages stay on the
 * server (nothing is deleted).
 *
 *   MAILTLS_PASSWORD=secret pop3_fetch HOST PORT USER [--ca-file PEM] [--out DIR] [--tls]
 *
 * The password comes from the environment variable MAILTLS_PASSWORD, never
 * from the command line (where other users could read it with ps). Port
 * 995 means implicit TLS; any other port means plain POP3 upgraded with
 * STLS, which must succeed (MAILTLS_SECURITY_AUTO); --tls asks for implicit
 * TLS on another port. --ca-file trusts an
 * extra CA (e.g. a private one) besides the system store.
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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailtls.h"

static void usage(void)
{
	fprintf(stderr, "usage: pop3_fetch HOST PORT USER [--ca-file PEM] [--out DIR] [--tls]\n"
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

/* A unique id as a file name: RFC 1939 allows any printable character in
 * it, '/' included, so keep only a safe set. */
static void uid_to_file_name(const char *uid, char *out, size_t size)
{
	size_t i;
	for (i = 0; uid[i] != '\0' && i + 1 < size; i++) {
		char c = uid[i];
		int safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
		out[i] = safe ? c : '_';
	}
	out[i] = '\0';
}

int main(int argc, char **argv)
{
	const char *host, *user, *ca_file = NULL, *out_dir = ".";
	const char *password = getenv("MAILTLS_PASSWORD");
	bool implicit_tls = false; /* --tls: TLS from the first byte on any port */
	char *end;
	long port;
	int i, status = 1;
	size_t n, count;
	mailtls_options *opts;
	mailtls_pop3 *pop3;
	mailtls_pop3_listing *listing = NULL;
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
		else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
			out_dir = argv[++i];
		else
			usage();
	}
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

	if ((rc = mailtls_pop3_connect(pop3, host, (uint16_t)port)) != MAILTLS_RESULT_OK) {
		report(pop3, "connecting", rc);
		goto done;
	}
	if ((rc = mailtls_pop3_login(pop3, user, password, NULL)) != MAILTLS_RESULT_OK) {
		report(pop3, "logging in", rc);
		goto done;
	}

	/* Numbers, sizes and unique ids in one listing. */
	if ((rc = mailtls_pop3_list_uidl(pop3, &listing)) != MAILTLS_RESULT_OK) {
		report(pop3, "listing the mailbox", rc);
		goto done;
	}
	count = mailtls_pop3_listing_count(listing);
	printf("%zu message(s)\n", count);
	printf("%6s %10s  %s\n", "number", "size", "uid");
	for (n = 0; n < count; n++) {
		const char *uid = mailtls_pop3_listing_uid(listing, n);
		printf("%6u %10llu  %s\n", (unsigned)mailtls_pop3_listing_number(listing, n),
		       (unsigned long long)mailtls_pop3_listing_octets(listing, n),
		       uid != NULL ? uid : "-");
	}

	/* Each message straight into its file (written to a temporary file
	 * and renamed when complete, so no partial .eml is ever left). */
	for (n = 0; n < count; n++) {
		uint32_t number = mailtls_pop3_listing_number(listing, n);
		const char *uid = mailtls_pop3_listing_uid(listing, n);
		char name[128], path[4096];
		if (uid != NULL) /* a server without UIDL gives none */
			uid_to_file_name(uid, name, sizeof name);
		else
			snprintf(name, sizeof name, "message-%u", (unsigned)number);
		if (snprintf(path, sizeof path, "%s/%s.eml", out_dir, name) >= (int)sizeof path) {
			fprintf(stderr, "pop3_fetch: output path too long\n");
			goto done;
		}
		if ((rc = mailtls_pop3_retr_to_file(pop3, number, path)) != MAILTLS_RESULT_OK) {
			char what[4200];
			snprintf(what, sizeof what, "saving message %u to %s", (unsigned)number, path);
			report(pop3, what, rc);
			goto done;
		}
		printf("saved %s\n", path);
	}

	if ((rc = mailtls_pop3_quit(pop3)) != MAILTLS_RESULT_OK) {
		report(pop3, "QUIT", rc);
		goto done;
	}
	status = 0;
done:
	mailtls_pop3_listing_free(listing);
	mailtls_pop3_free(pop3); /* closes the connection if still open */
	return status;
}
