package spec

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Rules are the shape rules of one field, read from its `wk` struct tag. The
// tag is a comma-separated list of:
//
//	required          the field must be present (and non-empty for strings)
//	default=V         value used when absent (lists: a|b|c)
//	enum=a|b|c        allowed values (for lists: of each item)
//	format=NAME       a named format from Formats (for lists: of each item)
//	keyformat=NAME    a named format for the keys of a map
//	min=N, max=N      integer bounds (for lists: of each item)
//	maxitems=N        a list holds at most N items
//	mindur=D          lower bound of a Duration
//	unique            list items must be distinct
//	exactlyone=a|b    exactly one of these fields of the struct must be set
//
// The decoder enforces them and internal/schemagen renders them as JSON Schema.
type Rules struct {
	Required   bool
	Default    string
	Enum       []string
	Format     string
	KeyFormat  string
	Min, Max   *int
	MaxItems   *int
	MinDur     *time.Duration
	Unique     bool
	ExactlyOne []string
	// Placement marks a field that says where and how wirekeeper applies
	// the object (its node, its manager, its policy), not a property of the
	// live object: no live system records it, and the engine takes it from
	// the desired spec when it compares.
	Placement bool
}

// FieldRules parses the `wk` tag of a struct field. It panics on a malformed
// tag: tags are constants of this package, checked by its tests.
func FieldRules(f reflect.StructField) Rules {
	var r Rules
	tag := f.Tag.Get("wk")
	if tag == "" {
		return r
	}
	for _, item := range strings.Split(tag, ",") {
		key, val, _ := strings.Cut(item, "=")
		switch key {
		case "required":
			r.Required = true
		case "default":
			r.Default = val
		case "enum":
			r.Enum = strings.Split(val, "|")
		case "format":
			if _, ok := Formats[val]; !ok {
				panic(fmt.Sprintf("spec: field %s: unknown format %q", f.Name, val))
			}
			r.Format = val
		case "keyformat":
			r.KeyFormat = val
		case "min", "max", "maxitems":
			n, err := strconv.Atoi(val)
			if err != nil {
				panic(fmt.Sprintf("spec: field %s: bad %s %q", f.Name, key, val))
			}
			switch key {
			case "min":
				r.Min = &n
			case "max":
				r.Max = &n
			default:
				r.MaxItems = &n
			}
		case "mindur":
			d, err := time.ParseDuration(val)
			if err != nil {
				panic(fmt.Sprintf("spec: field %s: bad mindur %q", f.Name, val))
			}
			r.MinDur = &d
		case "unique":
			r.Unique = true
		case "placement":
			r.Placement = true
		case "exactlyone":
			r.ExactlyOne = strings.Split(val, "|")
		default:
			panic(fmt.Sprintf("spec: field %s: unknown wk tag %q", f.Name, key))
		}
	}
	return r
}

// JSONName is the field's name in YAML and JSON documents.
func JSONName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}

// Format is a named rule for string values. Pattern and MaxLength are what a
// JSON Schema can express; Check is the full rule, applied by the validator.
type Format struct {
	// Pattern is a regular expression (valid in Go and ECMA-262) for the schema; may be empty.
	Pattern string
	// MaxLength bounds the length in the schema; 0 means none.
	MaxLength int
	// Valid says what is valid, for error messages and schema descriptions.
	Valid string
	// Check returns a reason when s is not valid; nil means Pattern and MaxLength say it all.
	Check func(s string) string
}

var (
	dnsLabelRE = `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	nodeNameRE = `^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`
	// secretFileRE admits relative names only: no leading '/', no '.' or
	// '..' segment (no segment starts with '.'), no empty segment.
	secretFileRE = `^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$`
	secretEnvRE  = `^` + SecretEnvPrefix + `[A-Za-z0-9_]+$`
	labelKeyRE   = `^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`
	containerRE  = `^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`
	macRE        = `^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$`
	cidrRE       = `^[0-9A-Fa-f:.]+/[0-9]{1,3}$`
	urlPathRE    = `^[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$`
	sqlIdentRE   = `^[A-Za-z_][A-Za-z0-9_]*$`
)

// Formats are the named string formats used in `wk` tags.
var Formats = map[string]Format{
	"nonempty": {Pattern: `^\S`, Valid: "a non-empty string"},
	"dnslabel": {Pattern: dnsLabelRE, MaxLength: 63,
		Valid: "a lowercase DNS label: 1..63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit"},
	"nodename": {Pattern: nodeNameRE, MaxLength: 253,
		Valid: "a node name: 1..253 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit"},
	"ifname": {Pattern: `^[^/:\s]+$`, MaxLength: 15,
		Valid: "a Linux interface name: 1..15 bytes, no '/', ':' or whitespace, not '.' or '..'",
		Check: checkIfName},
	"ovsdbaddress": {Pattern: `^(unix:.+|(tcp|ssl):.+:[0-9]+)$`,
		Valid: "an OVSDB connection method: unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT",
		Check: checkOVSDBAddress},
	"secretfile": {Pattern: secretFileRE, MaxLength: 255,
		Valid: "a file name inside the daemon's secrets directory, such as rabbitmq-url or tls/ca.pem (letters, digits, '.', '_', '-' and '/'; no segment starting with '.')",
		Check: CheckSecretFile},
	"secretenv": {Pattern: secretEnvRE, MaxLength: 255,
		Valid: "an environment variable name starting with " + SecretEnvPrefix + " (then letters, digits and '_')"},
	"containerref": {Pattern: containerRE, Valid: "a Docker container name or ID ([a-zA-Z0-9][a-zA-Z0-9_.-]*)"},
	"cidr": {Pattern: cidrRE,
		Valid: "an address in CIDR notation, e.g. 10.0.0.2/24 or 2001:db8::2/64",
		Check: checkCIDR},
	"routeto": {Pattern: cidrRE,
		Valid: "a network in CIDR notation, e.g. 10.20.0.0/16 or 2001:db8:20::/48",
		Check: checkRouteTo},
	"ip": {Pattern: `^[0-9A-Fa-f:.]+$`, Valid: "an IPv4 or IPv6 address",
		Check: func(s string) string {
			if _, err := netip.ParseAddr(s); err != nil {
				return "not an IP address"
			}
			return ""
		}},
	"mac": {Pattern: macRE, Valid: "a unicast MAC address such as 02:42:ac:11:00:02",
		Check: checkMAC},
	"httpsurl": {Pattern: `^https://`, Valid: "an https:// URL with a host and no credentials",
		Check: checkHTTPSURL},
	"urlpath": {Pattern: urlPathRE, Valid: "a path of URL-safe segments such as esnet/prod"},
	"glob": {Valid: "a glob pattern (path.Match syntax: *, ?, [a-z], '*' does not cross '/')",
		Check: func(s string) string {
			if _, err := path.Match(s, ""); err != nil {
				return "malformed glob pattern"
			}
			return ""
		}},
	"sqlident": {Pattern: sqlIdentRE, MaxLength: 64, Valid: "an SQL table name: letters, digits and '_', not starting with a digit, at most 64 characters"},
	"analyzer": {Pattern: `^(wss?://.+|[^/:\s]+:[0-9]+|\[[0-9A-Fa-f:.]+\]:[0-9]+)$`,
		Valid: "host:port, or a ws:// or wss:// URL",
		Check: checkAnalyzer},
	"labelkey": {Pattern: labelKeyRE, MaxLength: 317,
		Valid: "a key such as site or example.com/site: an optional DNS prefix and '/', then letters, digits, '-', '_' and '.'"},
}

// formatPatterns holds each format's Pattern, compiled once.
var formatPatterns = func() map[string]*regexp.Regexp {
	m := make(map[string]*regexp.Regexp, len(Formats))
	for name, f := range Formats {
		if f.Pattern != "" {
			m[name] = regexp.MustCompile(f.Pattern)
		}
	}
	return m
}()

// checkFormat returns why s does not satisfy the named format, or "".
func checkFormat(name, s string) string {
	f := Formats[name]
	if f.MaxLength > 0 && len(s) > f.MaxLength {
		return fmt.Sprintf("%d bytes long, at most %d allowed", len(s), f.MaxLength)
	}
	if re := formatPatterns[name]; re != nil && !re.MatchString(s) {
		if f.Check != nil {
			if why := f.Check(s); why != "" {
				return why
			}
		}
		return "not " + f.Valid
	}
	if f.Check != nil {
		return f.Check(s)
	}
	return ""
}

func checkIfName(s string) string {
	switch {
	case s == "":
		return "empty"
	case len(s) > 15:
		return fmt.Sprintf("%d bytes long, Linux allows at most 15", len(s))
	case s == "." || s == "..":
		return "'.' and '..' are not interface names"
	case strings.ContainsAny(s, "/:"):
		return "contains '/' or ':'"
	case strings.IndexFunc(s, isSpace) >= 0:
		return "contains whitespace"
	}
	return ""
}

func isSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
}

func checkOVSDBAddress(s string) string {
	method, rest, ok := strings.Cut(s, ":")
	if !ok {
		return "missing the method: use unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT"
	}
	switch method {
	case "unix":
		if !strings.HasPrefix(rest, "/") {
			return "unix: needs an absolute socket path, e.g. unix:/var/run/openvswitch/db.sock"
		}
		return ""
	case "tcp", "ssl":
		return checkHostPort(rest)
	case "punix", "ptcp", "pssl":
		return fmt.Sprintf("%s: is a listening method; wirekeeper connects, use %s:", method, method[1:])
	}
	return fmt.Sprintf("unknown method %q: use unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT", method)
}

func checkHostPort(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return "needs HOST:PORT (IPv6 hosts in brackets, e.g. [::1]:6640)"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("port %q is not in 1..65535", port)
	}
	return ""
}

func checkCIDR(s string) string {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		if !strings.Contains(s, "/") {
			return "not in CIDR notation (address/prefix length)"
		}
		msg := err.Error() // netip.ParsePrefix("..."): ParseAddr("..."): reason
		if i := strings.LastIndex(msg, "): "); i >= 0 {
			msg = msg[i+3:]
		}
		return msg
	}
	if p.Addr().Zone() != "" {
		return "zones are not allowed"
	}
	return ""
}

// checkRouteTo is checkCIDR for a route's destination, with the spelling
// of the default route that ip-route(8) accepts and CIDR does not.
func checkRouteTo(s string) string {
	if strings.EqualFold(s, "default") {
		return "not in CIDR notation; for a default route write 0.0.0.0/0 (IPv4) or ::/0 (IPv6)"
	}
	return checkCIDR(s)
}

func checkMAC(s string) string {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return "not a MAC address such as 02:42:ac:11:00:02"
	}
	if hw[0]&1 == 1 {
		return "a multicast MAC address; an interface needs a unicast one (first octet even)"
	}
	if hw.String() == "00:00:00:00:00:00" {
		return "the all-zero MAC address is not valid"
	}
	return ""
}

func checkHTTPSURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "not a URL"
	case u.Scheme != "https":
		return "the scheme must be https"
	case u.User != nil:
		return "credentials in the URL are not allowed in the repo"
	case u.Host == "":
		return "the URL has no host"
	case u.RawQuery != "" || u.Fragment != "":
		return "a base URL takes no query or fragment"
	}
	return ""
}

func checkAnalyzer(s string) string {
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		switch {
		case err != nil:
			return "not a URL"
		case u.Scheme != "ws" && u.Scheme != "wss":
			return "the scheme must be ws or wss"
		case u.User != nil:
			return "credentials in the URL are not allowed; use auth with a secret password"
		case u.Host == "":
			return "the URL has no host"
		}
		return ""
	}
	return checkHostPort(s)
}
