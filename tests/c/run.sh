#!/usr/bin/env bash
# The C tests of mailtls: build every test program of tests/c against the
# committed header and libmailtls.so, run each under valgrind and, built
# again with AddressSanitizer + UndefinedBehaviorSanitizer, without it;
# compile the header as C++; build and run examples/c/pop3_fetch.c.
#
# Usage (after `cargo build`, with a test Dovecot running):
#   bash tests/servers/dovecot.sh start /tmp/c-dv
#   . /tmp/c-dv/env.sh
#   bash tests/c/run.sh
#
# Environment:
#   MAILTLS_LIB_DIR      directory of libmailtls.so (default target/debug)
#   MAILTLS_C_TEST_OUT   build directory (default target/c-tests)
#   MAILTLS_C_TEST_TRACE set to print every protocol trace line of the tests
#
# Test programs: every tests/c/*.c except common.c (the shared helpers).
# They use only the users user70..user89 and seed their mailboxes
# themselves; the example run here uses user89.
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
		die "$var is not set: start the test server and source its env.sh:
  bash tests/servers/dovecot.sh start /tmp/c-dv && . /tmp/c-dv/env.sh"
done

libdir=${MAILTLS_LIB_DIR:-target/debug}
[[ -f $libdir/libmailtls.so ]] || die "no $libdir/libmailtls.so: run cargo build first (or set MAILTLS_LIB_DIR)"
libdir=$(cd "$libdir" && pwd)
out=${MAILTLS_C_TEST_OUT:-$root/target/c-tests}
rm -rf "$out/logs" "$out/example-out"
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

# build NAME LOG COMMAND...: compile; a failure is counted, success is not
# (the runs that follow are).
build() {
	local name=$1 log=$2
	shift 2
	if ! "$@" >"$log" 2>&1; then
		result "build $name" 1 "$log"
		return 1
	fi
}

tests=()
for src in tests/c/*.c; do
	[[ $src == tests/c/common.c ]] || tests+=("$(basename "$src" .c)")
done
((${#tests[@]})) || die "no test programs in tests/c"

# --- build -------------------------------------------------------------------

built=()
for t in "${tests[@]}"; do
	build "$t" "$out/logs/$t.build.log" \
		gcc "${cflags[@]}" -o "$out/$t" "tests/c/$t.c" tests/c/common.c "${link[@]}" &&
		build "$t (asan+ubsan)" "$out/logs/$t.asan.build.log" \
			gcc "${cflags[@]}" "${sanitize[@]}" -o "$out/$t.asan" "tests/c/$t.c" \
			tests/c/common.c "${link[@]}" &&
		built+=("$t")
done

# The header as C++: compile, link, run.
if build header_cpp "$out/logs/header_cpp.build.log" \
	g++ "${cxxflags[@]}" -o "$out/header_cpp" tests/c/header_cpp.cpp "${link[@]}"; then
	"$out/header_cpp" >"$out/logs/header_cpp.log" 2>&1
	result "header_cpp (g++ -std=c++11)" $? "$out/logs/header_cpp.log"
fi

example_built=
if build pop3_fetch "$out/logs/pop3_fetch.build.log" \
	gcc "${cflags[@]}" -o "$out/pop3_fetch" examples/c/pop3_fetch.c "${link[@]}"; then
	example_built=1
fi

# --- run -----------------------------------------------------------------------

# run_all SUFFIX LABEL [WRAPPER...]: run every built test program at once
# (they use distinct users) and report each. 10 minutes at most each.
run_all() {
	local suffix=$1 label=$2 t
	shift 2
	local -A pids=()
	for t in "${built[@]}"; do
		timeout 600 "$@" "$out/$t$suffix" >"$out/logs/$t$suffix.log" 2>&1 &
		pids[$t]=$!
	done
	for t in "${built[@]}"; do
		wait "${pids[$t]}"
		result "$t ($label)" $? "$out/logs/$t$suffix.log"
	done
}

# --- the example ----------------------------------------------------------------

# Seed user89 with three messages (LF line ends, one dot line); Dovecot
# sends them with CRLF, which pop3_fetch must save byte for byte.
seed_example() {
	local md=$MAILTLS_TEST_MAILDIR_ROOT/user89/Maildir i f
	rm -f "$md"/new/* "$md"/cur/* "$out"/example-expected-*
	for i in 1 2 3; do
		f=$md/tmp/100000000$i.M${i}P$$.example
		printf 'From: sender%s@example.org\nSubject: example %s\n\nbody of message %s\n.a line with a dot\n' \
			"$i" "$i" "$i" >"$f"
		sed 's/$/\r/' "$f" >"$out/example-expected-$i"
		chown 65534:65534 "$f" && mv "$f" "$md/new/"
	done
}

# The example under valgrind over STLS (AUTO on the plain port); then its
# error paths (no password, wrong password, no CA) without valgrind.
check_example() {
	local dir=$out/example-out rc n uid
	rm -rf "$dir" && mkdir -p "$dir"
	MAILTLS_PASSWORD=$MAILTLS_TEST_PASSWORD "${valgrind[@]}" "$out/pop3_fetch" \
		"$MAILTLS_TEST_HOST" "$MAILTLS_TEST_POP3_PORT" user89 \
		--ca-file "$MAILTLS_TEST_CA" --out "$dir" >"$dir.stdout" 2>&1
	rc=$?
	cat "$dir.stdout"
	((rc == 0)) || { echo "pop3_fetch exited with $rc"; return 1; }
	grep -q '^3 message(s)$' "$dir.stdout" || { echo "no listing of 3 messages"; return 1; }
	for n in 1 2 3; do
		uid=$(awk -v n="$n" '$1 == n && NF == 3 && $2 ~ /^[0-9]+$/ { print $3 }' "$dir.stdout")
		[[ -n $uid ]] || { echo "message $n not listed"; return 1; }
		cmp "$out/example-expected-$n" "$dir/$uid.eml" || return 1
	done
	[[ $(find "$dir" -type f | wc -l) == 3 ]] || { echo "unexpected files in $dir"; return 1; }

	# Its error paths, without valgrind: no password, wrong password, no CA.
	env -u MAILTLS_PASSWORD "$out/pop3_fetch" "$MAILTLS_TEST_HOST" "$MAILTLS_TEST_POP3_PORT" \
		user89 >"$dir.nopw" 2>&1
	rc=$?
	cat "$dir.nopw"
	if ((rc != 2)) || ! grep -q MAILTLS_PASSWORD "$dir.nopw"; then
		echo "without MAILTLS_PASSWORD: exit status $rc, expected 2 and a hint"
		return 1
	fi

	MAILTLS_PASSWORD=wrong-password "$out/pop3_fetch" "$MAILTLS_TEST_HOST" \
		"$MAILTLS_TEST_POP3_PORT" user89 --ca-file "$MAILTLS_TEST_CA" --out "$dir" \
		>"$dir.badpw" 2>&1
	rc=$?
	cat "$dir.badpw"
	if ((rc != 1)) || ! grep -q 'logging in failed: .*-ERR \[AUTH\]' "$dir.badpw" ||
		grep -q wrong-password "$dir.badpw"; then
		echo "with a wrong password: exit status $rc, expected 1 and the server's reply"
		return 1
	fi

	MAILTLS_PASSWORD=$MAILTLS_TEST_PASSWORD "$out/pop3_fetch" "$MAILTLS_TEST_HOST" \
		"$MAILTLS_TEST_POP3_PORT" user89 --out "$dir" >"$dir.noca" 2>&1
	rc=$?
	cat "$dir.noca"
	if ((rc != 1)) || ! grep -q 'connecting failed: .*certificate is not trusted' "$dir.noca"; then
		echo "without the test CA: exit status $rc, expected 1 and an untrusted certificate"
		return 1
	fi
}

# The example (user89) runs alongside the test programs.
if [[ -n $example_built ]]; then
	seed_example
	check_example >"$out/logs/pop3_fetch.log" 2>&1 &
	example_pid=$!
fi
run_all "" valgrind "${valgrind[@]}"
run_all .asan "asan+ubsan"
if [[ -n $example_built ]]; then
	wait "$example_pid"
	result "examples/c/pop3_fetch (valgrind)" $? "$out/logs/pop3_fetch.log"
fi

echo "$passed passed, $failed failed"
((failed == 0))
