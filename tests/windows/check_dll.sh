#!/usr/bin/env bash
# Check one Windows package folder made by bindings/windows/build.sh
# (target/windows/mailtls-<version>-windows-<arch>), without running
# anything on Windows:
#
#   imports   the DLL imports only Windows system DLLs (allow-list below:
#             no mingw runtime such as libgcc_s_*, libwinpthread-1, libstdc++)
#   exports   the DLL exports exactly the functions declared in mailtls.h,
#             under their plain C names (no _name or name@N decoration), and
#             mailtls.def lists the same; the folder's header is the
#             repository's include/mailtls.h
#   link      a C program compiled with the mingw gcc links against
#             mailtls.lib and, separately, against libmailtls.dll.a; one
#             compiled for the MSVC ABI (clang --target=*-windows-msvc)
#             links with lld-link, the MSVC-compatible linker, against
#             mailtls.lib; each program imports the plain names from
#             mailtls.dll (for i686: the .lib maps the _name that 32-bit
#             cdecl callers reference to the DLL's plain name)
#   strip     the DLL has no .debug sections and no symbol table, and is
#             at most 4 MiB (it is about 2 MiB; 9-11 MiB with debug info;
#             8 MiB for a package of another profile than release)
#
# Usage: bash tests/windows/check_dll.sh DIR
#
# Needs the mingw-w64 gcc of DIR's architecture, clang and lld-link
# (installs lld with apt-get if lld-link is missing). Prints PASS/FAIL per
# check and "N passed, M failed"; exits non-zero on any failure.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

die() {
	echo "tests/windows/check_dll.sh: $*" >&2
	exit 2
}

(($# == 1)) || die "usage: bash tests/windows/check_dll.sh DIR (a folder made by bindings/windows/build.sh)"
dir=$(cd "$1" 2>/dev/null && pwd) || die "no such folder: $1"
for f in mailtls.dll libmailtls.dll.a mailtls.lib mailtls.def mailtls.h; do
	[[ -f $dir/$f ]] || die "$dir has no $f: build it with bash bindings/windows/build.sh"
done

# The DLL's architecture picks the tools.
case $(objdump -f "$dir/mailtls.dll" 2>/dev/null || x86_64-w64-mingw32-objdump -f "$dir/mailtls.dll") in
*"file format pei-x86-64"*) arch=x86_64 ;;
*"file format pei-i386"*) arch=i686 ;;
*) die "$dir/mailtls.dll is not a Windows x86_64 or i386 DLL" ;;
esac
tool=$arch-w64-mingw32
command -v "$tool-gcc" >/dev/null ||
	die "$tool-gcc is missing: run bash bindings/windows/build.sh --arch $arch (it installs it)"
if ! command -v lld-link >/dev/null; then
	echo "tests/windows/check_dll.sh: installing lld (for lld-link)" >&2
	{ DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lld >/dev/null; } ||
		die "lld-link is missing and lld could not be installed"
fi
command -v clang >/dev/null || die "clang is missing: run bash tests/install-deps.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
# pass NAME / fail NAME DETAIL...: count and print one check; each DETAIL
# line indented below a failure.
pass() {
	passed=$((passed + 1))
	echo "PASS $arch $1"
}
fail() {
	failed=$((failed + 1))
	echo "FAIL $arch $1"
	shift
	(($#)) && printf '%s\n' "$@" | sed 's/^/    | /'
	return 0
}

# imported_names EXE: the names EXE imports from mailtls.dll, one a line.
imported_names() {
	"$tool-objdump" -p "$1" |
		awk '/DLL Name:/ { inside = (tolower($3) == "mailtls.dll"); next }
			inside && /^$/ { inside = 0 }
			inside && /^\t *[0-9a-f]+\t *[0-9]+ +/ { print $NF }' | sort
}

# --- imports ------------------------------------------------------------------------

# Windows system DLLs, lower case (the import table mixes cases), and why
# the DLL needs each.
allowed_imports=(
	kernel32.dll                     # everything of std
	ntdll.dll                        # std: NtCreateFile, RtlNtStatusToDosError
	msvcrt.dll                       # the C runtime of the *-windows-gnu targets, part of Windows
	api-ms-win-core-synch-l1-2-0.dll # std: WaitOnAddress (an API set of Windows 8 and later)
	bcryptprimitives.dll             # std: ProcessPrng (Windows 10 and later)
	advapi32.dll                     # std and schannel: registry, SystemFunction036
	userenv.dll                      # std: GetUserProfileDirectoryW
	ws2_32.dll                       # sockets
	secur32.dll                      # SChannel (SSPI)
	crypt32.dll                      # certificate stores and chain verification
	ncrypt.dll                       # schannel: CNG keys
)
imports=$("$tool-objdump" -p "$dir/mailtls.dll" | awk '/DLL Name:/ { print tolower($3) }' | sort -u)
unexpected=()
for dll in $imports; do
	[[ " ${allowed_imports[*]} " == *" $dll "* ]] || unexpected+=("$dll")
done
if [[ -z $imports ]]; then
	fail "imports: no import table found in mailtls.dll"
elif ((${#unexpected[@]})); then
	fail "imports: mailtls.dll imports DLLs that are not on the allow-list of Windows system DLLs" \
		"${unexpected[@]}" "(a mingw runtime DLL such as libgcc_s_* or libwinpthread-1 would have to ship" \
		"with it; link it statically instead, or add a real system DLL to allowed_imports)"
else
	pass "imports: only Windows system DLLs ($(wc -w <<<"$imports") DLLs)"
fi

# --- exports ------------------------------------------------------------------------

# Every function the header declares: its prototypes start in column 0
# (continuation lines and comments are indented), the name right before "(".
grep -E '^[A-Za-z]' "$dir/mailtls.h" | grep -v '^typedef' | grep -oE '\bmailtls_[a-z0-9_]+\(' |
	tr -d '(' | sort >"$work/declared"
"$tool-objdump" -p "$dir/mailtls.dll" | sed -n '/^\[Ordinal\/Name Pointer\] Table/,/^$/p' |
	awk '/^\t\[/ { print $NF }' | sort >"$work/exported"
awk '/^EXPORTS/ { inside = 1; next } inside && NF { print $1 }' "$dir/mailtls.def" | sort >"$work/def"

if (($(wc -l <"$work/declared") < 50)); then
	fail "exports: found only $(wc -l <"$work/declared") function declarations in mailtls.h (parser broken?)"
elif cmp -s "$work/declared" "$work/exported"; then
	pass "exports: exactly the $(wc -l <"$work/declared") functions of mailtls.h, undecorated"
else
	fail "exports: the DLL's export table differs from the functions of mailtls.h" \
		"declared in mailtls.h only: $(comm -23 "$work/declared" "$work/exported" | tr '\n' ' ')" \
		"exported by mailtls.dll only: $(comm -13 "$work/declared" "$work/exported" | tr '\n' ' ')"
fi
if cmp -s "$work/exported" "$work/def"; then
	pass "exports: mailtls.def lists the DLL's exports"
else
	fail "exports: mailtls.def and the DLL's exports differ" "$(diff "$work/exported" "$work/def" | head -n 10)"
fi
if cmp -s "$dir/mailtls.h" "$root/include/mailtls.h"; then
	pass "header: mailtls.h is the repository's include/mailtls.h"
else
	fail "header: $dir/mailtls.h differs from include/mailtls.h (package built from another commit?)"
fi

# --- link -----------------------------------------------------------------------------

# The functions the programs call: what their import tables must list.
called="mailtls_options_free mailtls_options_new mailtls_pop3_free mailtls_pop3_new mailtls_result_str mailtls_version"
cat >"$work/mingw.c" <<'EOF'
#include <stdio.h>
#include <mailtls.h>

int main(void) {
    mailtls_options *options = mailtls_options_new();
    mailtls_pop3 *pop3 = mailtls_pop3_new(options);
    printf("mailtls %s: %s\n", mailtls_version(), mailtls_result_str(MAILTLS_RESULT_OK));
    mailtls_pop3_free(pop3);
    mailtls_options_free(options);
    return 0;
}
EOF
# No C runtime for the MSVC ABI here: a freestanding entry point.
cat >"$work/msvc.c" <<'EOF'
#include <mailtls.h>

int start(void) {
    mailtls_options *options = mailtls_options_new();
    mailtls_pop3 *pop3 = mailtls_pop3_new(options);
    int ok = mailtls_version()[0] != '\0' && mailtls_result_str(MAILTLS_RESULT_OK) != NULL;
    mailtls_pop3_free(pop3);
    mailtls_options_free(options);
    return ok ? 0 : 1;
}
EOF

# check_link NAME EXE LOG COMMAND...: link EXE with COMMAND, then check
# that it imports exactly the called functions from mailtls.dll.
check_link() {
	local name=$1 exe=$2 log=$3 names
	shift 3
	if ! "$@" >"$log" 2>&1; then
		mapfile -t lines <"$log"
		fail "$name: the link failed" "$*" "${lines[@]}"
		return
	fi
	names=$(imported_names "$exe" | tr '\n' ' ')
	if [[ $names == "$called " ]]; then
		pass "$name"
	else
		fail "$name: the program's imports from mailtls.dll are not the plain names it calls" \
			"expected: $called" "imported: ${names:-nothing}"
	fi
}

cflags=(-std=c11 -Wall -Wextra -Wpedantic -Werror -I "$dir")
# The import libraries by path, never by -L search: each one alone.
check_link "link: mingw gcc against mailtls.lib" "$work/mingw-lib.exe" "$work/mingw-lib.log" \
	"$tool-gcc" "${cflags[@]}" -o "$work/mingw-lib.exe" "$work/mingw.c" "$dir/mailtls.lib"
check_link "link: mingw gcc against libmailtls.dll.a" "$work/mingw-dll-a.exe" "$work/mingw-dll-a.log" \
	"$tool-gcc" "${cflags[@]}" -o "$work/mingw-dll-a.exe" "$work/mingw.c" "$dir/libmailtls.dll.a"

declare -A lld_machine=([x86_64]=x64 [i686]=x86)
if clang --target="$arch-pc-windows-msvc" -ffreestanding "${cflags[@]}" -c -o "$work/msvc.obj" \
	"$work/msvc.c" >"$work/msvc.log" 2>&1; then
	check_link "link: MSVC-ABI object (clang) with lld-link against mailtls.lib" "$work/msvc.exe" \
		"$work/msvc-link.log" lld-link /nologo /machine:"${lld_machine[$arch]}" /subsystem:console \
		/entry:start /nodefaultlib /out:"$work/msvc.exe" "$work/msvc.obj" "$dir/mailtls.lib"
else
	mapfile -t lines <"$work/msvc.log"
	fail "link: compiling for the MSVC ABI (clang --target=$arch-pc-windows-msvc) failed" "${lines[@]}"
fi

# --- strip and size -------------------------------------------------------------------

# A release package: 4 MiB. One of another profile (build.sh --profile dev,
# folder ...-windows-<arch>-dev) is unoptimized: about 5 MiB, so 8 MiB.
max_bytes=$((4 * 1024 * 1024))
[[ $dir =~ -windows-(x86_64|i686)$ ]] || max_bytes=$((8 * 1024 * 1024))
size=$(stat -c %s "$dir/mailtls.dll")
debug_sections=$("$tool-objdump" -h "$dir/mailtls.dll" | awk '$2 ~ /^\.debug/ { print $2 }' | tr '\n' ' ')
symbols=$("$tool-objdump" -t "$dir/mailtls.dll" | grep -c '^\[')
if [[ -n $debug_sections ]] || ((symbols > 0)); then
	fail "strip: mailtls.dll is not stripped" "debug sections: ${debug_sections:-none}" "symbols: $symbols"
else
	pass "strip: no debug sections, no symbol table"
fi
if ((size <= max_bytes)); then
	pass "size: $size bytes (at most $max_bytes)"
else
	fail "size: mailtls.dll has $size bytes, more than $max_bytes"
fi

echo "$passed passed, $failed failed"
((failed == 0))
