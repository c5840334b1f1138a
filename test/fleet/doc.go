// Package fleet simulates a fleet of wirekeeper daemons sharing one spec
// repository on a real git daemon. TestFleet runs 20 processes of the real
// binary, each host with a private ovsdb-server, and measures how long a
// revision takes to be reported Ready by every node (skipped with -short);
// TestFleetStatusSimulation runs 50 daemons in-process behind a 150 ms round
// trip and kills a tenth of them mid-change: no status may be lost. It has
// only tests, which need the servers scripts/test-servers.sh starts; `make
// test` and `make chaos` run it after the other packages, one package at a
// time with test/chaos, and `make bench` runs BenchmarkFleetStatus.
package fleet
