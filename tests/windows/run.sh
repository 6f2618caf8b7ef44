#!/usr/bin/env bash
# The Windows tests of mailtls: the real mailtls.dll of each package folder
# (bindings/windows/build.sh), linked into mingw-built test programs and run
# under Wine (wine64 for x86_64, wine32 for i686) against the project's
# Dovecot and Postfix, through Wine's SChannel.
#
# Usage (the test servers running, their env.sh sourced):
#   bash tests/windows/run.sh DIR...
#
# For each package: fetch over POP3S and over POP3 with STLS, messages of
# many sizes (among them 1,000, 1,500 and 20,000 bytes, which Wine's
# SChannel used to stall on: see src/transport/tls/one_read.rs), each
# through mailtls_pop3_retr_bytes and mailtls_pop3_retr_to_file, compared
# byte for byte with what was seeded; send over SMTP submission with
# STARTTLS and AUTH, compared with what Postfix delivered; then the refusals:
# a full chain from an untrusted CA, a wrong host name, a revoked
# certificate, a server offering only TLS 1.1, a server that never answers;
# and the example pop3_fetch.
#
# Wine facts the setup follows (Wine 8.0, Debian 12):
# - Rust's std imports ProcessPrng from bcryptprimitives.dll, which Wine
#   lacks: a test-only shim of that name (process_prng_shim.c) sits next to
#   the test programs. It is never shipped.
# - Wine's SChannel refuses a leaf without revocation information: the test
#   CA's leaves name an OCSP URL, answered by ocsp_responder.py on loopback.
# - Wine accepts a leaf-only chain from an unknown CA, so the untrusted
#   server sends its full chain; Wine matches DNS names only, so the tests
#   connect to "localhost" (a wrong name: "127.1", which resolves to
#   127.0.0.1); Wine negotiates TLS 1.2 only.
# - A program that fails to load can exit 0 in silence: only the test
#   program's own "ok LABEL" lines count. wineserver runs persistent, with
#   output on /dev/null, and every wine gets stdin from /dev/null.
#
# Users: user60..user62 (x86_64) and user63..user65 (i686).
#
# Environment: MAILTLS_WINE_TEST_OUT (default target/wine-tests) holds the
# Wine prefix (one per run: a fresh one costs about 10 s and 1 GB), the
# programs and the logs.
#
# Prints PASS/FAIL per check and "N passed, M failed"; exits non-zero on
# any failure.
# shellcheck disable=SC2153 # MAILTLS_TEST_* come from env.sh
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$root/tests/windows

die() {
	echo "tests/windows/run.sh: $*" >&2
	exit 2
}

(($# >= 1)) || die "usage: bash tests/windows/run.sh DIR... (folders made by bindings/windows/build.sh)"
for var in MAILTLS_TEST_STATE MAILTLS_TEST_POP3S_PORT MAILTLS_TEST_POP3_PORT MAILTLS_TEST_CA \
	MAILTLS_TEST_PASSWORD MAILTLS_TEST_MAILDIR_ROOT MAILTLS_TEST_SMTP_SUBMISSION_PORT; do
	[[ -n ${!var:-} ]] || die "$var is not set: start the test servers and source their env.sh (see tests/c/run.sh)"
done
ca_dir=$MAILTLS_TEST_STATE/ca
[[ -s $ca_dir/ocsp.port ]] || die "$ca_dir has no ocsp.port: restart the servers with a fresh state directory"

# shellcheck source=tests/servers/common.sh
. "$root/tests/servers/common.sh"

install_wine() {
	local p missing=''
	for p in wine wine64 wine32:i386 libgnutls30:i386; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing=1
	done
	[[ -n $missing ]] || return 0
	echo "tests/windows/run.sh: installing Wine (64- and 32-bit)" >&2
	export DEBIAN_FRONTEND=noninteractive
	dpkg --add-architecture i386
	apt-get update -qq
	# libgnutls30:i386 is what Wine's 32-bit SChannel runs on; it is only
	# recommended.
	apt-get install -y -qq --no-install-recommends wine wine64 wine32:i386 libgnutls30:i386 >/dev/null
}
install_wine || die "could not install Wine"

out=${MAILTLS_WINE_TEST_OUT:-$root/target/wine-tests}
rm -rf "$out"
mkdir -p "$out/logs" || die "cannot create $out"
out=$(cd "$out" && pwd)

export WINEPREFIX=$out/prefix WINEDEBUG=-all
# No Mono or Gecko: nothing here needs them, and wineboot would ask.
export WINEDLLOVERRIDES="mscoree=;mshtml="
helper_pids=()
cleanup() {
	((${#helper_pids[@]})) && kill "${helper_pids[@]}" 2>/dev/null
	wineserver -k >/dev/null 2>&1
	rm -rf "$WINEPREFIX"
}
trap cleanup EXIT

wineserver -p </dev/null >/dev/null 2>&1
wineboot -i </dev/null >"$out/logs/wineboot.log" 2>&1 || die "wineboot failed: $(tail -n 5 "$out/logs/wineboot.log")"

# --- the helper servers, on loopback ----------------------------------------

# wait_port PORT: up to 10 s for something to listen there.
wait_port() {
	local i
	for ((i = 0; i < 100; i++)); do
		port_open "$1" && return 0
		sleep 0.1
	done
	return 1
}

python3 "$here/ocsp_responder.py" "$ca_dir" </dev/null >"$out/logs/ocsp.log" 2>&1 &
helper_pids+=($!)
wait_port "$(<"$ca_dir/ocsp.port")" || die "the OCSP responder did not start: $(cat "$out/logs/ocsp.log")"

# Not from a process substitution: free_ports must have exited (and let go
# of the ports) before the servers bind them.
picked_ports=$(free_ports 5)
read -r untrusted_port revoked_port tls11_port stall_port closed_port <<<"$picked_ports"
# A full chain from a CA the programs do not trust.
openssl s_server -quiet -accept "127.0.0.1:$untrusted_port" -cert "$ca_dir/other-server.pem" \
	-key "$ca_dir/other-server.key" -cert_chain "$ca_dir/other-ca.pem" \
	</dev/null >"$out/logs/untrusted.log" 2>&1 &
helper_pids+=($!)
# A leaf the OCSP responder says is revoked.
openssl s_server -quiet -accept "127.0.0.1:$revoked_port" -cert "$ca_dir/revoked-server.pem" \
	-key "$ca_dir/revoked-server.key" </dev/null >"$out/logs/revoked.log" 2>&1 &
helper_pids+=($!)
# TLS 1.1 and nothing newer (OpenSSL 3 needs security level 0 for it).
openssl s_server -quiet -accept "127.0.0.1:$tls11_port" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' \
	-cert "$ca_dir/server.pem" -key "$ca_dir/server.key" </dev/null >"$out/logs/tls11.log" 2>&1 &
helper_pids+=($!)
# Accepts and never says a word.
python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
held = []
while True:
    held.append(s.accept()[0])
' "$stall_port" </dev/null >"$out/logs/stall.log" 2>&1 &
helper_pids+=($!)
for p in "$untrusted_port" "$revoked_port" "$tls11_port" "$stall_port"; do
	wait_port "$p" || die "a helper server did not start on port $p: $(cat "$out"/logs/{untrusted,revoked,tls11,stall}.log)"
done

# --- results --------------------------------------------------------------------

passed=0
failed=0
result() { # NAME STATUS LOG
	if [[ $2 == 0 ]]; then
		passed=$((passed + 1))
		echo "PASS $1"
	else
		failed=$((failed + 1))
		echo "FAIL $1"
		[[ -s $3 ]] && sed 's/^/    | /' "$3"
	fi
}

# The Windows form of a Unix path (Wine's drive Z: is /).
winpath() { local p=${1//\//\\}; echo "Z:$p"; }

# run_wine LOG PROGRAM ARGS...: run under Wine, output into LOG.
run_wine() {
	local log=$1
	shift
	timeout 120 wine "$@" </dev/null >"$log" 2>&1
}

# expect_line LOG LABEL: the program printed "ok LABEL..." and no "not ok".
expect_line() {
	grep -q "^ok $2\b" "$1" && ! grep -q "^not ok" "$1"
}

# --- mailboxes ----------------------------------------------------------------------

# Sizes on both sides of Wine's stalls and of TLS record boundaries (16 KiB).
sizes=(1 300 900 1000 1024 1500 4000 5000 16000 16384 16385 20000 65536 100000 1000000)

# seed USER: one message of each size in USER's Maildir (LF line ends, as
# Dovecot stores mail), and the wire form of each (CRLF) in $out/expected.
seed() {
	local md=$MAILTLS_TEST_MAILDIR_ROOT/$1/Maildir
	rm -f "$md"/new/* "$md"/cur/*
	python3 - "$md" "$out/expected" "${sizes[@]}" <<-'EOF'
		import os, sys
		maildir, expected, sizes = sys.argv[1], sys.argv[2], [int(s) for s in sys.argv[3:]]
		os.makedirs(expected, exist_ok=True)
		for n, size in enumerate(sizes, 1):
		    head = b"From: sender@example.org\nSubject: %d bytes\n\n" % size
		    body, line = bytearray(), 0
		    while len(head) + len(body) < size:
		        # Lines starting with a dot, which the server stuffs.
		        body += b".line %d\n" % line if line % 7 == 0 else b"line %d of the body\n" % line
		        line += 1
		    message = (head + body)[: max(size - 1, 0)] + b"\n"
		    # Maildir names: increasing times keep the order.
		    name = "%d.M%dP1.mailtls-wine-test" % (1000000000 + n, n)
		    with open(os.path.join(maildir, "tmp", name), "wb") as f:
		        f.write(message)
		    os.chown(os.path.join(maildir, "tmp", name), 65534, 65534)
		    os.rename(os.path.join(maildir, "tmp", name), os.path.join(maildir, "new", name))
		    with open(os.path.join(expected, "%d.eml" % n), "wb") as f:
		        f.write(message.replace(b"\n", b"\r\n"))
	EOF
}

# compare_fetched DIR: every seeded message came back byte for byte, twice.
compare_fetched() {
	local n ok=0
	for ((n = 1; n <= ${#sizes[@]}; n++)); do
		for ext in eml file; do
			cmp "$out/expected/$n.eml" "$1/$n.$ext" || ok=1
		done
	done
	return $ok
}

# --- each package ----------------------------------------------------------------------

test_package() {
	local dir=$1 arch cc bin users log
	case $(basename "$dir") in
	*-windows-x86_64*) arch=x86_64 users=(user60 user61 user62) ;;
	*-windows-i686*) arch=i686 users=(user63 user64 user65) ;;
	*) die "cannot tell the architecture of $dir" ;;
	esac
	cc=$arch-w64-mingw32-gcc
	bin=$out/$arch
	mkdir -p "$bin"
	log=$out/logs/$arch

	# The programs, linked against the package as a Windows developer would.
	local -a cflags=(-std=c11 -Wall -Wextra -Wpedantic -Werror -O2 -I "$dir")
	if ! { "$cc" -O2 -shared -o "$bin/bcryptprimitives.dll" "$here/process_prng_shim.c" \
		"$here/process_prng_shim.def" -Wl,--kill-at -Wl,--enable-stdcall-fixup -ladvapi32 &&
		"$cc" "${cflags[@]}" -o "$bin/wine_test.exe" "$here/wine_test.c" -L "$dir" -lmailtls &&
		"$cc" "${cflags[@]}" -o "$bin/pop3_fetch.exe" "$root/examples/c/pop3_fetch.c" -L "$dir" -lmailtls &&
		cp "$dir/mailtls.dll" "$bin/"; } >"$log.build" 2>&1; then
		result "$arch: build the test programs" 1 "$log.build"
		return
	fi
	result "$arch: build the test programs" 0 "$log.build"
	cd "$bin" || die "no $bin"

	local ca=$MAILTLS_TEST_CA status
	# Fetch: POP3S, then POP3 with STLS.
	seed "${users[0]}"
	seed "${users[1]}"
	for mode in tls starttls; do
		local user port fetched=$out/fetched-$arch-$mode
		if [[ $mode == tls ]]; then user=${users[0]} port=$MAILTLS_TEST_POP3S_PORT; else user=${users[1]} port=$MAILTLS_TEST_POP3_PORT; fi
		mkdir -p "$fetched"
		run_wine "$log.fetch-$mode" wine_test.exe fetch "fetch-$mode" "$mode" localhost "$port" "$user" \
			"$ca" "$(winpath "$fetched")"
		status=1
		expect_line "$log.fetch-$mode" "fetch-$mode: ${#sizes[@]} messages" &&
			compare_fetched "$fetched" >>"$log.fetch-$mode" 2>&1 && status=0
		result "$arch: POP3 $mode: ${#sizes[@]} messages of 1 to 1,000,000 bytes, byte-exact" $status \
			"$log.fetch-$mode"
	done

	# Send through Postfix (STARTTLS, AUTH) to the third user.
	local inbox=$MAILTLS_TEST_MAILDIR_ROOT/${users[2]}/Maildir message=$out/message-$arch.eml delivered='' i
	rm -f "$inbox"/new/* "$inbox"/cur/*
	printf 'From: sender@example.org\nTo: %s@localhost\nSubject: from Wine, %s\n\n%s\n' "${users[2]}" "$arch" \
		$'.a line with a dot\n..two dots\nlast line' >"$message"
	run_wine "$log.send" wine_test.exe send send starttls localhost "$MAILTLS_TEST_SMTP_SUBMISSION_PORT" \
		"${users[2]}" "$ca" sender@example.org "${users[2]}@localhost" "$(winpath "$message")"
	status=1
	if expect_line "$log.send" send; then
		for ((i = 0; i < 150; i++)); do
			delivered=$(find "$inbox/new" "$inbox/cur" -type f)
			[[ -n $delivered ]] && break
			sleep 0.1
		done
		if [[ -z $delivered ]]; then
			echo "nothing delivered in 15 s" >>"$log.send"
		elif [[ $delivered == *$'\n'* ]]; then
			echo "more than one message delivered" >>"$log.send"
		else
			# Postfix adds two lines on top.
			{ printf 'Return-Path: <sender@example.org>\nDelivered-To: %s@localhost\n' "${users[2]}"; cat "$message"; } |
				cmp - "$delivered" >>"$log.send" 2>&1 && status=0
		fi
	fi
	result "$arch: SMTP submission with STARTTLS and AUTH, delivered byte-exact" $status "$log.send"

	# Refusals: the result code, and SChannel's code named in the message.
	refuse() { # NAME RESULT PATTERN SECURITY HOST PORT TIMEOUT_MS
		local name=$1 status=1
		run_wine "$log.$name" wine_test.exe refuse "$name" "$2" "$4" "$5" "$6" "$ca" "$7"
		expect_line "$log.$name" "$name" && grep -q -- "$3" "$log.$name" && status=0
		result "$arch: refused: $name ($3)" $status "$log.$name"
	}
	refuse untrusted-chain 309 'CERT_E_UNTRUSTEDROOT, 0x800B0109' tls localhost "$untrusted_port" 10000
	refuse wrong-host-name 303 'CERT_E_CN_NO_MATCH, 0x800B010F' tls 127.1 "$MAILTLS_TEST_POP3S_PORT" 10000
	# The refused certificate's facts, read on a second connection
	# (SChannel keeps none): in the message and through the handle.
	status=1
	grep -q "^certificate wrong-host-name: SHA-256 $MAILTLS_TEST_SERVER_SHA256" "$log.wrong-host-name" &&
		grep -q "is for localhost" "$log.wrong-host-name" && status=0
	result "$arch: refused: wrong-host-name tells the certificate" $status "$log.wrong-host-name"
	refuse revoked 310 'CERT_E_REVOKED, 0x800B010C' tls localhost "$revoked_port" 10000
	# Refused, but Wine's SChannel says only SEC_E_INTERNAL_ERROR (GnuTLS
	# "unsupported version"), a code that can mean other failures too, so
	# the result is the general TLS_ERROR here. Windows' own SChannel says
	# SEC_E_UNSUPPORTED_FUNCTION or SEC_E_ALGORITHM_MISMATCH, which give
	# TLS_VERSION (unit-tested in src/transport/tls/codes/schannel.rs).
	refuse tls-1.1-only 300 'SEC_E_INTERNAL_ERROR, 0x80090304' tls localhost "$tls11_port" 10000
	refuse stall 202 'no greeting' starttls localhost "$stall_port" 2000
	# Said once, in our words, with Winsock's number (nothing listens on
	# closed_port: free_ports only held it).
	refuse closed-port 201 "^ok closed-port: 201: nothing accepts connections on localhost .*port $closed_port (connection refused, os error 10061): check the port number" \
		tls localhost "$closed_port" 5000

	# The example, as its comment says to use it.
	status=1
	mkdir -p "$out/example-$arch"
	MAILTLS_PASSWORD=$MAILTLS_TEST_PASSWORD run_wine "$log.example" pop3_fetch.exe localhost \
		"$MAILTLS_TEST_POP3S_PORT" "${users[0]}" --tls --ca-file "$ca" --maildir "$(winpath "$out/example-$arch")"
	# Every message once in the Maildir's new/, the sync's report says so,
	# and nothing is left in tmp/.
	[[ $(find "$out/example-$arch/new" -type f 2>/dev/null | wc -l) == "${#sizes[@]}" ]] &&
		grep -q "^${#sizes[@]} new, 0 already had, 0 deleted on the server" "$log.example" &&
		[[ -z $(find "$out/example-$arch/tmp" -type f 2>/dev/null) ]] && status=0
	result "$arch: examples/c/pop3_fetch.c syncs every message into a Maildir" $status "$log.example"
	cd "$root" || exit 2
}

for dir in "$@"; do
	[[ -f $dir/mailtls.dll ]] || die "no mailtls.dll in $dir"
	test_package "$(cd "$dir" && pwd)"
done

echo "$passed passed, $failed failed"
((failed == 0))
