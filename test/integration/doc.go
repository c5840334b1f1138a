// Package integration holds one smoke test per real server that
// scripts/test-servers.sh starts. Each test proves the server is reachable
// with the client library the providers use, and asserts a real result, so a
// broken harness fails here before it confuses a provider's tests.
package integration
