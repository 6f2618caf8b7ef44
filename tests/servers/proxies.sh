#!/usr/bin/env bash
# Private SOCKS5 and HTTP CONNECT proxies for the mailtls proxy tests
# (tests/proxy_real.rs): the Debian packages microsocks and tinyproxy, each
# run in the foreground on 127.0.0.1 by this script and stopped by PID.
#
# Usage:
#   bash tests/servers/proxies.sh start STATE_DIR [MAIL_ENV]  # prints STATE_DIR/proxies.env
#   bash tests/servers/proxies.sh stop  STATE_DIR             # idempotent
#
# MAIL_ENV is the env.sh of the mail servers the proxies are for (written by
# tests/servers/dovecot.sh and postfix.sh start); it defaults to
# STATE_DIR/env.sh, so with one STATE_DIR for all servers:
#   bash tests/servers/dovecot.sh start "$st"; bash tests/servers/postfix.sh start "$st"
#   bash tests/servers/proxies.sh start "$st"; . "$st/env.sh"; . "$st/proxies.env"
# tinyproxy allows CONNECT only to the POP3, POP3S, SMTP submission and
# SMTPS ports named there (not to MAILTLS_TEST_SMTP_PLAIN_PORT: the tests
# use it as a port the proxy forbids).
#
# Started, in STATE_DIR/proxies (config, logs, pid files):
#   - microsocks without authentication     MAILTLS_TEST_SOCKS_PORT
#   - microsocks with -u/-P (RFC 1929)       MAILTLS_TEST_SOCKS_AUTH_PORT,
#                                            MAILTLS_TEST_SOCKS_USER/_PASSWORD
#     (never with -1: that whitelists an address after one good login, and
#     the tests log in with wrong credentials after good ones)
#   - tinyproxy -d with BasicAuth           MAILTLS_TEST_HTTP_PROXY_PORT,
#                                            MAILTLS_TEST_HTTP_PROXY_USER/_PASSWORD
# The passwords are new random ones at each start, so a test can look for
# them in messages and traces.
set -euo pipefail

die() { echo "proxies.sh: $*" >&2; exit 1; }

# shellcheck source=tests/servers/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage() { die "usage: $0 start STATE_DIR [MAIL_ENV] | stop STATE_DIR"; }

# The proxies of this script, by the name of their files in STATE_DIR/proxies.
proxy_names=(socks socks-auth http)

# --- installation (fresh machines only; tests/install-deps.sh does the same) ---

install_missing() {
	local pkgs=()
	command -v microsocks >/dev/null || pkgs+=(microsocks)
	command -v tinyproxy >/dev/null || pkgs+=(tinyproxy)
	command -v python3 >/dev/null || pkgs+=(python3)
	((${#pkgs[@]})) || return 0

	echo "proxies.sh: installing ${pkgs[*]}" >&2
	# tinyproxy's package starts a system proxy on port 8888 when installed:
	# a policy-rc.d that denies everything keeps it from starting, unless the
	# machine already has its own.
	local own_policy=''
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 0755 /usr/sbin/policy-rc.d
		own_policy=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
	[[ -z $own_policy ]] || rm -f /usr/sbin/policy-rc.d
}

# --- stop ----------------------------------------------------------------------

# The PID recorded for proxy $2 in $1, if that process still runs the
# executable recorded with it (a PID number can be reused).
live_pid() {
	local file=$1/$2.pid pid exe
	[[ -s $file ]] || return 0
	read -r pid exe <"$file" || true
	[[ ${pid:-} =~ ^[0-9]+$ && -n ${exe:-} ]] || die "bad pid file $file"
	[[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$exe" ]] && echo "$pid"
	return 0
}

stop_one() {
	local dir=$1 name=$2 pid i
	pid=$(live_pid "$dir" "$name")
	if [[ -n $pid ]]; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 30; i++)); do
			[[ -n $(live_pid "$dir" "$name") ]] || break
			sleep 0.1
		done
		if [[ -n $(live_pid "$dir" "$name") ]]; then
			echo "proxies.sh: SIGKILL to $name (pid $pid)" >&2
			kill -KILL "$pid" 2>/dev/null || true
			for ((i = 0; i < 20; i++)); do
				[[ -n $(live_pid "$dir" "$name") ]] || break
				sleep 0.1
			done
			[[ -z $(live_pid "$dir" "$name") ]] || die "$name (pid $pid) survived SIGKILL"
		fi
	fi
	rm -f "$dir/$name.pid"
}

stop() {
	local dir=$1/proxies name
	[[ -d $dir ]] || return 0 # never started
	for name in "${proxy_names[@]}"; do
		stop_one "$dir" "$name"
	done
	rm -f "$1/proxies.env"
}

# --- start ---------------------------------------------------------------------

# Run proxy $2 (state dir $1) in the background: the command is the rest,
# with the word PORT replaced by a free port; retried on another port if
# someone took it between picking and binding. Prints the port.
launch() {
	local dir=$1 name=$2 exe port attempt i pid args arg running
	shift 2
	exe=$(readlink -f "$(command -v "$1")")
	for attempt in 1 2 3; do
		# Not read from a process substitution: free_ports must have exited
		# (and closed its socket) before the proxy binds the port.
		port=$(free_ports 1) || true
		[[ $port =~ ^[0-9]+$ ]] || die "could not pick a free port"
		args=()
		for arg in "$@"; do args+=("${arg//PORT/$port}"); done
		[[ $name != http ]] || sed -i "s/^Port .*/Port $port/" "$dir/tinyproxy.conf"
		: >"$dir/$name.out"
		"${args[@]}" </dev/null >>"$dir/$name.out" 2>&1 &
		pid=$!
		echo "$pid $exe" >"$dir/$name.pid"
		# Until it has exec'd, the child runs bash; once it has exited, it
		# has no executable.
		for ((i = 0; i < 100; i++)); do # up to 10 s
			running=$(readlink "/proc/$pid/exe" 2>/dev/null) || true
			[[ -n $running ]] || break
			[[ $running == "$exe" ]] && port_open "$port" && break
			sleep 0.1
		done
		if [[ -n $(live_pid "$dir" "$name") ]] && port_open "$port"; then
			echo "$port"
			return 0
		fi
		stop_one "$dir" "$name"
		if ((attempt < 3)) && grep -qi 'in use' "$dir/$name.out" "$dir/$name.log" 2>/dev/null; then
			continue
		fi
		die "$name did not start on 127.0.0.1:$port:$(echo; tail -n 20 "$dir/$name.out" "$dir/$name.log" 2>/dev/null)"
	done
}

# The ports tinyproxy may CONNECT to, from the mail servers' env.sh.
mail_ports() {
	local env=$1
	[[ -s $env ]] || die "no $env: start dovecot.sh and postfix.sh first (or give their env.sh as MAIL_ENV)"
	(
		# shellcheck disable=SC1090
		. "$env"
		for v in MAILTLS_TEST_POP3_PORT MAILTLS_TEST_POP3S_PORT MAILTLS_TEST_SMTP_SUBMISSION_PORT \
			MAILTLS_TEST_SMTPS_PORT; do
			[[ ${!v:-} =~ ^[0-9]+$ ]] || die "$v is not set in $env: start dovecot.sh and postfix.sh first"
			echo "${!v}"
		done
	)
}

write_tinyproxy_conf() {
	local dir=$1 user=$2 password=$3 p
	shift 3
	{
		echo "# Generated by tests/servers/proxies.sh: loopback only, CONNECT only"
		echo "# to the test mail servers, Basic authentication, nothing outside $dir."
		echo "Listen 127.0.0.1"
		echo "Port 0"
		echo "Timeout 60"
		echo "MaxClients 200"
		echo "Allow 127.0.0.1"
		# Without ConnectPort lines tinyproxy would CONNECT to any port.
		for p in "$@"; do echo "ConnectPort $p"; done
		echo "BasicAuth $user $password"
		echo "Syslog Off"
		echo "LogLevel Info"
		echo "LogFile \"$dir/http.log\""
		echo "PidFile \"$dir/tinyproxy.pid\""
		# Started as root, it would run as root (with a warning): drop to
		# nobody, as the mail processes do.
		if ((EUID == 0)); then
			echo "User nobody"
			echo "Group $(id -gn nobody)"
		fi
	} >"$dir/tinyproxy.conf"
	# Opened after tinyproxy changed user.
	: >"$dir/http.log"
	((EUID != 0)) || chown nobody "$dir/http.log"
}

start() {
	local state=$1 mail_env=${2:-} dir ports socks_port socks_auth_port http_port
	local socks_user=mailtls-socks socks_password http_user=mailtls-http http_password

	install_missing

	[[ -d $state ]] || mkdir -p "$state"
	state=$(cd "$state" && pwd)
	# The path goes unquoted into env files and tinyproxy.conf.
	[[ $state =~ ^[A-Za-z0-9/._-]+$ ]] || die "unsupported characters in STATE_DIR: $state"
	mail_env=${mail_env:-$state/env.sh}
	mapfile -t ports < <(mail_ports "$mail_env")
	((${#ports[@]} == 4)) || die "could not read the mail server ports from $mail_env"

	stop "$state" # a restart must not leave the old instances behind
	dir=$state/proxies
	mkdir -p "$dir"
	chmod 0755 "$dir"

	socks_password=socks-$(python3 -c 'import secrets; print(secrets.token_hex(8))')
	http_password=http-$(python3 -c 'import secrets; print(secrets.token_hex(8))')
	write_tinyproxy_conf "$dir" "$http_user" "$http_password" "${ports[@]}"

	socks_port=$(launch "$dir" socks microsocks -i 127.0.0.1 -p PORT)
	socks_auth_port=$(launch "$dir" socks-auth microsocks -i 127.0.0.1 -p PORT -u "$socks_user" -P "$socks_password")
	# -d: in the foreground, so that $! is its PID.
	http_port=$(launch "$dir" http tinyproxy -d -c "$dir/tinyproxy.conf")

	cat >"$state/proxies.env" <<EOF
# Generated by tests/servers/proxies.sh
export MAILTLS_TEST_SOCKS_PORT=$socks_port
export MAILTLS_TEST_SOCKS_AUTH_PORT=$socks_auth_port
export MAILTLS_TEST_SOCKS_USER=$socks_user
export MAILTLS_TEST_SOCKS_PASSWORD=$socks_password
export MAILTLS_TEST_HTTP_PROXY_PORT=$http_port
export MAILTLS_TEST_HTTP_PROXY_USER=$http_user
export MAILTLS_TEST_HTTP_PROXY_PASSWORD=$http_password
export MAILTLS_TEST_HTTP_PROXY_CONNECT_PORTS="${ports[*]}"
EOF
	echo "$state/proxies.env"
}

# --- main ----------------------------------------------------------------------

case ${1:-}:$# in
start:2 | start:3) start "${@:2}" ;;
stop:2) stop "$2" ;;
*) usage ;;
esac
