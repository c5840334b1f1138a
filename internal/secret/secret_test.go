package secret

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/spec"
)

// secretsDir makes a secrets directory holding files, and beside it, outside,
// a file holding a canary that nothing may read.
func secretsDir(t *testing.T, files map[string]string) (dir, outside string) {
	t.Helper()
	base := t.TempDir()
	dir = filepath.Join(base, "secrets")
	outside = filepath.Join(base, "host-private-key")
	if err := os.WriteFile(outside, []byte("HOST-KEY-CANARY-5521\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, outside
}

func TestResolve(t *testing.T) {
	dir, outside := secretsDir(t, map[string]string{
		"dsn":             "u:hunter2@tcp(h)/db\n",
		"crlf":            "v\r\n",
		"empty":           "\n",
		"tls/ca.pem":      "PEM",
		"exactly-64k":     strings.Repeat("x", MaxSecretBytes),
		"one-byte-more":   strings.Repeat("x", MaxSecretBytes+1),
		"..data/rotated":  "rotated-value", // Kubernetes' atomic writer layout
		"outside-target":  "unused",
		"inner-target":    "inner-value",
		"dir/placeholder": "x",
	})
	must(t, os.Symlink("../host-private-key", filepath.Join(dir, "escape-relative")))
	must(t, os.Symlink(outside, filepath.Join(dir, "escape-absolute")))
	must(t, os.Symlink("/dev/zero", filepath.Join(dir, "zero")))
	must(t, os.Symlink("inner-target", filepath.Join(dir, "link-inside")))
	must(t, os.Symlink("..data/rotated", filepath.Join(dir, "k8s-style")))
	must(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600))
	ln, err := net.Listen("unix", filepath.Join(dir, "sock"))
	must(t, err)
	defer ln.Close()

	env := map[string]string{"WIREKEEPER_SECRET_AMQP": "amqp://u:hunter2@h/", "HOME": "/root", "WIREKEEPER_SECRET_BIG": strings.Repeat("y", MaxSecretBytes+1)}
	s := New(Options{Dir: dir, Getenv: func(k string) string { return env[k] }})
	cases := []struct {
		name    string
		ref     *spec.Secret
		want    string
		wantErr string
	}{
		{"env", &spec.Secret{Env: "WIREKEEPER_SECRET_AMQP"}, "amqp://u:hunter2@h/", ""},
		{"env unset", &spec.Secret{Env: "WIREKEEPER_SECRET_NONE"}, "", "f.env: environment variable WIREKEEPER_SECRET_NONE of the wirekeeper daemon is unset"},
		{"env outside the prefix", &spec.Secret{Env: "HOME"}, "", "f.env: HOME is not readable by specs: the daemon reads only variables whose name starts with WIREKEEPER_SECRET_"},
		{"env, the prefix alone", &spec.Secret{Env: "WIREKEEPER_SECRET_"}, "", "is not readable by specs"},
		{"env too large", &spec.Secret{Env: "WIREKEEPER_SECRET_BIG"}, "", "holds 65537 bytes; at most 65536 allowed"},
		{"file, newline trimmed", &spec.Secret{File: "dsn"}, "u:hunter2@tcp(h)/db", ""},
		{"file with CRLF", &spec.Secret{File: "crlf"}, "v", ""},
		{"file in a subdirectory", &spec.Secret{File: "tls/ca.pem"}, "PEM", ""},
		{"file of exactly the limit", &spec.Secret{File: "exactly-64k"}, strings.Repeat("x", MaxSecretBytes), ""},
		{"file over the limit", &spec.Secret{File: "one-byte-more"}, "", `f.file: secret file "one-byte-more" (in ` + dir + `) is 65537 bytes; at most 65536 allowed`},
		{"symlink inside the directory", &spec.Secret{File: "link-inside"}, "inner-value", ""},
		{"Kubernetes ..data symlink", &spec.Secret{File: "k8s-style"}, "rotated-value", ""},
		{"file missing", &spec.Secret{File: "nope"}, "", `secret file "nope" (in ` + dir + `) does not exist`},
		{"file empty", &spec.Secret{File: "empty"}, "", "is empty"},
		{"absolute path", &spec.Secret{File: outside}, "", "an absolute path"},
		{"dot-dot", &spec.Secret{File: "../host-private-key"}, "", "has a '..' segment"},
		{"dot-dot inside", &spec.Secret{File: "tls/../../host-private-key"}, "", "has a '..' segment"},
		{"hidden segment", &spec.Secret{File: "..data/rotated"}, "", "has a segment starting with '.'"},
		{"relative symlink out", &spec.Secret{File: "escape-relative"}, "", "leads outside the secrets directory"},
		{"absolute symlink out", &spec.Secret{File: "escape-absolute"}, "", "leads outside the secrets directory"},
		{"symlink to /dev/zero", &spec.Secret{File: "zero"}, "", "leads outside the secrets directory"},
		{"FIFO", &spec.Secret{File: "fifo"}, "", "is not a regular file but a named pipe (FIFO)"},
		{"socket", &spec.Secret{File: "sock"}, "", "is not a regular file but a socket"},
		{"directory", &spec.Secret{File: "dir"}, "", "is not a regular file but a directory"},
		{"both", &spec.Secret{Env: "WIREKEEPER_SECRET_AMQP", File: "dsn"}, "", "both env and file are set"},
		{"nothing", &spec.Secret{}, "", "neither env nor file"},
		{"nil", nil, "", "no secret given"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.Resolve("f", c.ref)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("Resolve = %q, %v; want an error containing %q", got, err, c.wantErr)
				}
				for _, leak := range []string{"hunter2", "CANARY", "/root"} {
					if strings.Contains(err.Error(), leak) {
						t.Errorf("error %q leaks %q", err, leak)
					}
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("Resolve = %.40q, %v; want %.40q", got, err, c.want)
			}
		})
	}
}

func TestMissingSecretsDirectory(t *testing.T) {
	s := New(Options{Dir: filepath.Join(t.TempDir(), "absent")})
	_, err := s.Resolve("rabbitmq.url", &spec.Secret{File: "amqp-url"})
	if err == nil || !strings.Contains(err.Error(), "the secrets directory does not exist (--secrets-dir, WIREKEEPER_SECRETS_DIR)") {
		t.Fatalf("err = %v", err)
	}
}

// TestHungReadTimesOutOnce holds a read as a hung file system would: every
// caller gets a timeout error, and however many ask, one read is pending.
func TestHungReadTimesOutOnce(t *testing.T) {
	dir, _ := secretsDir(t, nil)
	s := New(Options{Dir: dir, ReadTimeout: 20 * time.Millisecond})
	release := make(chan struct{})
	var started atomic.Int32
	s.readFile = func(name string, limit int64) ([]byte, error) {
		started.Add(1)
		<-release
		return []byte("late"), nil
	}
	for range 5 {
		_, err := s.Resolve("auth.password", &spec.Secret{File: "slow"})
		if err == nil || !strings.Contains(err.Error(), "could not be read within 20ms") {
			t.Fatalf("err = %v", err)
		}
	}
	if n := started.Load(); n != 1 {
		t.Errorf("%d reads started for one hung file, want 1", n)
	}
	close(release)
	// Once the read ends, the next one starts afresh and succeeds.
	s.opts.ReadTimeout = time.Minute
	deadline := time.Now().Add(time.Minute)
	for {
		v, err := s.Resolve("auth.password", &spec.Secret{File: "slow"})
		if err == nil {
			if v != "late" {
				t.Fatalf("v = %q", v)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
}

func TestReadFileLimit(t *testing.T) {
	dir, _ := secretsDir(t, map[string]string{"ca.pem": strings.Repeat("c", 100<<10)})
	s := New(Options{Dir: dir})
	if _, err := s.ReadFile("tls.caFile", "ca.pem", MaxCertBytes); err != nil {
		t.Fatalf("a 100 KiB CA bundle: %v", err)
	}
	if _, err := s.ReadFile("tls.keyFile", "ca.pem", MaxSecretBytes); err == nil || !strings.Contains(err.Error(), "at most 65536 allowed") {
		t.Fatalf("a 100 KiB key: %v", err)
	}
}

func TestFailureNeverQuotesTheCause(t *testing.T) {
	canary := errors.New("default addr for network 'glpat-TOPSECRET' unknown")
	cases := []struct {
		err  error
		want string
	}{
		{canary, "rabbitmq.url: connect: failed (the cause is not shown: it may quote the secret)"},
		{&net.OpError{Op: "dial", Net: "tcp", Addr: fakeAddr("glpat-TOPSECRET:1"), Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, "rabbitmq.url: connect: connection refused"},
		{&net.DNSError{Name: "glpat-TOPSECRET.invalid", Err: "no such host", IsNotFound: true}, "rabbitmq.url: connect: the host name does not resolve"},
		{&net.OpError{Op: "dial", Err: &timeoutErr{}}, "rabbitmq.url: connect: timed out"},
	}
	for _, c := range cases {
		err := Failure("rabbitmq.url", "connect", c.err)
		if err.Error() != c.want {
			t.Errorf("Failure(%v) = %q, want %q", c.err, err, c.want)
		}
		if !errors.Is(err, c.err) || errors.Unwrap(err) != nil || !Is(err) {
			t.Errorf("Failure(%v): errors.Is %v, Unwrap %v, Is %v", c.err, errors.Is(err, c.err), errors.Unwrap(err), Is(err))
		}
	}
	custom := func(err error) string {
		if errors.Is(err, canary) {
			return "does not parse"
		}
		return ""
	}
	if got := Failure("dsn", "parse", canary, custom).Error(); got != "dsn: parse: does not parse" {
		t.Errorf("with a classifier: %q", got)
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

type timeoutErr struct{}

func (*timeoutErr) Error() string   { return "i/o timeout on glpat-TOPSECRET" }
func (*timeoutErr) Timeout() bool   { return true }
func (*timeoutErr) Temporary() bool { return true }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
