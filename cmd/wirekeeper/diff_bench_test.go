package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// BenchmarkImportDiff10k: onboarding a host of 10,000 mirrors that
// ovs-vsctl made, 32 to a bridge on 313 bridges of 33 ports (ovs-vswitchd
// applies at most 32 per bridge): `wirekeeper import --ovsdb` (import-s:
// connect, read, render, write), then `wirekeeper diff` of what it wrote
// (diff-s: load and validate the 10,314 objects, connect, observe, decide,
// render), each held for adoption under policy observe, exit 0. The
// commands' own functions, run in this process. Target for diff: < 1 s.
func BenchmarkImportDiff10k(b *testing.B) {
	const n = 10000
	o := ovstest.Start(b, ovstest.Options{})
	bridges := o.AddMirrorHost(b, n, true)
	b.ResetTimer()
	var imported, diffed time.Duration
	for range b.N {
		dir := b.TempDir()
		var stdout, stderr bytes.Buffer
		start := time.Now()
		code := runImport([]string{"--ovsdb", o.DB, "--node", "hv-bench", "--out", dir}, &stdout, &stderr)
		imported += time.Since(start)
		if code != exitOK {
			b.Fatalf("import: exit %d\n%s", code, stderr.String())
		}
		stdout.Reset()
		stderr.Reset()
		start = time.Now()
		code = runDiff([]string{"--path", dir, "--node", "hv-bench", "--output", "json"}, &stdout, &stderr)
		diffed += time.Since(start)
		if code != exitOK {
			b.Fatalf("diff: exit %d\n%s", code, stderr.String())
		}
		if held := strings.Count(stdout.String(), "not adopted until the policy is enforce"); held != n+bridges {
			b.Fatalf("diff holds %d objects for adoption, want %d (the mirrors and bridges)", held, n+bridges)
		}
	}
	b.ReportMetric(imported.Seconds()/float64(b.N), "import-s")
	b.ReportMetric(diffed.Seconds()/float64(b.N), "diff-s")
	b.ReportMetric(testenv.ProcStatusMB(b, "VmHWM"), "peak-RSS-MB")
}
