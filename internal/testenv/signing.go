package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// SiteKeys are SSH signing keys made with the real ssh-keygen, one per
// site, with the files a daemon is given for them: a git allowed signers
// file (<site>@example.net <key>) and a trust policy letting site s's key
// change the nodes s-* (signer site-s).
type SiteKeys struct {
	// Private is each site's private key file, for git -c
	// user.signingkey=... -c gpg.format=ssh.
	Private        map[string]string
	AllowedSigners string
	TrustPolicy    string
}

// NewSiteKeys makes SiteKeys for sites; it skips t (fails it in CI)
// without ssh-keygen.
func NewSiteKeys(t testing.TB, sites ...string) SiteKeys {
	t.Helper()
	NeedBins(t, "testenv: SSH signing keys", "apt-get install openssh-client", false, "ssh-keygen")
	dir := t.TempDir()
	k := SiteKeys{Private: map[string]string{}}
	var signers, policy strings.Builder
	policy.WriteString("signers:\n")
	for _, site := range sites {
		priv := filepath.Join(dir, site)
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", site, "-f", priv).CombinedOutput(); err != nil {
			t.Fatalf("testenv: ssh-keygen: %v\n%s", err, out)
		}
		pub, err := os.ReadFile(priv + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		key, _, _, _, err := ssh.ParseAuthorizedKey(pub)
		if err != nil {
			t.Fatalf("testenv: %s: %v", priv, err)
		}
		k.Private[site] = priv
		fmt.Fprintf(&signers, "%s@example.net %s", site, pub)
		fmt.Fprintf(&policy, "  - name: site-%s\n    keys: [%q]\n    nodes: [\"%s-*\"]\n", site, ssh.FingerprintSHA256(key), site)
	}
	k.AllowedSigners, k.TrustPolicy = filepath.Join(dir, "allowed_signers"), filepath.Join(dir, "trust.yaml")
	for name, data := range map[string]string{k.AllowedSigners: signers.String(), k.TrustPolicy: policy.String()} {
		if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// SignWith returns the git -c settings that make a commit SSH-signed by
// key.
func SignWith(key string) []string {
	return []string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + key, "-c", "commit.gpgsign=true"}
}

// SiteSpecs is the spec of site s's node s-1: an OVSManager ovs<s> and a
// Mirror m<s> sending to port, for the trust tests.
func SiteSpecs(site, port string) string {
	return fmt.Sprintf("---\napiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: ovs%[1]s}\nspec: {node: %[1]s-1, address: unix:/run/ovs.sock}\n"+
		"---\napiVersion: wirekeeper.io/v1alpha1\nkind: Mirror\nmetadata: {name: m%[1]s}\nspec: {manager: ovs%[1]s, bridge: br0, selectAll: true, output: {port: %[2]s}}\n", site, port)
}
