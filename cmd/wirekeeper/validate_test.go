package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/spec"
)

const validDoc = `apiVersion: wirekeeper.io/v1alpha1
kind: OVSManager
metadata: {name: ovs-a}
spec: {node: node-a, address: "unix:/run/openvswitch/db.sock"}
`

const invalidDoc = `apiVersion: wirekeeper.io/v1alpha1
kind: Bridge
metadata: {name: br0}
spec:
  manager: ovs-b
  datapath_type: netdev
`

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidateExitCodesAndFormats(t *testing.T) {
	good, bad := t.TempDir(), t.TempDir()
	writeFile(t, good, "m.yaml", validDoc)
	badFile := writeFile(t, bad, "b.yaml", invalidDoc)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
	}{
		{"valid", []string{"validate", good}, 0, ""},
		{"invalid text", []string{"validate", bad}, 1,
			badFile + `:5:12: error: Bridge/br0: spec.manager: OVSManager "ovs-b" does not exist; defined managers: none` + "\n" +
				badFile + `:6:3: error: Bridge/br0: spec.datapath_type: unknown field (did you mean "datapathType"?); valid fields: manager, bridge, datapathType, failMode, externalIds, policy` + "\n"},
		{"invalid github", []string{"validate", "--output", "github", bad}, 1,
			"::error file=" + badFile + `,line=5,col=12,title=wirekeeper validate::Bridge/br0: spec.manager: OVSManager "ovs-b" does not exist; defined managers: none` + "\n" +
				"::error file=" + badFile + `,line=6,col=3,title=wirekeeper validate::Bridge/br0: spec.datapath_type: unknown field (did you mean "datapathType"?); valid fields: manager, bridge, datapathType, failMode, externalIds, policy` + "\n"},
		{"two paths form one set", []string{"validate", good, bad}, 1, ""},
		{"unknown output", []string{"validate", "--output", "xml", good}, 2, ""},
		{"unknown flag", []string{"validate", "--strict", good}, 2, ""},
		{"missing path", []string{"validate", filepath.Join(good, "nope")}, 1, ""},
		{"unknown command", []string{"frobnicate"}, 2, ""},
		{"no command", nil, 2, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, tc.wantCode, stdout.String(), stderr.String())
			}
			if tc.wantStdout != "" {
				if diff := cmp.Diff(tc.wantStdout, stdout.String()); diff != "" {
					t.Errorf("stdout (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestValidateLargeFileOnce is a minor point of issue 15: a file over the
// size limit gets one diagnostic that states the limit once.
func TestValidateLargeFileOnce(t *testing.T) {
	dir := t.TempDir()
	big := writeFile(t, dir, "big.yaml", validDoc+"# "+strings.Repeat("x", spec.MaxFileSize)+"\n")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"validate", dir}, &stdout, &stderr); code != exitFail {
		t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitFail, stderr.String())
	}
	want := big + ":1:1: error: file is larger than 1 MiB; split it into several files\n"
	if diff := cmp.Diff(want, stdout.String()); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("1 error(s) in "+dir+"\n", stderr.String()); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
}

func TestValidateJSONIsStable(t *testing.T) {
	bad := t.TempDir()
	badFile := writeFile(t, bad, "b.yaml", invalidDoc)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"validate", "--output", "json", bad}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, stderr.String())
	}
	var got []map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("output is not a JSON array: %v\n%s", err, stdout.String())
	}
	want := []map[string]any{{
		"file": badFile, "line": 5.0, "column": 12.0, "severity": "error", "kind": "Bridge", "name": "br0",
		"field": "spec.manager", "message": `OVSManager "ovs-b" does not exist; defined managers: none`,
	}, {
		"file": badFile, "line": 6.0, "column": 3.0, "severity": "error", "kind": "Bridge", "name": "br0",
		"field": "spec.datapath_type", "message": `unknown field (did you mean "datapathType"?); valid fields: manager, bridge, datapathType, failMode, externalIds, policy`,
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("json (-want +got):\n%s", diff)
	}

	// A valid tree gives an empty array, not null.
	good := t.TempDir()
	writeFile(t, good, "m.yaml", validDoc)
	stdout.Reset()
	if code := run([]string{"validate", "--output", "json", good}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	if strings.TrimSpace(stdout.String()) != "[]" {
		t.Errorf("valid tree: got %q, want []", stdout.String())
	}
}

func TestGitHubEscaping(t *testing.T) {
	var b bytes.Buffer
	err := writeGitHub(&b, spec.Diagnostics{{Position: spec.Position{File: "a,b:c.yaml", Line: 1, Column: 2},
		Severity: spec.SeverityError, Message: "100% wrong\nsecond line"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "::error file=a%2Cb%3Ac.yaml,line=1,col=2,title=wirekeeper validate::100%25 wrong%0Asecond line\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestValidateDefaultPathIsCurrentDir(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "m.yaml", validDoc)
	t.Chdir(dir)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"validate"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "1 object(s) valid in .") {
		t.Errorf("stderr = %q", stderr.String())
	}
}
