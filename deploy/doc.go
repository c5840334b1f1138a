// Package deploy holds no code, only the deployment files: the Kubernetes
// manifests in kubernetes/ and the systemd unit in systemd/. Its tests check
// them: the manifests decode strictly into the Kubernetes API types (an
// unknown or misspelled field fails), name only settings wirekeeper has, and
// give the daemon what its providers need; the systemd unit passes
// systemd-analyze verify (skipped when that is missing). They need no
// server and run with every package in `make test` and `make test-unit`.
package deploy
