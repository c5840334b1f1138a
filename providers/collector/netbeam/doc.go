// Package netbeam is a client for ESnet's Netbeam API, the telemetry source of
// the collector provider: it lists a network's interfaces and fetches the
// [timestamp, in, out] points of one interface metric over a time window.
//
// The client follows the API as the SAND-CI ESnet collector uses it (see
// ../shared/reference/seed-systems.md §3): an interface's "resource" is
// already URL-encoded (ge-0%2F0%2F1) and is pasted into the request path
// unchanged, unknown fields are kept (interfaces) or ignored (points), and
// requests are rate limited, bounded in time and in body size. It never logs;
// every failure is returned as an error prefixed "netbeam:".
package netbeam
