package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTree writes a valid spec tree of files*perFile documents: per file one
// OVSManager, then bridges, mirrors and container ports in turn.
func writeTree(tb testing.TB, dir string, files, perFile int) {
	tb.Helper()
	for f := 0; f < files; f++ {
		var b strings.Builder
		fmt.Fprintf(&b, "apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: ovs-%d}\nspec: {node: node-%d, address: \"tcp:127.0.0.1:%d\"}\n", f, f, 6000+f)
		for i := 1; i < perFile; i++ {
			b.WriteString("---\n")
			switch i % 3 {
			case 0:
				fmt.Fprintf(&b, "apiVersion: wirekeeper.io/v1alpha1\nkind: Bridge\nmetadata: {name: br-%d-%d, labels: {site: ams}}\nspec:\n  manager: ovs-%d\n  bridge: br%d\n  datapathType: netdev\n  externalIds: {owner: noc}\n", f, i, f, i)
			case 1:
				fmt.Fprintf(&b, "apiVersion: wirekeeper.io/v1alpha1\nkind: Mirror\nmetadata: {name: m-%d-%d}\nspec:\n  manager: ovs-%d\n  bridge: br0\n  selectSrcPorts: [vm%d-a, vm%d-b]\n  selectVlans: [10, 20]\n  output: {port: tap%d}\n", f, i, f, i, i, i)
			case 2:
				fmt.Fprintf(&b, "apiVersion: wirekeeper.io/v1alpha1\nkind: ContainerPort\nmetadata: {name: p-%d-%d}\nspec:\n  node: node-%d\n  bridge: br0\n  container: c%d\n  interface: eth1\n  addresses: [10.%d.%d.2/24, \"2001:db8::%x/64\"]\n  gateway: 10.%d.%d.1\n  macAddress: \"02:00:00:00:%02x:%02x\"\n  mtu: 1500\n  vlan: %d\n", f, i, f, i, f%250, i%250, i, f%250, i%250, f%256, i%256, i%4096)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.yaml", f)), []byte(b.String()), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkLoad10k validates a generated tree of 10,000 documents in 100 files,
// from disk, cross-document rules included. Target: under 1 s per op.
func BenchmarkLoad10k(b *testing.B) {
	dir := b.TempDir()
	writeTree(b, dir, 100, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		set, diags := Load(dir)
		if diags.HasErrors() || len(set.Objects) != 10000 {
			b.Fatalf("objects=%d, diagnostics: %v", len(set.Objects), diags)
		}
	}
	b.ReportMetric(float64(10000*b.N)/b.Elapsed().Seconds(), "docs/s")
}

// TestGeneratedTreeIsValid keeps the benchmark honest: its tree must be valid.
func TestGeneratedTreeIsValid(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, 3, 30)
	set, diags := Load(dir)
	if diags.HasErrors() {
		t.Fatalf("generated tree invalid: %v", diags)
	}
	if len(set.Objects) != 90 {
		t.Fatalf("got %d objects, want 90", len(set.Objects))
	}
}

// BenchmarkAliasBombRefused loads the alias file of issue 15 (1 MiB, a map
// of 20,000 labels reused by 6,800 documents), which the alias budget
// refuses before decoding the expansion. Target: well under 1 s and 100 MB.
func BenchmarkAliasBombRefused(b *testing.B) {
	data, _ := aliasBomb(20000)
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bomb.yaml"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		set, diags := Load(dir)
		if len(set.Objects) != 0 || len(diags) != 1 {
			b.Fatalf("objects=%d, diagnostics: %v", len(set.Objects), diags)
		}
	}
}
