package tlsconfig_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/secret"
	"github.com/wirekeeper/wirekeeper/internal/testcerts"
	"github.com/wirekeeper/wirekeeper/internal/tlsconfig"
	"github.com/wirekeeper/wirekeeper/spec"
)

func TestClientChecksTheCAAndTheHostName(t *testing.T) {
	ca := testcerts.New(t)
	cert, key := ca.Server(t)
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) != 1 || r.TLS.PeerCertificates[0].Subject.CommonName != "wk-client" {
			http.Error(w, "no client certificate", http.StatusForbidden)
		}
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	defer srv.Close()
	clientCert, clientKey := ca.Client(t, "wk-client")
	store := secret.New(secret.Options{Dir: ca.Dir()})
	base := filepath.Base
	get := func(t *spec.TLS, serverName string) error {
		cfg, err := tlsconfig.Client(store, "spec.tls", t, serverName)
		if err != nil {
			return err
		}
		resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}).Get(srv.URL)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return &statusError{resp.Status}
		}
		return nil
	}
	if err := get(&spec.TLS{CAFile: base(ca.File), CertFile: base(clientCert), KeyFile: base(clientKey)}, ""); err != nil {
		t.Errorf("with the CA and a client certificate: %v", err)
	}
	for _, tc := range []struct {
		name       string
		tls        *spec.TLS
		serverName string
		want       string
	}{
		{"system roots", nil, "", "certificate"},
		{"wrong host name", &spec.TLS{CAFile: base(ca.File)}, "db.example.net", "certificate"},
		{"no client certificate", &spec.TLS{CAFile: base(ca.File)}, "", "403"},
	} {
		if err := get(tc.tls, tc.serverName); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error about %s", tc.name, err, tc.want)
		}
	}
}

// TestFilesStayInTheSecretsDirectory: every file of a tls block is read
// through the secrets directory, and a key that does not load is reported
// by field, never with what the file holds.
func TestFilesStayInTheSecretsDirectory(t *testing.T) {
	ca := testcerts.New(t)
	cert, _ := ca.Client(t, "wk-client")
	os.WriteFile(filepath.Join(ca.Dir(), "bad.pem"), []byte("not a certificate"), 0o600)
	os.WriteFile(filepath.Join(ca.Dir(), "canary-key.pem"), []byte("-----BEGIN EC PRIVATE KEY-----\nKEY-CANARY-0231\n-----END EC PRIVATE KEY-----\n"), 0o600)
	outside := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(outside, []byte("x"), 0o600)
	os.Symlink(outside, filepath.Join(ca.Dir(), "escape.pem"))
	store := secret.New(secret.Options{Dir: ca.Dir()})
	for _, tc := range []struct {
		name string
		tls  *spec.TLS
		want string
	}{
		{"a CA file without PEM", &spec.TLS{CAFile: "bad.pem"}, `rabbitmq.tls.caFile: "bad.pem" holds no PEM certificate`},
		{"a missing CA file", &spec.TLS{CAFile: "nope.pem"}, `rabbitmq.tls.caFile: secret file "nope.pem" (in ` + ca.Dir() + `) does not exist`},
		{"an absolute CA path", &spec.TLS{CAFile: outside}, `rabbitmq.tls.caFile: "` + outside + `" cannot be read: an absolute path`},
		{"a CA symlinked out", &spec.TLS{CAFile: "escape.pem"}, "leads outside the secrets directory"},
		{"a key symlinked out", &spec.TLS{CertFile: filepath.Base(cert), KeyFile: "escape.pem"}, "rabbitmq.tls.keyFile: "},
		{"a key that does not load", &spec.TLS{CertFile: filepath.Base(cert), KeyFile: "canary-key.pem"},
			`rabbitmq.tls: client certificate "` + filepath.Base(cert) + `" with key "canary-key.pem": not a PEM certificate and its matching PEM private key`},
		{"a certificate without key", &spec.TLS{CertFile: filepath.Base(cert)}, "certFile and keyFile go together"},
	} {
		_, err := tlsconfig.Client(store, "rabbitmq.tls", tc.tls, "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "CANARY") {
			t.Errorf("%s: %v quotes the key", tc.name, err)
		}
	}
	if _, err := tlsconfig.ChainOnly(store, "spec.tls", &spec.TLS{}); err == nil || !strings.Contains(err.Error(), "spec.tls.caFile: is required") {
		t.Errorf("ChainOnly without a CA: %v", err)
	}
}

type statusError struct{ status string }

func (e *statusError) Error() string { return e.status }
