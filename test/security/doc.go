// Package security holds the project-wide checks of the security rules that
// are not one package's business: no package the wirekeeper binary is built
// from imports os/exec or starts a process, and the built binary runs `demo`
// and `run` on a file:// repository with only git tripwires on PATH without
// running one. It has only tests and needs no server, just the go tool: it
// runs with every package in `make test` and `make test-unit`.
package security
