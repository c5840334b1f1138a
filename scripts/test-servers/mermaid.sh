# mermaid.sh: the real Mermaid parser (the npm packages mermaid and jsdom,
# run by node) for reconciler/status's diagram tests. Not a server: install
# puts the packages pinned in mermaid/package-lock.json into a cache
# directory under the repository (.cache/mermaid, or WK_MERMAID_DIR), and
# start only exports where they are.
# shellcheck shell=bash

MERMAID_SRC=$HERE/test-servers/mermaid
MERMAID_DIR=${WK_MERMAID_DIR:-$(dirname "$HERE")/.cache/mermaid}

# mermaid_installed: the packages of the committed lock file are in place.
mermaid_installed() {
	cmp -s "$MERMAID_SRC/package-lock.json" "$MERMAID_DIR/package-lock.json" &&
		[[ -f $MERMAID_DIR/node_modules/.package-lock.json &&
			-f $MERMAID_DIR/node_modules/mermaid/package.json &&
			-f $MERMAID_DIR/node_modules/jsdom/package.json ]]
}

# install_mermaid runs npm ci of the pinned versions, unless they are
# already installed; under a lock, as parallel runs share the directory.
install_mermaid() {
	command -v node >/dev/null || die "node is not installed (apt-get install nodejs)"
	command -v npm >/dev/null || die "npm is not installed (apt-get install npm)"
	mermaid_installed && return 0
	mkdir -p "$MERMAID_DIR"
	(
		flock -w 600 9 || die "another run has held $MERMAID_DIR/.lock for 10 minutes"
		mermaid_installed && exit 0
		log "installing mermaid and jsdom (npm ci) into $MERMAID_DIR"
		cp "$MERMAID_SRC/package.json" "$MERMAID_SRC/package-lock.json" "$MERMAID_DIR/"
		# No install scripts: these packages need none, and none should run.
		npm ci --prefix "$MERMAID_DIR" --ignore-scripts --no-audit --no-fund \
			--loglevel=error >"$MERMAID_DIR/npm-ci.log" 2>&1 ||
			die "npm ci in $MERMAID_DIR failed; last lines of $MERMAID_DIR/npm-ci.log:
$(tail -n 20 "$MERMAID_DIR/npm-ci.log")"
	) 9>"$MERMAID_DIR/.lock"
}

start_mermaid() {
	mermaid_installed || die "mermaid is not installed in $MERMAID_DIR: run $0 install"
	echo "export WIREKEEPER_TEST_MERMAID_DIR=$MERMAID_DIR" >"$RUN/env.d/mermaid"
}

stop_mermaid() { :; }
logs_mermaid() { echo "$MERMAID_DIR/npm-ci.log"; }
ports_mermaid() { :; }
