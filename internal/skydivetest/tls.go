package skydivetest

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/testcerts"
)

// newTLS makes a CA and a server certificate it signs for 127.0.0.1, ::1
// and localhost (internal/testcerts). It returns the server configuration,
// a client configuration trusting the CA, and the path of the CA's PEM in
// the test's temporary directory.
func newTLS(t testing.TB) (server, client *tls.Config, caFile string) {
	t.Helper()
	ca := testcerts.New(t)
	certFile, keyFile := ca.Server(t)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("skydivetest: %v", err)
	}
	pem, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatalf("skydivetest: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	server = &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
	return server, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, ca.File
}
