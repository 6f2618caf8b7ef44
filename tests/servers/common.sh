# shellcheck shell=bash
# Shell functions shared by the test servers' scripts (dovecot.sh,
# postfix.sh); sourced, not run. Each script defines instance_pids PGID.

# N distinct free loopback ports, all held open at once so the kernel cannot
# hand out the same one twice.
free_ports() {
	python3 - "$1" <<-'EOF2'
		import socket, sys
		socks = [socket.socket() for _ in range(int(sys.argv[1]))]
		for s in socks:
		    s.bind(("127.0.0.1", 0))
		print(*(s.getsockname()[1] for s in socks))
	EOF2
}

port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# PIDs in process group $1 whose executable matches the regex $2. A server's
# master daemonizes with setsid, so its PID is the group of all its children,
# which keep it after the master is gone; the executable check guards
# against a reused PID number.
group_pids() {
	local pgid=$1 exe_pattern=$2 p stat rest pg
	for p in /proc/[0-9]*; do
		read -r stat 2>/dev/null <"$p/stat" || continue
		rest=${stat##*) }           # skip "pid (comm) ", comm may hold spaces
		read -r _ _ pg _ <<<"$rest" # state ppid pgrp ...
		[[ $pg == "$pgid" ]] || continue
		[[ $(readlink "$p/exe" 2>/dev/null) =~ $exe_pattern ]] && echo "${p#/proc/}"
	done
}

# Wait up to $2 tenths of a second for the instance of group $1 to be gone;
# print the PIDs left.
wait_gone() {
	local pids i
	for ((i = 0; i < $2; i++)); do
		pids=$(instance_pids "$1")
		[[ -n $pids ]] || return 0
		sleep 0.1
	done
	echo "${pids//$'\n'/ }"
}

# Every mailbox user, Dovecot's users and Postfix's virtual mailboxes alike:
# demo, user01..user99, and the named users of the later suites (each
# suite's users are its own).
mailbox_users() {
	echo demo $(seq -f 'user%02g' 1 99) fetch01 fetch02 fetch03 order01 \
		csync01 csync02 csync03 pysync01 pysync02 pysync03 scram01 scram02 \
		certcb01 certcb02 probe01 probe02 cprobe01 pyprobe01 cliprobe01 \
		proxy01 proxy02 proxy03 proxy04 proxy05 proxy06 proxy07 proxy08 cproxy01 pyproxy01
}
