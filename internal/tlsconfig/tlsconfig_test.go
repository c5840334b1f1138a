package tlsconfig_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	get := func(t *spec.TLS, serverName string) error {
		cfg, err := tlsconfig.Client(t, serverName)
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
	if err := get(&spec.TLS{CAFile: ca.File, CertFile: clientCert, KeyFile: clientKey}, ""); err != nil {
		t.Errorf("with the CA and a client certificate: %v", err)
	}
	for _, tc := range []struct {
		name       string
		tls        *spec.TLS
		serverName string
		want       string
	}{
		{"system roots", nil, "", "certificate"},
		{"wrong host name", &spec.TLS{CAFile: ca.File}, "db.example.net", "certificate"},
		{"no client certificate", &spec.TLS{CAFile: ca.File}, "", "403"},
	} {
		if err := get(tc.tls, tc.serverName); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error about %s", tc.name, err, tc.want)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o644)
	if _, err := tlsconfig.Client(&spec.TLS{CAFile: bad}, ""); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("a CA file without PEM: %v", err)
	}
	if _, err := tlsconfig.Client(&spec.TLS{CAFile: "/nonexistent/ca.pem"}, ""); err == nil {
		t.Error("a missing CA file is not an error")
	}
}

type statusError struct{ status string }

func (e *statusError) Error() string { return e.status }
