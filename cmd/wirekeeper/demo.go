package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/wirekeeper/wirekeeper/examples/demo"
)

// runDemo is `wirekeeper demo`: its flags -> demo.Run.
func runDemo(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("demo", flag.ContinueOnError)
	flags.SetOutput(stderr)
	address := flags.String("ovsdb", "", "use this OVSDB server (unix:PATH or tcp:HOST:PORT) instead of an embedded one; the demo creates bridge "+demo.Bridge+" on it and deletes it at the end")
	if err := flags.Parse(args); err != nil {
		return exitUsage
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "wirekeeper demo: unexpected argument %q\n", flags.Arg(0))
		return exitUsage
	}
	if err := demo.Run(context.Background(), demo.Options{OVSDB: *address, Out: stdout, Warnings: stderr}); err != nil {
		fmt.Fprintf(stderr, "wirekeeper demo: %v\n", err)
		return exitFail
	}
	return exitOK
}
