#!/usr/bin/env bash
# The C tests of mailtls: build every test program of tests/c against the
# committed header and libmailtls.so, run each under valgrind and, built
# again with AddressSanitizer + UndefinedBehaviorSanitizer, without it;
# compile the header as C++; build and run the examples of examples/c
# (pop3_fetch against Dovecot, smtp_send against Postfix).
#
# Usage (after `cargo build`, with the test Dovecot and Postfix running):
#   bash tests/servers/postfix.sh install              # once
#   bash tests/servers/dovecot.sh start /tmp/c-srv
#   bash tests/servers/postfix.sh start /tmp/c-srv
#   . /tmp/c-srv/env.sh
#   bash tests/c/run.sh
#
# Environment:
#   MAILTLS_LIB_DIR      directory of libmailtls.so (default target/debug)
#   MAILTLS_C_TEST_OUT   build directory (default target/c-tests)
#   MAILTLS_C_TEST_TRACE set to print every protocol trace line of the tests
#
# Test programs: every tests/c/*.c except common.c (the shared helpers).
# The POP3 ones use only the users user70..user84, the SMTP ones
# user85..user88 and user90..user97, the probe cprobe01, the proxy test cproxy01 (it also needs the proxies of
# tests/servers/proxies.sh, their proxies.env sourced); each seeds or
# clears its mailboxes itself. The examples run here use user89 (pop3_fetch) and user98
# (smtp_send).
#
# All programs and examples run at once (they use distinct users); each
# program runs under valgrind, then its ASan/UBSan build.
#
# Prints PASS/FAIL per program and configuration, the log of each failure,
# and a last line "N passed, M failed"; exits non-zero on any failure.

# MAILTLS_TEST_* come from env.sh (checked below); commas in array elements
# belong to compiler and valgrind options.
# shellcheck disable=SC2153,SC2054
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root" || exit 2

die() {
	echo "tests/c/run.sh: $*" >&2
	exit 2
}

for var in MAILTLS_TEST_POP3S_PORT MAILTLS_TEST_POP3_PORT MAILTLS_TEST_HOST MAILTLS_TEST_CA \
	MAILTLS_TEST_PASSWORD MAILTLS_TEST_MAILDIR_ROOT; do
	[[ -n ${!var:-} ]] ||
		die "$var is not set: start the test servers and source their env.sh:
  bash tests/servers/dovecot.sh start /tmp/c-srv && bash tests/servers/postfix.sh start /tmp/c-srv
  . /tmp/c-srv/env.sh"
done
state=${MAILTLS_TEST_STATE:-/tmp/c-srv}
for var in MAILTLS_TEST_SMTP_SUBMISSION_PORT MAILTLS_TEST_SMTPS_PORT MAILTLS_TEST_SMTP_PLAIN_PORT \
	MAILTLS_TEST_SMTP_SIZE_LIMIT; do
	[[ -n ${!var:-} ]] ||
		die "$var is not set: the SMTP tests need the test Postfix (after Dovecot, same directory):
  bash tests/servers/postfix.sh install && bash tests/servers/postfix.sh start $state
  . $state/env.sh"
done

libdir=${MAILTLS_LIB_DIR:-target/debug}
[[ -f $libdir/libmailtls.so ]] || die "no $libdir/libmailtls.so: run cargo build first (or set MAILTLS_LIB_DIR)"
libdir=$(cd "$libdir" && pwd)
out=${MAILTLS_C_TEST_OUT:-$root/target/c-tests}
rm -rf "$out/logs" "$out/example-out" "$out/smtp-example"
mkdir -p "$out/logs" || die "cannot create $out"
out=$(cd "$out" && pwd)

if ! command -v valgrind >/dev/null; then
	echo "tests/c/run.sh: installing valgrind" >&2
	if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			valgrind >/dev/null; }; then
		die "valgrind is missing and could not be installed"
	fi
fi

cflags=(-std=c11 -Wall -Wextra -Wpedantic -Werror -g -pthread -I include)
cxxflags=(-std=c++11 -Wall -Wextra -Wpedantic -Werror -g -I include)
sanitize=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
# The valgrind builds use gcc and the sanitizer builds clang, so every
# program compiles warning-free with both compilers.
sanitizer_cc=${MAILTLS_SANITIZER_CC:-clang}
if ! command -v "$sanitizer_cc" >/dev/null; then
	echo "tests/c/run.sh: installing clang" >&2
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		clang libclang-rt-14-dev >/dev/null; } || die "clang is missing and could not be installed"
fi
link=(-L "$libdir" -lmailtls -Wl,-rpath,"$libdir")
valgrind=(valgrind -q --error-exitcode=99 --leak-check=full
	--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect)
# LeakSanitizer is on too: it reports nothing from the Rust runtime or
# OpenSSL here. Should it ever, set detect_leaks=0 (valgrind covers leaks).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

passed=0
failed=0

# result NAME STATUS LOG: count and print one program/configuration.
result() {
	if [[ $2 == 0 ]]; then
		passed=$((passed + 1))
		echo "PASS $1"
	else
		failed=$((failed + 1))
		echo "FAIL $1 (exit status $2)"
		[[ -s $3 ]] && sed 's/^/    | /' "$3"
	fi
}

# build LOG COMMAND...: compile, the compiler's output into LOG.
build() {
	local log=$1
	shift
	"$@" >"$log" 2>&1
}

tests=()
for src in tests/c/*.c; do
	[[ $src == tests/c/common.c ]] || tests+=("$(basename "$src" .c)")
done
((${#tests[@]})) || die "no test programs in tests/c"
examples=(pop3_fetch smtp_send)

# --- build (all at once) --------------------------------------------------------

declare -A build_pids=()
for t in "${tests[@]}"; do
	# Exit status 1: the plain build failed; 2: the sanitizer build.
	{
		build "$out/logs/$t.build.log" \
			gcc "${cflags[@]}" -o "$out/$t" "tests/c/$t.c" tests/c/common.c "${link[@]}" || exit 1
		build "$out/logs/$t.asan.build.log" \
			"$sanitizer_cc" "${cflags[@]}" "${sanitize[@]}" -o "$out/$t.asan" "tests/c/$t.c" \
			tests/c/common.c "${link[@]}" || exit 2
		# A sanitizer build that silently lost its sanitizers would prove
		# nothing: check that both runtimes are in.
		nm "$out/$t.asan" >"$out/logs/$t.asan.symbols" 2>>"$out/logs/$t.asan.build.log"
		{ grep -q ' __asan_init$' "$out/logs/$t.asan.symbols" &&
			grep -q ' __ubsan_handle_' "$out/logs/$t.asan.symbols"; } ||
			{ echo "no ASan/UBSan runtime in $t.asan" >>"$out/logs/$t.asan.build.log"; exit 2; }
	} &
	build_pids[$t]=$!
done
build "$out/logs/header_cpp.build.log" \
	g++ "${cxxflags[@]}" -o "$out/header_cpp" tests/c/header_cpp.cpp "${link[@]}" &
build_pids[header_cpp]=$!
for ex in "${examples[@]}"; do
	build "$out/logs/$ex.build.log" gcc "${cflags[@]}" -o "$out/$ex" "examples/c/$ex.c" "${link[@]}" &
	build_pids[$ex]=$!
done

# A failed build is counted; a successful one is not (the runs that follow
# are).
built=()
for t in "${tests[@]}"; do
	wait "${build_pids[$t]}"
	case $? in
	0) built+=("$t") ;;
	1) result "build $t" 1 "$out/logs/$t.build.log" ;;
	*) result "build $t (clang asan+ubsan)" 1 "$out/logs/$t.asan.build.log" ;;
	esac
done
declare -A example_built=()
for ex in "${examples[@]}"; do
	if wait "${build_pids[$ex]}"; then
		example_built[$ex]=1
	else
		result "build $ex" 1 "$out/logs/$ex.build.log"
	fi
done

# The header as C++: compile, link, run.
if wait "${build_pids[header_cpp]}"; then
	"$out/header_cpp" >"$out/logs/header_cpp.log" 2>&1
	result "header_cpp (g++ -std=c++11)" $? "$out/logs/header_cpp.log"
else
	result "build header_cpp" 1 "$out/logs/header_cpp.build.log"
fi

# --- the test programs ------------------------------------------------------------

# run_program T: T under valgrind, then its ASan/UBSan build (one after the
# other: they use the same users); each run's exit status into
# logs/T[.asan].status. 10 minutes at most each.
run_program() {
	local t=$1
	timeout 600 "${valgrind[@]}" "$out/$t" >"$out/logs/$t.log" 2>&1
	echo $? >"$out/logs/$t.status"
	timeout 600 "$out/$t.asan" >"$out/logs/$t.asan.log" 2>&1
	echo $? >"$out/logs/$t.asan.status"
}

# --- the POP3 example (user89) ----------------------------------------------------

# Seed user89 with three messages (LF line ends, one dot line). Dovecot
# sends them with CRLF and dot-stuffed; pop3_fetch's Maildir must hold them
# byte for byte as stored.
seed_example() {
	local md=$MAILTLS_TEST_MAILDIR_ROOT/user89/Maildir i f
	rm -f "$md"/new/* "$md"/cur/* "$out"/example-expected-*
	for i in 1 2 3; do
		f=$md/tmp/100000000$i.M${i}P$$.example
		printf 'From: sender%s@example.org\nSubject: example %s\n\nbody of message %s\n.a line with a dot\n' \
			"$i" "$i" "$i" >"$f"
		cp "$f" "$out/example-expected-$i"
		chown 65534:65534 "$f" && mv "$f" "$md/new/"
	done
}

# maildir_holds DIR N: DIR/new holds exactly N files, and each seeded
# message (example-expected-1..N) byte for byte in one of them.
maildir_holds() {
	local dir=$1 n=$2 i f found
	[[ $(find "$dir/new" -type f | wc -l) == "$n" ]] || { echo "not $n files in $dir/new"; return 1; }
	for ((i = 1; i <= n; i++)); do
		found=
		for f in "$dir"/new/*; do cmp -s "$out/example-expected-$i" "$f" && found=1; done
		[[ -n $found ]] || { echo "message $i is not in $dir/new"; return 1; }
	done
}

# The example under valgrind over STLS (AUTO on the plain port): three new
# messages; again: nothing new; then --delete empties the server. Then its
# error paths (no password, wrong password, no CA) without valgrind.
check_example() {
	local dir=$out/example-out rc
	local -a fetch=("$out/pop3_fetch" "$MAILTLS_TEST_HOST" "$MAILTLS_TEST_POP3_PORT" user89
		--ca-file "$MAILTLS_TEST_CA" --maildir "$dir")
	rm -rf "$dir" "$dir".* && mkdir -p "$dir"
	MAILTLS_PASSWORD=$MAILTLS_TEST_PASSWORD "${valgrind[@]}" "${fetch[@]}" >"$dir.stdout" 2>&1
	rc=$?
	cat "$dir.stdout"
	((rc == 0)) || { echo "pop3_fetch exited with $rc"; return 1; }
	grep -qx '3 new, 0 already had, 0 deleted on the server' "$dir.stdout" || { echo "not 3 new"; return 1; }
	maildir_holds "$dir" 3 || return 1

	MAILTLS_PASSWORD=$MAILTLS_TEST_PASSWORD "${fetch[@]}" --delete >"$dir.again" 2>&1
	rc=$?
	cat "$dir.again"
	((rc == 0)) || { echo "pop3_fetch --delete exited with $rc"; return 1; }
	grep -qx '0 new, 3 already had, 3 deleted on the server' "$dir.again" ||
		{ echo "the second run did not find 3 already had and delete them"; return 1; }
	maildir_holds "$dir" 3 || return 1
	[[ -z $(find "$MAILTLS_TEST_MAILDIR_ROOT/user89/Maildir/new" "$MAILTLS_TEST_MAILDIR_ROOT/user89/Maildir/cur" -type f) ]] ||
		{ echo "messages left on the server after --delete"; return 1; }

	# Its error paths, without valgrind: no password, wrong password, no CA.
	env -u MAILTLS_PASSWORD "${fetch[@]}" >"$dir.nopw" 2>&1
	rc=$?
	cat "$dir.nopw"
	if ((rc != 2)) || ! grep -q MAILTLS_PASSWORD "$dir.nopw"; then
		echo "without MAILTLS_PASSWORD: exit status $rc, expected 2 and a hint"
		return 1
	fi

	MAILTLS_PASSWORD=wrong-password "${fetch[@]}" >"$dir.badpw" 2>&1
	rc=$?
	cat "$dir.badpw"
	if ((rc != 1)) || ! grep -q 'logging in failed: .*-ERR \[AUTH\]' "$dir.badpw" ||
		grep -q wrong-password "$dir.badpw"; then
		echo "with a wrong password: exit status $rc, expected 1 and the server's reply"
		return 1
	fi

	MAILTLS_PASSWORD=$MAILTLS_TEST_PASSWORD "$out/pop3_fetch" "$MAILTLS_TEST_HOST" \
		"$MAILTLS_TEST_POP3_PORT" user89 --maildir "$dir" >"$dir.noca" 2>&1
	rc=$?
	cat "$dir.noca"
	if ((rc != 1)) || ! grep -q 'connecting failed: .*certificate is not trusted' "$dir.noca"; then
		echo "without the test CA: exit status $rc, expected 1 and an untrusted certificate"
		return 1
	fi
}

# --- the SMTP example (user98) ----------------------------------------------------

# The example under valgrind on the submission port (AUTO: STARTTLS), to
# user98 and an unknown local user: it must report both, exit 0, and the
# file must arrive as it was (Postfix adds two lines on top); then its
# error paths without valgrind.
check_smtp_example() {
	local md=$MAILTLS_TEST_MAILDIR_ROOT/user98/Maildir dir=$out/smtp-example rc i delivered=
	local -a send=("$out/smtp_send" "$MAILTLS_TEST_HOST" "$MAILTLS_TEST_SMTP_SUBMISSION_PORT" user98
		sender@example.org)
	rm -rf "$dir" && mkdir -p "$dir"
	rm -f "$md"/new/* "$md"/cur/*
	printf 'From: sender@example.org\nTo: user98@localhost\nSubject: smtp_send example %s\n\n%s\n' \
		"$$" $'.a line with a dot\n..two dots\n8-bit: caf\xc3\xa9\nlast line' >"$dir/message.eml"
	{
		printf 'Return-Path: <sender@example.org>\nDelivered-To: user98@localhost\n'
		cat "$dir/message.eml"
	} >"$dir/expected"

	MAILTLS_PASSWORD=$MAILTLS_TEST_PASSWORD "${valgrind[@]}" "${send[@]}" \
		user98@localhost,nobody-c-example@localhost "$dir/message.eml" \
		--ca-file "$MAILTLS_TEST_CA" >"$dir/stdout" 2>&1
	rc=$?
	cat "$dir/stdout"
	((rc == 0)) || { echo "smtp_send exited with $rc"; return 1; }
	grep -q '^user98@localhost: accepted 250 2\.1\.5 Ok$' "$dir/stdout" ||
		{ echo "no accepted line for user98@localhost"; return 1; }
	grep -q '^nobody-c-example@localhost: refused 550 5\.1\.1 .*User unknown' "$dir/stdout" ||
		{ echo "no refused line for nobody-c-example@localhost"; return 1; }
	for ((i = 0; i < 150; i++)); do
		delivered=$(find "$md/new" "$md/cur" -type f)
		[[ -n $delivered ]] && break
		sleep 0.1
	done
	[[ -n $delivered ]] || { echo "nothing delivered to user98 in 15 s"; return 1; }
	[[ $delivered != *$'\n'* ]] || { echo "more than one message delivered to user98"; return 1; }
	cmp "$dir/expected" "$delivered" || { echo "the delivered message differs"; return 1; }

	# Its error paths, without valgrind: no password, wrong password, every
	# recipient refused, no CA, no such file.
	env -u MAILTLS_PASSWORD "${send[@]}" user98@localhost "$dir/message.eml" >"$dir/nopw" 2>&1
	rc=$?
	cat "$dir/nopw"
	if ((rc != 2)) || ! grep -q MAILTLS_PASSWORD "$dir/nopw"; then
		echo "without MAILTLS_PASSWORD: exit status $rc, expected 2 and a hint"
		return 1
	fi

	MAILTLS_PASSWORD=wrong-password "${send[@]}" user98@localhost "$dir/message.eml" \
		--ca-file "$MAILTLS_TEST_CA" >"$dir/badpw" 2>&1
	rc=$?
	cat "$dir/badpw"
	if ((rc != 1)) || ! grep -q 'logging in failed: .*535 5\.7\.8' "$dir/badpw" ||
		grep -q wrong-password "$dir/badpw"; then
		echo "with a wrong password: exit status $rc, expected 1 and the server's reply"
		return 1
	fi

	MAILTLS_PASSWORD=$MAILTLS_TEST_PASSWORD "${send[@]}" nobody-1@localhost,nobody-2@localhost \
		"$dir/message.eml" --ca-file "$MAILTLS_TEST_CA" >"$dir/refused" 2>&1
	rc=$?
	cat "$dir/refused"
	if ((rc != 1)) || [[ $(grep -c ': refused 550 5\.1\.1 ' "$dir/refused") != 2 ]] ||
		! grep -q 'every recipient was refused' "$dir/refused"; then
		echo "to unknown users only: exit status $rc, expected 1 and two refusals"
		return 1
	fi

	MAILTLS_PASSWORD=$MAILTLS_TEST_PASSWORD "${send[@]}" user98@localhost "$dir/message.eml" \
		>"$dir/noca" 2>&1
	rc=$?
	cat "$dir/noca"
	if ((rc != 1)) || ! grep -q 'connecting failed: .*certificate is not trusted' "$dir/noca"; then
		echo "without the test CA: exit status $rc, expected 1 and an untrusted certificate"
		return 1
	fi

	MAILTLS_PASSWORD=$MAILTLS_TEST_PASSWORD "${send[@]}" user98@localhost "$dir/no-such.eml" \
		--ca-file "$MAILTLS_TEST_CA" >"$dir/nofile" 2>&1
	rc=$?
	cat "$dir/nofile"
	if ((rc != 1)) || ! grep -q 'sending failed: .*no-such\.eml' "$dir/nofile"; then
		echo "with a missing file: exit status $rc, expected 1 and the file named"
		return 1
	fi

	# None of the failures delivered anything.
	[[ $(find "$md/new" "$md/cur" -type f | wc -l) == 1 ]] ||
		{ echo "user98 has more than the one message"; return 1; }
}

# --- run everything at once ---------------------------------------------------------

declare -A run_pids=()
if [[ -n ${example_built[pop3_fetch]:-} ]]; then
	seed_example
	check_example >"$out/logs/pop3_fetch.log" 2>&1 &
	run_pids[pop3_fetch]=$!
fi
if [[ -n ${example_built[smtp_send]:-} ]]; then
	check_smtp_example >"$out/logs/smtp_send.log" 2>&1 &
	run_pids[smtp_send]=$!
fi
for t in "${built[@]}"; do
	run_program "$t" &
	run_pids[$t]=$!
done

for t in "${built[@]}"; do
	wait "${run_pids[$t]}"
	result "$t (valgrind)" "$(cat "$out/logs/$t.status" 2>/dev/null || echo 1)" "$out/logs/$t.log"
	result "$t (clang asan+ubsan)" "$(cat "$out/logs/$t.asan.status" 2>/dev/null || echo 1)" \
		"$out/logs/$t.asan.log"
done
for ex in "${examples[@]}"; do
	[[ -n ${run_pids[$ex]:-} ]] || continue
	wait "${run_pids[$ex]}"
	result "examples/c/$ex (valgrind)" $? "$out/logs/$ex.log"
done

echo "$passed passed, $failed failed"
((failed == 0))
