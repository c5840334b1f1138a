package netbeam

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// maxErrorBody is how much of a failed response's body a StatusError keeps.
const maxErrorBody = 512

// ErrTooLarge is wrapped by the error returned when a response body exceeds
// Options.MaxBodyBytes.
var ErrTooLarge = errors.New("response body exceeds the size limit")

// StatusError is returned when Netbeam answers with a status outside 2xx.
type StatusError struct {
	// Code is the HTTP status code.
	Code int
	// URL is the request URL without credentials.
	URL string
	// Body is the first 512 bytes of the response body.
	Body string
}

// Error renders the status, the URL and the start of the body.
func (e *StatusError) Error() string {
	msg := fmt.Sprintf("netbeam: GET %s: %d %s", e.URL, e.Code, http.StatusText(e.Code))
	if body := strings.TrimSpace(e.Body); body != "" {
		msg += ": " + body
	}
	return msg
}

// Temporary reports whether retrying the same request later may succeed:
// true for 5xx and 429 Too Many Requests, false otherwise (a 404 stays 404).
func (e *StatusError) Temporary() bool {
	return e.Code >= 500 || e.Code == http.StatusTooManyRequests
}
