// Package ci tests wirekeeper's reusable pull-request jobs (action.yml at
// the repository root, scripts/ci/wirekeeper-plan.gitlab-ci.yml) by running their
// steps as a runner would: with the environment the job definition gives
// them, against a base repository whose pull (merge) request head comes
// from a fork, with the forge's comment API stubbed at the HTTP boundary.
// It has only tests and needs no server, only git, jq and curl (skipped
// without them, failed with WIREKEEPER_REQUIRE_INTEGRATION=1); it runs with
// every package in `make test` and `make test-unit`.
package ci
