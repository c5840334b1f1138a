// Command schemagen writes the JSON Schemas of the spec language into a
// directory (make generate runs it with -out schemas) and removes the *.json
// files there that it no longer generates.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wirekeeper/wirekeeper/internal/schemagen"
)

func main() {
	out := flag.String("out", "schemas", "directory the schemas are written to")
	ref := flag.String("reference", "", "file the spec reference (Markdown) is written to; none when empty")
	flag.Parse()
	if err := run(*out, *ref); err != nil {
		fmt.Fprintf(os.Stderr, "schemagen: %v\n", strings.TrimPrefix(err.Error(), "schemagen: "))
		os.Exit(1)
	}
}

// run writes each generated file whose content changed and removes stale
// ones, and the reference when ref is set.
func run(dir, ref string) error {
	files, err := schemagen.Generate()
	if err != nil {
		return err
	}
	if ref != "" {
		doc, err := schemagen.Reference(files)
		if err != nil {
			return err
		}
		if old, err := os.ReadFile(ref); err != nil || !bytes.Equal(old, doc) {
			if err := os.WriteFile(ref, doc, 0o644); err != nil {
				return err
			}
			fmt.Println("wrote", ref)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p := filepath.Join(dir, name)
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, files[name]) {
			continue
		}
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", p)
	}
	existing, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	for _, p := range existing {
		if _, ok := files[filepath.Base(p)]; ok {
			continue
		}
		if err := os.Remove(p); err != nil {
			return err
		}
		fmt.Println("removed", p)
	}
	return nil
}
