package spec

import (
	"path"
	"regexp"
	"strings"
)

var secretFileNameRE = regexp.MustCompile(secretFileRE)

// A spec names secrets and TLS files, never holds them. What it may name is
// confined to what the operator provides: files inside the daemon's secrets
// directory and environment variables under one prefix. These rules are
// checked here, when a revision is validated, and again by internal/secret
// when a value is read.
const (
	// DefaultSecretsDir is the daemon's secrets directory when the operator
	// sets none (--secrets-dir, WIREKEEPER_SECRETS_DIR).
	DefaultSecretsDir = "/etc/wirekeeper/secrets"
	// SecretEnvPrefix starts the name of every environment variable a spec
	// may read with {env: NAME}.
	SecretEnvPrefix = "WIREKEEPER_SECRET_"
)

// CheckSecretFile returns why name cannot name a file inside the secrets
// directory, or "" when it can. It is the Check of the secretfile format.
func CheckSecretFile(name string) string {
	switch {
	case name == "":
		return "empty"
	case strings.HasPrefix(name, "/"):
		why := "an absolute path; the daemon reads secret and TLS files only from its secrets directory (--secrets-dir, default " + DefaultSecretsDir + ") and names them relative to it"
		if rel, ok := strings.CutPrefix(path.Clean(name), DefaultSecretsDir+"/"); ok && CheckSecretFile(rel) == "" {
			why += ": write " + rel
		}
		return why
	case strings.ContainsRune(name, 0) || strings.ContainsRune(name, '\\'):
		return "holds a NUL or a backslash"
	}
	for _, seg := range strings.Split(name, "/") {
		switch {
		case seg == "":
			return "has an empty segment ('//' or a trailing '/')"
		case seg == "..":
			return "has a '..' segment: it must stay inside the secrets directory"
		case seg == ".":
			return "has a '.' segment"
		case strings.HasPrefix(seg, "."):
			return "has a segment starting with '.' (" + seg + ")"
		}
	}
	if !secretFileNameRE.MatchString(name) {
		return "holds characters other than letters, digits, '.', '_', '-' and '/'"
	}
	return ""
}
