#!/usr/bin/env bash
# Cross-compile mailtls.dll for 64- and 32-bit Windows from Linux (Rust's
# *-pc-windows-gnu targets and Debian's mingw-w64) and collect, per
# architecture, a folder to zip and ship to Windows C programmers:
#
#   mailtls.dll        the library, stripped (ships next to the program's .exe)
#   libmailtls.dll.a   import library for mingw gcc (-lmailtls)
#   mailtls.lib        import library for MSVC's link.exe (the short import
#                      format lib.exe makes), made from mailtls.def
#   mailtls.def        the DLL's exports
#   mailtls.h          the C header (every function is cdecl)
#
# Usage:
#   bash bindings/windows/build.sh [--arch x86_64|i686|all] [--profile NAME]
#
#   --arch     which DLLs to build (default: all, that is x86_64 and i686)
#   --profile  cargo profile (default: release). Any other profile (dev: a
#              faster build for tests) gets the suffix -NAME on its folder,
#              so it cannot be mistaken for a release package.
#
# Output: ${CARGO_TARGET_DIR:-target}/windows/mailtls-<version>-windows-<arch>/,
# one line per folder on stdout. Installs what is missing (the mingw-w64 gcc
# packages and llvm, for llvm-dlltool, with apt-get; the Rust targets with
# rustup).
#
# The DLL is built with the profile as Cargo.toml sets it (release keeps
# debug = 1) and only the copy in the folder is stripped: the unstripped DLL
# stays in target/<triple>/<profile>/ for debugging, and the Linux build
# keeps its debug info.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

die() {
	echo "bindings/windows/build.sh: $*" >&2
	exit 2
}

arches=(x86_64 i686)
profile=release
while (($#)); do
	case $1 in
	--arch)
		(($# >= 2)) || die "--arch needs a value: x86_64, i686 or all"
		case $2 in
		x86_64 | i686) arches=("$2") ;;
		all) arches=(x86_64 i686) ;;
		*) die "unknown --arch $2: use x86_64, i686 or all" ;;
		esac
		shift 2
		;;
	--profile)
		(($# >= 2)) || die "--profile needs a cargo profile name (release, dev, ...)"
		profile=$2
		shift 2
		;;
	-h | --help)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done

# The mingw triple (tool prefix), Debian package and llvm-dlltool machine of
# each architecture.
declare -A mingw=([x86_64]=x86_64-w64-mingw32 [i686]=i686-w64-mingw32)
declare -A package=([x86_64]=gcc-mingw-w64-x86-64-win32 [i686]=gcc-mingw-w64-i686-win32)
declare -A machine=([x86_64]=i386:x86-64 [i686]=i386)

# --- what is missing ------------------------------------------------------------

missing=()
for arch in "${arches[@]}"; do
	dpkg-query -W -f='${Status}' "${package[$arch]}" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("${package[$arch]}")
done
# mailtls.lib comes from llvm-dlltool, not mingw's dlltool: for i386 the
# latter makes thunk objects without the SafeSEH mark, which link.exe
# refuses under /SAFESEH, the default of Visual Studio's Win32 projects
# (LNK1281); the short import format has no code to mark.
dlltool=$(command -v llvm-dlltool || compgen -c llvm-dlltool- | sort -V | tail -n 1 || true)
[[ -n $dlltool ]] || missing+=(llvm)
if ((${#missing[@]})); then
	echo "installing Debian packages: ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	[[ -n $dlltool ]] || dlltool=$(command -v llvm-dlltool) || die "llvm-dlltool not found after installing llvm"
fi
command -v rustup >/dev/null ||
	die "rustup is needed to add the Rust targets *-pc-windows-gnu (https://rustup.rs)"
installed_targets=$(rustup target list --installed)
for arch in "${arches[@]}"; do
	grep -qx "$arch-pc-windows-gnu" <<<"$installed_targets" || rustup target add "$arch-pc-windows-gnu" >&2
done

# --- build and collect ------------------------------------------------------------

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[[ -n $version ]] || die "no version in Cargo.toml"
target_dir=${CARGO_TARGET_DIR:-$root/target}
# Cargo's output directory of a profile: dev builds go to "debug".
profile_dir=$profile
[[ $profile == dev ]] && profile_dir=debug
suffix=
[[ $profile == release ]] || suffix=-$profile

for arch in "${arches[@]}"; do
	triple=$arch-pc-windows-gnu
	tool=${mingw[$arch]}
	# Only the cdylib: the staticlib and rlib of [lib] are not shipped.
	cargo rustc --quiet --locked --lib --crate-type cdylib --profile "$profile" --target "$triple" >&2
	built=$target_dir/$triple/$profile_dir

	dir=$target_dir/windows/mailtls-$version-windows-$arch$suffix
	rm -rf "$dir"
	mkdir -p "$dir"
	"$tool-strip" --strip-all -o "$dir/mailtls.dll" "$built/mailtls.dll"
	cp "$built/libmailtls.dll.a" "$dir/"
	cp include/mailtls.h "$dir/"

	# The .def lists what the DLL really exports (its name table), so the
	# MSVC import library cannot drift from it.
	{
		echo "LIBRARY mailtls.dll"
		echo "EXPORTS"
		"$tool-objdump" -p "$dir/mailtls.dll" |
			sed -n '/^\[Ordinal\/Name Pointer\] Table/,/^$/p' |
			awk '/^\t\[/ { print "    " $NF }'
	} >"$dir/mailtls.def"
	grep -q '^    mailtls_' "$dir/mailtls.def" || die "no exports found in $dir/mailtls.dll"
	# For i386 llvm-dlltool gives each import the C symbol with the leading
	# underscore that 32-bit cdecl callers reference (_mailtls_version) and
	# imports it by the plain name the DLL exports (mailtls_version).
	"$dlltool" -m "${machine[$arch]}" -d "$dir/mailtls.def" -D mailtls.dll -l "$dir/mailtls.lib"

	echo "$dir"
done
