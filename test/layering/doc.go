// Package layering holds the test of wirekeeper's import rules (see
// docs/architecture.md): spec knows YAML only, reconciler nothing of the
// live systems, no provider imports another or git's side, and nothing in
// internal/ imports providers/. Run by `make test` (no servers needed).
package layering
