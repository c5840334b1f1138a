package testenv

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// ProcStatusMB reads a size field of the process's /proc/self/status
// (VmRSS, VmHWM: the resident set now and at its peak) in MB; tb fails
// when the file or the field cannot be read, so that a benchmark never
// reports a memory figure of 0 it did not measure.
func ProcStatusMB(tb testing.TB, field string) float64 {
	tb.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err != nil {
				tb.Fatalf("testenv: %s in /proc/self/status: %v", field, err)
			}
			return kb / 1024
		}
	}
	tb.Fatalf("testenv: no %s in /proc/self/status", field)
	return 0
}
