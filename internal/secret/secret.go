// Package secret reads the values of spec secrets ({env: NAME} or
// {file: PATH}) on the node. Values are returned to the caller only:
// errors name where a secret was looked for, never what it holds.
package secret

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/wirekeeper/wirekeeper/spec"
)

// Source is where Resolve reads from; the zero value reads the process
// environment and the file system.
type Source struct {
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
}

// Resolve returns the value of s: the environment variable it names, or
// the contents of the file it names without one trailing newline. An
// unset variable or an empty value is an error.
func (src Source) Resolve(s *spec.Secret) (string, error) {
	getenv, readFile := src.Getenv, src.ReadFile
	if getenv == nil {
		getenv = os.Getenv
	}
	if readFile == nil {
		readFile = os.ReadFile
	}
	switch {
	case s == nil:
		return "", errors.New("secret: none given")
	case s.Env != "":
		v := getenv(s.Env)
		if v == "" {
			return "", fmt.Errorf("secret: environment variable %s of the wirekeeper daemon is unset or empty", s.Env)
		}
		return v, nil
	case s.File != "":
		b, err := readFile(s.File)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is named once, below
			}
			return "", fmt.Errorf("secret: cannot read file %s: %w", s.File, err)
		}
		v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if v == "" {
			return "", fmt.Errorf("secret: file %s is empty", s.File)
		}
		return v, nil
	}
	return "", errors.New("secret: neither env nor file is set")
}

// Resolve is Source{}.Resolve: the process environment and file system.
func Resolve(s *spec.Secret) (string, error) { return Source{}.Resolve(s) }
