package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/ovstest"
)

// BenchmarkImportDiff10k: onboarding a host of 10,000 mirrors that
// ovs-vsctl made, 32 to a bridge on 313 bridges of 33 ports (ovs-vswitchd
// applies at most 32 per bridge): `wirekeeper import --ovsdb` (import-s:
// connect, read, render, write), then `wirekeeper diff` of what it wrote
// (diff-s: load and validate the 10,314 objects, connect, observe, decide,
// render), each held for adoption under policy observe, exit 0. The
// commands' own functions, run in this process. Target for diff: < 1 s.
func BenchmarkImportDiff10k(b *testing.B) {
	const n, perBridge, bridgesPerCall = 10000, 32, 30
	o := ovstest.Start(b, ovstest.Options{})
	bridges := (n + perBridge - 1) / perBridge
	for first := 0; first < bridges; first += bridgesPerCall {
		var args []string
		for i := first; i < min(first+bridgesPerCall, bridges); i++ {
			br := "br" + strconv.Itoa(i)
			args = append(args, "--", "add-br", br, "--", "set", "Bridge", br, "datapath_type=netdev")
			var ports, mirrors []string
			out := fmt.Sprintf("@o%d", i)
			for j := range perBridge + 1 {
				name, ref := fmt.Sprintf("p%d-%d", i, j), fmt.Sprintf("@p%d_%d", i, j)
				if j == perBridge {
					name, ref = "out"+strconv.Itoa(i), out
				}
				iface := fmt.Sprintf("@i%d_%d", i, j)
				args = append(args, "--", "--id="+iface, "create", "Interface", "name="+name, "type=internal",
					"--", "--id="+ref, "create", "Port", "name="+name, "interfaces="+iface)
				ports = append(ports, ref)
			}
			for j := range min(perBridge, n-i*perBridge) {
				m := fmt.Sprintf("@m%d_%d", i, j)
				args = append(args, "--", "--id="+m, "create", "Mirror", fmt.Sprintf("name=m%d", i*perBridge+j),
					fmt.Sprintf("select_src_port=@p%d_%d", i, j), "output_port="+out)
				mirrors = append(mirrors, m)
			}
			args = append(append(args, "--", "add", "Bridge", br, "ports"), ports...)
			args = append(append(args, "--", "add", "Bridge", br, "mirrors"), mirrors...)
		}
		o.Vsctl(b, args...)
	}
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
	b.ReportMetric(peakRSSMB(b), "peak-RSS-MB")
}

// peakRSSMB is the process's peak resident set (VmHWM), in MB.
func peakRSSMB(b *testing.B) float64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				b.Fatal(err)
			}
			return float64(kb) / 1024
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}
