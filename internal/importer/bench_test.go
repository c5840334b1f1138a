package importer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/importer"
	"github.com/wirekeeper/wirekeeper/internal/ovstest"
)

// BenchmarkImport1000Mirrors: `wirekeeper import --ovsdb` of a host with
// one bridge of 1,001 ports and 1,000 mirrors (each selecting a port,
// all to one output): connect, read, render.
func BenchmarkImport1000Mirrors(b *testing.B) {
	const n = 1000
	o := ovstest.Start(b, ovstest.Options{})
	o.AddBridge(b, "br0")
	ports := make([]string, 0, n+1)
	for i := range n {
		ports = append(ports, fmt.Sprintf("p%d", i))
	}
	ovstest.AddPorts(b, o.DB, "br0", append(ports, "out"), true)
	for from := 0; from < n; from += 200 { // 200 mirrors per ovs-vsctl call
		args := []string{"--no-wait", "--", "--id=@out", "get", "Port", "out"}
		for i := from; i < from+200; i++ {
			args = append(args, "--", fmt.Sprintf("--id=@p%d", i), "get", "Port", fmt.Sprintf("p%d", i),
				"--", fmt.Sprintf("--id=@m%d", i), "create", "Mirror", fmt.Sprintf("name=m%d", i), fmt.Sprintf("select_src_port=@p%d", i), "output_port=@out",
				"--", "add", "Bridge", "br0", "mirrors", fmt.Sprintf("@m%d", i))
		}
		ovstest.Vsctl(b, o.DB, args...)
	}
	b.ResetTimer()
	var took time.Duration
	for range b.N {
		start := time.Now()
		res, err := importer.FromOVSDB(context.Background(), importer.Options{Node: "hv-bench", Address: o.DB})
		took += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if res.Objects() != n+2 || len(res.Skipped) != 0 {
			b.Fatalf("%d objects, %d skipped; want %d and 0", res.Objects(), len(res.Skipped), n+2)
		}
	}
	b.ReportMetric(took.Seconds()/float64(b.N), "import-s")
}
