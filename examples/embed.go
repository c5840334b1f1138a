// Package examples embeds the example spec repository, so that `wirekeeper
// demo` runs on built-in defaults with nothing but the binary.
package examples

import "embed"

// FS holds the example spec repository (every spec file but demo/'s), at
// the paths they have under examples/.
//
//go:embed *.yaml ams-hv01/*.yaml ams-hv02/*.yaml collectors/*.yaml topology/*.yaml
var FS embed.FS

// Demo holds the spec repository of `wirekeeper demo`, under demo/.
//
//go:embed demo/*.yaml
var Demo embed.FS
