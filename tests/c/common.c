/* Shared helpers of the C tests: see common.h. */
#define _POSIX_C_SOURCE 200809L

#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

_Atomic int test_failures;
/* Per thread: a test thread reports on its own handle (POP3 or SMTP). */
static _Thread_local const mailtls_pop3 *current_handle;
static _Thread_local const mailtls_smtp *current_smtp;

void test_use_handle(const mailtls_pop3 *pop3)
{
	current_handle = pop3;
	current_smtp = NULL;
}

void test_use_smtp_handle(const mailtls_smtp *smtp)
{
	current_smtp = smtp;
	current_handle = NULL;
}

static void print_handle_detail(void)
{
	char buf[512];
	if (current_smtp != NULL) {
		mailtls_smtp_last_error(current_smtp, buf, sizeof buf, NULL);
		fprintf(stderr, "    last_error: \"%s\"\n", buf);
		mailtls_smtp_last_reply(current_smtp, buf, sizeof buf, NULL);
		if (buf[0] != '\0')
			fprintf(stderr, "    last_reply: \"%s\" (code %u)\n", buf,
				(unsigned)mailtls_smtp_last_code(current_smtp));
		return;
	}
	if (current_handle == NULL)
		return;
	mailtls_pop3_last_error(current_handle, buf, sizeof buf, NULL);
	fprintf(stderr, "    last_error: \"%s\"\n", buf);
	mailtls_pop3_last_reply(current_handle, buf, sizeof buf, NULL);
	if (buf[0] != '\0')
		fprintf(stderr, "    last_reply: \"%s\"\n", buf);
}

void test_report(const char *file, int line, const char *expr, const char *detail)
{
	test_failures++;
	fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, expr);
	if (detail != NULL)
		fprintf(stderr, "    %s\n", detail);
	print_handle_detail();
}

void test_report_rc(const char *file, int line, const char *call,
		    mailtls_result want, mailtls_result got)
{
	char detail[256];
	snprintf(detail, sizeof detail, "expected %u (%s), got %u (%s)", (unsigned)want,
		 mailtls_result_str(want), (unsigned)got, mailtls_result_str(got));
	test_report(file, line, call, detail);
}

int test_finish(const char *name)
{
	if (test_failures == 0) {
		printf("PASS %s\n", name);
		return 0;
	}
	printf("FAIL %s: %d check(s) failed\n", name, (int)test_failures);
	return 1;
}

/* --- environment -------------------------------------------------------- */

static const char *need_env(const char *name)
{
	const char *v = getenv(name);
	if (v == NULL || v[0] == '\0') {
		fprintf(stderr, "%s is not set: source the env.sh printed by "
				"`bash tests/servers/dovecot.sh start DIR`\n",
			name);
		exit(2);
	}
	return v;
}

static uint16_t port_env(const char *name)
{
	const char *v = need_env(name);
	char *end;
	long p = strtol(v, &end, 10);
	if (*end != '\0' || p <= 0 || p > 65535) {
		fprintf(stderr, "%s is not a port: %s\n", name, v);
		exit(2);
	}
	return (uint16_t)p;
}

struct test_env test_env_load(void)
{
	struct test_env env;
	env.host = need_env("MAILTLS_TEST_HOST");
	env.pop3_port = port_env("MAILTLS_TEST_POP3_PORT");
	env.pop3s_port = port_env("MAILTLS_TEST_POP3S_PORT");
	env.ca = need_env("MAILTLS_TEST_CA");
	env.other_ca = need_env("MAILTLS_TEST_OTHER_CA");
	env.server_sha256 = need_env("MAILTLS_TEST_SERVER_SHA256");
	env.password = need_env("MAILTLS_TEST_PASSWORD");
	env.maildir_root = need_env("MAILTLS_TEST_MAILDIR_ROOT");
	return env;
}

struct test_scram_env test_scram_env_load(void)
{
	static const char *const names[] = {"MAILTLS_TEST_SCRAM_CA", "MAILTLS_TEST_SCRAM_POP3_PORT",
					    "MAILTLS_TEST_SCRAM_POP3S_PORT", "MAILTLS_TEST_SCRAM_SUBMISSION_PORT",
					    "MAILTLS_TEST_SCRAM_SMTPS_PORT"};
	struct test_scram_env env;
	size_t i;
	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		const char *v = getenv(names[i]);
		if (v == NULL || v[0] == '\0') {
			fprintf(stderr, "%s is not set: start the SCRAM server set\n"
					"  MAILTLS_DOVECOT_SCRAM=1 bash tests/servers/dovecot.sh start DIR\n"
					"and export MAILTLS_TEST_SCRAM_* from DIR/env.sh (see tests/run.sh)\n",
				names[i]);
			exit(2);
		}
	}
	env.host = need_env("MAILTLS_TEST_HOST");
	env.password = need_env("MAILTLS_TEST_PASSWORD");
	env.ca = need_env("MAILTLS_TEST_SCRAM_CA");
	env.pop3_port = port_env("MAILTLS_TEST_SCRAM_POP3_PORT");
	env.pop3s_port = port_env("MAILTLS_TEST_SCRAM_POP3S_PORT");
	env.submission_port = port_env("MAILTLS_TEST_SCRAM_SUBMISSION_PORT");
	env.smtps_port = port_env("MAILTLS_TEST_SCRAM_SMTPS_PORT");
	return env;
}

struct test_smtp_env test_smtp_env_load(void)
{
	static const char *const names[] = {"MAILTLS_TEST_SMTP_SUBMISSION_PORT", "MAILTLS_TEST_SMTPS_PORT",
					    "MAILTLS_TEST_SMTP_PLAIN_PORT", "MAILTLS_TEST_SMTP_SIZE_LIMIT"};
	struct test_smtp_env env;
	const char *limit;
	char *end;
	size_t i;
	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		const char *v = getenv(names[i]);
		if (v == NULL || v[0] == '\0') {
			fprintf(stderr, "%s is not set: start the test Postfix and source its env.sh:\n"
					"  bash tests/servers/postfix.sh start DIR   (after dovecot.sh start DIR)\n",
				names[i]);
			exit(2);
		}
	}
	env.submission_port = port_env(names[0]);
	env.smtps_port = port_env(names[1]);
	env.plain_port = port_env(names[2]);
	limit = getenv(names[3]);
	env.size_limit = strtoull(limit, &end, 10);
	if (*end != '\0' || env.size_limit == 0) {
		fprintf(stderr, "%s is not a size: %s\n", names[3], limit);
		exit(2);
	}
	return env;
}

mailtls_options *test_options(const struct test_env *env)
{
	mailtls_options *opts = mailtls_options_new();
	if (opts == NULL) {
		fprintf(stderr, "mailtls_options_new returned NULL\n");
		exit(2);
	}
	CHECK_OK(mailtls_options_add_ca_file(opts, env->ca));
	/* Generous: valgrind makes TLS handshakes slow. */
	CHECK_OK(mailtls_options_set_connect_timeout_ms(opts, 20000));
	CHECK_OK(mailtls_options_set_io_timeout_ms(opts, 60000));
	return opts;
}

/* --- mailbox seeding ---------------------------------------------------- */

static void die_errno(const char *what, const char *path)
{
	fprintf(stderr, "%s %s: %s\n", what, path, strerror(errno));
	exit(2);
}

/* snprintf into a path buffer; a path too long for it is fatal. */
static void path_fmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;
	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size) {
		fprintf(stderr, "path too long: %s\n", buf);
		exit(2);
	}
}

static void empty_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];
	if (d == NULL)
		die_errno("opendir", dir);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		path_fmt(path, sizeof path, "%s/%s", dir, e->d_name);
		if (unlink(path) != 0)
			die_errno("unlink", path);
	}
	closedir(d);
}

void test_seed_mailbox(const struct test_env *env, const char *user,
		       const char *const *messages, size_t count)
{
	char dir[4096], tmp[4096], path[4096];
	size_t i;

	path_fmt(dir, sizeof dir, "%s/%s/Maildir/cur", env->maildir_root, user);
	empty_dir(dir);
	path_fmt(dir, sizeof dir, "%s/%s/Maildir/new", env->maildir_root, user);
	empty_dir(dir);
	for (i = 0; i < count; i++) {
		size_t len = strlen(messages[i]);
		int fd;
		/* Maildir names: increasing timestamps keep the order; write
		 * in tmp/ and rename, as a delivery agent does. */
		path_fmt(tmp, sizeof tmp, "%s/%s/Maildir/tmp/%lu.M%zuP%ld.mailtls-c-test",
			 env->maildir_root, user, 1000000000UL + (unsigned long)i, i,
			 (long)getpid());
		path_fmt(path, sizeof path, "%s/%lu.M%zuP%ld.mailtls-c-test", dir,
			 1000000000UL + (unsigned long)i, i, (long)getpid());
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			die_errno("open", tmp);
		if (write(fd, messages[i], len) != (ssize_t)len)
			die_errno("write", tmp);
		/* Dovecot reads the mail as uid/gid 65534 (tests run as root). */
		if (fchown(fd, 65534, 65534) != 0)
			die_errno("chown", tmp);
		if (close(fd) != 0)
			die_errno("close", tmp);
		if (rename(tmp, path) != 0)
			die_errno("rename", path);
	}
}

/* --- byte buffers ------------------------------------------------------- */

void bytes_append(struct bytes *b, const void *data, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		unsigned char *p;
		while (cap < b->len + len + 1)
			cap *= 2;
		p = realloc(b->data, cap);
		if (p == NULL) {
			fprintf(stderr, "out of memory\n");
			exit(2);
		}
		b->data = p;
		b->cap = cap;
	}
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0'; /* always NUL-terminated for printing */
}

void bytes_free(struct bytes *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

bool bytes_equal(const struct bytes *b, const void *data, size_t len)
{
	return b->len == len && (len == 0 || memcmp(b->data, data, len) == 0);
}

struct bytes test_expected_wire(const char *stored)
{
	struct bytes out = {0};
	const char *p;
	for (p = stored; *p != '\0'; p++) {
		if (*p == '\n')
			bytes_append(&out, "\r\n", 2);
		else
			bytes_append(&out, p, 1);
	}
	if (out.len < 2 || memcmp(out.data + out.len - 2, "\r\n", 2) != 0)
		bytes_append(&out, "\r\n", 2);
	return out;
}

/* --- delivered messages ------------------------------------------------ */

static bool read_file(const char *path, struct bytes *out)
{
	char chunk[8192];
	size_t n;
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return false; /* e.g. moved from new/ to cur/ meanwhile */
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		bytes_append(out, chunk, n);
	fclose(f);
	if (out->data == NULL)
		bytes_append(out, "", 0);
	return true;
}

/* Visit the delivered messages of USER containing `marker`: count them,
 * and keep the first one's content in `first` when not NULL. */
static size_t scan_delivered(const struct test_env *env, const char *user, const char *marker,
			     struct bytes *first)
{
	static const char *const subdirs[] = {"new", "cur"};
	size_t found = 0, i;
	for (i = 0; i < 2; i++) {
		char dir[4096], path[4096];
		DIR *d;
		struct dirent *e;
		path_fmt(dir, sizeof dir, "%s/%s/Maildir/%s", env->maildir_root, user, subdirs[i]);
		d = opendir(dir);
		if (d == NULL)
			die_errno("opendir", dir);
		while ((e = readdir(d)) != NULL) {
			struct bytes content = {0};
			if (e->d_name[0] == '.')
				continue;
			path_fmt(path, sizeof path, "%s/%s", dir, e->d_name);
			if (!read_file(path, &content))
				continue;
			if (marker == NULL || mem_contains(content.data, content.len, marker)) {
				found++;
				if (first != NULL && first->data == NULL) {
					*first = content;
					continue;
				}
			}
			bytes_free(&content);
		}
		closedir(d);
	}
	return found;
}

size_t test_wait_delivered(const struct test_env *env, const char *user, const char *marker,
			   size_t count, int timeout_ms)
{
	int waited = 0;
	for (;;) {
		size_t n = scan_delivered(env, user, marker, NULL);
		if (n >= count || waited >= timeout_ms)
			return n;
		struct timespec pause_20ms = {0, 20 * 1000 * 1000};
		nanosleep(&pause_20ms, NULL);
		waited += 20;
	}
}

bool test_read_delivered(const struct test_env *env, const char *user, const char *marker,
			 struct bytes *out)
{
	bytes_free(out);
	return scan_delivered(env, user, marker, out) > 0;
}

bool mem_contains(const void *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle), i;
	const unsigned char *h = hay;
	if (n == 0)
		return true;
	for (i = 0; i + n <= len; i++)
		if (memcmp(h + i, needle, n) == 0)
			return true;
	return false;
}

int collect_sink(void *userdata, const uint8_t *data, size_t len)
{
	bytes_append(userdata, data, len);
	return 0;
}

char *test_base64(const void *data, size_t len)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *in = data;
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;
	if (out == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(2);
	}
	for (i = 0; i < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		*o++ = abc[(v >> 18) & 63];
		*o++ = abc[(v >> 12) & 63];
		*o++ = i + 1 < len ? abc[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? abc[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/* --- a scripted fake POP3 server ---------------------------------------- */

/* A TCP socket bound to 127.0.0.1 on a random port. */
static int bound_socket(uint16_t *port_out)
{
	struct sockaddr_in addr;
	socklen_t len = sizeof addr;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		perror("socket");
		exit(2);
	}
	memset(&addr, 0, sizeof addr);
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
	    getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
		perror("bind");
		exit(2);
	}
	*port_out = ntohs(addr.sin_port);
	return fd;
}

uint16_t closed_port(void)
{
	uint16_t port;
	close(bound_socket(&port));
	return port;
}

int silent_listener(uint16_t *port_out)
{
	int fd = bound_socket(port_out);
	if (listen(fd, 4) != 0) {
		perror("listen");
		exit(2);
	}
	return fd;
}

static void send_all(int fd, const char *text)
{
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n <= 0)
			return;
		off += (size_t)n;
	}
}

/* Read up to and including a LF; false at end of stream. */
static bool read_line(int fd)
{
	char c;
	for (;;) {
		if (read(fd, &c, 1) != 1)
			return false;
		if (c == '\n')
			return true;
	}
}

struct fake_server fake_server_start(const char *const *script, size_t count)
{
	struct fake_server server;
	int lfd = silent_listener(&server.port);
	pid_t pid;

	fflush(NULL); /* nothing buffered is written twice */
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		int fd = accept(lfd, NULL, NULL);
		size_t i;
		char c;
		if (fd >= 0) {
			for (i = 0; i < count && script[i] != NULL; i++) {
				if (i > 0 && !read_line(fd))
					break;
				send_all(fd, script[i]);
			}
			if (i == count) /* wait for the client to hang up */
				while (read(fd, &c, 1) == 1)
					;
			close(fd);
		}
		_exit(0);
	}
	close(lfd);
	server.pid = (int)pid;
	return server;
}

void fake_server_stop(struct fake_server *server)
{
	if (server->pid > 0) {
		kill((pid_t)server->pid, SIGKILL);
		waitpid((pid_t)server->pid, NULL, 0);
		server->pid = 0;
	}
}

/* --- a scripted fake SMTP server --------------------------------------- */

const char FAKE_STALL[] = "(stall)";

/* Read one line (through its LF) and append it to the transcript; false
 * at end of stream. *line_out gets its first bytes, NUL-terminated. */
static bool read_logged_line(int fd, int log_fd, char *line_out, size_t size)
{
	size_t n = 0;
	char c;
	for (;;) {
		if (read(fd, &c, 1) != 1)
			return false;
		if (write(log_fd, &c, 1) != 1)
			_exit(3);
		if (n + 1 < size)
			line_out[n++] = c;
		line_out[n] = '\0';
		if (c == '\n')
			return true;
	}
}

/* One unit of the client: a command line, or after a 354 the message
 * through its terminating "." line. */
static bool read_unit(int fd, int log_fd, bool message)
{
	char line[16];
	if (!message)
		return read_logged_line(fd, log_fd, line, sizeof line);
	do {
		if (!read_logged_line(fd, log_fd, line, sizeof line))
			return false;
	} while (strcmp(line, ".\r\n") != 0);
	return true;
}

struct fake_smtp fake_smtp_start(const char *const *script, size_t count)
{
	struct fake_smtp server;
	char path[] = "/tmp/mailtls-c-fake-smtp-XXXXXX";
	int lfd = silent_listener(&server.port);
	pid_t pid;

	server.transcript_fd = mkstemp(path);
	if (server.transcript_fd < 0)
		die_errno("mkstemp", path);
	unlink(path);
	fflush(NULL); /* nothing buffered is written twice */
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		int fd = accept(lfd, NULL, NULL);
		size_t i;
		char c;
		if (fd >= 0) {
			for (i = 0; i < count && script[i] != NULL; i++) {
				bool message = i > 0 && strncmp(script[i - 1], "354", 3) == 0;
				if (i > 0 && !read_unit(fd, server.transcript_fd, message))
					break;
				if (script[i] == FAKE_STALL)
					for (;;)
						pause();
				send_all(fd, script[i]);
			}
			if (i == count) /* wait for the client to hang up */
				while (read(fd, &c, 1) == 1)
					if (write(server.transcript_fd, &c, 1) != 1)
						break;
			close(fd);
		}
		_exit(0);
	}
	close(lfd);
	server.pid = (int)pid;
	return server;
}

struct bytes fake_smtp_stop(struct fake_smtp *server)
{
	struct bytes got = {0};
	char chunk[4096];
	off_t off = 0;
	ssize_t n;
	if (server->pid > 0) {
		kill((pid_t)server->pid, SIGKILL);
		waitpid((pid_t)server->pid, NULL, 0);
		server->pid = 0;
	}
	bytes_append(&got, "", 0);
	if (server->transcript_fd >= 0) {
		while ((n = pread(server->transcript_fd, chunk, sizeof chunk, off)) > 0) {
			bytes_append(&got, chunk, (size_t)n);
			off += n;
		}
		close(server->transcript_fd);
		server->transcript_fd = -1;
	}
	return got;
}

/* --- trace recording ---------------------------------------------------- */

void trace_record(void *userdata, mailtls_trace_kind kind, const uint8_t *data, size_t len)
{
	struct trace_log *log = userdata;
	char prefix[16];
	int n = snprintf(prefix, sizeof prefix, "%u ", (unsigned)kind);
	bytes_append(&log->all, prefix, (size_t)n);
	bytes_append(&log->all, data, len);
	bytes_append(&log->all, "\n", 1);
	if (kind == MAILTLS_TRACE_COMMAND)
		log->commands++;
	if (getenv("MAILTLS_C_TEST_TRACE") != NULL) /* for debugging a test */
		fprintf(stderr, "trace %u: %.*s\n", (unsigned)kind, (int)len, (const char *)data);
}

bool trace_has_command(const struct trace_log *log, const char *prefix)
{
	const char *line = (const char *)log->all.data;
	size_t n = strlen(prefix);
	if (line == NULL)
		return false;
	while (*line != '\0') {
		const char *end = strchr(line, '\n');
		if (strncmp(line, "1 ", 2) == 0 && strncmp(line + 2, prefix, n) == 0)
			return true;
		if (end == NULL)
			break;
		line = end + 1;
	}
	return false;
}

bool trace_contains(const struct trace_log *log, const char *needle)
{
	return mem_contains(log->all.data, log->all.len, needle);
}

void trace_clear(struct trace_log *log)
{
	bytes_free(&log->all);
	log->commands = 0;
}
