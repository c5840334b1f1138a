package source

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// sshKey makes an ed25519 key pair with the real ssh-keygen and returns the
// private key's path and the public key line.
func sshKey(t *testing.T, dir, name string) (priv, pub string) {
	t.Helper()
	priv = filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", priv).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	b, err := os.ReadFile(priv + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return priv, strings.TrimSpace(string(b))
}

// cliRepo makes a repository whose main is one commit made by the real git
// CLI with extra settings (-c name=value) and returns its path.
func cliRepo(t *testing.T, settings ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "specs")
	testenv.Git(t, t.TempDir(), "init", "-q", "-b", "main", dir)
	if err := os.WriteFile(filepath.Join(dir, "managers.yaml"), []byte(managerYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Git(t, dir, "add", "-A")
	args := []string{}
	for _, s := range settings {
		args = append(args, "-c", s)
	}
	testenv.Git(t, dir, append(args, "commit", "-q", "-m", "update managers")...)
	return dir
}

func tempFile(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Commits SSH-signed by the real git CLI (gpg.format=ssh), verified against
// a git allowed signers file.
func TestVerifySSHSignedByGit(t *testing.T) {
	testenv.NeedBins(t, "source: SSH signing", "apt-get install openssh-client", false, "ssh-keygen")
	keys := t.TempDir()
	ada, adaPub := sshKey(t, keys, "ada")
	eve, _ := sshKey(t, keys, "eve")
	signedBy := func(key string) []string {
		return []string{"gpg.format=ssh", "user.signingkey=" + key, "commit.gpgsign=true"}
	}
	tests := []struct {
		name     string
		signers  string
		settings []string
		wantErr  error
		wantText string
	}{
		{name: "allowed key", signers: "ada@example.net " + adaPub + "\n", settings: signedBy(ada)},
		{name: "allowed key for git", signers: "# the team\nada@example.net,ops@example.net namespaces=\"git\",valid-after=\"20200101\" " + adaPub + "\n", settings: signedBy(ada)},
		{name: "another key", signers: "ada@example.net " + adaPub + "\n", settings: signedBy(eve),
			wantErr: ErrBadSignature, wantText: "which is not in the allowed signers file"},
		{name: "key allowed for files only", signers: "ada@example.net namespaces=\"file\" " + adaPub + "\n", settings: signedBy(ada),
			wantErr: ErrBadSignature, wantText: `its namespaces (file) do not include "git"`},
		{name: "key expired", signers: "ada@example.net valid-before=\"20200101Z\" " + adaPub + "\n", settings: signedBy(ada),
			wantErr: ErrBadSignature, wantText: "is not before its valid-before 2020-01-01T00:00:00Z"},
		{name: "unsigned", signers: "ada@example.net " + adaPub + "\n", wantErr: ErrUnsigned},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := cliRepo(t, tt.settings...)
			s := newSource(t, dir, func(o *Options) { o.AllowedSigners = tempFile(t, "allowed_signers", tt.signers) })
			err := s.Verify(mustFetch(t, s))
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("Verify = %v, want %v saying %q", err, tt.wantErr, tt.wantText)
			}
		})
	}
}

// A commit signed by the real gpg through git verifies against the
// exported keyring, also when an allowed signers file is set beside it;
// an SSH-signed commit is refused when only the keyring is set.
func TestVerifyOpenPGPSignedByGitAndGPG(t *testing.T) {
	testenv.NeedBins(t, "source: OpenPGP and SSH signing", "apt-get install gnupg openssh-client", false, "gpg", "gpgconf", "ssh-keygen")
	home, err := os.MkdirTemp("", "wk-gpg") // short: gpg-agent's socket path is bounded
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent").Run()
		os.RemoveAll(home)
	})
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GNUPGHOME", home)
	gpg := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command("gpg", append([]string{"--batch", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...).Output()
		if err != nil {
			t.Fatalf("gpg %v: %v", args, err)
		}
		return out
	}
	gpg("--quick-gen-key", "Ada Operator <ada@example.net>", "ed25519", "sign", "never")
	keyring := tempFile(t, "keyring.asc", string(gpg("--armor", "--export", "ada@example.net")))
	keys := t.TempDir()
	_, adaPub := sshKey(t, keys, "ada")
	eve, _ := sshKey(t, keys, "eve")
	signers := tempFile(t, "allowed_signers", "ada@example.net "+adaPub+"\n")

	pgpSigned := cliRepo(t, "user.signingkey=ada@example.net", "commit.gpgsign=true")
	for _, allowed := range []string{"", signers} {
		s := newSource(t, pgpSigned, func(o *Options) { o.VerifyKeyring, o.AllowedSigners = keyring, allowed })
		if err := s.Verify(mustFetch(t, s)); err != nil {
			t.Errorf("Verify of a gpg-signed commit (allowed signers %q): %v", allowed, err)
		}
	}
	s := newSource(t, pgpSigned, func(o *Options) { o.AllowedSigners = signers })
	if err := s.Verify(mustFetch(t, s)); !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "no OpenPGP keyring is set") {
		t.Errorf("Verify of a gpg-signed commit with only allowed signers = %v, want ErrBadSignature naming the missing keyring", err)
	}
	sshSigned := cliRepo(t, "gpg.format=ssh", "user.signingkey="+eve, "commit.gpgsign=true")
	s = newSource(t, sshSigned, func(o *Options) { o.VerifyKeyring, o.AllowedSigners = keyring, signers })
	if err := s.Verify(mustFetch(t, s)); !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), "not in the allowed signers file") {
		t.Errorf("Verify of a commit SSH-signed by an unknown key = %v, want ErrBadSignature", err)
	}
}

func TestAllowedSignersErrors(t *testing.T) {
	testenv.NeedBins(t, "source: SSH keys", "apt-get install openssh-client", false, "ssh-keygen")
	_, pub := sshKey(t, t.TempDir(), "ada")
	for _, tt := range []struct{ file, want string }{
		{"# nobody\n", "holds no signers"},
		{"ada@example.net\n", "no valid key after the principals"},
		{"ada@example.net cert-authority " + pub + "\n", "cert-authority (keys certified by a CA) is not supported"},
		{"ada@example.net valid-after=\"yesterday\" " + pub + "\n", `valid-after: "yesterday" is not YYYYMMDD[HHMM[SS]][Z]`},
		{"ada@example.net no-touch-required " + pub + "\n", `unknown option "no-touch-required"`},
	} {
		p := tempFile(t, "allowed_signers", "# team\n"+tt.file)
		_, err := New(Options{URL: t.TempDir(), CacheDir: t.TempDir(), AllowedSigners: p})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("allowed signers %q: New = %v, want %q", tt.file, err, tt.want)
		}
		if tt.want != "holds no signers" && (err == nil || !strings.Contains(err.Error(), p+":2:")) {
			t.Errorf("allowed signers %q: error %v does not name the line %s:2", tt.file, err, p)
		}
	}
}
