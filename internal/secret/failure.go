package secret

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// Failure is the one place where an error about using a secret's value
// becomes text: connecting with a URL or DSN read from a secret, parsing it,
// authenticating with it. Parsers echo what they could not parse and servers
// name the user, host and database they were given, so the text of err is
// never used. The message is "FIELD: WHAT: PROBLEM" where PROBLEM is chosen
// by the first classifier that knows err (those given, then the generic
// network and TLS ones), or says that the cause is withheld.
//
// The returned error matches errors.Is against err's chain (so that
// context.Canceled still reads as such) but does not unwrap: nothing that
// prints a chain can reach err's text.
func Failure(field, what string, err error, classify ...Classifier) error {
	if err == nil {
		return &failure{msg: field + ": " + what}
	}
	problem := ""
	for _, c := range append(append([]Classifier{classifySafe}, classify...), generic...) {
		if problem = c(err); problem != "" {
			break
		}
	}
	if problem == "" {
		problem = "failed (the cause is not shown: it may quote the secret)"
	}
	return &failure{msg: field + ": " + what + ": " + problem, cause: err}
}

// A Classifier names the kind of problem err is, in words that hold
// nothing of err's text, or returns "" when it does not recognise err.
type Classifier func(err error) string

// Is reports whether err is a Failure: its text holds no secret.
func Is(err error) bool {
	var f *failure
	return errors.As(err, &f)
}

type failure struct {
	msg   string
	cause error
}

func (f *failure) Error() string { return f.msg }

// Is matches the cause's chain without exposing it to Unwrap.
func (f *failure) Is(target error) bool { return f.cause != nil && errors.Is(f.cause, target) }

// Safe marks err as wirekeeper's own words about values that are not
// secret (a row id, a count): Failure shows its text. Only for errors that
// wrap nothing a server or parser wrote.
func Safe(err error) error {
	if err == nil {
		return nil
	}
	return &safe{err}
}

type safe struct{ error }

func (s *safe) Unwrap() error { return s.error }

// classifySafe shows the text of an error marked Safe at the top of the
// chain (not one wrapped in text of unknown origin).
func classifySafe(err error) string {
	if s, ok := err.(*safe); ok {
		return s.Error()
	}
	return ""
}

// generic recognises what any network client may return.
var generic = []Classifier{classifyContext, classifyDNS, classifyTLS, classifyErrno, classifyEOF}

func classifyContext(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	}
	return ""
}

func classifyDNS(err error) string {
	var de *net.DNSError
	if !errors.As(err, &de) {
		return ""
	}
	if de.IsNotFound {
		return "the host name does not resolve"
	}
	return "the host name could not be resolved"
}

func classifyTLS(err error) string {
	var (
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
		rh  tls.RecordHeaderError
		ae  tls.AlertError
		cve *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &ua):
		return "the server's certificate is signed by an unknown authority (set tls.caFile)"
	case errors.As(err, &he):
		return "the server's certificate is not valid for the host named"
	case errors.As(err, &ci) && ci.Reason == x509.Expired:
		return "the server's certificate has expired or is not yet valid"
	case errors.As(err, &ci):
		return "the server's certificate is not valid"
	case errors.As(err, &cve):
		return "the server's certificate could not be verified"
	case errors.As(err, &rh):
		return "the server did not answer in TLS"
	case errors.As(err, &ae):
		return "the server refused the TLS handshake"
	}
	return ""
}

func classifyErrno(err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return ""
	}
	switch errno {
	case syscall.ECONNREFUSED:
		return "connection refused"
	case syscall.ECONNRESET:
		return "connection reset by the server"
	case syscall.EHOSTUNREACH:
		return "host unreachable"
	case syscall.ENETUNREACH:
		return "network unreachable"
	case syscall.ETIMEDOUT:
		return "timed out"
	case syscall.ENOENT:
		return "no such socket"
	case syscall.EACCES, syscall.EPERM:
		return "permission denied"
	case syscall.EPIPE:
		return "the server closed the connection"
	}
	return "system error " + errno.Error()
}

func classifyEOF(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the server closed the connection"
	}
	return ""
}
