#!/usr/bin/env bash
# Private Postfix SMTP server for the mailtls integration tests.
#
# Usage:
#   bash tests/servers/postfix.sh install             # the postfix package only
#   bash tests/servers/dovecot.sh start STATE_DIR      # after install (see below)
#   bash tests/servers/postfix.sh start STATE_DIR      # appends to STATE_DIR/env.sh
#   bash tests/servers/postfix.sh stop  STATE_DIR      # idempotent
#   bash tests/servers/dovecot.sh stop  STATE_DIR
#
# Order matters: SASL goes through the Dovecot of the same STATE_DIR (its users
# user01..user99 and demo, its CA), whose auth service gets a socket for
# Postfix only if the user "postfix" exists when Dovecot starts, i.e. after
# "postfix.sh install".
#
# Everything (main.cf, master.cf, queue, log) lives in STATE_DIR/postfix; the
# system Postfix (/etc/postfix, port 25) is never configured, started or used.
# Three SMTP ports on 127.0.0.1, random unless MAILTLS_SMTP_SUBMISSION_PORT /
# MAILTLS_SMTPS_PORT / MAILTLS_SMTP_PLAIN_PORT are set:
#   submission  STARTTLS required: AUTH or MAIL before it get "530 5.7.0 Must
#               issue a STARTTLS command first"
#   smtps       implicit TLS
#   plain       "port 25": STARTTLS offered, AUTH only after STARTTLS (before:
#               "503 5.5.1 Error: authentication not enabled"), mail without
#               AUTH to the test mailboxes
# AUTH PLAIN, LOGIN and CRAM-MD5 (Dovecot's users, MAILTLS_TEST_PASSWORD). On
# submission and smtps, MAIL without AUTH gets 250 but every RCPT then "554
# 5.7.1 <unknown[127.0.0.1]>: Client host rejected: Access denied".
# Mail is accepted only for user01@localhost .. user99@localhost and
# demo@localhost (an unqualified <user05> means user05@localhost) and
# delivered into the Dovecot maildirs (STATE_DIR/home/USER/Maildir/new, a few
# milliseconds after the final 250: poll). Other localhost recipients: "550
# 5.1.1 <...>: Recipient address rejected: User unknown in virtual mailbox
# table"; any other domain, even after AUTH: "554 5.7.1 <...>: Relay access
# denied". Nothing is ever sent out: there is no SMTP client service, and
# every non-local transport is error: (DSNs to senders die there too).
#
# Size limit 1 MiB (MAILTLS_TEST_SMTP_SIZE_LIMIT): MAIL ... SIZE=1048577 gets
# "552 5.3.4 Message size exceeds fixed limit" (SIZE=1048576 passes), a
# message over it "552 5.3.4 Error: message file too big" after DATA. Postfix
# counts its queue file (envelope, record overhead), so messages a little
# below 1 MiB fail too: keep "must pass" messages under 1 MiB - 8 KiB.
#
# Delivered files are the message as sent (dot-unstuffed, LF line ends, long
# lines kept) with two lines added on top by the virtual delivery agent:
#   Return-Path: <SENDER>
#   Delivered-To: RECIPIENT          (lowercased, e.g. user05@localhost)
# No Received: (ours is removed by header_checks), Message-ID:, Date:, From:
# or To: is added, and no header is rewritten. Also: a message without
# headers gets an empty line after the two added ones; a bare CR becomes a
# space; a BDAT message not ending in CRLF gets a final newline.
set -euo pipefail

mail_uid=65534 # owner of the Dovecot maildirs (see dovecot.sh)
mail_gid=65534
size_limit=1048576

die() { echo "postfix.sh: $*" >&2; exit 1; }

# shellcheck source=tests/servers/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# This instance's processes (see group_pids).
instance_pids() { group_pids "$1" '^/usr/lib/postfix/sbin/'; }

usage() { die "usage: $0 install | start STATE_DIR | stop STATE_DIR"; }

# --- installation --------------------------------------------------------------

installed() { [[ -x /usr/sbin/postfix && -x /usr/lib/postfix/sbin/smtpd ]] && getent passwd postfix >/dev/null; }

install_postfix() {
	installed && return 0

	echo "postfix.sh: installing postfix" >&2
	# Keep the package's init script from starting a system Postfix: a
	# policy-rc.d that denies everything, unless the machine has its own.
	# "No configuration" also leaves /etc/postfix/main.cf unwritten, so no
	# system instance could run anyway.
	local own_policy=''
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 0755 /usr/sbin/policy-rc.d
		own_policy=1
	fi
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	export DEBIAN_FRONTEND=noninteractive
	local rc=0
	{ apt-get update -qq && apt-get install -y -qq --no-install-recommends postfix >/dev/null; } || rc=$?
	[[ -z $own_policy ]] || rm -f /usr/sbin/policy-rc.d
	((rc == 0)) || die "apt-get install postfix failed ($rc)"
	installed || die "postfix installed but /usr/sbin/postfix, smtpd or user postfix missing"
}

# --- helpers -------------------------------------------------------------------

# Whether nothing listens on 127.0.0.1 port $1 or on the wildcard address.
port_free() {
	python3 - "$1" <<-'EOF'
		import socket, sys
		s = socket.socket()
		try:
		    s.bind(("127.0.0.1", int(sys.argv[1])))
		except OSError:
		    sys.exit(1)
	EOF
}

# Number of listening TCP sockets on 127.0.0.1 port $1. Postfix's master sets
# SO_REUSEPORT, so a second Postfix (also root) can bind a port the first one
# listens on, without an error, and the kernel then splits the connections
# between them.
listeners() {
	local hex
	hex=$(printf '0100007F:%04X' "$1")
	awk -v a="$hex" '$2 == a && $4 == "0A"' /proc/net/tcp | wc -l
}

# --- stop ----------------------------------------------------------------------

stop() {
	local pf=$1/postfix pgid pids i
	local pgid_file=$pf/master.pgid
	# master.pgid is written by start once the master runs; its pid file
	# also does if start was interrupted before that.
	if [[ -s $pgid_file ]]; then
		pgid=$(<"$pgid_file")
	elif [[ -s $pf/spool/pid/master.pid ]]; then
		read -r pgid <"$pf/spool/pid/master.pid" || true
	else
		return 0 # never started (or already stopped)
	fi
	[[ ${pgid:-} =~ ^[0-9]+$ ]] || die "bad $pgid_file or $pf/spool/pid/master.pid"

	# The master, if it is still ours: SIGTERM is all "postfix stop" does
	# too (and then polls once a second). The master SIGTERMs its process
	# group (smtpd processes serving clients included) and exits.
	pids=$(instance_pids "$pgid")
	if grep -qx "$pgid" <<<"$pids"; then
		kill -TERM "$pgid" 2>/dev/null || true
		pids=$(wait_gone "$pgid" 50)
	fi
	if [[ -n $pids ]]; then
		# shellcheck disable=SC2086
		kill -TERM $pids 2>/dev/null || true
		pids=$(wait_gone "$pgid" 30)
	fi
	if [[ -n $pids ]]; then
		echo "postfix.sh: SIGKILL to leftover pids $pids" >&2
		# shellcheck disable=SC2086
		kill -KILL $pids 2>/dev/null || true
		pids=$(wait_gone "$pgid" 20)
		[[ -z $pids ]] || die "pids $pids of $1 survived SIGKILL"
	fi
	rm -f "$pgid_file" "$pf/spool/pid/master.pid"
}

# --- start ---------------------------------------------------------------------

# $1 state, $2 auth socket
write_main_cf() {
	local state=$1 sasl=$2 pf=$1/postfix
	cat >"$pf/main.cf" <<EOF
# Generated by tests/servers/postfix.sh - a private test instance, started
# with "postfix -c $pf start".
compatibility_level = 3.6

# --- everything inside STATE_DIR -------------------------------------------
queue_directory = $pf/spool
data_directory = $pf/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $pf/maillog
maillog_file_prefixes = $pf
# No /etc/aliases (no local delivery anyway).
alias_maps =
alias_database =

# --- names, network ---------------------------------------------------------
myhostname = localhost
mydomain = localdomain
myorigin = \$myhostname
smtpd_banner = \$myhostname ESMTP mailtls-test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
# Used only to exempt the tests' many connections from anvil's limits;
# permit_mynetworks is in no restriction list, so it grants nothing.
mynetworks = 127.0.0.1/32
smtpd_client_event_limit_exceptions = 127.0.0.0/8
# No DNS: the client is "unknown[127.0.0.1]".
smtpd_peername_lookup = no

# --- where mail goes: test maildirs only, never out --------------------------
mydestination =
relay_domains =
relayhost =
local_recipient_maps =
local_transport = error:local delivery disabled in tests
default_transport = error:outbound delivery disabled in tests
relay_transport = error:outbound delivery disabled in tests
notify_classes =

virtual_mailbox_domains = localhost
virtual_mailbox_base = $state/home
virtual_mailbox_maps = texthash:$pf/vmailbox
virtual_uid_maps = static:$mail_uid
virtual_gid_maps = static:$mail_gid
virtual_minimum_uid = 100
virtual_transport = virtual

message_size_limit = $size_limit
virtual_mailbox_limit = $((size_limit * 10))
mailbox_size_limit = $((size_limit * 10))

# --- SMTP server --------------------------------------------------------------
smtputf8_enable = yes
# Everyone may send to the test mailboxes only (per port, master.cf adds
# "AUTH first" on submission and smtps).
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions =
smtpd_client_restrictions =
# Tests make errors on purpose: no tarpit, no waiting for the queue.
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 100
smtpd_hard_error_limit = 100
smtpd_junk_command_limit = 1000
in_flow_delay = 0

# SASL through the Dovecot of the same STATE_DIR.
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = $sasl
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
smtpd_sasl_authenticated_header = no
broken_sasl_auth_clients = no

smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_tls_cert_file = $state/ca/server.pem
smtpd_tls_key_file = $state/ca/server.key
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_tls_session_cache_database =
smtpd_tls_loglevel = 1
smtp_tls_security_level = none

# --- byte-exact delivery ------------------------------------------------------
# No header rewriting or added Message-ID/Date/From for any client, and
# Postfix's own Received: header removed (client-supplied ones stay).
local_header_rewrite_clients =
remote_header_rewrite_domain =
always_add_missing_headers = no
# No X-Original-To: from the virtual agent (only Return-Path: and
# Delivered-To: are added on top).
enable_original_recipient = no
header_checks = regexp:$pf/header_checks
EOF
}

# $1 state, $2 submission, $3 smtps, $4 plain port
write_master_cf() {
	local pf=$1/postfix
	cat >"$pf/master.cf" <<EOF
# Generated by tests/servers/postfix.sh. Nothing is chrooted (Debian's stock
# master.cf chroots, which needs files its init script copies in).
# service              type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$2 inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
127.0.0.1:$3 inet n - n - - smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
127.0.0.1:$4 inet n - n - - smtpd
  -o syslog_name=postfix/plain
pickup     unix       n     -       n       60      1       pickup
cleanup    unix       n     -       n       -       0       cleanup
qmgr       unix       n     -       n       300     1       qmgr
tlsmgr     unix       -     -       n       1000?   1       tlsmgr
rewrite    unix       -     -       n       -       -       trivial-rewrite
bounce     unix       -     -       n       -       0       bounce
defer      unix       -     -       n       -       0       bounce
trace      unix       -     -       n       -       0       bounce
verify     unix       -     -       n       -       1       verify
flush      unix       n     -       n       1000?   0       flush
proxymap   unix       -     -       n       -       -       proxymap
proxywrite unix       -     -       n       -       1       proxymap
virtual    unix       -     n       n       -       -       virtual
error      unix       -     -       n       -       -       error
retry      unix       -     -       n       -       -       error
discard    unix       -     -       n       -       -       discard
anvil      unix       -     -       n       -       1       anvil
scache     unix       -     -       n       -       1       scache
postlog    unix-dgram n     -       n       -       1       postlogd
EOF
}

write_tables() {
	local state=$1 pf=$1/postfix u
	{
		for u in $(mailbox_users); do
			echo "$u@localhost $u/Maildir/"
		done
	} >"$pf/vmailbox"
	# Only the Received: header our smtpd adds: "from HELO (unknown
	# [127.0.0.1]) <NL TAB> by localhost (Postfix) with ESMTPSA id QUEUEID
	# <NL TAB> for <RCPT>; DATE", matched as one logical header.
	cat >"$pf/header_checks" <<-'EOF'
		/^Received: from .* \(unknown \[127\.0\.0\.1\]\)[[:space:]]+by localhost \(Postfix\) with [[:alnum:]]+ id [0-9A-F]+/ IGNORE
	EOF
}

start() {
	local state=$1 pf port_sub port_smtps port_plain sasl pgid i t0

	installed || install_postfix
	command -v python3 >/dev/null || die "python3 is needed (dovecot.sh installs it)"
	[[ -d $state ]] || die "no STATE_DIR $state: run dovecot.sh start $state first"
	state=$(cd "$state" && pwd) # Postfix needs absolute paths
	[[ -s $state/env.sh ]] || die "no $state/env.sh: run dovecot.sh start $state first"
	[[ $state =~ ^[A-Za-z0-9/._-]+$ ]] || die "unsupported characters in STATE_DIR: $state"
	[[ -s $state/ca/server.pem && -s $state/ca/server.key ]] || die "no CA in $state/ca (dovecot.sh start makes it)"
	sasl=$state/dovecot/run/auth-postfix
	[[ -S $sasl ]] || die "no Dovecot SASL socket $sasl: Dovecot was started before" \
		"Postfix was installed (or is not running); run 'postfix.sh install', then" \
		"'dovecot.sh start $state' again, then this"
	pf=$state/postfix
	t0=${EPOCHREALTIME/./}

	stop "$state" # a restart must not leave the old instance behind

	mkdir -p "$pf/spool" "$pf/data"
	chown root:root "$pf" "$pf/spool"
	chmod 0755 "$pf" "$pf/spool"
	chown postfix:postfix "$pf/data"
	chmod 0700 "$pf/data"
	write_tables "$state"

	local fixed='' started='' attempt busy p
	[[ -z ${MAILTLS_SMTP_SUBMISSION_PORT:-}${MAILTLS_SMTPS_PORT:-}${MAILTLS_SMTP_PLAIN_PORT:-} ]] || fixed=1
	for attempt in 1 2 3; do
		# Not from a process substitution: free_ports must have exited
		# (and let go of the ports) before the server binds them.
		ports=$(free_ports 3) || true
		read -r port_sub port_smtps port_plain <<<"$ports" || true
		[[ -n ${port_plain:-} ]] || die "could not pick free ports"
		port_sub=${MAILTLS_SMTP_SUBMISSION_PORT:-$port_sub}
		port_smtps=${MAILTLS_SMTPS_PORT:-$port_smtps}
		port_plain=${MAILTLS_SMTP_PLAIN_PORT:-$port_plain}
		(($(printf '%s\n' "$port_sub" "$port_smtps" "$port_plain" | sort -u | wc -l) == 3)) ||
			die "ports not distinct: $port_sub $port_smtps $port_plain"
		# Taken ports would be shared silently (see listeners), not refused.
		busy=''
		for p in "$port_sub" "$port_smtps" "$port_plain"; do
			port_free "$p" || busy+=" $p"
		done
		if [[ -n $busy ]]; then
			[[ -z $fixed ]] || die "port(s)$busy already in use on 127.0.0.1"
			continue
		fi

		write_main_cf "$state" "$sasl"
		write_master_cf "$state" "$port_sub" "$port_smtps" "$port_plain"
		# Postfix waits for config files younger than a few seconds to
		# "settle" (about 2 s); these are complete, so date them back.
		touch -d '-10 seconds' "$pf/main.cf" "$pf/master.cf" "$pf/vmailbox" "$pf/header_checks"
		: >"$pf/maillog"
		# Nothing of ours runs now (stop above): a stale pid file whose PID
		# got reused would make Postfix think it is running.
		rm -f "$pf/spool/pid/master.pid"
		# "start" creates the queue subdirectories (post-install
		# create-missing) and waits until the master is initialised.
		if postfix -c "$pf" start >"$pf/start.err" 2>&1; then
			started=1
			break
		fi
		if [[ -z $fixed ]] && ((attempt < 3)) &&
			grep -q 'Address already in use' "$pf/maillog" "$pf/start.err"; then
			continue
		fi
		postfix -c "$pf" check >>"$pf/start.err" 2>&1 || true
		die "postfix failed to start:$(echo; cat "$pf/start.err"; tail -n 20 "$pf/maillog")"
	done
	[[ -n $started ]] || die "no free ports found in 3 attempts"

	for ((i = 0; i < 150; i++)); do # up to 15 s
		[[ -s $pf/spool/pid/master.pid ]] && break
		sleep 0.1
	done
	if [[ -s $pf/spool/pid/master.pid ]]; then
		read -r pgid <"$pf/spool/pid/master.pid" # space-padded
		echo "$pgid" >"$pf/master.pgid"
	fi
	for (( ; i < 150; i++)); do
		port_open "$port_sub" && port_open "$port_smtps" && port_open "$port_plain" && break
		sleep 0.1
	done
	if ((i >= 150)); then
		stop "$state"
		die "postfix not listening on $port_sub/$port_smtps/$port_plain after 15 s; log:$(echo; tail -n 20 "$pf/maillog")"
	fi
	for p in "$port_sub" "$port_smtps" "$port_plain"; do
		if (($(listeners "$p") != 1)); then
			stop "$state"
			die "another process (a parallel Postfix start?) listens on port $p too"
		fi
	done

	# Add our variables to Dovecot's env.sh, replacing those of an earlier
	# start (atomically: other processes may be reading it).
	{
		grep -v '^export MAILTLS_TEST_SMTP' "$state/env.sh" | grep -vx '# Added by tests/servers/postfix.sh' || true
		cat <<-EOF
			# Added by tests/servers/postfix.sh
			export MAILTLS_TEST_SMTP_SUBMISSION_PORT=$port_sub
			export MAILTLS_TEST_SMTPS_PORT=$port_smtps
			export MAILTLS_TEST_SMTP_PLAIN_PORT=$port_plain
			export MAILTLS_TEST_SMTP_SIZE_LIMIT=$size_limit
		EOF
	} >"$state/env.sh.postfix.tmp"
	mv -f "$state/env.sh.postfix.tmp" "$state/env.sh"
	t0=$(((${EPOCHREALTIME/./} - t0) / 1000))
	echo "postfix.sh: listening on 127.0.0.1:$port_sub (submission)," \
		"$port_smtps (smtps), $port_plain (plain) after $t0 ms" >&2
	echo "$state/env.sh"
}

# --- main ----------------------------------------------------------------------

case ${1:-}:$# in
install:1) install_postfix ;;
start:2) start "$2" ;;
stop:2) stop "$2" ;;
*) usage ;;
esac
