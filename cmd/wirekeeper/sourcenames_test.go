package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wirekeeper/wirekeeper/reconciler/source"
)

// TestSourceErrorsNameFlags: what the source refuses about the repository's
// credentials reaches the operator naming the flag, environment variable
// and config key they set, never a Go field (Auth.SSHKeyFile); an SSH key
// others can read is refused, saying which mode is needed.
func TestSourceErrorsNameFlags(t *testing.T) {
	dir := t.TempDir()
	openKey := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(openKey, []byte("a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(openKey, 0o644); err != nil {
		t.Fatal(err)
	}
	knownHosts := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	const repo = "ssh://git@git.example.net/netops/specs.git"
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"key readable by all", []string{"--ssh-key-file", openKey, "--known-hosts-file", knownHosts},
			[]string{"UNPROTECTED PRIVATE KEY FILE", openKey + " (--ssh-key-file (or WIREKEEPER_SSH_KEY_FILE, or sshKeyFile: in the config file)) has mode 0644", "chmod 0600 (or 0400)"}},
		{"no key", []string{"--known-hosts-file", knownHosts},
			[]string{"set --ssh-key-file (or WIREKEEPER_SSH_KEY_FILE, or sshKeyFile: in the config file) to the private key"}},
	} {
		t.Run("run: "+tc.name, func(t *testing.T) {
			args := append([]string{"--repo", repo, "--node", "hv1", "--cache-dir", t.TempDir()}, tc.args...)
			cfg, err := loadRunConfig(args, func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			_, err = newDaemon(cfg, nil, nil, cfg.newLogger(io.Discard), prometheus.NewRegistry())
			checkNamed(t, err, tc.want)
		})
	}
	t.Run("plan: key readable by all", func(t *testing.T) {
		f := repoFlags{url: repo, auth: source.AuthOptions{SSHKeyFile: openKey, KnownHostsFile: knownHosts}}
		_, err := f.source("main", "", t.TempDir(), nil)
		checkNamed(t, err, []string{openKey + " (--ssh-key-file) has mode 0644"})
	})
}

func checkNamed(t *testing.T, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if strings.Contains(err.Error(), "Auth.") {
		t.Errorf("error %q names a Go field", err)
	}
}
