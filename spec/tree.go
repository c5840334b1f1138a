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
// diagnostic. The set is usable only when the diagnostics hold no error. The
// paths are one load for the alias budget (see AliasExpansionFactor): past
// it, the set is empty.
func Load(paths ...string) (*Set, Diagnostics) {
	return LoadWith(LoadOptions{}, paths...)
}

// LoadOptions tunes a load.
type LoadOptions struct {
	// Decoded, when set, is called with each object as soon as its file is
	// decoded, before the set is validated (so possibly with an object the
	// load then refuses), from the loader's goroutines: for starting work
	// that does not need the whole set, such as connecting to a server an
	// object names.
	Decoded func(*Object)
}

// LoadWith is Load with opts.
func LoadWith(opts LoadOptions, paths ...string) (*Set, Diagnostics) {
	l := loader{decoded: opts.Decoded}
	for _, p := range paths {
		l.readPath(p)
	}
	objs, diags := l.finish()
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

func (l *loader) readPath(p string) {
	fi, err := os.Stat(p)
	if err != nil {
		l.diags = append(l.diags, fileDiag(p, fmt.Sprintf("cannot read: %v", unwrapPathError(err))))
		return
	}
	if !fi.IsDir() {
		l.readFile(p)
		return
	}
	root, err := os.OpenRoot(p)
	if err != nil {
		l.diags = append(l.diags, fileDiag(p, fmt.Sprintf("cannot open: %v", unwrapPathError(err))))
		return
	}
	defer root.Close()
	l.readTree(root.FS(), p)
}

// ReadFile decodes one spec file from disk, whatever its name, as a load of
// its own (see Decode).
func ReadFile(name string) ([]*Object, Diagnostics) {
	var l loader
	l.readFile(name)
	return l.finish()
}

func (l *loader) readFile(name string) {
	f, err := os.Open(name)
	if err != nil {
		l.diags = append(l.diags, fileDiag(name, fmt.Sprintf("cannot read: %v", unwrapPathError(err))))
		return
	}
	defer f.Close()
	l.readSpecFile(f, name)
}

// ReadTree decodes every spec file (*.yaml, *.yml, not hidden, in no hidden
// folder) of fsys, as one load for the alias budget (see Decode). prefix is
// joined to file names in positions (the directory the user named). A
// symlink is followed only to a file inside the tree (fsys must refuse
// escaping links, as os.Root's FS does); a symlink to a directory is not
// followed, since its target is read on its own.
func ReadTree(fsys fs.FS, prefix string) ([]*Object, Diagnostics) {
	var l loader
	l.readTree(fsys, prefix)
	return l.finish()
}

func (l *loader) readTree(fsys fs.FS, prefix string) {
	display := func(name string) string {
		if prefix == "" {
			return name
		}
		return filepath.Join(prefix, filepath.FromSlash(name))
	}
	problem := func(name, msg string) { l.diags = append(l.diags, fileDiag(name, msg)) }
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			problem(display(name), fmt.Sprintf("cannot read: %v", unwrapPathError(err)))
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
				problem(display(name), why)
				return nil
			}
		}
		if !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			return nil // sockets, devices, pipes
		}
		f, err := fsys.Open(name)
		if err != nil {
			problem(display(name), fmt.Sprintf("cannot read: %v", unwrapPathError(err)))
			return nil
		}
		defer f.Close()
		l.readSpecFile(f, display(name))
		return nil
	})
	if err != nil {
		problem(prefix, fmt.Sprintf("cannot walk the tree: %v", err))
	}
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

func (l *loader) readSpecFile(f fs.File, name string) {
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		l.diags = append(l.diags, fileDiag(name, fmt.Sprintf("cannot read: %v", unwrapPathError(err))))
		return
	}
	if len(data) > MaxFileSize {
		l.diags = append(l.diags, fileDiag(name, "file is larger than 1 MiB; split it into several files"))
		return
	}
	if !utf8.Valid(data) {
		line, col := firstInvalidUTF8(data)
		d := fileDiag(name, "file is not valid UTF-8; save it as UTF-8")
		d.Line, d.Column = line, col
		l.diags = append(l.diags, d)
		return
	}
	l.decode(name, data)
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
