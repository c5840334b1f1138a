# git.sh: a git daemon serving every repository under one base path, push
# (receive-pack) enabled, no authentication: loopback only.
# shellcheck shell=bash

GIT_PORT=${WK_GIT_PORT:-19418}

start_git() {
	local D=$RUN/git
	mkdir -p "$D/repos"
	# Not --detach: that would send the log to syslog.
	setsid git daemon --reuseaddr --max-connections=0 --listen=127.0.0.1 --port="$GIT_PORT" \
		--base-path="$D/repos" --export-all --enable=receive-pack \
		--pid-file="$D/daemon.pid" --verbose "$D/repos" </dev/null >"$D/daemon.log" 2>&1 &
	wait_until "$START_TIMEOUT" tcp_open "$GIT_PORT"
	cat >"$RUN/env.d/git" <<-EOT
		export WIREKEEPER_TEST_GIT_URL=git://127.0.0.1:$GIT_PORT/
		export WIREKEEPER_TEST_GIT_BASE=$D/repos
	EOT
}

stop_git() {
	local pid
	pid=$(pid_of "$RUN/git/daemon.pid" git-daemon) || return 0
	kill -TERM "$pid" 2>/dev/null || true
	end_pid "$pid" 5
}

logs_git() { echo "$RUN/git/daemon.log"; }
ports_git() { echo "WK_GIT_PORT=$GIT_PORT"; }
