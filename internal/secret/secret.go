// Package secret reads what a spec may name on the node: the values of its
// secrets ({env: NAME} or {file: NAME}) and its TLS files. Everything it
// reads is confined to what the operator provides: files inside one secrets
// directory, and environment variables whose names start with
// spec.SecretEnvPrefix. Values go to the caller only; errors name the field
// and the file or variable, never what it holds (see Failure for errors
// about using a value).
package secret

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wirekeeper/wirekeeper/spec"
)

// Limits of what one read may cost. A spec chooses the file, so neither a
// huge file, a device, a FIFO nor a hung file system may cost more.
const (
	// MaxSecretBytes bounds a secret file, a secret variable and a private key file.
	MaxSecretBytes = 64 << 10
	// MaxCertBytes bounds a CA bundle or certificate chain file.
	MaxCertBytes = 1 << 20
	// DefaultReadTimeout bounds one read of a file.
	DefaultReadTimeout = 5 * time.Second
)

// Options configure a Store.
type Options struct {
	// Dir is the secrets directory; default spec.DefaultSecretsDir. It need
	// not exist: reads fail, saying so, until it does.
	Dir string
	// Getenv reads the environment; default os.Getenv.
	Getenv func(string) string
	// ReadTimeout bounds one read of a file; default DefaultReadTimeout.
	ReadTimeout time.Duration
}

// Store reads secrets and TLS files for specs. It is safe for concurrent
// use; a nil *Store reads with the default Options.
type Store struct {
	opts Options
	// readFile is readConfined; tests replace it to hold a read.
	readFile func(name string, limit int64) ([]byte, error)

	mu       sync.Mutex
	inflight map[readKey]*read
}

// readKey identifies one file read; concurrent reads of a file share one,
// so a file whose read hangs holds one goroutine, however often it is asked
// for.
type readKey struct {
	name  string
	limit int64
}

type read struct {
	done chan struct{}
	data []byte
	err  error
}

// New returns a Store for opts.
func New(opts Options) *Store {
	if opts.Dir == "" {
		opts.Dir = spec.DefaultSecretsDir
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = DefaultReadTimeout
	}
	s := &Store{opts: opts, inflight: map[readKey]*read{}}
	s.readFile = s.readConfined
	return s
}

var (
	defaultOnce  sync.Once
	defaultStore *Store
)

func (s *Store) orDefault() *Store {
	if s != nil {
		return s
	}
	defaultOnce.Do(func() { defaultStore = New(Options{}) })
	return defaultStore
}

// Dir is the secrets directory s reads from.
func (s *Store) Dir() string { return s.orDefault().opts.Dir }

// Resolve returns the value of the secret at field (a spec path such as
// rabbitmq.url, used in errors): the environment variable it names, or the
// contents of the file it names in the secrets directory, without one
// trailing newline. An unset variable, an empty value and a name outside
// what specs may read are errors.
func (s *Store) Resolve(field string, ref *spec.Secret) (string, error) {
	s = s.orDefault()
	switch {
	case ref == nil:
		return "", fmt.Errorf("%s: no secret given", field)
	case ref.Env != "" && ref.File != "":
		return "", fmt.Errorf("%s: both env and file are set; set exactly one", field)
	case ref.Env != "":
		return s.env(field, ref.Env)
	case ref.File != "":
		b, err := s.ReadFile(field+".file", ref.File, MaxSecretBytes)
		if err != nil {
			return "", err
		}
		v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if v == "" {
			return "", fmt.Errorf("%s.file: %s is empty", field, s.describe(ref.File))
		}
		return v, nil
	}
	return "", fmt.Errorf("%s: neither env nor file is set", field)
}

func (s *Store) env(field, name string) (string, error) {
	if !strings.HasPrefix(name, spec.SecretEnvPrefix) || len(name) == len(spec.SecretEnvPrefix) {
		return "", fmt.Errorf("%s.env: %s is not readable by specs: the daemon reads only variables whose name starts with %s",
			field, name, spec.SecretEnvPrefix)
	}
	v := s.opts.Getenv(name)
	switch {
	case v == "":
		return "", fmt.Errorf("%s.env: environment variable %s of the wirekeeper daemon is unset or empty", field, name)
	case len(v) > MaxSecretBytes:
		return "", fmt.Errorf("%s.env: environment variable %s holds %d bytes; at most %d allowed", field, name, len(v), MaxSecretBytes)
	}
	return v, nil
}

// ReadFile returns the contents of the file name (relative, inside the
// secrets directory) for the spec field field: a regular file of at most
// limit bytes, reached without leaving the directory (no '..', no symlink
// out of it), read within the Store's timeout.
func (s *Store) ReadFile(field, name string, limit int64) ([]byte, error) {
	s = s.orDefault()
	if why := spec.CheckSecretFile(name); why != "" {
		return nil, fmt.Errorf("%s: %q cannot be read: %s", field, name, why)
	}
	key := readKey{name, limit}
	s.mu.Lock()
	r, ok := s.inflight[key]
	if !ok {
		r = &read{done: make(chan struct{})}
		s.inflight[key] = r
		go func() {
			r.data, r.err = s.readFile(name, limit)
			s.mu.Lock()
			delete(s.inflight, key)
			s.mu.Unlock()
			close(r.done)
		}()
	}
	s.mu.Unlock()
	t := time.NewTimer(s.opts.ReadTimeout)
	defer t.Stop()
	select {
	case <-r.done:
		if r.err != nil {
			return nil, fmt.Errorf("%s: %s %w", field, s.describe(name), r.err)
		}
		return append([]byte(nil), r.data...), nil
	case <-t.C:
		return nil, fmt.Errorf("%s: %s could not be read within %s (a hung file system?)", field, s.describe(name), s.opts.ReadTimeout)
	}
}

// describe names a file of the secrets directory in messages.
func (s *Store) describe(name string) string {
	return fmt.Sprintf("secret file %q (in %s)", name, s.opts.Dir)
}

// readConfined opens name beneath the secrets directory with os.Root, which
// refuses any path, '..' or symlink that resolves outside it. The file is
// opened non-blocking so that a FIFO cannot hold the open, then refused
// unless it is a regular file of at most limit bytes.
func (s *Store) readConfined(name string, limit int64) ([]byte, error) {
	root, err := os.OpenRoot(s.opts.Dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errors.New("cannot be read: the secrets directory does not exist (--secrets-dir, WIREKEEPER_SECRETS_DIR)")
		}
		return nil, fmt.Errorf("cannot be read: the secrets directory cannot be opened: %w", unwrapPath(err))
	}
	defer root.Close()
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist):
			return nil, errors.New("does not exist")
		case errors.Is(err, syscall.ENXIO): // open(2) of a socket
			return nil, errors.New("is not a regular file but a socket")
		case strings.Contains(err.Error(), "escapes"):
			return nil, errors.New("leads outside the secrets directory (a symlink to elsewhere?)")
		}
		return nil, fmt.Errorf("cannot be opened: %w", unwrapPath(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot be read: %w", unwrapPath(err))
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("is not a regular file but %s", fileType(st.Mode()))
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("is %d bytes; at most %d allowed", st.Size(), limit)
	}
	// The size can change after Stat: the read is bounded on its own.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("cannot be read: %w", unwrapPath(err))
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("is more than %d bytes", limit)
	}
	return data, nil
}

// unwrapPath drops an *os.PathError's path, which the caller names once.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func fileType(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "not a regular file"
}
