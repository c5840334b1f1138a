package secret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wirekeeper/wirekeeper/spec"
)

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	src := Source{Getenv: func(k string) string { return map[string]string{"WK_AMQP": "amqp://u:hunter2@h/"}[k] }}
	cases := []struct {
		name    string
		s       *spec.Secret
		want    string
		wantErr string
	}{
		{"env", &spec.Secret{Env: "WK_AMQP"}, "amqp://u:hunter2@h/", ""},
		{"env unset", &spec.Secret{Env: "WK_NONE"}, "", "WK_NONE of the wirekeeper daemon is unset"},
		{"file, newline trimmed", &spec.Secret{File: write("dsn", "u:hunter2@tcp(h)/db\n")}, "u:hunter2@tcp(h)/db", ""},
		{"file with CRLF", &spec.Secret{File: write("crlf", "v\r\n")}, "v", ""},
		{"file missing", &spec.Secret{File: filepath.Join(dir, "nope")}, "", "cannot read file " + filepath.Join(dir, "nope") + ": no such file"},
		{"file empty", &spec.Secret{File: write("empty", "\n")}, "", "is empty"},
		{"nothing", &spec.Secret{}, "", "neither env nor file"},
		{"nil", nil, "", "none given"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := src.Resolve(c.s)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("Resolve = %q, %v; want an error containing %q", got, err, c.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error %q leaks the secret", err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("Resolve = %q, %v; want %q", got, err, c.want)
			}
		})
	}
}
