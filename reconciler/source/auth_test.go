package source

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func newSSHKey(t *testing.T) (ssh.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sshPub, priv
}

// writeClientKey writes priv as an OpenSSH private key file, encrypted when
// passphrase is set.
func writeClientKey(t *testing.T, priv ed25519.PrivateKey, passphrase string) string {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "wirekeeper test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "wirekeeper test", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "id_ed25519")
	writeSecretFile(t, name, string(pem.EncodeToMemory(block)), 0o600)
	return name
}

// writeSecretFile writes a file with mode perm, whatever the umask.
func writeSecretFile(t *testing.T, name, data string, perm os.FileMode) {
	t.Helper()
	writeFile(t, name, data)
	if err := os.Chmod(name, perm); err != nil {
		t.Fatal(err)
	}
}

func TestSSHHostKeyVerification(t *testing.T) {
	hostKey, _ := newSSHKey(t)
	otherKey, _ := newSSHKey(t)
	_, clientKey := newSSHKey(t)
	keyFile := writeClientKey(t, clientKey, "")
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	writeFile(t, knownHosts, knownhosts.Line([]string{"[127.0.0.1]:2222"}, hostKey)+"\n")

	s := newSource(t, "ssh://git@127.0.0.1:2222/acme/specs.git", func(o *Options) {
		o.Auth = AuthOptions{SSHKeyFile: keyFile, KnownHostsFile: knownHosts}
	})
	keys, ok := s.Auth().(*gitssh.PublicKeys)
	if !ok {
		t.Fatalf("Auth() = %T, want *ssh.PublicKeys", s.Auth())
	}
	if keys.User != "git" {
		t.Errorf("ssh user = %q, want git", keys.User)
	}
	if !slices.Contains(keys.HostKeyAlgorithms, ssh.KeyAlgoED25519) {
		t.Errorf("HostKeyAlgorithms = %v, want the known key's type %s", keys.HostKeyAlgorithms, ssh.KeyAlgoED25519)
	}
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2222}
	if err := keys.HostKeyCallback("127.0.0.1:2222", addr, hostKey); err != nil {
		t.Errorf("the known host key is refused: %v", err)
	}
	for name, tc := range map[string]struct {
		host string
		key  ssh.PublicKey
	}{
		"known host, other key": {"127.0.0.1:2222", otherKey},
		"unknown host":          {"192.0.2.7:22", hostKey},
	} {
		err := keys.HostKeyCallback(tc.host, addr, tc.key)
		if err == nil {
			t.Errorf("%s: accepted, want refused", name)
			continue
		}
		if classify(err) != ErrUnreachable {
			t.Errorf("%s: refusal %v is not classified as ErrUnreachable", name, err)
		}
	}
}

func TestSSHAuthOptions(t *testing.T) {
	hostKey, _ := newSSHKey(t)
	_, clientKey := newSSHKey(t)
	plainKey := writeClientKey(t, clientKey, "")
	lockedKey := writeClientKey(t, clientKey, "open sesame")
	dir := t.TempDir()
	knownHosts := filepath.Join(dir, "known_hosts")
	writeFile(t, knownHosts, knownhosts.Line([]string{"github.com"}, hostKey)+"\n")
	passphrase := filepath.Join(dir, "passphrase")
	writeSecretFile(t, passphrase, "open sesame\n", 0o600)
	wrongPassphrase := filepath.Join(dir, "wrong")
	writeSecretFile(t, wrongPassphrase, "guess\n", 0o600)
	// Key and passphrase files with other modes: OpenSSH refuses a key
	// its user owns that group or others may read.
	withMode := func(file string, perm os.FileMode) string {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(t.TempDir(), filepath.Base(file))
		writeSecretFile(t, name, string(b), perm)
		return name
	}
	home := t.TempDir() // no .ssh/known_hosts in it
	t.Setenv("HOME", home)

	tests := []struct {
		name    string
		auth    AuthOptions
		wantErr string // "" for success
	}{
		{name: "key and known_hosts", auth: AuthOptions{SSHKeyFile: plainKey, KnownHostsFile: knownHosts}},
		{name: "encrypted key", auth: AuthOptions{SSHKeyFile: lockedKey, SSHKeyPassphraseFile: passphrase, KnownHostsFile: knownHosts}},
		{name: "wrong passphrase", auth: AuthOptions{SSHKeyFile: lockedKey, SSHKeyPassphraseFile: wrongPassphrase, KnownHostsFile: knownHosts}, wantErr: "cannot load SSH key"},
		{name: "no key", auth: AuthOptions{KnownHostsFile: knownHosts}, wantErr: "set Auth.SSHKeyFile"},
		{name: "missing key file", auth: AuthOptions{SSHKeyFile: filepath.Join(dir, "nope"), KnownHostsFile: knownHosts}, wantErr: "cannot load SSH key"},
		{name: "missing known_hosts", auth: AuthOptions{SSHKeyFile: plainKey, KnownHostsFile: filepath.Join(dir, "none")}, wantErr: "InsecureSkipHostKeyCheck"},
		{name: "default known_hosts missing", auth: AuthOptions{SSHKeyFile: plainKey}, wantErr: filepath.Join(home, ".ssh", "known_hosts")},
		{name: "insecure skip", auth: AuthOptions{SSHKeyFile: plainKey, InsecureSkipHostKeyCheck: true}},
		{name: "read-only key", auth: AuthOptions{SSHKeyFile: withMode(plainKey, 0o400), KnownHostsFile: knownHosts}},
		{name: "world-readable key", auth: AuthOptions{SSHKeyFile: withMode(plainKey, 0o644), KnownHostsFile: knownHosts},
			wantErr: "UNPROTECTED PRIVATE KEY FILE: the SSH private key file "},
		{name: "group-readable key", auth: AuthOptions{SSHKeyFile: withMode(plainKey, 0o640), KnownHostsFile: knownHosts},
			wantErr: "has mode 0640, so others can read it; it must be readable by its owner only: chmod 0600 (or 0400)"},
		{name: "group-readable passphrase", auth: AuthOptions{SSHKeyFile: lockedKey, SSHKeyPassphraseFile: withMode(passphrase, 0o640), KnownHostsFile: knownHosts},
			wantErr: "UNPROTECTED PRIVATE KEY FILE: the SSH key passphrase file"},
		{name: "https options", auth: AuthOptions{SSHKeyFile: plainKey, KnownHostsFile: knownHosts, HTTPSUsername: "bot"}, wantErr: "HTTPS credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(Options{URL: "git@github.com:acme/specs.git", CacheDir: t.TempDir(), Auth: tt.auth})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			keys := s.Auth().(*gitssh.PublicKeys)
			err = keys.HostKeyCallback("github.com:22", &net.TCPAddr{}, hostKey)
			if err != nil {
				t.Errorf("github.com's known key refused: %v", err)
			}
		})
	}
}

func TestHTTPSAuthOptions(t *testing.T) {
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	writeFile(t, token, "tok3n\n")
	empty := filepath.Join(dir, "empty")
	writeFile(t, empty, "\n")
	tests := []struct {
		name    string
		url     string
		auth    AuthOptions
		want    *githttp.BasicAuth
		wantErr string
	}{
		{name: "anonymous", url: "https://git.example.net/specs.git"},
		{name: "password file", url: "https://git.example.net/specs.git", auth: AuthOptions{HTTPSUsername: "bot", HTTPSPasswordFile: token}, want: &githttp.BasicAuth{Username: "bot", Password: "tok3n"}},
		{name: "user from URL", url: "https://bot@git.example.net/specs.git", auth: AuthOptions{HTTPSPasswordFile: token}, want: &githttp.BasicAuth{Username: "bot", Password: "tok3n"}},
		{name: "token as URL user", url: "https://tok3n@git.example.net/specs.git", want: &githttp.BasicAuth{Username: "tok3n"}},
		{name: "no user", url: "https://git.example.net/specs.git", auth: AuthOptions{HTTPSPasswordFile: token}, wantErr: "set Auth.HTTPSUsername"},
		{name: "empty password file", url: "https://git.example.net/specs.git", auth: AuthOptions{HTTPSUsername: "bot", HTTPSPasswordFile: empty}, wantErr: "is empty"},
		{name: "missing password file", url: "https://git.example.net/specs.git", auth: AuthOptions{HTTPSUsername: "bot", HTTPSPasswordFile: filepath.Join(dir, "nope")}, wantErr: "cannot read the HTTPS password file"},
		{name: "password twice", url: "https://bot:pw@git.example.net/specs.git", auth: AuthOptions{HTTPSPasswordFile: token}, wantErr: "keep only the file"},
		{name: "ssh options", url: "https://git.example.net/specs.git", auth: AuthOptions{SSHKeyFile: token}, wantErr: "SSH options"},
		{name: "credentials for git://", url: "git://git.example.net/specs.git", auth: AuthOptions{HTTPSUsername: "bot"}, wantErr: "takes none"},
		{name: "credentials for a path", url: dir, auth: AuthOptions{InsecureSkipHostKeyCheck: true}, wantErr: "takes none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(Options{URL: tt.url, CacheDir: t.TempDir(), Auth: tt.auth})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New error = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "tok3n") {
					t.Errorf("error %q leaks the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			var got *githttp.BasicAuth
			if s.Auth() != nil {
				got = s.Auth().(*githttp.BasicAuth)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Auth() (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOptionNamesInErrors: with Options.Names set, errors name the options
// so, and never by their Go fields.
func TestOptionNamesInErrors(t *testing.T) {
	_, clientKey := newSSHKey(t)
	key := writeClientKey(t, clientKey, "")
	dir := t.TempDir()
	openKey := filepath.Join(dir, "open-key")
	writeSecretFile(t, openKey, "not read", 0o644)
	openPassphrase := filepath.Join(dir, "open-passphrase")
	writeSecretFile(t, openPassphrase, "x\n", 0o644)
	token := filepath.Join(dir, "token")
	writeSecretFile(t, token, "tok3n\n", 0o600)
	names := OptionNames{
		Path: "--path", CacheDir: "--cache-dir",
		SSHKeyFile: "--ssh-key-file", SSHKeyPassphraseFile: "--ssh-key-passphrase-file",
		KnownHostsFile: "--known-hosts-file", InsecureSkipHostKeyCheck: "--insecure-skip-host-key-check",
		HTTPSUsername: "--https-username", HTTPSPasswordFile: "--https-password-file",
	}
	const ssh, https = "git@github.com:acme/specs.git", "https://git.example.net/specs.git"
	for _, tc := range []struct {
		name, url string
		opts      Options
		want      []string
	}{
		{"no key", ssh, Options{}, []string{"set --ssh-key-file"}},
		{"unprotected key", ssh, Options{Auth: AuthOptions{SSHKeyFile: openKey}}, []string{"(--ssh-key-file) has mode 0644"}},
		{"unprotected passphrase", ssh, Options{Auth: AuthOptions{SSHKeyFile: key, SSHKeyPassphraseFile: openPassphrase}}, []string{"(--ssh-key-passphrase-file) has mode 0644"}},
		{"missing passphrase", ssh, Options{Auth: AuthOptions{SSHKeyFile: key, SSHKeyPassphraseFile: filepath.Join(dir, "nope")}}, []string{"(--ssh-key-passphrase-file)"}},
		{"unloadable key", ssh, Options{Auth: AuthOptions{SSHKeyFile: token}}, []string{"(--ssh-key-file)"}},
		{"missing known_hosts", ssh, Options{Auth: AuthOptions{SSHKeyFile: key, KnownHostsFile: filepath.Join(dir, "none")}},
			[]string{"point --known-hosts-file elsewhere", "or set --insecure-skip-host-key-check"}},
		{"password without user", https, Options{Auth: AuthOptions{HTTPSPasswordFile: token}}, []string{"--https-password-file is set", "set --https-username"}},
		{"password twice", "https://bot:pw@git.example.net/specs.git", Options{Auth: AuthOptions{HTTPSPasswordFile: token}}, []string{"and --https-password-file is set too"}},
		{"missing password file", https, Options{Auth: AuthOptions{HTTPSUsername: "bot", HTTPSPasswordFile: filepath.Join(dir, "nope")}}, []string{"(--https-password-file)"}},
		{"path out of the repository", https, Options{Path: "../x"}, []string{"source: --path:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.URL, tc.opts.CacheDir, tc.opts.Names = tc.url, t.TempDir(), names
			_, err := New(tc.opts)
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			for _, field := range []string{"Auth.", "SSHKeyFile", "KnownHostsFile", "HTTPSPasswordFile", "Path:", "CacheDir"} {
				if strings.Contains(err.Error(), field) {
					t.Errorf("error %q names the Go field %s", err, field)
				}
			}
		})
	}
}

// TestPrivateKeyOwnedByAnotherUser: a key file the daemon's user does not
// own may be group-readable (a Kubernetes secret mounted for a non-root pod
// with an fsGroup is root's, mode 0440), never readable by all.
func TestPrivateKeyOwnedByAnotherUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root, to give the key file to another user")
	}
	_, clientKey := newSSHKey(t)
	key := writeClientKey(t, clientKey, "")
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	writeFile(t, knownHosts, "")
	if err := os.Chown(key, 65532, 65532); err != nil {
		t.Fatal(err)
	}
	for perm, wantErr := range map[os.FileMode]string{0o440: "", 0o640: "", 0o444: "UNPROTECTED PRIVATE KEY FILE", 0o604: "UNPROTECTED PRIVATE KEY FILE"} {
		if err := os.Chmod(key, perm); err != nil {
			t.Fatal(err)
		}
		_, err := New(Options{URL: "git@github.com:acme/specs.git", CacheDir: t.TempDir(), Auth: AuthOptions{SSHKeyFile: key, KnownHostsFile: knownHosts}})
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("mode %04o, owned by another user: %v", perm, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Errorf("mode %04o, owned by another user: error %v, want one containing %q", perm, err, wantErr)
		}
	}
}
