#!/usr/bin/env bash
# The C++ tests of mailtls: build every test program of tests/cpp against
# bindings/cpp/mailtls.hpp, the committed include/mailtls.h and
# libmailtls.so with g++ and with clang++ (-std=c++17 -Wall -Wextra
# -Wpedantic -Werror); run the g++ build under valgrind and the clang++
# build with AddressSanitizer + UndefinedBehaviorSanitizer; compile the
# header alone with stricter warnings (-Wshadow -Wconversion ...) as user
# code may; build examples/cpp/pop3_fetch with both compilers and run it
# under valgrind against Dovecot.
#
# Usage (after `cargo build`, with the test Dovecot and Postfix running):
#   bash tests/servers/postfix.sh install              # once
#   bash tests/servers/dovecot.sh start /tmp/cpp-srv
#   bash tests/servers/postfix.sh start /tmp/cpp-srv
#   . /tmp/cpp-srv/env.sh
#   bash tests/cpp/run.sh
#
# Environment:
#   MAILTLS_LIB_DIR        directory of libmailtls.so (default target/debug)
#   MAILTLS_CPP_TEST_OUT   build directory (default target/cpp-tests)
#
# Test programs: every tests/cpp/*.cpp (common.hpp holds the shared
# helpers). pop3_test uses user32..user35, smtp_test user36 and user37,
# certificate_test user48, probe_test user49, proxy_test cproxy01 (logins
# only; it also needs the proxies of tests/servers/proxies.sh); the
# example run here uses user38. The programs run at once (distinct users);
# each runs under valgrind, then its ASan/UBSan build.
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
	echo "tests/cpp/run.sh: $*" >&2
	exit 2
}

for var in MAILTLS_TEST_POP3S_PORT MAILTLS_TEST_POP3_PORT MAILTLS_TEST_HOST MAILTLS_TEST_CA \
	MAILTLS_TEST_OTHER_CA MAILTLS_TEST_SERVER_SHA256 MAILTLS_TEST_PASSWORD MAILTLS_TEST_MAILDIR_ROOT \
	MAILTLS_TEST_SMTP_SUBMISSION_PORT MAILTLS_TEST_SMTPS_PORT; do
	[[ -n ${!var:-} ]] ||
		die "$var is not set: start the test servers and source their env.sh:
  bash tests/servers/postfix.sh install
  bash tests/servers/dovecot.sh start /tmp/cpp-srv && bash tests/servers/postfix.sh start /tmp/cpp-srv
  . /tmp/cpp-srv/env.sh"
done

libdir=${MAILTLS_LIB_DIR:-target/debug}
[[ -f $libdir/libmailtls.so ]] || die "no $libdir/libmailtls.so: run cargo build first (or set MAILTLS_LIB_DIR)"
libdir=$(cd "$libdir" && pwd)
out=${MAILTLS_CPP_TEST_OUT:-$root/target/cpp-tests}
rm -rf "$out/logs"
mkdir -p "$out/logs" || die "cannot create $out"
out=$(cd "$out" && pwd)

# The tools, installed when missing (as tests/install-deps.sh does).
missing=()
command -v valgrind >/dev/null || missing+=(valgrind)
command -v g++ >/dev/null || missing+=(g++)
command -v clang++ >/dev/null || missing+=(clang libclang-rt-14-dev)
if ((${#missing[@]})); then
	echo "tests/cpp/run.sh: installing ${missing[*]}" >&2
	{ DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			"${missing[@]}" >/dev/null; } || die "could not install ${missing[*]}"
fi

cxxflags=(-std=c++17 -Wall -Wextra -Wpedantic -Werror -g -I include -I bindings/cpp)
# What a strict user build may add: the header must stay clean under it.
strict=(-Wshadow -Wconversion -Wsign-conversion -Wold-style-cast -Wcast-qual -Wnon-virtual-dtor)
sanitize=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
link=(-L "$libdir" -lmailtls -Wl,-rpath,"$libdir")
valgrind=(valgrind -q --error-exitcode=99 --leak-check=full
	--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect)
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

tests=()
for src in tests/cpp/*.cpp; do
	tests+=("$(basename "$src" .cpp)")
done
((${#tests[@]})) || die "no test programs in tests/cpp"

# --- build (all at once) --------------------------------------------------------

# build_program NAME SOURCE: the g++ build NAME and the clang++ ASan/UBSan
# build NAME.asan. Exit status 1: the g++ build failed; 2: the clang++ one.
build_program() {
	local name=$1 src=$2
	g++ "${cxxflags[@]}" -o "$out/$name" "$src" "${link[@]}" >"$out/logs/$name.build.log" 2>&1 || return 1
	clang++ "${cxxflags[@]}" "${sanitize[@]}" -o "$out/$name.asan" "$src" "${link[@]}" \
		>"$out/logs/$name.asan.build.log" 2>&1 || return 2
	# A sanitizer build that silently lost its sanitizers would prove nothing.
	nm "$out/$name.asan" >"$out/logs/$name.asan.symbols" 2>>"$out/logs/$name.asan.build.log"
	{ grep -q ' __asan_init$' "$out/logs/$name.asan.symbols" &&
		grep -q ' __ubsan_handle_' "$out/logs/$name.asan.symbols"; } ||
		{ echo "no ASan/UBSan runtime in $name.asan" >>"$out/logs/$name.asan.build.log"; return 2; }
}

declare -A build_pids=()
for t in "${tests[@]}"; do
	build_program "$t" "tests/cpp/$t.cpp" &
	build_pids[$t]=$!
done
build_program pop3_fetch examples/cpp/pop3_fetch.cpp &
build_pids[pop3_fetch]=$!
# The header alone, with the strict warnings, with both compilers.
printf '#include "mailtls.hpp"\nint main() { return mailtls::version().empty() ? 1 : 0; }\n' >"$out/header_strict.cpp"
{
	g++ "${cxxflags[@]}" "${strict[@]}" -Wuseless-cast -fsyntax-only "$out/header_strict.cpp" &&
		clang++ "${cxxflags[@]}" "${strict[@]}" -fsyntax-only "$out/header_strict.cpp"
} >"$out/logs/header_strict.log" 2>&1 &
build_pids[header_strict]=$!

built=()
for t in "${tests[@]}" pop3_fetch; do
	wait "${build_pids[$t]}"
	case $? in
	0) [[ $t == pop3_fetch ]] || built+=("$t") ;;
	1) result "build $t (g++)" 1 "$out/logs/$t.build.log" ;;
	*) result "build $t (clang++ asan+ubsan)" 1 "$out/logs/$t.asan.build.log" ;;
	esac
done
example_built=
[[ -x $out/pop3_fetch && -x $out/pop3_fetch.asan ]] && example_built=1
wait "${build_pids[header_strict]}"
result "mailtls.hpp with strict warnings (g++, clang++)" $? "$out/logs/header_strict.log"

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

# --- the example (user38) ----------------------------------------------------------

# Seed user38 with three messages (LF line ends, one dot line); Dovecot
# sends them with CRLF: pop3_fetch must report those sizes.
seed_example() {
	local md=$MAILTLS_TEST_MAILDIR_ROOT/user38/Maildir i f
	rm -f "$md"/new/* "$md"/cur/* "$out"/example-expected-*
	for i in 1 2 3; do
		f=$md/tmp/100000000$i.M${i}P$$.cpp-example
		printf 'From: sender%s@example.org\nSubject: example %s\n\nbody of message %s\n.a line with a dot\n' \
			"$i" "$i" "$i" >"$f"
		sed 's/$/\r/' "$f" >"$out/example-expected-$i"
		chown 65534:65534 "$f" && mv "$f" "$md/new/"
	done
}

# The example under valgrind over STLS (AUTO on the plain port), then its
# ASan build over implicit TLS; then its error paths: a wrong password, no CA.
check_example() {
	local rc n size
	local -a args=("$MAILTLS_TEST_HOST" "$MAILTLS_TEST_POP3_PORT" user38 --ca-file "$MAILTLS_TEST_CA")
	MAILTLS_PASSWORD=$MAILTLS_TEST_PASSWORD "${valgrind[@]}" "$out/pop3_fetch" "${args[@]}" \
		>"$out/example.stdout" 2>&1
	rc=$?
	cat "$out/example.stdout"
	((rc == 0)) || { echo "pop3_fetch exited with $rc"; return 1; }
	grep -q '^3 message(s)$' "$out/example.stdout" || { echo "no listing of 3 messages"; return 1; }
	for n in 1 2 3; do
		size=$(stat -c %s "$out/example-expected-$n")
		grep -Eq "^$n $size [^ ]+\$" "$out/example.stdout" ||
			{ echo "message $n not listed with $size bytes"; return 1; }
	done

	MAILTLS_PASSWORD=$MAILTLS_TEST_PASSWORD "$out/pop3_fetch.asan" "$MAILTLS_TEST_HOST" \
		"$MAILTLS_TEST_POP3S_PORT" user38 --ca-file "$MAILTLS_TEST_CA" --tls >"$out/example.tls" 2>&1
	rc=$?
	cat "$out/example.tls"
	if ((rc != 0)) || ! cmp -s "$out/example.stdout" "$out/example.tls"; then
		echo "over implicit TLS (ASan build): exit status $rc, expected 0 and the same listing"
		return 1
	fi

	MAILTLS_PASSWORD=wrong-password-cpp "$out/pop3_fetch" "${args[@]}" >"$out/example.badpw" 2>&1
	rc=$?
	cat "$out/example.badpw"
	if ((rc != 1)) || ! grep -q '^pop3_fetch: .*-ERR \[AUTH\]' "$out/example.badpw" ||
		grep -q wrong-password-cpp "$out/example.badpw"; then
		echo "with a wrong password: exit status $rc, expected 1 and the server's reply"
		return 1
	fi

	MAILTLS_PASSWORD=$MAILTLS_TEST_PASSWORD "$out/pop3_fetch" "$MAILTLS_TEST_HOST" \
		"$MAILTLS_TEST_POP3_PORT" user38 >"$out/example.noca" 2>&1
	rc=$?
	cat "$out/example.noca"
	if ((rc != 1)) || ! grep -q 'certificate is not trusted' "$out/example.noca"; then
		echo "without the test CA: exit status $rc, expected 1 and an untrusted certificate"
		return 1
	fi
}

# --- run everything at once ---------------------------------------------------------

declare -A run_pids=()
if [[ -n $example_built ]]; then
	seed_example
	check_example >"$out/logs/pop3_fetch.log" 2>&1 &
	run_pids[pop3_fetch]=$!
fi
for t in "${built[@]}"; do
	run_program "$t" &
	run_pids[$t]=$!
done

for t in "${built[@]}"; do
	wait "${run_pids[$t]}"
	result "$t (g++, valgrind)" "$(cat "$out/logs/$t.status" 2>/dev/null || echo 1)" "$out/logs/$t.log"
	result "$t (clang++ asan+ubsan)" "$(cat "$out/logs/$t.asan.status" 2>/dev/null || echo 1)" \
		"$out/logs/$t.asan.log"
done
if [[ -n ${run_pids[pop3_fetch]:-} ]]; then
	wait "${run_pids[pop3_fetch]}"
	result "examples/cpp/pop3_fetch (g++ valgrind, clang++ asan+ubsan)" $? "$out/logs/pop3_fetch.log"
fi

echo "$passed passed, $failed failed"
((failed == 0))
