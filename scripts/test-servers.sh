#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# test-servers.sh installs, starts and stops the real servers that wirekeeper's
# integration tests run against: two Open vSwitch hosts, Docker, RabbitMQ,
# MariaDB and a git daemon, and the real Mermaid parser (node with npm
# packages). Every server is private to one run directory and listens on
# loopback only. See docs/testing.md.
#
#   scripts/test-servers.sh install
#   scripts/test-servers.sh start RUN_DIR     # writes RUN_DIR/env
#   scripts/test-servers.sh stop RUN_DIR
#   scripts/test-servers.sh run -- CMD ARGS...
#
# Each server is one file in scripts/test-servers/ defining start_NAME,
# stop_NAME, logs_NAME and ports_NAME; SERVERS lists them.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$HERE/test-servers/proc.sh"
source "$HERE/test-servers/ovs.sh"
source "$HERE/test-servers/docker.sh"
source "$HERE/test-servers/rabbitmq.sh"
source "$HERE/test-servers/mysql.sh"
source "$HERE/test-servers/git.sh"
source "$HERE/test-servers/mermaid.sh"

# Started in this order, all at once: RabbitMQ, by far the slowest, first.
SERVERS=(rabbitmq docker mysql ovs1 ovs2 git mermaid)
# systemd: deploy/'s test checks the unit with systemd-analyze verify.
# nodejs: reconciler/status parses its diagrams with the real Mermaid.
PACKAGES=(openvswitch-switch rabbitmq-server mariadb-server mariadb-client
	docker.io busybox-static ethtool iproute2 git systemd nodejs
	openssh-client gnupg jq curl)
START_TIMEOUT=${WK_START_TIMEOUT:-90}
MARKER=.wirekeeper-test-run

export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1

# --- install -----------------------------------------------------------------

wait_for_apt() {
	local waited=0
	while grep -qxE 'apt|apt-get|aptitude|dpkg|unattended-upgr' /proc/[0-9]*/comm 2>/dev/null; do
		((waited > 0)) || log "waiting for another apt/dpkg run to finish"
		((waited < 1200)) || die "apt/dpkg still busy after 20 minutes"
		sleep 2
		waited=$((waited + 2))
	done
}

cmd_install() {
	install_packages
	install_mermaid
}

install_packages() {
	local p missing=() rc=0 policy=/usr/sbin/policy-rc.d own_policy=0
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	# Debian's nodejs comes without npm, which is a package of its own; a
	# nodejs that brings npm (NodeSource's) conflicts with that package.
	command -v npm >/dev/null || missing+=(npm)
	((${#missing[@]})) || return 0
	((EUID == 0)) || die "missing packages (install them as root): ${missing[*]}"
	log "installing ${missing[*]}"
	# No system-wide service may start: the tests start their own.
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		own_policy=1
	fi
	wait_for_apt
	{
		apt-get -o DPkg::Lock::Timeout=1200 update -q &&
			DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=1200 \
				install -y -q "${missing[@]}"
	} || rc=$?
	if ((own_policy)); then rm -f "$policy"; fi
	((rc == 0)) || die "apt-get failed with status $rc"
}

# --- start and stop ----------------------------------------------------------

# set_run DIR sets RUN, the absolute run directory, and RUN_ID, a short
# name for it (netns names must stay short).
set_run() {
	[[ -n ${1:-} ]] || die "usage: $0 start|stop RUN_DIR"
	RUN=$(realpath -m -- "$1")
	[[ $RUN != / ]] || die "refusing to use / as RUN_DIR"
	RUN_ID=$(printf '%s' "$RUN" | md5sum | cut -c1-8)
}

check_ports() {
	local name var busy=()
	for name in "${SERVERS[@]}"; do
		for var in $("ports_$name"); do
			! tcp_open "${var#*=}" || busy+=("127.0.0.1:${var#*=} (set ${var%%=*} to move it)")
		done
	done
	((${#busy[@]} == 0)) || die "ports already in use: ${busy[*]}"
}

# show_failure NAME prints the end of NAME's start trace and server logs.
show_failure() {
	local f
	log "$1 failed to start; last lines of its logs:"
	# shellcheck disable=SC2046 # log paths have no spaces
	for f in "$RUN/start/$1.log" $("logs_$1"); do
		[[ -f $f ]] || continue
		echo "==> $f <==" >&2
		tail -n 25 "$f" >&2
	done
}

cmd_start() {
	set_run "${1:-}"
	if [[ -e $RUN && ! (-d $RUN && -z $(ls -A "$RUN")) ]]; then
		die "$RUN exists and is not empty"
	fi
	mkdir -p "$RUN/env.d" "$RUN/start"
	: >"$RUN/$MARKER"
	check_ports
	local t0 name failed=()
	local -A pids
	t0=$(now)
	for name in "${SERVERS[@]}"; do
		(set -x && "start_$name") >"$RUN/start/$name.log" 2>&1 &
		pids[$name]=$!
	done
	for name in "${SERVERS[@]}"; do
		wait "${pids[$name]}" || failed+=("$name")
	done
	if ((${#failed[@]})); then
		for name in "${failed[@]}"; do show_failure "$name"; done
		log "stopping what did start"
		cmd_stop "$RUN"
		die "start failed: ${failed[*]}"
	fi
	{
		cat "$RUN"/env.d/*
		echo "export WIREKEEPER_TEST_RUN_DIR=$RUN"
	} >"$RUN/env"
	log "servers ready in $(elapsed "$t0") s; env in $RUN/env"
}

# timed CMD...: runs CMD and, when WK_VERBOSE=1, says how long it took.
timed() {
	local t0 rc=0
	t0=$(now)
	"$@" || rc=$?
	if [[ ${WK_VERBOSE:-0} == 1 ]]; then log "$* took $(elapsed "$t0") s"; fi
	return "$rc"
}

mounts_under() {
	awk -v run="$RUN" '$5 == run || index($5, run "/") == 1 { print $5 }' /proc/self/mountinfo |
		sort -r
}

cmd_stop() {
	set_run "${1:-}"
	if [[ ! -d $RUN ]]; then
		log "$RUN does not exist: nothing to stop"
		return 0
	fi
	[[ -e $RUN/$MARKER ]] || die "$RUN was not made by '$0 start': not touching it"
	local t0 name m
	t0=$(now)
	for name in "${SERVERS[@]}"; do
		(timed "stop_$name") &
	done
	wait
	sweep "$RUN"
	for m in $(mounts_under); do
		umount "$m" 2>/dev/null || umount -l "$m" || true
	done
	[[ -z $(mounts_under) ]] ||
		die "still mounted under $RUN, not removing it: $(mounts_under | tr '\n' ' ')"
	# --one-file-system: never descend into a mount that appeared meanwhile.
	rm -rf --one-file-system -- "$RUN"
	log "stopped in $(elapsed "$t0") s"
}

# --- run ---------------------------------------------------------------------

cmd_run() {
	[[ ${1:-} != -- ]] || shift
	(($#)) || die "usage: $0 run -- CMD ARGS..."
	cmd_install
	RUN_DIR=$(mktemp -d /tmp/wirekeeper-test.XXXXXXXXXX)
	CHILD=""
	trap 'on_exit' EXIT
	trap 'on_signal INT 130' INT
	trap 'on_signal TERM 143' TERM
	cmd_start "$RUN_DIR"
	# shellcheck source=/dev/null
	source "$RUN_DIR/env"
	local rc=0 t0
	t0=$(now)
	# In the background, so that a signal reaches the trap while CMD runs,
	# with SIGINT restored: bash would have a background CMD ignore it.
	(
		trap - INT QUIT
		exec "$@"
	) <&0 &
	CHILD=$!
	wait "$CHILD" || rc=$?
	CHILD=""
	log "$1 exited with status $rc after $(elapsed "$t0") s"
	exit "$rc"
}

# on_signal SIGNAL STATUS passes SIGNAL to CMD and everything under it, as a
# terminal's Ctrl-C would (go test leaves its test binary to the terminal),
# gives them 30 s to report and exit, then exits: on_exit stops the servers.
on_signal() {
	trap '' INT TERM
	if [[ -n $CHILD ]] && alive "$CHILD"; then
		# shellcheck disable=SC2046 # pids are words
		kill -"$1" $(descendants "$CHILD") 2>/dev/null || true
		if ! wait_until 30 eval "! alive $CHILD"; then
			# shellcheck disable=SC2046
			kill -KILL $(descendants "$CHILD") 2>/dev/null || true
		fi
	fi
	exit "$2"
}

on_exit() {
	local rc=$?
	trap '' INT TERM
	if [[ -d $RUN_DIR ]]; then cmd_stop "$RUN_DIR" || rc=1; fi
	exit "$rc"
}

main() {
	local cmd=${1:-}
	shift || true
	case $cmd in
	install) cmd_install ;;
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	run) cmd_run "$@" ;;
	*) die "usage: $0 install | start RUN_DIR | stop RUN_DIR | run -- CMD ARGS..." ;;
	esac
}

main "$@"
