package source

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

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
// none (git://, local) or no credentials were given.
func buildAuth(r *remote, a AuthOptions, log *slog.Logger) (transport.AuthMethod, error) {
	sshSet := a.SSHKeyFile != "" || a.SSHKeyPassphraseFile != "" || a.KnownHostsFile != "" || a.InsecureSkipHostKeyCheck
	httpSet := a.HTTPSUsername != "" || a.HTTPSPasswordFile != ""
	switch r.scheme {
	case "ssh":
		if httpSet {
			return nil, fmt.Errorf("source: HTTPS credentials are set but %s is an ssh URL", r.redacted)
		}
		return sshAuth(r, a, log)
	case "https", "http":
		if sshSet {
			return nil, fmt.Errorf("source: SSH options are set but %s is an %s URL", r.redacted, r.scheme)
		}
		return httpAuth(r, a, log)
	default:
		if sshSet || httpSet {
			return nil, fmt.Errorf("source: credentials are set but %s takes none", r.redacted)
		}
		return nil, nil
	}
}

func sshAuth(r *remote, a AuthOptions, log *slog.Logger) (transport.AuthMethod, error) {
	if a.SSHKeyFile == "" {
		return nil, fmt.Errorf("source: %s is an ssh URL: set Auth.SSHKeyFile to the private key", r.redacted)
	}
	var passphrase string
	if a.SSHKeyPassphraseFile != "" {
		p, err := readSecret("SSH key passphrase", a.SSHKeyPassphraseFile)
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
		return nil, fmt.Errorf("source: cannot load SSH key %s: %w", a.SSHKeyFile, err)
	}
	keys.HostKeyCallback, keys.HostKeyAlgorithms, err = hostKeyCheck(r.hostPort, a, log)
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// hostKeyCheck returns the callback that verifies the SSH server's host key
// against the known_hosts file, and the key algorithms to ask the server for
// (those known_hosts holds for hostPort, so that a server with several host
// keys presents the one we know).
func hostKeyCheck(hostPort string, a AuthOptions, log *slog.Logger) (ssh.HostKeyCallback, []string, error) {
	if a.InsecureSkipHostKeyCheck {
		log.Warn("source: SSH host keys are not verified (InsecureSkipHostKeyCheck)", "host", hostPort)
		return ssh.InsecureIgnoreHostKey(), nil, nil
	}
	file := a.KnownHostsFile
	if file == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, nil, fmt.Errorf("source: no known_hosts file: Auth.KnownHostsFile is unset and the home folder is unknown: %w", err)
		}
		file = filepath.Join(home, ".ssh", "known_hosts")
	}
	if _, err := os.Stat(file); err != nil {
		return nil, nil, fmt.Errorf("source: SSH host keys are verified against %s, which cannot be read: %w; "+
			"add the server's key to it (ssh-keyscan HOST >> %s), point Auth.KnownHostsFile elsewhere, "+
			"or set Auth.InsecureSkipHostKeyCheck", file, unwrapPathError(err), file)
	}
	db, err := gitssh.NewKnownHostsDb(file)
	if err != nil {
		return nil, nil, fmt.Errorf("source: cannot read known_hosts file %s: %w", file, err)
	}
	return db.HostKeyCallback(), db.HostKeyAlgorithms(hostPort), nil
}

func httpAuth(r *remote, a AuthOptions, log *slog.Logger) (transport.AuthMethod, error) {
	user, password := a.HTTPSUsername, r.password
	if a.HTTPSPasswordFile != "" {
		if r.password != "" {
			return nil, fmt.Errorf("source: %s carries a password and Auth.HTTPSPasswordFile is set too; keep only the file", r.redacted)
		}
		p, err := readSecret("HTTPS password", a.HTTPSPasswordFile)
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
		return nil, fmt.Errorf("source: Auth.HTTPSPasswordFile is set without a user name; set Auth.HTTPSUsername (any name works for most token schemes)")
	}
	if r.scheme == "http" && password != "" {
		log.Warn("source: credentials are sent in clear text over http", "url", r.redacted)
	}
	return &githttp.BasicAuth{Username: user, Password: password}, nil
}

// readSecret reads a one-line secret; its content never appears in errors.
func readSecret(what, file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("source: cannot read the %s file: %w", what, err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("source: the %s file %s is empty", what, file)
	}
	return s, nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
