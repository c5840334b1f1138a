package amqp

import (
	"errors"
	"net/url"
	"strings"
)

// redactor keeps a URL's secret out of error messages and logs.
type redactor struct {
	// raw is the URL as given, shown as shown.
	raw, shown string
	// passwords are the password as written in the URL (percent-encoded)
	// and decoded.
	passwords []string
}

// redactedPassword stands in for a password, as url.URL.Redacted does.
const redactedPassword = "xxxxx"

// newRedactor parses raw and returns its redactor. A URL that does not
// parse cannot be shown at all, as no one can tell where its password is.
func newRedactor(raw string) (redactor, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the URL: never wrap it.
		return redactor{raw: raw, shown: "(unparsable URL)"},
			errors.New("amqp: the URL does not parse (not shown: it may hold a password)")
	}
	r := redactor{raw: raw, shown: u.Redacted()}
	if pw, ok := u.User.Password(); ok && pw != "" {
		r.passwords = append(r.passwords, pw)
		enc := u.User.String() // user:password, percent-encoded
		if enc = enc[strings.Index(enc, ":")+1:]; enc != pw {
			r.passwords = append(r.passwords, enc)
		}
	}
	return r, nil
}

// scrub returns s with the raw URL shown redacted and any password replaced.
func (r redactor) scrub(s string) string {
	if r.raw != "" {
		s = strings.ReplaceAll(s, r.raw, r.shown)
	}
	for _, pw := range r.passwords {
		s = strings.ReplaceAll(s, pw, redactedPassword)
	}
	return s
}

// error returns err unchanged when its message holds no secret, and
// otherwise an error with the scrubbed message. The scrubbed error still
// matches errors.Is and errors.As against what err wrapped, but its own
// message (and so fmt's %v of any wrapper) shows no secret.
func (r redactor) error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := r.scrub(msg); clean != msg {
		return &scrubbedError{msg: clean, err: err}
	}
	return err
}

// scrubbedError is an error whose message had a secret taken out.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }

// Is and As reach the original error for matching, without Unwrap, so that
// nothing that walks the chain to print it can show the secret.
func (e *scrubbedError) Is(target error) bool { return errors.Is(e.err, target) }

func (e *scrubbedError) As(target any) bool { return errors.As(e.err, target) }
