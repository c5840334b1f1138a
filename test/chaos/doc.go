// Package chaos is the fault-injection suite: the real wirekeeper binary
// against real servers, with the faults production brings (the daemon
// SIGKILLed while it applies mirrors or plugs container ports, ovsdb-server
// and ovs-vswitchd killed and restarted, the git remote gone, a full cache
// disk, oversized repositories). Every test states what must hold afterwards
// and checks it. It has only tests; they need the servers and binaries
// scripts/test-servers.sh installs and starts, and root. `make test` runs
// them shortened (5 and 3 kills) after every other package, `make chaos` at
// full length (WIREKEEPER_CHAOS=full: 50 kills each).
package chaos
