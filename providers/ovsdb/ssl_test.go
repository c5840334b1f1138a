package ovsdb_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/internal/secret"
	"github.com/wirekeeper/wirekeeper/providers/ovsdb"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// pki is a CA and certificates it signed, written as PEM files.
type pki struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	serial int64
}

// newPKI makes a CA whose files go to dir, the daemon's secrets directory
// of the test.
func newPKI(t *testing.T, dir, name string) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{dir: dir, ca: ca, caKey: key, serial: 1}
	p.write(t, name+"-ca.pem", "CERTIFICATE", der)
	return p
}

func (p *pki) write(t *testing.T, file, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, file)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue writes a key and a certificate for cn, as ovs-pki does (no host
// names in it), and returns their paths.
func (p *pki) issue(t *testing.T, cn string) (key, cert string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &k.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, cn+"-key.pem", "EC PRIVATE KEY", kder), p.write(t, cn+"-cert.pem", "CERTIFICATE", der)
}

func sslManagerDoc(name, address, ca, cert, key string) string {
	return fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: %s}\nspec: {node: %s, address: %q, tls: {caFile: %s, certFile: %s, keyFile: %s}}",
		name, node, address, ca, cert, key)
}

// TestSSLManager connects over ssl: with certificates generated here: a
// client certificate from the spec, the server's checked against the
// spec's CA; a server signed by another CA is refused.
func TestSSLManager(t *testing.T) {
	secrets := t.TempDir()
	good := newPKI(t, secrets, "ovs")
	serverKey, serverCert := good.issue(t, "ovsdb-server")
	clientKey, clientCert := good.issue(t, "wirekeeper")
	o := ovstest.Start(t, ovstest.Options{TLS: &ovstest.TLSFiles{Key: serverKey, Cert: serverCert, CA: filepath.Join(good.dir, "ovs-ca.pem")}})
	o.AddBridge(t, "br0")
	ovstest.AddPorts(t, o.DB, "br0", []string{"vm1", "out"}, true)

	r := newRig(t, func(o *ovsdb.Options) { o.Secrets = secret.New(secret.Options{Dir: secrets}) })
	r.apply(sslManagerDoc("ovs1", o.SSL, "ovs-ca.pem", filepath.Base(clientCert), filepath.Base(clientKey)),
		mirrorDoc("span", "ovs1", "br0", "selectSrcPorts: [vm1], output: {port: out}"))
	r.waitPhase("OVSManager", "ovs1", reconciler.PhaseReady)
	r.waitPhase("Mirror", "span", reconciler.PhaseReady)
	if got := mirrorColumn(t, o.DB, "span", "select_all"); got != "false" {
		t.Errorf("mirror span not on the server reached over ssl: (select_all %q)", got)
	}

	// A CA that did not sign the server's certificate: refused, and said so.
	newPKI(t, secrets, "other")
	r.apply(sslManagerDoc("ovs1", o.SSL, "other-ca.pem", filepath.Base(clientCert), filepath.Base(clientKey)))
	r.waitPhase("OVSManager", "ovs1", reconciler.PhaseFailed, "certificate")
}
