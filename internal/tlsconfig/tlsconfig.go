// Package tlsconfig builds the client TLS configuration of a spec's tls
// block: the server's certificate checked against caFile (the system roots
// without one), and a client certificate when certFile and keyFile are set.
// The files are read through a secret.Store, so a spec can name only files
// inside the operator's secrets directory; they are read again at each
// call, so renewed files are used by the next connection.
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/wirekeeper/wirekeeper/internal/secret"
	"github.com/wirekeeper/wirekeeper/spec"
)

// Client returns the configuration for t (nil: the defaults, system roots
// and no client certificate), with the server's host name checked.
// serverName, when set, is the name checked instead of the dialed host.
// field is the spec path of the tls block, for errors (rabbitmq.tls).
func Client(store *secret.Store, field string, t *spec.TLS, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if t == nil {
		return cfg, nil
	}
	if t.CAFile != "" {
		pool, err := caPool(store, field, t.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	return withClientCert(store, field, t, cfg)
}

// ChainOnly returns the configuration for t where the server's certificate
// must chain to caFile (required) but its host name is not checked, as in
// Open vSwitch's own SSL, whose ovs-pki certificates name no host.
func ChainOnly(store *secret.Store, field string, t *spec.TLS) (*tls.Config, error) {
	if t == nil || t.CAFile == "" {
		return nil, fmt.Errorf("%s.caFile: is required to verify the server", field)
	}
	pool, err := caPool(store, field, t.CAFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	cfg.InsecureSkipVerify = true // replaced by the chain check below, without the host name
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("tls: the server sent no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		if _, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter}); err != nil {
			return fmt.Errorf("tls: server certificate: %w", err)
		}
		return nil
	}
	return withClientCert(store, field, t, cfg)
}

func caPool(store *secret.Store, field, name string) (*x509.CertPool, error) {
	pem, err := store.ReadFile(field+".caFile", name, secret.MaxCertBytes)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s.caFile: %q holds no PEM certificate", field, name)
	}
	return pool, nil
}

// withClientCert adds the client certificate of t to cfg. The key file's
// contents are a secret: a failure to load the pair says which fields, not
// what the parser saw.
func withClientCert(store *secret.Store, field string, t *spec.TLS, cfg *tls.Config) (*tls.Config, error) {
	if t.CertFile == "" && t.KeyFile == "" {
		return cfg, nil
	}
	if t.CertFile == "" || t.KeyFile == "" {
		return nil, fmt.Errorf("%s: certFile and keyFile go together; set both or neither", field)
	}
	certPEM, err := store.ReadFile(field+".certFile", t.CertFile, secret.MaxCertBytes)
	if err != nil {
		return nil, err
	}
	keyPEM, err := store.ReadFile(field+".keyFile", t.KeyFile, secret.MaxSecretBytes)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, secret.Failure(field, fmt.Sprintf("client certificate %q with key %q", t.CertFile, t.KeyFile), err,
			func(error) string {
				return "not a PEM certificate and its matching PEM private key"
			})
	}
	cfg.Certificates = []tls.Certificate{cert}
	return cfg, nil
}
