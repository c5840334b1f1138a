package secret

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wirekeeper/wirekeeper/spec"
)

// FuzzResolve asks for any file and variable name, against a secrets
// directory holding files, symlinks in and out, a FIFO, and with canaries
// outside it and in the environment. Whatever the name: no panic, no hang,
// no canary returned or quoted, and a value only for a name the spec rules
// accept, read from a regular file inside the directory.
func FuzzResolve(f *testing.F) {
	for _, seed := range []string{"dsn", "tls/ca.pem", "../outside", "/etc/passwd", "escape", "fifo", "zero",
		"link", "..", ".", "", "a//b", "dsn/", "./dsn", "tls/../dsn", "dsn\x00", "WIREKEEPER_SECRET_X", "HOME", "..data/v"} {
		f.Add(seed)
	}
	base := f.TempDir()
	dir := filepath.Join(base, "secrets")
	for name, content := range map[string]string{"dsn": "in-dsn", "tls/ca.pem": "in-ca", "..data/v": "in-v", "dir/x": "in-x"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o700)
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600)
	}
	os.WriteFile(filepath.Join(base, "outside"), []byte("OUTSIDE-CANARY"), 0o600)
	os.Symlink("../outside", filepath.Join(dir, "escape"))
	os.Symlink(filepath.Join(base, "outside"), filepath.Join(dir, "tls", "abs"))
	os.Symlink("/dev/zero", filepath.Join(dir, "zero"))
	os.Symlink("dsn", filepath.Join(dir, "link"))
	syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600)
	env := map[string]string{"HOME": "ENV-CANARY", "PATH": "ENV-CANARY", "WIREKEEPER_SECRET_X": "in-env"}
	s := New(Options{Dir: dir, Getenv: func(k string) string { return env[k] }})

	f.Fuzz(func(t *testing.T, name string) {
		for _, ref := range []*spec.Secret{{File: name}, {Env: name}} {
			v, err := s.Resolve("f", ref)
			if err != nil {
				if strings.Contains(err.Error(), "CANARY") || strings.Contains(err.Error(), "in-") {
					t.Fatalf("error quotes a value: %v", err)
				}
				continue
			}
			if !strings.HasPrefix(v, "in-") {
				t.Fatalf("Resolve(%+v) = %q: not a value from inside the secrets directory or the prefix", ref, v)
			}
			if ref.File != "" {
				if why := spec.CheckSecretFile(name); why != "" {
					t.Fatalf("Resolve(%q) succeeded although the name is refused: %s", name, why)
				}
				real, err := filepath.EvalSymlinks(filepath.Join(dir, name))
				if err != nil || !strings.HasPrefix(real, dir+"/") {
					t.Fatalf("Resolve(%q) read %q, outside %s", name, real, dir)
				}
			} else if !strings.HasPrefix(name, spec.SecretEnvPrefix) {
				t.Fatalf("Resolve(env %q) read a variable outside the prefix", name)
			}
		}
	})
}
