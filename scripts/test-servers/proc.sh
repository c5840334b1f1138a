# proc.sh: waiting for servers and ending processes, for test-servers.sh.
# shellcheck shell=bash

log() { printf 'test-servers: %s\n' "$*" >&2; }

die() {
	log "$*"
	exit 1
}

now() { date +%s.%N; }

# elapsed T0: seconds since T0 (from now), one decimal.
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# wait_until SECONDS CMD...: polls CMD every 0.1 s until it succeeds; false,
# and says what it waited for, after SECONDS.
wait_until() {
	local xtrace=${-//[^x]/} deadline=$((SECONDS + $1))
	shift
	{ set +x; } 2>/dev/null
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			log "gave up waiting for: $*"
			[[ -z $xtrace ]] || set -x
			return 1
		fi
		sleep 0.1
	done
	[[ -z $xtrace ]] || set -x
}

# tcp_open PORT: true when something accepts connections on 127.0.0.1:PORT.
tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# http_ok PORT PATH AUTH: true when GET PATH with basic AUTH answers 200;
# plain bash, as a fresh machine may have no curl.
http_ok() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf 'GET %s HTTP/1.0\r\nAuthorization: Basic %s\r\n\r\n' "$2" "$3" >&3
		local status
		read -r -t 5 _ status _ <&3 && [[ $status == 200 ]]
	) 2>/dev/null
}

# alive PID: true when PID runs and is not a zombie.
alive() {
	local stat
	[[ -n ${1:-} ]] || return 1
	read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# pid_of FILE PATTERN: the live pid in FILE whose command line matches
# PATTERN, so a stale pid file never names a stranger's process.
pid_of() {
	local pid
	pid=$(tr -dc '0-9' 2>/dev/null <"$1") || return 1
	alive "$pid" || return 1
	tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q -- "$2" || return 1
	echo "$pid"
}

# end_pid PID SECONDS: gives PID SECONDS to exit, then TERM, then KILL.
end_pid() {
	local pid=$1 grace=$2
	alive "$pid" || return 0
	wait_until "$grace" eval "! alive $pid" 2>/dev/null && return 0
	kill -TERM "$pid" 2>/dev/null || true
	wait_until 10 eval "! alive $pid" 2>/dev/null && return 0
	log "pid $pid ignored SIGTERM, killing it"
	kill -KILL "$pid" 2>/dev/null || true
	wait_until 5 eval "! alive $pid" || true
}

# ancestors: this shell's pid and all its ancestors'.
ancestors() {
	local pid=$BASHPID stat
	while [[ -n $pid && $pid != 0 ]]; do
		echo "$pid"
		read -r stat 2>/dev/null <"/proc/$pid/stat" || break
		stat=${stat##*) }
		stat=${stat#* }
		pid=${stat%% *}
	done
}

# descendants PID...: prints each PID and every process below it.
descendants() {
	local f stat pid i=0 all=("$@")
	local -A children
	for f in /proc/[0-9]*/stat; do
		read -r stat 2>/dev/null <"$f" || continue
		stat=${stat##*) }
		stat=${stat#* }
		pid=${f#/proc/}
		children[${stat%% *}]+=" ${pid%/stat}"
	done
	while ((i < ${#all[@]})); do
		# shellcheck disable=SC2206 # the pids are words
		all+=(${children[${all[i]}]:-})
		i=$((i + 1))
	done
	printf '%s\n' "${all[@]}"
}

# sweep DIR: kills whatever still runs from DIR, with its descendants (a
# containerd shim names DIR on its command line; the container runs under
# it), sparing this script and its ancestors.
sweep() {
	local dir=$1 pid spare found=()
	spare=" $(ancestors | tr '\n' ' ') "
	# shellcheck disable=SC2013 # /proc/PID/cmdline paths have no spaces
	for pid in $(grep -lF -- "$dir/" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3); do
		[[ $spare == *" $pid "* ]] || ! alive "$pid" || found+=("$pid")
	done
	((${#found[@]})) || return 0
	mapfile -t found < <(descendants "${found[@]}")
	log "killing leftover processes: ${found[*]}"
	kill -KILL "${found[@]}" 2>/dev/null || true
	for pid in "${found[@]}"; do wait_until 5 eval "! alive $pid" || true; done
}
