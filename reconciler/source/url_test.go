package source

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/google/go-cmp/cmp"
)

func TestParseRemote(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in      string
		want    remote // cacheKey is not compared
		wantErr string
	}{
		{in: "https://github.com/acme/net-specs.git", want: remote{scheme: "https", redacted: "https://github.com/acme/net-specs.git", fetchURL: "https://github.com/acme/net-specs.git"}},
		{in: "HTTP://git.example.net:8080/specs", want: remote{scheme: "http", redacted: "http://git.example.net:8080/specs", fetchURL: "http://git.example.net:8080/specs"}},
		{in: "https://bot:s3cret@git.example.net/specs.git", want: remote{scheme: "https", user: "bot", password: "s3cret", redacted: "https://bot:xxxxx@git.example.net/specs.git", fetchURL: "https://git.example.net/specs.git"}},
		{in: "https://ghp_token@github.com/acme/specs.git", want: remote{scheme: "https", user: "ghp_token", redacted: "https://xxxxx@github.com/acme/specs.git", fetchURL: "https://github.com/acme/specs.git"}},
		{in: "ssh://git@git.example.net/acme/specs.git", want: remote{scheme: "ssh", user: "git", redacted: "ssh://git@git.example.net/acme/specs.git", fetchURL: "ssh://git@git.example.net/acme/specs.git", hostPort: "git.example.net:22"}},
		{in: "ssh://git@[2001:db8::1]:2222/specs.git", want: remote{scheme: "ssh", user: "git", redacted: "ssh://git@[2001:db8::1]:2222/specs.git", fetchURL: "ssh://git@[2001:db8::1]:2222/specs.git", hostPort: "[2001:db8::1]:2222"}},
		{in: "git@github.com:acme/net-specs.git", want: remote{scheme: "ssh", user: "git", redacted: "git@github.com:acme/net-specs.git", fetchURL: "git@github.com:acme/net-specs.git", hostPort: "github.com:22"}},
		{in: "git://127.0.0.1:9418/specs.git", want: remote{scheme: "git", redacted: "git://127.0.0.1:9418/specs.git", fetchURL: "git://127.0.0.1:9418/specs.git"}},
		{in: "file:///srv/git/specs.git", want: remote{scheme: "local", redacted: "file:///srv/git/specs.git", fetchURL: "/srv/git/specs.git", dir: "/srv/git/specs.git"}},
		{in: "/srv/git/specs.git", want: remote{scheme: "local", redacted: "/srv/git/specs.git", fetchURL: "/srv/git/specs.git", dir: "/srv/git/specs.git"}},
		{in: "../specs", want: remote{scheme: "local", redacted: "../specs", fetchURL: filepath.Join(filepath.Dir(wd), "specs"), dir: filepath.Join(filepath.Dir(wd), "specs")}},

		{in: "", wantErr: "URL is empty"},
		{in: " https://github.com/acme/specs.git", wantErr: "space"},
		{in: "/srv/specs\n", wantErr: "control characters"},
		{in: "ftp://example.net/specs.git", wantErr: `unsupported scheme "ftp"`},
		{in: "https:///specs.git", wantErr: "has no host"},
		{in: "https://github.com", wantErr: "no repository path"},
		{in: "https://github.com/acme/specs.git?ref=main", wantErr: "no query"},
		{in: "https://bot:s3cret@exa mple.net/x", wantErr: "invalid URL"},
		{in: "https://bot:s3cret@example.net:port/x", wantErr: "invalid URL"},
		{in: "git://user@127.0.0.1/specs.git", wantErr: "git:// carries no credentials"},
		{in: "ssh://git:pw@example.net/specs.git", wantErr: "no password"},
		{in: "file://server/specs.git", wantErr: "names a local path"},
		{in: "git@github.com:specs.git", wantErr: "needs a path with a folder"},
		{in: "git@github.com:2222/specs.git", wantErr: "as a port"},
		{in: "git@github.com:", wantErr: "no repository path"},
		{in: "user:pw@host:org/repo.git", wantErr: "neither scp-style"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseRemote(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseRemote(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), ":pw@") {
					t.Errorf("error %q leaks the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseRemote(%q): %v", tt.in, err)
			}
			got.cacheKey = ""
			if diff := cmp.Diff(tt.want, *got, cmp.AllowUnexported(remote{})); diff != "" {
				t.Errorf("parseRemote(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestURLRedactsCredentials(t *testing.T) {
	s := newSource(t, "https://bot:s3cret@git.example.net/acme/specs.git")
	if got, want := s.URL(), "https://bot:xxxxx@git.example.net/acme/specs.git"; got != want {
		t.Errorf("URL() = %q, want %q", got, want)
	}
	if got, want := s.RemoteURL(), "https://git.example.net/acme/specs.git"; got != want {
		t.Errorf("RemoteURL() = %q, want %q", got, want)
	}
	want := &githttp.BasicAuth{Username: "bot", Password: "s3cret"}
	if diff := cmp.Diff(want, s.Auth()); diff != "" {
		t.Errorf("Auth() (-want +got):\n%s", diff)
	}
	if strings.Contains(s.dir, "s3cret") || strings.Contains(s.Auth().String(), "s3cret") {
		t.Errorf("the password leaks into the cache folder %q or Auth().String() %q", s.dir, s.Auth())
	}
}

func TestCacheFolder(t *testing.T) {
	cache := t.TempDir()
	dirOf := func(url string) string {
		return newSource(t, url, func(o *Options) { o.CacheDir = cache }).dir
	}
	a := dirOf("https://github.com/acme/net-specs.git")
	if ok := regexp.MustCompile(`^github\.com-acme-net-specs\.git-[0-9a-f]{12}$`).MatchString(filepath.Base(a)); !ok || filepath.Dir(a) != cache {
		t.Errorf("cache folder = %q, want %s/github.com-acme-net-specs.git-<12 hex>", a, cache)
	}
	for _, other := range []string{"https://github.com/acme/net-specs", "https://gitlab.com/acme/net-specs.git", "git://github.com/acme/net-specs.git"} {
		if b := dirOf(other); b == a {
			t.Errorf("%s and https://github.com/acme/net-specs.git share the cache folder %s", other, a)
		}
	}
	if b := dirOf("https://bot:changed@github.com/acme/net-specs.git"); b != a {
		t.Errorf("credentials changed the cache folder: %s, want %s", b, a)
	}
	t.Setenv("XDG_CACHE_HOME", filepath.Join(cache, "xdg"))
	s, err := New(Options{URL: "https://github.com/acme/net-specs.git"})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(cache, "xdg", "wirekeeper"); filepath.Dir(s.dir) != want {
		t.Errorf("default cache folder = %s, want it under %s", s.dir, want)
	}
}

func TestNewOptions(t *testing.T) {
	tests := []struct {
		name       string
		opts       Options
		wantBranch string
		wantPath   string
		wantErr    string
	}{
		{name: "defaults", wantBranch: "main", wantPath: "."},
		{name: "dot path", opts: Options{Path: "./"}, wantBranch: "main", wantPath: "."},
		{name: "sub folder cleaned", opts: Options{Branch: "refs/heads/prod", Path: "sites//ams/./specs/"}, wantBranch: "prod", wantPath: "sites/ams/specs"},
		{name: "dot-dot inside", opts: Options{Path: "a/../specs"}, wantBranch: "main", wantPath: "specs"},
		{name: "path escapes", opts: Options{Path: "../other"}, wantErr: "leaves the repository"},
		{name: "absolute path", opts: Options{Path: "/etc"}, wantErr: "relative to the repository root"},
		{name: "bad branch", opts: Options{Branch: "feature..x"}, wantErr: "not a valid branch name"},
		{name: "option-like branch", opts: Options{Branch: "-x"}, wantErr: "not a valid branch name"},
		{name: "missing keyring", opts: Options{VerifyKeyring: "/nonexistent/keys.asc"}, wantErr: "cannot read the keyring"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.URL, tt.opts.CacheDir = "git://127.0.0.1/specs.git", t.TempDir()
			s, err := New(tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "source: ") {
					t.Fatalf("New error = %v, want \"source: ...%s...\"", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if s.Branch() != tt.wantBranch || s.Path() != tt.wantPath {
				t.Errorf("Branch, Path = %q, %q; want %q, %q", s.Branch(), s.Path(), tt.wantBranch, tt.wantPath)
			}
			if s.Auth() != nil {
				t.Errorf("Auth() = %v for git://, want nil", s.Auth())
			}
		})
	}
}
