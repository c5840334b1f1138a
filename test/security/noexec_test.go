package security

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/wirekeeper/wirekeeper"

// execExceptions are the reviewed places where product code may start a
// process, by package, with why. There are none: every provider works
// through libovsdb, netlink/netns and the Docker SDK.
var execExceptions = map[string]string{}

type listedPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
}

// TestNoShellOutsInTheBinary fails when a package of this module that the
// wirekeeper binary is built from imports os/exec or starts a process by
// other means (os.StartProcess, syscall.Exec, syscall.ForkExec). Test
// fixtures (internal/*test, test files) are not part of the binary and may.
func TestNoShellOutsInTheBinary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-json", module+"/cmd/wirekeeper").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	d := json.NewDecoder(bytes.NewReader(out))
	checked := 0
	for {
		var p listedPackage
		if err := d.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p.ImportPath, module) {
			continue
		}
		checked++
		if why, ok := execExceptions[p.ImportPath]; ok {
			t.Logf("%s may start processes: %s", p.ImportPath, why)
			continue
		}
		for _, imp := range p.Imports {
			if imp == "os/exec" {
				t.Errorf("%s imports os/exec: product code must not shell out (use libovsdb, netlink or the Docker SDK)", p.ImportPath)
			}
		}
		for _, f := range p.GoFiles {
			src, err := os.ReadFile(filepath.Join(p.Dir, f))
			if err != nil {
				t.Fatal(err)
			}
			for _, call := range []string{"os.StartProcess(", "syscall.Exec(", "syscall.ForkExec(", "unix.Exec("} {
				if bytes.Contains(src, []byte(call)) {
					t.Errorf("%s/%s calls %s: product code must not start processes", p.ImportPath, f, strings.TrimSuffix(call, "("))
				}
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d packages of %s checked; go list did not list the binary's packages", checked, module)
	}
}
