#!/usr/bin/env bash
# Build mailtls in release mode and install it for C and C++ programs, in
# the layout cargo-c (`cargo cinstall`) gives a Rust C library:
#
#   bash bindings/c/install.sh [--prefix P] [--libdir DIR] [--destdir D] [--no-strip] [--no-cli]
#
#   P/lib/libmailtls.so.0.1.0            the shared library, soname libmailtls.so.0.1
#   P/lib/libmailtls.so.0.1              -> libmailtls.so.0.1.0 (what programs load)
#   P/lib/libmailtls.so                  -> libmailtls.so.0.1.0 (what -lmailtls finds)
#   P/lib/libmailtls.a                   the static library
#   P/include/mailtls/mailtls.h          the C header (the committed one)
#   P/include/mailtls/mailtls.hpp        the C++ wrapper, when bindings/cpp has it
#   P/lib/pkgconfig/mailtls.pc           pkg-config: Cflags -I${includedir}/mailtls
#   P/lib/cmake/mailtls/mailtls-config.cmake, mailtls-config-version.cmake
#                                        find_package(mailtls CONFIG): mailtls::mailtls
#   P/bin/mailtls                        the command-line tool, when cli/ exists
#
# Options (PREFIX and DESTDIR may also come from the environment):
#   --prefix P    where the files are used from (default /usr/local); written
#                 into mailtls.pc. Must be absolute.
#   --libdir DIR  the library directory, relative to P (default lib). For a
#                 Debian/Ubuntu multiarch system prefix use
#                 --libdir lib/$(gcc -print-multiarch) (lib/x86_64-linux-gnu),
#                 for Fedora/RHEL lib64. An absolute DIR must lie under P.
#   --destdir D   stage the files under D/P instead of P (for packaging);
#                 mailtls.pc and the CMake files still name P.
#   --no-strip    install the libraries and the tool with their debug
#                 information (see below).
#   --no-cli      do not build and install bin/mailtls.
#
# Soname policy: while the version is 0.x, the soname carries MAJOR.MINOR
# (libmailtls.so.0.1): every 0.MINOR release may change the ABI, so programs
# built against 0.1 never load a 0.2 library; a PATCH release (0.1.1) keeps
# the soname and replaces the library in place. From 1.0 on the soname
# carries MAJOR alone (libmailtls.so.1). This is cargo-c's rule.
#
# The build goes to a target directory of its own ($CARGO_TARGET_DIR/install,
# default target/install), since the soname is set at link time for this
# build only: target/debug and target/release keep a library without one,
# which the in-tree tests link.
#
# By default the installed shared library and tool are stripped (1.3 MB
# instead of 12 MB) and the static library loses its debug information
# (18 MB instead of 42 MB; it keeps the symbols the linker needs). Stripped
# rather than split into lib/debug: the debug information serves only a
# debugger, and the packagers who ship it separately split it with their
# own tools (dh_strip, find-debuginfo) from a --no-strip install.
#
# Linux (ELF) only: Windows has bindings/windows/build.sh.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

die() {
	echo "install.sh: $*" >&2
	exit 1
}
usage() {
	echo "usage: bash bindings/c/install.sh [--prefix P] [--libdir DIR] [--destdir D] [--no-strip] [--no-cli]" >&2
	exit 2
}

prefix=${PREFIX:-/usr/local}
destdir=${DESTDIR:-}
libdir=lib
strip=1
cli=1
while (($#)); do
	case $1 in
	--prefix) (($# >= 2)) || usage; prefix=$2; shift 2 ;;
	--prefix=*) prefix=${1#*=}; shift ;;
	--libdir) (($# >= 2)) || usage; libdir=$2; shift 2 ;;
	--libdir=*) libdir=${1#*=}; shift ;;
	--destdir) (($# >= 2)) || usage; destdir=$2; shift 2 ;;
	--destdir=*) destdir=${1#*=}; shift ;;
	--no-strip) strip=; shift ;;
	--no-cli) cli=; shift ;;
	-h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
	*) usage ;;
	esac
done

[[ $(uname -s) == Linux ]] || die "this script installs the ELF shared library of Linux; on $(uname -s) use cargo-c (cargo cinstall)"
[[ $prefix == /* ]] || die "the prefix must be an absolute path, not '$prefix'"
prefix=${prefix%/}
[[ -n $prefix ]] || prefix=/ # "/" itself stays "/"
[[ -z $destdir || $destdir == /* ]] || destdir=$PWD/$destdir
destdir=${destdir%/}
# The library directory relative to the prefix: the pkg-config and CMake
# files name it that way, and the CMake files find the prefix from it.
if [[ $libdir == /* ]]; then
	case $libdir/ in
	"${prefix%/}"/*) libdir=${libdir#"${prefix%/}"/} ;;
	*) die "--libdir $libdir is not under the prefix $prefix: give it relative to the prefix" ;;
	esac
fi
libdir=${libdir%/}
[[ -n $libdir && $libdir != *..* ]] || die "--libdir must name a directory under the prefix, not '$libdir'"

# The package's version and description, from Cargo.toml's [package] section.
package_field() { sed -n "/^\[package\]/,/^\[/s/^$1 = \"\(.*\)\"$/\1/p" Cargo.toml | head -n 1; }
version=$(package_field version)
description=$(package_field description)
[[ $version =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] || die "unexpected version '$version' in Cargo.toml"
major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
if ((major == 0)); then soversion=$major.$minor; else soversion=$major; fi
soname=libmailtls.so.$soversion
realname=libmailtls.so.$version

target_dir=${CARGO_TARGET_DIR:-$root/target}/install
log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "== Building libmailtls $version (release, soname $soname) in $target_dir"
# One build for both library kinds; the link argument only reaches the
# shared library's link. rustc prints the static library's system
# libraries (cargo replays the note when nothing needs rebuilding).
CARGO_TARGET_DIR=$target_dir cargo rustc --locked --release -p mailtls --lib --crate-type cdylib,staticlib \
	-- -C link-arg=-Wl,-soname,"$soname" --print native-static-libs 2>&1 | tee "$log"
static_libs=$(sed -n 's/^note: native-static-libs: //p' "$log" | tail -n 1)
[[ -n $static_libs ]] || die "rustc printed no native-static-libs line: cannot write Libs.private"
built=$target_dir/release
[[ $(readelf -d "$built/libmailtls.so") == *"Library soname: [$soname]"* ]] ||
	die "$built/libmailtls.so was linked without the soname $soname"

tool=
if [[ -n $cli && -f cli/Cargo.toml ]]; then
	echo "== Building the command-line tool (cli/)"
	CARGO_TARGET_DIR=$target_dir cargo build --locked --release -p mailtls-cli
	tool=$built/mailtls
	[[ -x $tool ]] || die "cargo built no $tool"
elif [[ -n $cli ]]; then
	echo "== No cli/Cargo.toml: bin/mailtls is not installed"
fi

stage=$destdir$prefix
[[ $prefix == / ]] && stage=${destdir:-/}
stage=${stage%/}
lib=$stage/$libdir
include=$stage/include/mailtls
cmake=$lib/cmake/mailtls
install -d "$lib" "$include" "$lib/pkgconfig" "$cmake"

# put MODE SOURCE DEST [STRIP_OPTION]: copy (stripped, if asked) to a
# temporary name beside DEST, then rename it over DEST, so that a program
# running with the previous library keeps its mapping intact.
put() {
	local mode=$1 source=$2 dest=$3 strip_option=${4:-}
	if [[ -n $strip && -n $strip_option ]]; then
		strip "$strip_option" -o "$dest.tmp" "$source"
	else
		cp "$source" "$dest.tmp"
	fi
	chmod "$mode" "$dest.tmp"
	mv -f "$dest.tmp" "$dest"
	echo "installed $dest"
}

put 0755 "$built/libmailtls.so" "$lib/$realname" --strip-all
ln -sfn "$realname" "$lib/$soname"
ln -sfn "$realname" "$lib/libmailtls.so"
# The static library keeps its symbol table (the linker needs it).
put 0644 "$built/libmailtls.a" "$lib/libmailtls.a" --strip-debug
put 0644 include/mailtls.h "$include/mailtls.h"
if [[ -f bindings/cpp/mailtls.hpp ]]; then
	put 0644 bindings/cpp/mailtls.hpp "$include/mailtls.hpp"
fi
if [[ -n $tool ]]; then
	install -d "$stage/bin"
	put 0755 "$tool" "$stage/bin/mailtls" --strip-all
fi

# pkg-config: everything relative to ${prefix}, which names P (not D).
pc=$lib/pkgconfig/mailtls.pc
cat >"$pc.tmp" <<EOF
prefix=$prefix
exec_prefix=\${prefix}
libdir=\${exec_prefix}/$libdir
includedir=\${prefix}/include

Name: mailtls
Description: $description
Version: $version
Libs: -L\${libdir} -lmailtls
Libs.private: $static_libs
Cflags: -I\${includedir}/mailtls
EOF
mv -f "$pc.tmp" "$pc" && echo "installed $pc"

# CMake: the prefix is found from the config file's own location (libdir
# depth + cmake/mailtls), so an installed tree can be moved.
up=
IFS=/ read -ra parts <<<"$libdir/cmake/mailtls"
for _ in "${parts[@]}"; do up=$up/..; done
cmake_libs=
for flag in $static_libs; do
	case $flag in
	-l*) cmake_libs+="${cmake_libs:+;}${flag#-l}" ;;
	*) cmake_libs+="${cmake_libs:+;}$flag" ;;
	esac
done
cat >"$cmake/mailtls-config.cmake.tmp" <<EOF
# CMake package of mailtls $version, installed by bindings/c/install.sh.
#
#   find_package(mailtls $major.$minor CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE mailtls::mailtls)
#
# Targets:
#   mailtls::mailtls_shared  libmailtls.so (soname $soname)
#   mailtls::mailtls_static  libmailtls.a, with its system libraries
#                            ($static_libs)
#   mailtls::mailtls         the shared one, or the static one when
#                            MAILTLS_USE_STATIC_LIBS is true before
#                            find_package
# All three put <prefix>/include/mailtls on the include path
# (#include "mailtls.h", "mailtls.hpp").

get_filename_component(_mailtls_prefix "\${CMAKE_CURRENT_LIST_DIR}$up" ABSOLUTE)
set(_mailtls_libdir "\${_mailtls_prefix}/$libdir")
set(_mailtls_includedir "\${_mailtls_prefix}/include/mailtls")

foreach(_mailtls_file "\${_mailtls_libdir}/$realname" "\${_mailtls_libdir}/libmailtls.a"
        "\${_mailtls_includedir}/mailtls.h")
  if(NOT EXISTS "\${_mailtls_file}")
    set(mailtls_FOUND FALSE)
    set(mailtls_NOT_FOUND_MESSAGE "\${_mailtls_file} is missing: reinstall mailtls")
    return()
  endif()
endforeach()

if(NOT TARGET mailtls::mailtls_shared)
  add_library(mailtls::mailtls_shared SHARED IMPORTED)
  set_target_properties(mailtls::mailtls_shared PROPERTIES
    IMPORTED_LOCATION "\${_mailtls_libdir}/$realname"
    IMPORTED_SONAME "$soname"
    INTERFACE_INCLUDE_DIRECTORIES "\${_mailtls_includedir}")
endif()

if(NOT TARGET mailtls::mailtls_static)
  add_library(mailtls::mailtls_static STATIC IMPORTED)
  set_target_properties(mailtls::mailtls_static PROPERTIES
    IMPORTED_LOCATION "\${_mailtls_libdir}/libmailtls.a"
    IMPORTED_LINK_INTERFACE_LANGUAGES "C"
    INTERFACE_INCLUDE_DIRECTORIES "\${_mailtls_includedir}"
    INTERFACE_LINK_LIBRARIES "$cmake_libs")
endif()

if(NOT TARGET mailtls::mailtls)
  add_library(mailtls::mailtls INTERFACE IMPORTED)
  if(MAILTLS_USE_STATIC_LIBS)
    set_target_properties(mailtls::mailtls PROPERTIES INTERFACE_LINK_LIBRARIES mailtls::mailtls_static)
  else()
    set_target_properties(mailtls::mailtls PROPERTIES INTERFACE_LINK_LIBRARIES mailtls::mailtls_shared)
  endif()
endif()

unset(_mailtls_file)
unset(_mailtls_prefix)
unset(_mailtls_libdir)
unset(_mailtls_includedir)
EOF
mv -f "$cmake/mailtls-config.cmake.tmp" "$cmake/mailtls-config.cmake" && echo "installed $cmake/mailtls-config.cmake"

# The soname policy as CMake's version rule: 0.MINOR must match exactly
# (any PATCH at least the one asked for), from 1.0 on the MAJOR; and the
# pointer size, so a 32-bit build does not take a 64-bit library. With a
# version range (CMake 3.19) its lower end is what is checked.
pointer_bytes=$(($(getconf LONG_BIT) / 8))
cat >"$cmake/mailtls-config-version.cmake.tmp" <<EOF
# Version rule of mailtls $version (see mailtls-config.cmake).
set(PACKAGE_VERSION "$version")
set(PACKAGE_VERSION_COMPATIBLE FALSE)
if(NOT PACKAGE_FIND_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE TRUE) # no version asked for
elseif(PACKAGE_FIND_VERSION VERSION_LESS_EQUAL PACKAGE_VERSION
   AND PACKAGE_FIND_VERSION_MAJOR EQUAL $major
   AND ($major GREATER 0 OR PACKAGE_FIND_VERSION_MINOR EQUAL $minor))
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
endif()
if(PACKAGE_FIND_VERSION VERSION_EQUAL PACKAGE_VERSION)
  set(PACKAGE_VERSION_EXACT TRUE)
endif()
if(NOT "\${CMAKE_SIZEOF_VOID_P}" STREQUAL "" AND NOT "\${CMAKE_SIZEOF_VOID_P}" STREQUAL "$pointer_bytes")
  set(PACKAGE_VERSION "\${PACKAGE_VERSION} ($((pointer_bytes * 8))-bit)")
  set(PACKAGE_VERSION_UNSUITABLE TRUE)
endif()
EOF
mv -f "$cmake/mailtls-config-version.cmake.tmp" "$cmake/mailtls-config-version.cmake" &&
	echo "installed $cmake/mailtls-config-version.cmake"

# An installed system library must be in the loader's cache before
# programs can start with it.
if [[ -z $destdir && $EUID == 0 ]] && command -v ldconfig >/dev/null; then
	ldconfig
fi
echo "== mailtls $version installed under ${destdir:+$destdir (staged for) }$prefix"
installed_lib=$prefix/$libdir
loader_dirs=$(cat /etc/ld.so.conf /etc/ld.so.conf.d/*.conf 2>/dev/null | grep '^/' || true)
if ! grep -qxF "$installed_lib" <<<"$loader_dirs"$'\n/lib\n/usr/lib\n/lib64\n/usr/lib64'; then
	echo "note: $installed_lib is not on the loader's path: run programs with LD_LIBRARY_PATH=$installed_lib, link them with -Wl,-rpath,$installed_lib (CMake does that by itself in the build tree), or add the directory to /etc/ld.so.conf.d"
fi
pc_path=$(pkg-config --variable pc_path pkg-config 2>/dev/null || true)
if ! tr : '\n' <<<"$pc_path" | grep -qxF "$installed_lib/pkgconfig"; then
	echo "note: pkg-config finds mailtls with PKG_CONFIG_PATH=$installed_lib/pkgconfig, CMake with CMAKE_PREFIX_PATH=$prefix"
fi
