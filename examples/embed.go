// Package examples embeds the example spec repository, so that `wirekeeper
// demo` runs on built-in defaults with nothing but the binary.
package examples

import "embed"

// FS holds every example spec file, at the paths they have under examples/.
//
//go:embed *.yaml */*.yaml
var FS embed.FS
