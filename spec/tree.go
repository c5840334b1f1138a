package spec

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// MaxFileSize is the largest spec file accepted (1 MiB).
const MaxFileSize = 1 << 20

// IsSpecFile reports whether a file name is read as part of a spec tree.
func IsSpecFile(name string) bool {
	return !strings.HasPrefix(name, ".") && (strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml"))
}

// Load reads every path (a directory is read as a spec tree, a file on its
// own), validates all objects together as one set, and returns them with every
// diagnostic. The set is usable only when the diagnostics hold no error.
func Load(paths ...string) (*Set, Diagnostics) {
	var objs []*Object
	var diags Diagnostics
	for _, p := range paths {
		o, d := readPath(p)
		objs = append(objs, o...)
		diags = append(diags, d...)
	}
	diags = append(diags, Validate(objs)...)
	diags.Sort()
	return &Set{Objects: objs}, diags
}

// LoadFS reads the spec tree of fsys (see ReadTree) and validates it as one
// set, like Load does for paths on disk.
func LoadFS(fsys fs.FS, prefix string) (*Set, Diagnostics) {
	objs, diags := ReadTree(fsys, prefix)
	diags = append(diags, Validate(objs)...)
	diags.Sort()
	return &Set{Objects: objs}, diags
}

func readPath(p string) ([]*Object, Diagnostics) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, Diagnostics{fileDiag(p, fmt.Sprintf("cannot read: %v", unwrapPathError(err)))}
	}
	if !fi.IsDir() {
		return ReadFile(p)
	}
	root, err := os.OpenRoot(p)
	if err != nil {
		return nil, Diagnostics{fileDiag(p, fmt.Sprintf("cannot open: %v", unwrapPathError(err)))}
	}
	defer root.Close()
	return ReadTree(root.FS(), p)
}

// ReadFile decodes one spec file from disk, whatever its name.
func ReadFile(name string) ([]*Object, Diagnostics) {
	f, err := os.Open(name)
	if err != nil {
		return nil, Diagnostics{fileDiag(name, fmt.Sprintf("cannot read: %v", unwrapPathError(err)))}
	}
	defer f.Close()
	return readSpecFile(f, name)
}

// ReadTree decodes every spec file (*.yaml, *.yml, not hidden, in no hidden
// folder) of fsys. prefix is joined to file names in positions (the
// directory the user named). A symlink is followed only to a file inside the
// tree (fsys must refuse escaping links, as os.Root's FS does); a symlink to
// a directory is not followed, since its target is read on its own.
func ReadTree(fsys fs.FS, prefix string) ([]*Object, Diagnostics) {
	var objs []*Object
	var diags Diagnostics
	display := func(name string) string {
		if prefix == "" {
			return name
		}
		return filepath.Join(prefix, filepath.FromSlash(name))
	}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			diags = append(diags, fileDiag(display(name), fmt.Sprintf("cannot read: %v", unwrapPathError(err))))
			return nil
		}
		if name != "." && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !IsSpecFile(d.Name()) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			if why := symlinkProblem(fsys, name); why != "" {
				diags = append(diags, fileDiag(display(name), why))
				return nil
			}
		}
		if !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			return nil // sockets, devices, pipes
		}
		f, err := fsys.Open(name)
		if err != nil {
			diags = append(diags, fileDiag(display(name), fmt.Sprintf("cannot read: %v", unwrapPathError(err))))
			return nil
		}
		defer f.Close()
		o, d2 := readSpecFile(f, display(name))
		objs = append(objs, o...)
		diags = append(diags, d2...)
		return nil
	})
	if err != nil {
		diags = append(diags, fileDiag(prefix, fmt.Sprintf("cannot walk the tree: %v", err)))
	}
	return objs, diags
}

// symlinkProblem explains why the symlink at name cannot be read, or "" when
// it leads to a regular file inside the tree.
func symlinkProblem(fsys fs.FS, name string) string {
	if target, err := fs.ReadLink(fsys, name); err == nil {
		resolved := target
		if !path.IsAbs(target) {
			resolved = path.Join(path.Dir(name), target)
		}
		if path.IsAbs(target) || resolved == ".." || strings.HasPrefix(resolved, "../") {
			return fmt.Sprintf("symlink to %q leaves the spec tree; only links to files inside the tree are followed", target)
		}
	}
	fi, err := fs.Stat(fsys, name)
	switch {
	case err != nil:
		return fmt.Sprintf("symlink cannot be followed inside the spec tree: %v", unwrapPathError(err))
	case fi.IsDir():
		return "symlink to a directory named like a spec file; links to directories are not followed"
	case !fi.Mode().IsRegular():
		return "symlink to something other than a regular file"
	}
	return ""
}

func readSpecFile(f fs.File, name string) ([]*Object, Diagnostics) {
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, Diagnostics{fileDiag(name, fmt.Sprintf("cannot read: %v", unwrapPathError(err)))}
	}
	if len(data) > MaxFileSize {
		return nil, Diagnostics{fileDiag(name, fmt.Sprintf("file is larger than %d bytes (1 MiB); split it into several files", MaxFileSize))}
	}
	if !utf8.Valid(data) {
		line, col := firstInvalidUTF8(data)
		d := fileDiag(name, "file is not valid UTF-8; save it as UTF-8")
		d.Line, d.Column = line, col
		return nil, Diagnostics{d}
	}
	return Decode(name, data)
}

func firstInvalidUTF8(data []byte) (line, col int) {
	line, col = 1, 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size <= 1 {
			return line, col
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		data = data[size:]
	}
	return line, col
}

func fileDiag(name, msg string) Diagnostic {
	return Diagnostic{Position: Position{File: name, Line: 1, Column: 1}, Severity: SeverityError, Message: msg}
}

// unwrapPathError drops the operation and path that the diagnostic already names.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
