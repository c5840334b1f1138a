package source

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// AuthOptions holds the credentials for the spec repository. Secrets are
// read from files, so they never appear on a command line or in a log.
type AuthOptions struct {
	// SSHKeyFile is the private key for ssh:// and scp-style URLs (required
	// for them); SSHKeyPassphraseFile holds its passphrase, if any.
	SSHKeyFile           string
	SSHKeyPassphraseFile string
	// KnownHostsFile lists the accepted SSH host keys; default
	// ~/.ssh/known_hosts. A host missing from it, or with another key, is
	// refused.
	KnownHostsFile string
	// InsecureSkipHostKeyCheck accepts any SSH host key. It is the only way
	// to reach a host that is not in KnownHostsFile.
	InsecureSkipHostKeyCheck bool
	// HTTPSUsername and HTTPSPasswordFile are basic-auth credentials for
	// https:// and http:// URLs (a token goes in the password file). The
	// file's trailing newline is dropped.
	HTTPSUsername     string
	HTTPSPasswordFile string
}

// buildAuth returns the auth method for r, or nil when the transport takes
// none (git://, local) or no credentials were given; errors name the
// options as n does.
func buildAuth(r *remote, a AuthOptions, n OptionNames, log *slog.Logger) (transport.AuthMethod, error) {
	sshSet := a.SSHKeyFile != "" || a.SSHKeyPassphraseFile != "" || a.KnownHostsFile != "" || a.InsecureSkipHostKeyCheck
	httpSet := a.HTTPSUsername != "" || a.HTTPSPasswordFile != ""
	switch r.scheme {
	case "ssh":
		if httpSet {
			return nil, fmt.Errorf("source: HTTPS credentials are set but %s is an ssh URL", r.redacted)
		}
		return sshAuth(r, a, n, log)
	case "https", "http":
		if sshSet {
			return nil, fmt.Errorf("source: SSH options are set but %s is an %s URL", r.redacted, r.scheme)
		}
		return httpAuth(r, a, n, log)
	default:
		if sshSet || httpSet {
			return nil, fmt.Errorf("source: credentials are set but %s takes none", r.redacted)
		}
		return nil, nil
	}
}

func sshAuth(r *remote, a AuthOptions, n OptionNames, log *slog.Logger) (transport.AuthMethod, error) {
	if a.SSHKeyFile == "" {
		return nil, fmt.Errorf("source: %s is an ssh URL: set %s to the private key", r.redacted, n.SSHKeyFile)
	}
	if err := checkPrivate(a.SSHKeyFile, n.SSHKeyFile, "SSH private key"); err != nil {
		return nil, err
	}
	var passphrase string
	if a.SSHKeyPassphraseFile != "" {
		if err := checkPrivate(a.SSHKeyPassphraseFile, n.SSHKeyPassphraseFile, "SSH key passphrase"); err != nil {
			return nil, err
		}
		p, err := readSecret("SSH key passphrase", n.SSHKeyPassphraseFile, a.SSHKeyPassphraseFile)
		if err != nil {
			return nil, err
		}
		passphrase = p
	}
	user := r.user
	if user == "" {
		user = "git"
	}
	keys, err := gitssh.NewPublicKeysFromFile(user, a.SSHKeyFile, passphrase)
	if err != nil {
		return nil, fmt.Errorf("source: cannot load SSH key %s (%s): %w", a.SSHKeyFile, n.SSHKeyFile, err)
	}
	keys.HostKeyCallback, keys.HostKeyAlgorithms, err = hostKeyCheck(r.hostPort, a, n, log)
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// hostKeyCheck returns the callback that verifies the SSH server's host key
// against the known_hosts file, and the key algorithms to ask the server for
// (those known_hosts holds for hostPort, so that a server with several host
// keys presents the one we know).
func hostKeyCheck(hostPort string, a AuthOptions, n OptionNames, log *slog.Logger) (ssh.HostKeyCallback, []string, error) {
	if a.InsecureSkipHostKeyCheck {
		log.Warn("source: SSH host keys are not verified ("+n.InsecureSkipHostKeyCheck+")", "host", hostPort)
		return ssh.InsecureIgnoreHostKey(), nil, nil
	}
	file := a.KnownHostsFile
	if file == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, nil, fmt.Errorf("source: no known_hosts file: %s is unset and the home folder is unknown: %w", n.KnownHostsFile, err)
		}
		file = filepath.Join(home, ".ssh", "known_hosts")
	}
	if _, err := os.Stat(file); err != nil {
		return nil, nil, fmt.Errorf("source: SSH host keys are verified against %s, which cannot be read: %w; "+
			"add the server's key to it (ssh-keyscan HOST >> %s), point %s elsewhere, "+
			"or set %s", file, unwrapPathError(err), file, n.KnownHostsFile, n.InsecureSkipHostKeyCheck)
	}
	db, err := gitssh.NewKnownHostsDb(file)
	if err != nil {
		return nil, nil, fmt.Errorf("source: cannot read known_hosts file %s: %w", file, err)
	}
	return db.HostKeyCallback(), db.HostKeyAlgorithms(hostPort), nil
}

func httpAuth(r *remote, a AuthOptions, n OptionNames, log *slog.Logger) (transport.AuthMethod, error) {
	user, password := a.HTTPSUsername, r.password
	if a.HTTPSPasswordFile != "" {
		if r.password != "" {
			return nil, fmt.Errorf("source: %s carries a password and %s is set too; keep only the file", r.redacted, n.HTTPSPasswordFile)
		}
		p, err := readSecret("HTTPS password", n.HTTPSPasswordFile, a.HTTPSPasswordFile)
		if err != nil {
			return nil, err
		}
		password = p
	}
	if user == "" {
		user = r.user
	}
	switch {
	case user == "" && password == "":
		return nil, nil
	case user == "":
		return nil, fmt.Errorf("source: %s is set without a user name; set %s (any name works for most token schemes)", n.HTTPSPasswordFile, n.HTTPSUsername)
	}
	if r.scheme == "http" && password != "" {
		log.Warn("source: credentials are sent in clear text over http", "url", r.redacted)
	}
	return &githttp.BasicAuth{Username: user, Password: password}, nil
}

// readSecret reads a one-line secret from file, which option names; its
// content never appears in errors.
func readSecret(what, option, file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("source: cannot read the %s file (%s): %w", what, option, err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("source: the %s file %s (%s) is empty", what, file, option)
	}
	return s, nil
}

// checkPrivate refuses a key or passphrase file that others may read, as
// OpenSSH refuses an "UNPROTECTED PRIVATE KEY FILE": one the daemon's user
// owns must be accessible by that user alone, and none may be readable by
// all. A file owned by another user (root's, read through the group, as
// Kubernetes mounts a secret for a non-root pod with an fsGroup) may be
// group-readable: its owner, not the daemon, decides who is in the group.
func checkPrivate(file, option, what string) error {
	fi, err := os.Stat(file)
	if err != nil {
		return nil // reading it says what is wrong
	}
	mode := fi.Mode().Perm()
	owned := true
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		owned = int(st.Uid) == os.Getuid()
	}
	if mode&0o007 != 0 || owned && mode&0o077 != 0 {
		return fmt.Errorf("source: UNPROTECTED PRIVATE KEY FILE: the %s file %s (%s) has mode %04o, so others can read it; "+
			"it must be readable by its owner only: chmod 0600 (or 0400)", what, file, option, mode)
	}
	return nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
