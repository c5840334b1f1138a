package trust

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "trust.yaml")
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const fpA = "SHA256:Xo3mpG0d4sH1B0m0b2t3uJ8M7Qd1Ff4bYy2kU5r6s7A"

func TestAllowed(t *testing.T) {
	p, err := Load(write(t, `signers:
  - name: site-a
    keys: ["`+fpA+`", "0123456789abcdef"]
    nodes: ["ams-*"]
  - name: mirrors-everywhere
    keys: ["0123456789ABCDEF"]
    nodes: ["*"]
    kinds: [Mirror]
`))
	if err != nil {
		t.Fatal(err)
	}
	ssh, pgp := Key{IDs: []string{fpA}, Name: "SSH key A"}, Key{IDs: []string{"0123456789ABCDEF", "FFFF"}, Name: "OpenPGP key 0123456789ABCDEF"}
	for _, tt := range []struct {
		key        Key
		node, kind string
		want       string // "" allowed
	}{
		{ssh, "ams-hv1", "Mirror", ""},
		{ssh, "ams-hv1", "OVSManager", ""},
		{ssh, "fra-hv1", "Mirror", "key SSH key A (signer site-a of"},
		{pgp, "fra-hv1", "Mirror", ""}, // mirrors everywhere
		{pgp, "fra-hv1", "Bridge", "may not change a Bridge on node fra-hv1"},
		{Key{IDs: []string{"SHA256:other"}, Name: "SSH key O"}, "ams-hv1", "Mirror", "key SSH key O is in no signer of the trust policy"},
	} {
		err := p.Allowed(tt.key, tt.node, tt.kind)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Allowed(%s, %s, %s) = %v, want %q", tt.key.Name, tt.node, tt.kind, err, tt.want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tt := range []struct{ data, want string }{
		{"signers: []\n", "no signers"},
		{"signers:\n  - name: a\n    keys: [nope]\n    nodes: [x]\n", `:2: signer "a": key "nope" is neither an SSH fingerprint`},
		{"signers:\n  - name: a\n    keys: [\"" + fpA + "\"]\n", `:2: signer "a": nodes is empty`},
		{"signers:\n  - name: a\n    keys: [\"" + fpA + "\"]\n    nodes: [\"[\"]\n", `node glob "["`},
		{"signers:\n  - name: a\n    keys: [\"" + fpA + "\"]\n    nodes: [x]\n    kinds: [Switch]\n", `unknown kind "Switch"; valid: OVSManager`},
		{"signers:\n  - name: a\n    keys: [\"" + fpA + "\"]\n    nodes: [x]\n  - name: a\n    keys: [\"" + fpA + "\"]\n    nodes: [y]\n", `:5: signer "a": the name is taken`},
		{"signers:\n  - name: a\n    key: [x]\n", "field key not found"},
	} {
		_, err := Load(write(t, tt.data))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%q) = %v, want %q", tt.data, err, tt.want)
		}
	}
}
