package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/wirekeeper/wirekeeper/spec"
)

// runValidate implements `wirekeeper validate [--output text|json|github] [PATH ...]`.
// Exit status: 0 valid, 1 any error, 2 usage error.
func runValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	output := fs.String("output", "text", "output format: text, json or github (GitHub Actions annotations)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wirekeeper validate [--output text|json|github] [PATH ...]")
		fmt.Fprintln(stderr, "\nValidates every *.yaml/*.yml file under each PATH (default .) as one spec set.")
		fmt.Fprintln(stderr, "Exit status: 0 valid, 1 invalid, 2 usage error.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	write, ok := diagnosticWriters[*output]
	if !ok {
		fmt.Fprintf(stderr, "wirekeeper validate: unknown --output %q; valid: text, json, github\n", *output)
		return exitUsage
	}
	paths := fs.Args()
	if len(paths) == 0 {
		paths = []string{"."}
	}
	set, diags := spec.Load(paths...)
	if err := write(stdout, diags); err != nil {
		fmt.Fprintf(stderr, "wirekeeper validate: %v\n", err)
		return exitFail
	}
	if diags.HasErrors() {
		if *output == "text" {
			fmt.Fprintf(stderr, "%d error(s) in %s\n", diags.ErrorCount(), strings.Join(paths, " "))
		}
		return exitFail
	}
	if *output == "text" {
		fmt.Fprintf(stderr, "%d object(s) valid in %s\n", len(set.Objects), strings.Join(paths, " "))
	}
	return exitOK
}

var diagnosticWriters = map[string]func(io.Writer, spec.Diagnostics) error{
	"text":   writeText,
	"json":   writeJSON,
	"github": writeGitHub,
}

func writeText(w io.Writer, ds spec.Diagnostics) error {
	for _, d := range ds {
		if _, err := fmt.Fprintln(w, d.String()); err != nil {
			return err
		}
	}
	return nil
}

// writeJSON writes a JSON array (never null) of diagnostics, one field set per
// element: file, line, column, severity, kind, name, field, message.
func writeJSON(w io.Writer, ds spec.Diagnostics) error {
	if ds == nil {
		ds = spec.Diagnostics{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(ds)
}

// writeGitHub writes GitHub Actions workflow commands, so a spec repo's CI
// shows each diagnostic on its line in the pull request.
func writeGitHub(w io.Writer, ds spec.Diagnostics) error {
	for _, d := range ds {
		msg := d.Message
		if d.Field != "" {
			msg = d.Field + ": " + msg
		}
		if obj := d.Object(); obj != "" {
			msg = obj + ": " + msg
		}
		_, err := fmt.Fprintf(w, "::%s file=%s,line=%d,col=%d,title=wirekeeper validate::%s\n",
			d.Severity, escapeProperty(d.File), d.Line, d.Column, escapeData(msg))
		if err != nil {
			return err
		}
	}
	return nil
}

// escapeData and escapeProperty follow the workflow-command escaping rules.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
