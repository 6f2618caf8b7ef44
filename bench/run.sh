#!/usr/bin/env bash
# The mailtls benchmark: mailtls (C API and Python binding) against poplib,
# smtplib, curl and a server-bound "limit" client, on the project's own
# Dovecot and Postfix on 127.0.0.1. Not part of the test suite.
#
#   bash bench/run.sh            # full run (about 15 minutes on 2 cores)
#   bash bench/run.sh --quick    # smoke run: small sizes, 2 repetitions
#   bash bench/run.sh --only bulk,setup   # some scenarios only
#   bash bench/run.sh --profile  # callgrind + strace: where mailtls spends
#                                # its instructions and round trips
#
# Installs what it needs (as root, apt-get), builds the release library and
# the bench programs into target/bench, starts Dovecot and Postfix with their
# state on tmpfs (/dev/shm), seeds the mailboxes, runs every client
# interleaved, stops the servers, prints a Markdown table and writes the raw
# figures to bench/results/latest.json (and the printed report to
# bench/results/latest.txt). See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

quick='' profile=''
for a in "$@"; do
	[[ $a == --quick ]] && quick=1
	[[ $a == --profile ]] && profile=1
done

# --- what the bench needs ------------------------------------------------------
bash tests/install-deps.sh # gcc, libssl-dev, python3, Dovecot, ...
need=()
command -v curl >/dev/null || need+=(curl)
command -v git >/dev/null || need+=(git)
[[ -z $profile ]] || command -v strace >/dev/null || need+=(strace)
[[ -z $profile ]] || command -v valgrind >/dev/null || need+=(valgrind)
# The sync scenario's peers.
command -v mpop >/dev/null || need+=(mpop)
command -v getmail >/dev/null || need+=(getmail6)
if ((${#need[@]})); then
	echo "bench: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Postfix before Dovecot starts: Dovecot then opens the SASL socket Postfix uses.
bash tests/servers/postfix.sh install

# --- build -----------------------------------------------------------------------------
cargo build --release --lib --locked
cargo build --release --locked -p mailtls-cli # mailtls fetch, for the sync scenario
target=${CARGO_TARGET_DIR:-$root/target}
bin=$target/bench
mkdir -p "$bin"
# A snapshot of the library, the command-line tool and the Python binding
# as built now, so that a rebuild or an edit elsewhere during the run cannot
# mix versions.
rm -rf "$bin/lib" "$bin/python"
mkdir -p "$bin/lib" "$bin/python"
cp "$target/release/libmailtls.so" "$bin/lib/"
cp "$target/release/mailtls" "$bin/mailtls"
cp -r bindings/python/mailtls "$bin/python/"
rm -rf "$bin/python/mailtls/__pycache__"
lib=$bin/lib/libmailtls.so
cflags=(-O2 -Wall -Wextra -std=gnu11)
gcc "${cflags[@]}" -o "$bin/limit_pop3" bench/c/limit_pop3.c -lssl -lcrypto
gcc "${cflags[@]}" -o "$bin/limit_smtp" bench/c/limit_smtp.c -lssl -lcrypto
gcc "${cflags[@]}" -o "$bin/spawn" bench/c/spawn.c
# With the outbox batch API (mailtls_smtp_send_batch) when the header has it
# and the program builds with it (a marker file tells bench/run.py).
rm -f "$bin/mailtls_bench.batch"
build_mailtls_bench() {
	gcc "${cflags[@]}" "$@" -I include -o "$bin/mailtls_bench" bench/c/mailtls_bench.c \
		-L "$bin/lib" -lmailtls -Wl,-rpath,"$bin/lib"
}
if grep -q 'mailtls_smtp_send_batch(' include/mailtls.h && build_mailtls_bench -DHAVE_SEND_BATCH -Werror; then
	touch "$bin/mailtls_bench.batch"
else
	echo "bench: mailtls_bench without the batch outbox" >&2
	build_mailtls_bench
fi

# --- servers, state on tmpfs ----------------------------------------------------
base=/dev/shm
[[ -d $base && -w $base ]] || base=/tmp
# The full run keeps a 1 GB message and its 1 GB copy there at once.
need_mb=$([[ -n $quick$profile ]] && echo 400 || echo 3000)
avail_mb=$(df -Pm "$base" | awk 'NR == 2 {print $4}')
((avail_mb >= need_mb)) || { echo "bench: $base has $avail_mb MB free, $need_mb MB needed" >&2; exit 1; }
state=$(mktemp -d "$base/mailtls-bench.XXXXXX")
# The sync scenario's Maildirs on disk: a directory that is not on tmpfs
# (MAILTLS_BENCH_DISK, default /var/tmp).
disk_base=${MAILTLS_BENCH_DISK:-/var/tmp}
[[ $(stat -f -c %T "$disk_base") != tmpfs ]] || { echo "bench: $disk_base is on tmpfs, not a disk" >&2; exit 1; }
disk=$(mktemp -d "$disk_base/mailtls-bench-disk.XXXXXX")
chmod 0755 "$disk" # getmail6 runs as nobody
cleanup() {
	bash tests/servers/postfix.sh stop "$state" || true
	bash tests/servers/dovecot.sh stop "$state" || true
	rm -rf "$state" "$disk"
}
trap cleanup EXIT
bash tests/servers/dovecot.sh start "$state" >/dev/null
bash tests/servers/postfix.sh start "$state" >/dev/null 2>&1
# shellcheck disable=SC1091
. "$state/env.sh"

python3 bench/run.py --state "$state" --bin "$bin" --library "$lib" --binding "$bin/python" \
	--disk "$disk" --cli "$bin/mailtls" "$@"
