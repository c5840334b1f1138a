package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// Binary returns the path of the wirekeeper binary, built once per test
// process from this module's cmd/wirekeeper into a directory of its own.
// Tests that run the real binary, as an operator would, share it.
func Binary(t testing.TB) string {
	t.Helper()
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wirekeeper-bin-")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "wirekeeper")
		out, err := exec.Command("go", "build", "-o", binaryPath, "github.com/wirekeeper/wirekeeper/cmd/wirekeeper").CombinedOutput()
		if err != nil {
			binaryErr = fmt.Errorf("testenv: go build of cmd/wirekeeper: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}
