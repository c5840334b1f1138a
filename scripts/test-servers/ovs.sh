# ovs.sh: two Open vSwitch "hosts", each an ovsdb-server plus an ovs-vswitchd
# (userspace datapath) in a network namespace of its own, with bridge br0.
# Deleting the namespace removes every tap device vswitchd made.
# shellcheck shell=bash

OVSDB_PORT=${WK_OVSDB_PORT:-16640}
OVSDB2_PORT=${WK_OVSDB2_PORT:-16641}
OVS_SCHEMA=/usr/share/openvswitch/vswitch.ovsschema

ovs_dir() { if [[ $1 == 1 ]]; then echo "$RUN/ovs"; else echo "$RUN/ovs$1"; fi; }

# start_ovs HOST PORT
start_ovs() {
	local host=$1 port=$2 D ns=wk$1-$RUN_ID suffix=""
	D=$(ovs_dir "$host")
	[[ $host == 1 ]] || suffix=$host
	mkdir -p "$D"
	export OVS_RUNDIR=$D OVS_DBDIR=$D OVS_LOGDIR=$D OVS_SYSCONFDIR=$D
	ovsdb-tool create "$D/conf.db" "$OVS_SCHEMA"
	ovsdb-server "$D/conf.db" --remote="punix:$D/db.sock" --remote="ptcp:$port:127.0.0.1" \
		--pidfile="$D/ovsdb-server.pid" --unixctl="$D/ovsdb-server.ctl" \
		--log-file="$D/ovsdb-server.log" -vconsole:off --detach --no-chdir
	ovs-vsctl --db="unix:$D/db.sock" --timeout=30 --no-wait init
	echo "$ns" >"$D/netns"
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip netns exec "$ns" env OVS_RUNDIR="$D" ovs-vswitchd "unix:$D/db.sock" --disable-system \
		--pidfile="$D/ovs-vswitchd.pid" --unixctl="$D/ovs-vswitchd.ctl" \
		--log-file="$D/ovs-vswitchd.log" -vconsole:off --detach --no-chdir
	# Without --no-wait this returns once vswitchd has made the bridge.
	ovs-vsctl --db="unix:$D/db.sock" --timeout="$START_TIMEOUT" \
		add-br br0 -- set bridge br0 datapath_type=netdev
	cat >"$RUN/env.d/ovs$host" <<-EOT
		export WIREKEEPER_TEST_OVSDB$suffix=unix:$D/db.sock
		export WIREKEEPER_TEST_OVSDB${suffix}_TCP=tcp:127.0.0.1:$port
		export WIREKEEPER_TEST_OVS${suffix}_NETNS=$ns
	EOT
}

# stop_ovs HOST
stop_ovs() {
	local D pid ns
	D=$(ovs_dir "$1")
	[[ -d $D ]] || return 0
	if pid=$(pid_of "$D/ovs-vswitchd.pid" ovs-vswitchd); then
		timeout 10 ovs-appctl -t "$D/ovs-vswitchd.ctl" exit --cleanup || true
		end_pid "$pid" 10
	fi
	if pid=$(pid_of "$D/ovsdb-server.pid" ovsdb-server); then
		kill -TERM "$pid" 2>/dev/null || true
		end_pid "$pid" 10
	fi
	ns=$(cat "$D/netns" 2>/dev/null) || return 0
	if [[ -e /run/netns/$ns ]]; then
		ip netns delete "$ns" || log "cannot delete netns $ns"
	fi
}

logs_ovs() {
	local D
	D=$(ovs_dir "$1")
	echo "$D/ovsdb-server.log" "$D/ovs-vswitchd.log"
}

start_ovs1() { start_ovs 1 "$OVSDB_PORT"; }
start_ovs2() { start_ovs 2 "$OVSDB2_PORT"; }
stop_ovs1() { stop_ovs 1; }
stop_ovs2() { stop_ovs 2; }
logs_ovs1() { logs_ovs 1; }
logs_ovs2() { logs_ovs 2; }
ports_ovs1() { echo "WK_OVSDB_PORT=$OVSDB_PORT"; }
ports_ovs2() { echo "WK_OVSDB2_PORT=$OVSDB2_PORT"; }
