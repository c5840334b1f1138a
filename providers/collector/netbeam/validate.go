package netbeam

import (
	"fmt"
	"net/url"
	"strings"
)

// ValidateResource reports whether resource may be pasted into a request
// path: it must be non-empty, already URL-encoded (no spaces, controls or
// non-ASCII bytes, valid %XX escapes), and must not start with "/", hold an
// empty segment, or contain "..", "?", "#" or "\" (also once decoded for
// ".."), so that a hostile API cannot steer requests to another path.
// Points refuses a resource that fails this check; callers of Interfaces may
// use it to drop such interfaces before collecting.
func ValidateResource(resource string) error {
	if err := validatePathPart(resource); err != nil {
		return fmt.Errorf("netbeam: resource %q: %w", resource, err)
	}
	return nil
}

// validatePathPart checks one already-encoded piece of the request path
// (a resource or the network name).
func validatePathPart(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("is empty")
	case strings.HasPrefix(s, "/"):
		return fmt.Errorf("starts with /")
	case strings.Contains(s, ".."):
		return fmt.Errorf(`contains ".."`)
	case strings.ContainsAny(s, "?#\\"):
		return fmt.Errorf(`contains ?, # or \`)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("byte %#x at %d must be URL-encoded", c, i)
		}
	}
	for _, seg := range strings.Split(s, "/") {
		if seg == "" {
			return fmt.Errorf("has an empty path segment")
		}
	}
	decoded, err := url.PathUnescape(s)
	if err != nil {
		return fmt.Errorf("is not valid URL encoding: %w", err)
	}
	if strings.Contains(decoded, "..") {
		return fmt.Errorf(`contains ".." once decoded`)
	}
	return nil
}

// validateMetric accepts a metric name made of letters, digits, '-' and '_'
// (traffic, errors, discards).
func validateMetric(metric string) error {
	if metric == "" {
		return fmt.Errorf("netbeam: metric is empty")
	}
	for _, c := range metric {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("netbeam: metric %q: only letters, digits, - and _ are allowed", metric)
		}
	}
	return nil
}
