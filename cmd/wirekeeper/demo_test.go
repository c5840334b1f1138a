package main

import (
	"bytes"
	"strings"
	"testing"
)

// The narration is tested in examples/demo; these check the flags' wiring.

func TestDemoRefusesArguments(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"demo", "extra"}, &stdout, &stderr); code != exitUsage {
		t.Errorf("exit %d, want %d", code, exitUsage)
	}
}

func TestDemoUsesTheOVSDBFlag(t *testing.T) {
	const address = "tcp:127.0.0.1:1" // nothing listens on port 1
	var stdout, stderr bytes.Buffer
	if code := run([]string{"demo", "--ovsdb", address}, &stdout, &stderr); code != exitFail {
		t.Errorf("exit %d, want %d", code, exitFail)
	}
	if !strings.Contains(stdout.String(), "OVSDB server "+address+" (--ovsdb)") || !strings.HasPrefix(stderr.String(), "wirekeeper demo: ") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
}
