#!/usr/bin/env bash
# Tests of bindings/c/install.sh from what it installed only: install into
# a temporary prefix P staged through a DESTDIR D, move D/P to P as a
# package manager would, then build C programs with nothing but P (no
# -I include, nothing of target/) and run them against the test servers:
#
#   pkg-config, shared   cc $(pkg-config --cflags --libs mailtls); run with
#                        LD_LIBRARY_PATH=P/lib (a .pc file adds no rpath)
#   pkg-config, static   cc $(pkg-config --cflags mailtls) and
#                        $(pkg-config --static --libs mailtls) with
#                        -lmailtls as -l:libmailtls.a; needs no libmailtls.so
#   CMake, shared        find_package(mailtls) + mailtls::mailtls; runs
#                        without LD_LIBRARY_PATH (CMake's build-tree rpath)
#   CMake, static        mailtls::mailtls_static, from a copy of P elsewhere
#                        (the CMake files find their prefix themselves);
#                        MAILTLS_USE_STATIC_LIBS=ON with mailtls::mailtls
#
# Each of the four builds the examples pop3_fetch and smtp_send
# (examples/c) and tests/install/version_check.c; pop3_fetch fetches two
# messages over POP3S from the test Dovecot (byte for byte), smtp_send
# sends one over submission with STARTTLS and AUTH through the test
# Postfix, which must arrive as sent. Also checked: the files and their
# modes, that the .pc and CMake files name P and not D, the soname
# (libmailtls.so.0.1 for 0.1.x), that the shared library is stripped, the
# header's version macros against Cargo.toml and mailtls_version(), the
# CMake version rule, and an install with a multiarch --libdir. Then a C++
# program (tests/install/cpp_mail.cpp) built with the installed
# mailtls.hpp through pkg-config fetches and sends the same way.
#
# Usage, with the test Dovecot and Postfix running:
#   bash tests/servers/postfix.sh install              # once
#   bash tests/servers/dovecot.sh start /tmp/inst-srv
#   bash tests/servers/postfix.sh start /tmp/inst-srv
#   . /tmp/inst-srv/env.sh
#   bash tests/install/run.sh
#
# Users: user43 (pkg-config shared), user44 (pkg-config static), user45
# (CMake shared), user46 (CMake static), user47 (C++); each one's mailbox is emptied and
# seeded here. Installs cmake, pkg-config and binutils with apt-get when
# they are missing. The release build goes to $CARGO_TARGET_DIR/install
# (see install.sh). MAILTLS_INSTALL_TEST_KEEP=1 keeps the work directory.
# shellcheck disable=SC2153 # MAILTLS_TEST_* come from env.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

die() {
	echo "tests/install/run.sh: $*" >&2
	exit 2
}
for var in MAILTLS_TEST_HOST MAILTLS_TEST_POP3S_PORT MAILTLS_TEST_CA MAILTLS_TEST_PASSWORD \
	MAILTLS_TEST_MAILDIR_ROOT MAILTLS_TEST_SMTP_SUBMISSION_PORT; do
	[[ -n ${!var:-} ]] || die "$var is not set: start the test servers and source their env.sh:
  bash tests/servers/postfix.sh install
  bash tests/servers/dovecot.sh start /tmp/inst-srv && bash tests/servers/postfix.sh start /tmp/inst-srv
  . /tmp/inst-srv/env.sh"
done

missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v readelf >/dev/null || missing+=(binutils)
if ((${#missing[@]})); then
	echo "tests/install/run.sh: installing ${missing[*]}" >&2
	{ apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } ||
		die "${missing[*]} missing and could not be installed"
fi

work=$(mktemp -d /tmp/mailtls-install.XXXXXX)
cleanup() {
	if [[ -n ${MAILTLS_INSTALL_TEST_KEEP:-} ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
prefix=$work/prefix # P: where the files are used from
stage=$work/stage   # D: where install.sh puts them first

passed=0
pass() {
	passed=$((passed + 1))
	echo "PASS $*"
}
fail() {
	echo "FAIL $*" >&2
	echo "tests/install/run.sh: $passed passed before this failure (work directory: $work)" >&2
	MAILTLS_INSTALL_TEST_KEEP=1
	exit 1
}

version=$(sed -n '/^\[package\]/,/^\[/s/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
IFS=. read -r major minor patch <<<"$version"
# The soname rule of install.sh: MAJOR.MINOR while 0.x, then MAJOR.
if ((major == 0)); then soname=libmailtls.so.$major.$minor; else soname=libmailtls.so.$major; fi

# --- install, staged through DESTDIR ------------------------------------------------

echo "== install.sh --prefix P --destdir D"
bash bindings/c/install.sh --prefix "$prefix" --destdir "$stage" >"$work/install.log" 2>&1 ||
	{
		rc=$?
		tail -n 40 "$work/install.log"
		fail "install.sh exited with $rc"
	}

expected=(include/mailtls/mailtls.h lib/libmailtls.a lib/libmailtls.so "lib/$soname"
	"lib/libmailtls.so.$version" lib/pkgconfig/mailtls.pc lib/cmake/mailtls/mailtls-config.cmake
	lib/cmake/mailtls/mailtls-config-version.cmake)
[[ -f bindings/cpp/mailtls.hpp ]] && expected+=(include/mailtls/mailtls.hpp)
[[ -f cli/Cargo.toml ]] && expected+=(bin/mailtls)
found=$(cd "$stage" && find . -mindepth 1 ! -type d | sed 's|^\./||' | sort)
want=$(printf "${prefix#/}/%s\n" "${expected[@]}" | sort)
[[ $found == "$want" ]] || fail "DESTDIR staging: expected exactly
$want
under D, found
$found"
pass "DESTDIR: every file under D/P, nothing else (${#expected[@]} files)"

if grep -rlF "$stage" "$stage$prefix/lib/pkgconfig" "$stage$prefix/lib/cmake"; then
	fail "the files above name the DESTDIR $stage"
fi
grep -qxF "prefix=$prefix" "$stage$prefix/lib/pkgconfig/mailtls.pc" || fail "mailtls.pc does not name the prefix $prefix"
pass "mailtls.pc and the CMake files name P, not D"

# As a package manager would: the staged tree goes to its place.
mv "$stage$prefix" "$prefix"
lib=$prefix/lib

for mode_file in "755 lib/libmailtls.so.$version" "644 lib/libmailtls.a" "644 include/mailtls/mailtls.h" \
	"644 lib/pkgconfig/mailtls.pc" "644 lib/cmake/mailtls/mailtls-config.cmake"; do
	read -r mode file <<<"$mode_file"
	[[ $(stat -c %a "$prefix/$file") == "$mode" ]] || fail "$file has mode $(stat -c %a "$prefix/$file"), not $mode"
done
[[ $(readlink "$lib/$soname") == "libmailtls.so.$version" && $(readlink "$lib/libmailtls.so") == "libmailtls.so.$version" ]] ||
	fail "the symlinks $soname and libmailtls.so do not point to libmailtls.so.$version"
pass "file modes; $soname and libmailtls.so -> libmailtls.so.$version"

readelf -d "$lib/libmailtls.so.$version" | grep -qF "Library soname: [$soname]" ||
	fail "the soname of libmailtls.so.$version is not $soname: $(readelf -d "$lib/libmailtls.so.$version" | grep SONAME)"
pass "soname $soname (readelf -d)"

sections=$(readelf -S -W "$lib/libmailtls.so.$version")
if grep -qE ' \.(debug_[a-z]+|symtab) ' <<<"$sections"; then
	fail "the installed shared library is not stripped: $(grep -oE '\.(debug_[a-z]+|symtab)' <<<"$sections" | xargs)"
fi
pass "shared library stripped ($(stat -c %s "$lib/libmailtls.so.$version") bytes)"

header=$prefix/include/mailtls/mailtls.h
cmp -s "$header" include/mailtls.h || fail "the installed header differs from include/mailtls.h"
for define in "MAILTLS_VERSION_MAJOR $major" "MAILTLS_VERSION_MINOR $minor" "MAILTLS_VERSION_PATCH $patch" \
	"MAILTLS_VERSION_STRING \"$version\""; do
	grep -qxF "#define $define" "$header" || fail "the installed header lacks #define $define"
done
pass "installed header: the committed one, with the version macros of $version"

# --- the programs' sources, away from the source tree ---------------------------------

src=$work/src
mkdir -p "$src"
cp examples/c/pop3_fetch.c examples/c/smtp_send.c tests/install/version_check.c "$src/"
programs=(pop3_fetch smtp_send version_check)

# pkg-config with only the installed .pc file, whatever else the machine
# has; its output's words separated by single spaces. (Not exported: the
# cargo build of the second install would see it.)
pc() {
	local words
	read -ra words <<<"$(PKG_CONFIG_LIBDIR=$lib/pkgconfig PKG_CONFIG_PATH='' pkg-config "$@")"
	echo "${words[*]}"
}
[[ $(pc --modversion mailtls) == "$version" ]] || fail "pkg-config --modversion: $(pc --modversion mailtls)"
[[ $(pc --cflags mailtls) == "-I$prefix/include/mailtls" ]] || fail "pkg-config --cflags: $(pc --cflags mailtls)"
[[ $(pc --libs mailtls) == "-L$lib -lmailtls" ]] || fail "pkg-config --libs: $(pc --libs mailtls)"
static_libs=$(pc --static --libs mailtls)
[[ $static_libs == "-L$lib -lmailtls "*-lssl*-lcrypto* ]] || fail "pkg-config --static --libs: $static_libs"
pass "pkg-config: version $version, -I$prefix/include/mailtls, -L$lib -lmailtls; static: $static_libs"

cflags=(-std=c11 -Wall -Wextra -Wpedantic -Werror -O2)

# compile OUT_DIR LINK_FLAGS...: the programs from $src, each with a
# dependency file that must name the installed header.
compile() {
	local out=$1 p
	shift
	mkdir -p "$out"
	for p in "${programs[@]}"; do
		# shellcheck disable=SC2046 # pkg-config's flags are words
		gcc "${cflags[@]}" $(pc --cflags mailtls) -MD -MF "$out/$p.d" -o "$out/$p" "$src/$p.c" "$@" \
			>"$out/$p.build.log" 2>&1 || { cat "$out/$p.build.log"; fail "building $p ($out)"; }
		grep -qF "$prefix/include/mailtls/mailtls.h" "$out/$p.d" || fail "$p was not compiled with the installed header"
	done
}

# needed PROGRAM: its DT_NEEDED entries, one a line.
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }

# resolves_to_prefix PROGRAM [ENV...]: ldd finds the soname in P/lib.
resolves_to_prefix() {
	local program=$1 line
	shift
	line=$(env "$@" ldd "$program" | grep -F "$soname") || fail "ldd $program: no $soname"
	[[ $line == *"=> $lib/$soname "* ]] || fail "ldd $program: $line (expected $lib/$soname)"
}

# not_linked_to_shared PROGRAM: a static build loads no libmailtls.so.
not_linked_to_shared() {
	if needed "$1" | grep -q libmailtls || ldd "$1" | grep -q libmailtls; then
		fail "$1 needs libmailtls.so: $(ldd "$1" | grep libmailtls)"
	fi
}

# --- mail through the servers ---------------------------------------------------------

# expect_delivered LABEL USER EXPECTED: within 15 s exactly one message
# arrives in USER's Maildir, equal to the file EXPECTED.
expect_delivered() {
	local label=$1 md=$MAILTLS_TEST_MAILDIR_ROOT/$2/Maildir delivered='' i
	for ((i = 0; i < 150; i++)); do
		delivered=$(find "$md/new" "$md/cur" -type f)
		[[ -n $delivered ]] && break
		sleep 0.1
	done
	[[ -n $delivered ]] || fail "$label: nothing delivered to $2 in 15 s"
	[[ $delivered != *$'\n'* ]] || fail "$label: more than one message delivered to $2"
	cmp "$3" "$delivered" || fail "$label: the delivered message differs from the one sent"
}

# check_mail LABEL BIN_DIR USER [ENV...]: pop3_fetch fetches two seeded
# messages over POP3S byte for byte; smtp_send sends one to USER through
# submission (STARTTLS, AUTH), which arrives as it was sent.
check_mail() {
	local label=$1 bin=$2 user=$3 out md i f found rc
	shift 3
	local -a run=(env "$@" MAILTLS_PASSWORD="$MAILTLS_TEST_PASSWORD")
	out=$work/mail-$user
	md=$MAILTLS_TEST_MAILDIR_ROOT/$user/Maildir
	rm -rf "$out" && mkdir -p "$out/fetched"
	rm -f "$md"/new/* "$md"/cur/*

	"${run[@]}" "$bin/version_check" >"$out/version" 2>&1 || { cat "$out/version"; fail "$label: version_check"; }
	[[ $(<"$out/version") == "header $version ($version), library $version" ]] ||
		fail "$label: version_check printed $(<"$out/version")"

	for i in 1 2; do
		f=$md/tmp/200000000$i.M${i}P$$.install
		printf 'From: sender%s@example.org\nSubject: %s message %s\n\nbody %s\n.a line with a dot\n' \
			"$i" "$label" "$i" "$i" >"$f"
		cp "$f" "$out/expected-$i"
		chown 65534:65534 "$f" && mv "$f" "$md/new/"
	done
	"${run[@]}" "$bin/pop3_fetch" "$MAILTLS_TEST_HOST" "$MAILTLS_TEST_POP3S_PORT" "$user" --tls \
		--ca-file "$MAILTLS_TEST_CA" --maildir "$out/fetched" >"$out/pop3.log" 2>&1 ||
		{
			rc=$?
			cat "$out/pop3.log"
			fail "$label: pop3_fetch exited with $rc"
		}
	grep -qx '2 new, 0 already had, 0 deleted on the server' "$out/pop3.log" ||
		{ cat "$out/pop3.log"; fail "$label: pop3_fetch did not save 2 new messages"; }
	# The Maildir holds each seeded message byte for byte (LF line ends,
	# as stored), once.
	[[ $(find "$out/fetched/new" -type f | wc -l) == 2 ]] || fail "$label: not 2 files in the Maildir"
	for i in 1 2; do
		found=
		for f in "$out"/fetched/new/*; do cmp -s "$out/expected-$i" "$f" && found=1; done
		[[ -n $found ]] || fail "$label: message $i is not in the Maildir as seeded"
	done

	rm -f "$md"/new/* "$md"/cur/*
	printf 'From: sender@example.org\nTo: %s@localhost\nSubject: %s %s\n\nsent by smtp_send\n.a line with a dot\n' \
		"$user" "$label" "$$" >"$out/message.eml"
	{
		printf 'Return-Path: <sender@example.org>\nDelivered-To: %s@localhost\n' "$user"
		cat "$out/message.eml"
	} >"$out/expected-delivered"
	"${run[@]}" "$bin/smtp_send" "$MAILTLS_TEST_HOST" "$MAILTLS_TEST_SMTP_SUBMISSION_PORT" "$user" \
		sender@example.org "$user@localhost" "$out/message.eml" --ca-file "$MAILTLS_TEST_CA" \
		>"$out/smtp.log" 2>&1 || {
			rc=$?
			cat "$out/smtp.log"
			fail "$label: smtp_send exited with $rc"
		}
	grep -qx "$user@localhost: accepted 250 2\.1\.5 Ok" "$out/smtp.log" ||
		{ cat "$out/smtp.log"; fail "$label: smtp_send reported no acceptance"; }
	expect_delivered "$label" "$user" "$out/expected-delivered"
	pass "$label: version_check, pop3_fetch (POP3S, 2 messages byte-exact), smtp_send (STARTTLS+AUTH, delivered as sent) as $user"
}

# --- (a) pkg-config, shared -----------------------------------------------------------

echo "== pkg-config, shared"
# shellcheck disable=SC2046
compile "$work/pc-shared" $(pc --libs mailtls)
for p in "${programs[@]}"; do
	needed "$work/pc-shared/$p" | grep -qx "$soname" || fail "$p does not need $soname: $(needed "$work/pc-shared/$p" | xargs)"
	resolves_to_prefix "$work/pc-shared/$p" LD_LIBRARY_PATH="$lib"
done
pass "pkg-config shared: built from P only, NEEDED $soname, found in P/lib with LD_LIBRARY_PATH"
check_mail "pkg-config shared" "$work/pc-shared" user43 LD_LIBRARY_PATH="$lib"

# --- (b) pkg-config, static -----------------------------------------------------------

echo "== pkg-config, static"
# The linker takes libmailtls.so over libmailtls.a in the same directory:
# -l:libmailtls.a names the archive.
# shellcheck disable=SC2046
compile "$work/pc-static" $(pc --static --libs mailtls | sed 's/-lmailtls\b/-l:libmailtls.a/')
for p in "${programs[@]}"; do not_linked_to_shared "$work/pc-static/$p"; done
pass "pkg-config static: no libmailtls.so needed (readelf, ldd)"
check_mail "pkg-config static" "$work/pc-static" user44

# --- (c) CMake ------------------------------------------------------------------------

# cmake_build DIR PREFIX [CMAKE_ARGS...]: configure tests/install/cmake
# against PREFIX only and build it; the package must come from PREFIX.
cmake_build() {
	local dir=$1 from=$2
	shift 2
	if ! cmake -S tests/install/cmake -B "$dir" -DCMAKE_PREFIX_PATH="$from" -DMAILTLS_TEST_SOURCES="$src" \
		-DCMAKE_BUILD_TYPE=Release -DCMAKE_EXPORT_COMPILE_COMMANDS=ON "$@" >"$dir.log" 2>&1 ||
		! cmake --build "$dir" >>"$dir.log" 2>&1; then
		cat "$dir.log"
		fail "CMake build in $dir"
	fi
	grep -qxF "mailtls_DIR:PATH=$from/lib/cmake/mailtls" "$dir/CMakeCache.txt" ||
		fail "CMake found mailtls elsewhere: $(grep mailtls_DIR "$dir/CMakeCache.txt")"
	grep -qF -- "-isystem $from/include/mailtls" "$dir/compile_commands.json" ||
		fail "$dir: not compiled with $from/include/mailtls"
	if grep -qF "$root/include" "$dir/compile_commands.json"; then fail "$dir: compiled with the source tree's include/"; fi
}

echo "== CMake, mailtls::mailtls (shared)"
cmake_build "$work/cmake-shared" "$prefix"
for p in "${programs[@]}"; do
	needed "$work/cmake-shared/$p" | grep -qx "$soname" || fail "CMake $p does not need $soname"
	resolves_to_prefix "$work/cmake-shared/$p"
done
pass "CMake mailtls::mailtls: NEEDED $soname, found in P/lib through CMake's rpath (no LD_LIBRARY_PATH)"
check_mail "CMake shared" "$work/cmake-shared" user45

echo "== CMake, mailtls::mailtls_static, from a copy of the prefix elsewhere"
moved=$work/moved-prefix
cp -a "$prefix" "$moved"
cmake_build "$work/cmake-static" "$moved" -DMAILTLS_TEST_TARGET=mailtls::mailtls_static
grep -qF "$moved/lib/libmailtls.a" "$work/cmake-static/CMakeFiles/pop3_fetch.dir/link.txt" ||
	fail "the static CMake build does not link $moved/lib/libmailtls.a"
for p in "${programs[@]}"; do not_linked_to_shared "$work/cmake-static/$p"; done
pass "CMake mailtls::mailtls_static: linked with the moved prefix's libmailtls.a and its system libraries, no libmailtls.so"
check_mail "CMake static" "$work/cmake-static" user46

echo "== CMake, MAILTLS_USE_STATIC_LIBS=ON, and the version rule"
cmake_build "$work/cmake-use-static" "$prefix" -DMAILTLS_USE_STATIC_LIBS=ON
not_linked_to_shared "$work/cmake-use-static/version_check"
"$work/cmake-use-static/version_check" >/dev/null || fail "version_check of MAILTLS_USE_STATIC_LIBS=ON"
pass "CMake MAILTLS_USE_STATIC_LIBS=ON: mailtls::mailtls is the static library"

# find_package(mailtls X CONFIG REQUIRED): what the 0.x soname rule allows.
version_rule() {
	local asked=$1 dir=$work/cmake-version-$1
	mkdir -p "$dir"
	printf 'cmake_minimum_required(VERSION 3.13)\nproject(v C)\nfind_package(mailtls %s CONFIG REQUIRED)\n' \
		"$asked" >"$dir/CMakeLists.txt"
	cmake -S "$dir" -B "$dir/build" -DCMAKE_PREFIX_PATH="$prefix" >"$dir.log" 2>&1
}
for asked in "$major.$minor" "$version" "$major.$minor.0"; do
	version_rule "$asked" || { cat "$work/cmake-version-$asked.log"; fail "find_package(mailtls $asked) refused $version"; }
done
for asked in "$major.$((minor + 1))" "$((major + 1)).0" "$major.$minor.$((patch + 1))"; do
	! version_rule "$asked" || fail "find_package(mailtls $asked) accepted $version"
	grep -qF "mailtls-config.cmake, version: $version" "$work/cmake-version-$asked.log" ||
		{ cat "$work/cmake-version-$asked.log"; fail "find_package(mailtls $asked): not refused for its version"; }
done
pass "CMake version rule: $major.$minor, $version accepted; $major.$((minor + 1)), $((major + 1)).0, a later patch refused"

# --- a multiarch libdir, without DESTDIR ----------------------------------------------

multiarch=$(gcc -print-multiarch)
if [[ -n $multiarch ]]; then
	echo "== install.sh --libdir lib/$multiarch"
	prefix2=$work/multiarch
	bash bindings/c/install.sh --prefix "$prefix2" --libdir "lib/$multiarch" --no-cli >"$work/install2.log" 2>&1 ||
		{
			rc=$?
			tail -n 40 "$work/install2.log"
			fail "install.sh --libdir lib/$multiarch exited with $rc"
		}
	lib2=$prefix2/lib/$multiarch
	for f in "libmailtls.so.$version" "$soname" libmailtls.so libmailtls.a pkgconfig/mailtls.pc \
		cmake/mailtls/mailtls-config.cmake; do
		[[ -e $lib2/$f ]] || fail "no $lib2/$f"
	done
	[[ $(PKG_CONFIG_LIBDIR=$lib2/pkgconfig pkg-config --variable=libdir mailtls) == "$lib2" ]] ||
		fail "mailtls.pc's libdir is not $lib2"
	dir=$work/cmake-multiarch
	if ! cmake -S tests/install/cmake -B "$dir" -DCMAKE_PREFIX_PATH="$prefix2" -DMAILTLS_TEST_SOURCES="$src" \
		>"$dir.log" 2>&1 || ! cmake --build "$dir" --target version_check >>"$dir.log" 2>&1; then
		cat "$dir.log"
		fail "CMake build against $prefix2"
	fi
	line=$(ldd "$dir/version_check" | grep -F "$soname")
	[[ $line == *"=> $lib2/$soname "* ]] || fail "ldd: $line (expected $lib2/$soname)"
	"$dir/version_check" >/dev/null || fail "version_check against $prefix2"
	pass "multiarch: lib/$multiarch holds the libraries, mailtls.pc and the CMake files, which find it"
fi

# --- (e) C++ with mailtls.hpp, pkg-config, shared --------------------------------------

echo "== C++ (mailtls.hpp), pkg-config, shared"
cpp=$work/cpp
mkdir -p "$cpp/fetched"
cp tests/install/cpp_mail.cpp "$src/"
# shellcheck disable=SC2046 # pkg-config's flags are words
g++ -std=c++17 -Wall -Wextra -Wpedantic -Werror -O2 $(pc --cflags mailtls) -MD -MF "$cpp/cpp_mail.d" \
	-o "$cpp/cpp_mail" "$src/cpp_mail.cpp" $(pc --libs mailtls) >"$cpp/build.log" 2>&1 ||
	{ cat "$cpp/build.log"; fail "building cpp_mail"; }
grep -qF "$prefix/include/mailtls/mailtls.hpp" "$cpp/cpp_mail.d" || fail "cpp_mail was not compiled with the installed mailtls.hpp"
md=$MAILTLS_TEST_MAILDIR_ROOT/user47/Maildir
rm -f "$md"/new/* "$md"/cur/*
for i in 1 2; do
	f=$md/tmp/300000000$i.M${i}P$$.install
	printf 'From: sender%s@example.org\nSubject: C++ message %s\n\nbody %s\n.a line with a dot\n' "$i" "$i" "$i" >"$f"
	sed 's/$/\r/' "$f" >"$cpp/expected-$i"
	chown 65534:65534 "$f" && mv "$f" "$md/new/"
done
run_cpp=(env LD_LIBRARY_PATH="$lib" MAILTLS_PASSWORD="$MAILTLS_TEST_PASSWORD" "$cpp/cpp_mail")
"${run_cpp[@]}" fetch "$MAILTLS_TEST_HOST" "$MAILTLS_TEST_POP3S_PORT" user47 "$MAILTLS_TEST_CA" "$cpp/fetched" \
	>"$cpp/fetch.log" 2>&1 || { cat "$cpp/fetch.log"; fail "cpp_mail fetch"; }
grep -qx '2 message(s)' "$cpp/fetch.log" || { cat "$cpp/fetch.log"; fail "cpp_mail did not list 2 messages"; }
# The fetched files, in the order of their unique ids (Dovecot numbers them
# in order), against what was seeded.
mapfile -t fetched < <(find "$cpp/fetched" -name '*.eml' | sort)
((${#fetched[@]} == 2)) || fail "cpp_mail saved ${#fetched[@]} messages, not 2"
for i in 1 2; do cmp "$cpp/expected-$i" "${fetched[i - 1]}" || fail "C++: message $i differs from what was seeded"; done
rm -f "$md"/new/* "$md"/cur/*
printf 'From: sender@example.org\nTo: user47@localhost\nSubject: C++ %s\n\nsent with mailtls.hpp\n' "$$" >"$cpp/message.eml"
"${run_cpp[@]}" send "$MAILTLS_TEST_HOST" "$MAILTLS_TEST_SMTP_SUBMISSION_PORT" user47 "$MAILTLS_TEST_CA" \
	sender@example.org user47@localhost "$cpp/message.eml" >"$cpp/send.log" 2>&1 || { cat "$cpp/send.log"; fail "cpp_mail send"; }
grep -qx 'user47@localhost: accepted 250 2\.1\.5' "$cpp/send.log" || { cat "$cpp/send.log"; fail "cpp_mail: not accepted"; }
{ printf 'Return-Path: <sender@example.org>\nDelivered-To: user47@localhost\n'; cat "$cpp/message.eml"; } \
	>"$cpp/expected-delivered"
expect_delivered C++ user47 "$cpp/expected-delivered"
pass "C++: cpp_mail built from P's mailtls.hpp with pkg-config fetched 2 messages byte-exact (POP3S) and sent one (STARTTLS+AUTH) as user47"

# --- the command-line tool, when there is one -------------------------------------------

if [[ -f cli/Cargo.toml ]]; then
	"$prefix/bin/mailtls" --help >"$work/cli-help.log" 2>&1 || { cat "$work/cli-help.log"; fail "bin/mailtls --help"; }
	not_linked_to_shared "$prefix/bin/mailtls"
	pass "bin/mailtls runs (--help) without libmailtls.so"
fi

echo "$passed passed, 0 failed"
