/*
 * The Windows test program of mailtls: built with mingw-w64 against
 * mailtls.dll and run under Wine by tests/windows/run.sh, which starts the
 * servers, seeds the mailboxes and compares what this program saved with
 * what was seeded.
 *
 * Wine can fail to load a program and still exit 0 without a word, so the
 * runner trusts only the result lines printed here: "ok LABEL" when a step
 * did what it should, "not ok LABEL: why" otherwise.
 *
 *   wine_test fetch LABEL tls|starttls HOST PORT USER CA OUTDIR
 *       Log in (the password comes from MAILTLS_TEST_PASSWORD), save every
 *       message as OUTDIR\N.eml through mailtls_pop3_retr_bytes and again
 *       as OUTDIR\N.file through mailtls_pop3_retr_to_file, then QUIT.
 *   wine_test send LABEL starttls|tls HOST PORT USER CA FROM TO FILE
 *       Log in and send FILE to TO, then QUIT.
 *   wine_test refuse LABEL RESULT tls|starttls HOST PORT CA TIMEOUT_MS
 *       Connect and expect mailtls_pop3_connect to fail with the result
 *       code RESULT (a number, e.g. 302 for CERTIFICATE_UNTRUSTED); prints
 *       the message too, for the runner to check.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailtls.h"

static const char *label = "?";

static int fail(const char *what, mailtls_result rc, const char *message)
{
	printf("not ok %s: %s: %s (%u): %s\n", label, what, mailtls_result_str(rc), (unsigned)rc,
	       message);
	return 1;
}

/* The last error of a handle, in a static buffer. */
static const char *pop3_error(const mailtls_pop3 *pop3)
{
	static char text[4096];
	size_t needed = 0;
	size_t used;
	if (mailtls_pop3_last_error(pop3, text, sizeof text, &needed) != MAILTLS_RESULT_OK)
		snprintf(text, sizeof text, "(no message: %zu bytes needed)", needed);
	/* SChannel's code is in the detail, apart from the message. */
	used = strlen(text);
	if (used + 16 < sizeof text) {
		memcpy(text + used, " [detail: ", 10);
		mailtls_pop3_last_error_detail(pop3, text + used + 10, sizeof text - used - 12, NULL);
		used = strlen(text);
		memcpy(text + used, "]", 2);
	}
	return text;
}

static const char *smtp_error(const mailtls_smtp *smtp)
{
	static char text[4096];
	size_t needed = 0;
	size_t used;
	if (mailtls_smtp_last_error(smtp, text, sizeof text, &needed) != MAILTLS_RESULT_OK)
		snprintf(text, sizeof text, "(no message: %zu bytes needed)", needed);
	/* SChannel's code is in the detail, apart from the message. */
	used = strlen(text);
	if (used + 16 < sizeof text) {
		memcpy(text + used, " [detail: ", 10);
		mailtls_smtp_last_error_detail(smtp, text + used + 10, sizeof text - used - 12, NULL);
		used = strlen(text);
		memcpy(text + used, "]", 2);
	}
	return text;
}

static uint16_t parse_port(const char *text)
{
	long port = strtol(text, NULL, 10);
	if (port <= 0 || port > 65535) {
		printf("not ok %s: bad port %s\n", label, text);
		exit(2);
	}
	return (uint16_t)port;
}

static mailtls_security parse_security(const char *text)
{
	if (strcmp(text, "tls") == 0)
		return MAILTLS_SECURITY_TLS;
	if (strcmp(text, "starttls") == 0)
		return MAILTLS_SECURITY_STARTTLS;
	printf("not ok %s: bad security %s\n", label, text);
	exit(2);
}

/* Options trusting CA, with the given security and I/O timeout. */
static mailtls_options *options(mailtls_security security, const char *ca, uint32_t timeout_ms)
{
	mailtls_options *opts = mailtls_options_new();
	if (opts == NULL) {
		printf("not ok %s: mailtls_options_new returned NULL\n", label);
		exit(1);
	}
	mailtls_result rc = mailtls_options_set_security(opts, security);
	if (rc == MAILTLS_RESULT_OK)
		rc = mailtls_options_add_ca_file(opts, ca);
	if (rc == MAILTLS_RESULT_OK)
		rc = mailtls_options_set_io_timeout_ms(opts, timeout_ms);
	if (rc == MAILTLS_RESULT_OK)
		rc = mailtls_options_set_connect_timeout_ms(opts, timeout_ms);
	if (rc != MAILTLS_RESULT_OK) {
		char text[1024] = "";
		size_t needed = 0;
		mailtls_options_last_error(opts, text, sizeof text, &needed);
		exit(fail("setting the options", rc, text));
	}
	return opts;
}

static const char *password(void)
{
	const char *pw = getenv("MAILTLS_TEST_PASSWORD");
	if (pw == NULL) {
		printf("not ok %s: MAILTLS_TEST_PASSWORD is not set\n", label);
		exit(2);
	}
	return pw;
}

static bool write_file(const char *path, const uint8_t *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		return false;
	bool ok = fwrite(data, 1, len, f) == len;
	return fclose(f) == 0 && ok;
}

static int fetch(char **argv)
{
	mailtls_options *opts = options(parse_security(argv[0]), argv[4], 20000);
	mailtls_pop3 *pop3 = mailtls_pop3_new(opts);
	mailtls_options_free(opts);
	const char *outdir = argv[5];
	uint32_t count = 0;
	uint64_t octets = 0;
	int status = 0;

	mailtls_result rc = mailtls_pop3_connect(pop3, argv[1], parse_port(argv[2]));
	if (rc != MAILTLS_RESULT_OK) {
		status = fail("connect", rc, pop3_error(pop3));
		goto out;
	}
	rc = mailtls_pop3_login(pop3, argv[3], password(), NULL);
	if (rc != MAILTLS_RESULT_OK) {
		status = fail("login", rc, pop3_error(pop3));
		goto out;
	}
	rc = mailtls_pop3_stat(pop3, &count, &octets);
	if (rc != MAILTLS_RESULT_OK) {
		status = fail("stat", rc, pop3_error(pop3));
		goto out;
	}
	for (uint32_t n = 1; n <= count; n++) {
		char path[1024];
		mailtls_buffer *message = NULL;
		rc = mailtls_pop3_retr_bytes(pop3, n, &message);
		if (rc != MAILTLS_RESULT_OK) {
			printf("not ok %s: retr %u: %s: %s\n", label, (unsigned)n, mailtls_result_str(rc),
			       pop3_error(pop3));
			status = 1;
			goto out;
		}
		snprintf(path, sizeof path, "%s\\%u.eml", outdir, (unsigned)n);
		bool written = write_file(path, mailtls_buffer_data(message), mailtls_buffer_len(message));
		mailtls_buffer_free(message);
		if (!written) {
			printf("not ok %s: cannot write %s\n", label, path);
			status = 1;
			goto out;
		}
		snprintf(path, sizeof path, "%s\\%u.file", outdir, (unsigned)n);
		rc = mailtls_pop3_retr_to_file(pop3, n, path);
		if (rc != MAILTLS_RESULT_OK) {
			printf("not ok %s: retr_to_file %u: %s: %s\n", label, (unsigned)n,
			       mailtls_result_str(rc), pop3_error(pop3));
			status = 1;
			goto out;
		}
	}
	rc = mailtls_pop3_quit(pop3);
	if (rc != MAILTLS_RESULT_OK) {
		status = fail("quit", rc, pop3_error(pop3));
		goto out;
	}
	printf("ok %s: %u messages, %llu octets\n", label, (unsigned)count, (unsigned long long)octets);
out:
	mailtls_pop3_free(pop3);
	return status;
}

static int send(char **argv)
{
	mailtls_options *opts = options(parse_security(argv[0]), argv[4], 20000);
	mailtls_smtp *smtp = mailtls_smtp_new(opts);
	mailtls_options_free(opts);
	const char *recipients[] = {argv[6]};
	mailtls_smtp_results *results = NULL;
	int status = 0;

	mailtls_result rc = mailtls_smtp_connect(smtp, argv[1], parse_port(argv[2]));
	if (rc != MAILTLS_RESULT_OK) {
		status = fail("connect", rc, smtp_error(smtp));
		goto out;
	}
	rc = mailtls_smtp_login(smtp, argv[3], password(), NULL);
	if (rc != MAILTLS_RESULT_OK) {
		status = fail("login", rc, smtp_error(smtp));
		goto out;
	}
	rc = mailtls_smtp_send_file(smtp, argv[5], recipients, 1, argv[7], &results);
	if (rc != MAILTLS_RESULT_OK) {
		status = fail("send", rc, smtp_error(smtp));
		goto out;
	}
	if (mailtls_smtp_results_count(results) != 1 || !mailtls_smtp_results_accepted(results, 0)) {
		printf("not ok %s: the recipient was not accepted\n", label);
		status = 1;
		goto out;
	}
	rc = mailtls_smtp_quit(smtp);
	if (rc != MAILTLS_RESULT_OK) {
		status = fail("quit", rc, smtp_error(smtp));
		goto out;
	}
	printf("ok %s: sent to %s\n", label, argv[6]);
out:
	mailtls_smtp_results_free(results);
	mailtls_smtp_free(smtp);
	return status;
}

static int refuse(char **argv)
{
	mailtls_result want = (mailtls_result)strtoul(argv[0], NULL, 10);
	long timeout = strtol(argv[5], NULL, 10);
	mailtls_options *opts = options(parse_security(argv[1]), argv[4], (uint32_t)timeout);
	mailtls_pop3 *pop3 = mailtls_pop3_new(opts);
	mailtls_options_free(opts);
	mailtls_result rc = mailtls_pop3_connect(pop3, argv[2], parse_port(argv[3]));
	int status = 0;
	if (rc == want) {
		const mailtls_certificate *cert = mailtls_pop3_peer_certificate(pop3);
		printf("ok %s: %u: %s\n", label, (unsigned)rc, pop3_error(pop3));
		/* SChannel keeps nothing of a refused handshake: the library
		 * reads the certificate on a second connection. */
		if (cert != NULL)
			printf("certificate %s: SHA-256 %s\n", label, mailtls_certificate_sha256(cert));
	} else {
		printf("not ok %s: expected result %u, got %u (%s): %s\n", label, (unsigned)want,
		       (unsigned)rc, mailtls_result_str(rc), pop3_error(pop3));
		status = 1;
	}
	mailtls_pop3_free(pop3);
	return status;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc >= 3)
		label = argv[2];
	if (argc == 9 && strcmp(argv[1], "fetch") == 0)
		return fetch(argv + 3);
	if (argc == 11 && strcmp(argv[1], "send") == 0)
		return send(argv + 3);
	if (argc == 9 && strcmp(argv[1], "refuse") == 0)
		return refuse(argv + 3);
	printf("not ok %s: usage: wine_test fetch|send|refuse LABEL ...\n", label);
	return 2;
}
