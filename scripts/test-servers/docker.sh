# docker.sh: a private dockerd (vfs storage, no bridge network, no iptables)
# and a busybox image imported from busybox-static, as no registry is reachable.
# shellcheck shell=bash

DOCKER_IMAGE=local/busybox:test
# The docker.io CLI, not whatever else is first on PATH.
DOCKER_CLI=${WK_DOCKER_CLI:-/usr/bin/docker}
[[ -x $DOCKER_CLI ]] || DOCKER_CLI=docker

start_docker() {
	local D=$RUN/docker
	mkdir -p "$D/rootfs/bin"
	echo '{}' >"$D/daemon.json" # not /etc/docker/daemon.json
	setsid dockerd --config-file "$D/daemon.json" --data-root "$D/root" --exec-root "$D/exec" \
		-H "unix://$D/docker.sock" --pidfile "$D/dockerd.pid" --storage-driver vfs \
		--iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
		--bridge=none </dev/null >"$D/dockerd.log" 2>&1 &
	# Build the image's rootfs while dockerd starts.
	cp /bin/busybox "$D/rootfs/bin/busybox"
	(
		set +x
		for name in $(/bin/busybox --list); do
			[[ $name == busybox ]] || ln -s busybox "$D/rootfs/bin/$name"
		done
	)
	tar -C "$D/rootfs" -cf "$D/rootfs.tar" .
	export DOCKER_HOST=unix://$D/docker.sock
	wait_until "$START_TIMEOUT" "$DOCKER_CLI" version
	"$DOCKER_CLI" import -c 'CMD ["/bin/sh"]' "$D/rootfs.tar" "$DOCKER_IMAGE" >/dev/null
	rm -rf "$D/rootfs" "$D/rootfs.tar"
	cat >"$RUN/env.d/docker" <<-EOT
		export DOCKER_HOST=unix://$D/docker.sock
		export WIREKEEPER_TEST_DOCKER_HOST=unix://$D/docker.sock
		export WIREKEEPER_TEST_DOCKER_IMAGE=$DOCKER_IMAGE
	EOT
}

stop_docker() {
	local D=$RUN/docker pid ids
	pid=$(pid_of "$D/dockerd.pid" dockerd) || return 0
	ids=$(timeout 20 "$DOCKER_CLI" -H "unix://$D/docker.sock" ps -aq 2>/dev/null || true)
	if [[ -n $ids ]]; then
		# shellcheck disable=SC2086 # the ids are words
		timeout 30 "$DOCKER_CLI" -H "unix://$D/docker.sock" rm -f $ids >/dev/null || true
	fi
	kill -TERM "$pid" 2>/dev/null || true
	end_pid "$pid" 20
}

logs_docker() { echo "$RUN/docker/dockerd.log"; }
ports_docker() { :; }
