# rabbitmq.sh: a private RabbitMQ node with the management plugin, run from
# the server script directly (the /usr/sbin wrapper switches user), with its
# own HOME, cookie, config and epmd.
# shellcheck shell=bash

RABBITMQ_PORT=${WK_RABBITMQ_PORT:-15673}
RABBITMQ_DIST_PORT=${WK_RABBITMQ_DIST_PORT:-$((RABBITMQ_PORT + 10000))}
RABBITMQ_MGMT_PORT=${WK_RABBITMQ_MGMT_PORT:-15679}
EPMD_PORT=${WK_EPMD_PORT:-14369}
RABBIT_BIN=/usr/lib/rabbitmq/bin

# rabbit_env exports what both the server and rabbitmqctl need to find it.
rabbit_env() {
	local D=$RUN/rabbitmq
	export HOME=$D/home RABBITMQ_NODENAME=rabbit_$RABBITMQ_PORT@localhost \
		RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$RABBITMQ_PORT \
		RABBITMQ_DIST_PORT=$RABBITMQ_DIST_PORT ERL_EPMD_ADDRESS=127.0.0.1 \
		ERL_EPMD_PORT=$EPMD_PORT RABBITMQ_MNESIA_BASE=$D/mnesia RABBITMQ_LOG_BASE=$D/log \
		RABBITMQ_CONFIG_FILE=$D/rabbitmq.conf RABBITMQ_ADVANCED_CONFIG_FILE=$D/advanced.config \
		RABBITMQ_ENABLED_PLUGINS_FILE=$D/enabled_plugins RABBITMQ_PID_FILE=$D/rabbitmq.pid \
		RABBITMQ_CONF_ENV_FILE=$D/rabbitmq-env.conf ERL_CRASH_DUMP=$D/log/erl_crash.dump \
		RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

start_rabbitmq() {
	local D=$RUN/rabbitmq pid
	mkdir -p "$D/home" "$D/mnesia" "$D/log"
	rabbit_env
	head -c 32 /dev/urandom | md5sum | cut -c1-20 | tr a-f A-F >"$HOME/.erlang.cookie"
	chmod 400 "$HOME/.erlang.cookie"
	: >"$D/rabbitmq-env.conf" # not /etc/rabbitmq/rabbitmq-env.conf
	# The management API (queue depths) adds nothing measurable to the start.
	echo '[rabbitmq_management].' >"$D/enabled_plugins"
	cat >"$D/rabbitmq.conf" <<-EOT
		listeners.tcp.default = 127.0.0.1:$RABBITMQ_PORT
		loopback_users = none
		log.console = false
		log.file.level = info
		management.tcp.ip = 127.0.0.1
		management.tcp.port = $RABBITMQ_MGMT_PORT
	EOT
	# Our own epmd, so stop can end it by pid without touching anyone else's.
	setsid epmd -address 127.0.0.1 -port "$EPMD_PORT" </dev/null >"$D/epmd.log" 2>&1 &
	echo $! >"$D/epmd.pid"
	wait_until 10 tcp_open "$EPMD_PORT"
	(cd "$D" && exec setsid "$RABBIT_BIN/rabbitmq-server" </dev/null >"$D/server.out" 2>&1) &
	pid=$!
	echo "$pid" >"$D/server-script.pid"
	# The AMQP listener opens at the very end of the boot: no CLI round trip
	# (rabbitmqctl await_startup) needed.
	wait_until "$START_TIMEOUT" eval "tcp_open $RABBITMQ_PORT || ! alive $pid"
	alive "$pid" || die "rabbitmq-server exited"
	wait_until 30 http_ok "$RABBITMQ_MGMT_PORT" /api/overview "$(printf guest:guest | base64)"
	cat >"$RUN/env.d/rabbitmq" <<-EOT
		export WIREKEEPER_TEST_AMQP_URL=amqp://guest:guest@127.0.0.1:$RABBITMQ_PORT/
		export WIREKEEPER_TEST_RABBITMQ_MGMT_URL=http://guest:guest@127.0.0.1:$RABBITMQ_MGMT_PORT
	EOT
}

stop_rabbitmq() {
	local D=$RUN/rabbitmq pid ctl
	[[ -d $D ]] || return 0
	rabbit_env
	if pid=$(pid_of "$D/rabbitmq.pid" beam); then
		timeout 60 "$RABBIT_BIN/rabbitmqctl" stop >"$D/stop.log" 2>&1 &
		ctl=$!
		# RabbitMQ 3.10's management agent sleeps a fixed 5 s at the very end
		# of a stop (rabbitmq-server#11070, fixed in 3.13); by then queues and
		# message stores are closed, and this node's files are about to go.
		if wait_until 30 eval "! alive $pid || grep -q 'to stop collect_statistics' $D/log/*.log"; then
			sleep 0.2
			if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
		fi
		end_pid "$pid" 20
		wait "$ctl" || true
	fi
	if pid=$(pid_of "$D/server-script.pid" rabbitmq-server); then
		kill -TERM "$pid" 2>/dev/null || true
		end_pid "$pid" 10
	fi
	if pid=$(pid_of "$D/epmd.pid" epmd); then
		kill -TERM "$pid" 2>/dev/null || true
		end_pid "$pid" 5
	fi
}

logs_rabbitmq() { echo "$RUN/rabbitmq/server.out" "$RUN"/rabbitmq/log/*.log; }

ports_rabbitmq() {
	echo "WK_RABBITMQ_PORT=$RABBITMQ_PORT" "WK_RABBITMQ_DIST_PORT=$RABBITMQ_DIST_PORT" \
		"WK_RABBITMQ_MGMT_PORT=$RABBITMQ_MGMT_PORT" "WK_EPMD_PORT=$EPMD_PORT"
}
