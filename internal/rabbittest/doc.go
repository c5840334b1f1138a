// Package rabbittest gives tests and benchmarks a real RabbitMQ broker: the
// shared harness's (Shared), or a private node (Start) that a test may stop
// and restart, plus the consumer side a test needs to check what was
// published (DeclareQueue, Consume, Purge).
//
// This is test-only code: it is imported only from _test.go files, never
// from product code. Start shells out, running epmd and
// /usr/lib/rabbitmq/bin/rabbitmq-server as scripts/test-servers/rabbitmq.sh
// does: every port on loopback, a private HOME with its own Erlang cookie,
// private mnesia, log and config files, and an epmd of its own. The node
// takes about 8 s to start and is stopped and removed in t.Cleanup. When
// RabbitMQ is not installed a test is skipped, or fails when
// WIREKEEPER_REQUIRE_INTEGRATION=1, following internal/testenv.
package rabbittest
