package source

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"

	"github.com/wirekeeper/wirekeeper/reconciler/trust"
)

const (
	sshSignatureHeader = "-----BEGIN SSH SIGNATURE-----"
	// gitNamespace is the namespace git signs commits in (ssh-keygen -Y
	// sign -n git).
	gitNamespace = "git"
	// maxAllowedSigners bounds the allowed signers file.
	maxAllowedSigners = 1 << 20
)

// allowedSigner is one line of a git allowed signers file (gpg.ssh.
// allowedSignersFile, ssh-keygen(1) "ALLOWED SIGNERS"): who, which key,
// for which namespaces and when.
type allowedSigner struct {
	line       int
	principals string
	key        ssh.PublicKey
	// namespaces are the patterns of the namespaces="..." option; nil
	// allows any.
	namespaces []string
	// validAfter and validBefore bound the commit time; zero when unset.
	validAfter, validBefore time.Time
}

// readAllowedSigners reads a git allowed signers file: per line the
// principals (comma-separated), options, the key type and the key, an
// optional comment; # starts a comment line. Options understood:
// namespaces="...", valid-after="...", valid-before="..."; cert-authority
// lines (keys signed by a CA) are refused, as is anything else unknown, so
// that a line never grants more than it says.
func readAllowedSigners(file string) ([]allowedSigner, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("source: cannot read the allowed signers file: %w", err)
	}
	if len(data) > maxAllowedSigners {
		return nil, fmt.Errorf("source: allowed signers file %s is larger than %d bytes", file, maxAllowedSigners)
	}
	var out []allowedSigner
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, maxAllowedSigners)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := parseAllowedSigner(line)
		if err != nil {
			return nil, fmt.Errorf("source: %s:%d: %v; valid: principals [namespaces=\"git\",valid-after=\"YYYYMMDD\",valid-before=\"YYYYMMDD\"] keytype key [comment], as ssh-keygen(1) ALLOWED SIGNERS", file, n, err)
		}
		s.line = n
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("source: allowed signers file %s: %w", file, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("source: allowed signers file %s holds no signers", file)
	}
	return out, nil
}

func parseAllowedSigner(line string) (allowedSigner, error) {
	var s allowedSigner
	// Principals may be quoted (they may hold spaces); then options, key.
	var rest string
	if strings.HasPrefix(line, `"`) {
		end := strings.Index(line[1:], `"`)
		if end < 0 {
			return s, errors.New("unterminated quote in the principals")
		}
		s.principals, rest = line[1:end+1], line[end+2:]
	} else if i := strings.IndexAny(line, " \t"); i >= 0 {
		s.principals, rest = line[:i], line[i+1:]
	} else {
		s.principals = line
	}
	if s.principals == "" {
		return s, errors.New("no principals")
	}
	key, _, options, _, err := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(rest)))
	if err != nil {
		return s, fmt.Errorf("no valid key after the principals: %v", err)
	}
	s.key = key
	for _, o := range options {
		name, value, hasValue := strings.Cut(o, "=")
		value = strings.Trim(value, `"`)
		switch {
		case strings.EqualFold(name, "namespaces") && hasValue:
			s.namespaces = strings.Split(value, ",")
		case strings.EqualFold(name, "valid-after") && hasValue:
			if s.validAfter, err = parseSignerTime(value); err != nil {
				return s, fmt.Errorf("valid-after: %v", err)
			}
		case strings.EqualFold(name, "valid-before") && hasValue:
			if s.validBefore, err = parseSignerTime(value); err != nil {
				return s, fmt.Errorf("valid-before: %v", err)
			}
		case strings.EqualFold(name, "cert-authority"):
			return s, errors.New("cert-authority (keys certified by a CA) is not supported; list the signers' keys")
		default:
			return s, fmt.Errorf("unknown option %q", o)
		}
	}
	return s, nil
}

// parseSignerTime reads YYYYMMDD[HHMM[SS]][Z] as ssh-keygen does: UTC with
// a trailing Z, the local time zone without.
func parseSignerTime(v string) (time.Time, error) {
	loc := time.Local
	if strings.HasSuffix(v, "Z") || strings.HasSuffix(v, "z") {
		v, loc = v[:len(v)-1], time.UTC
	}
	for _, layout := range []string{"20060102150405", "200601021504", "20060102"} {
		if len(v) == len(layout) {
			return time.ParseInLocation(layout, v, loc)
		}
	}
	return time.Time{}, fmt.Errorf("%q is not YYYYMMDD[HHMM[SS]][Z]", v)
}

// allows reports whether the signer may sign in namespace at t.
func (s *allowedSigner) allows(namespace string, t time.Time) error {
	if s.namespaces != nil {
		ok := false
		for _, p := range s.namespaces {
			if m, _ := path.Match(p, namespace); m {
				ok = true
			}
		}
		if !ok {
			return fmt.Errorf("its namespaces (%s) do not include %q", strings.Join(s.namespaces, ","), namespace)
		}
	}
	if !s.validAfter.IsZero() && t.Before(s.validAfter) {
		return fmt.Errorf("the commit time %s is before its valid-after %s", t.UTC().Format(time.RFC3339), s.validAfter.UTC().Format(time.RFC3339))
	}
	if !s.validBefore.IsZero() && !t.Before(s.validBefore) {
		return fmt.Errorf("the commit time %s is not before its valid-before %s", t.UTC().Format(time.RFC3339), s.validBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// verifySSH checks c's SSH signature (armored, git's format) against the
// allowed signers and returns who signed: principals and key fingerprint.
// As git does, the commit's committer time stands for the signing time in
// valid-after and valid-before.
func verifySSH(c *object.Commit, armored string, signers []allowedSigner, file string) (trust.Key, error) {
	short := c.Hash.String()[:7]
	sig, err := sshsig.Unarmor([]byte(strings.TrimSpace(armored)))
	if err != nil {
		return trust.Key{}, fmt.Errorf("source: commit %s: the SSH signature cannot be read: %v: %w", short, err, ErrBadSignature)
	}
	fp := ssh.FingerprintSHA256(sig.PublicKey)
	payload := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(payload); err != nil {
		return trust.Key{}, fmt.Errorf("source: commit %s: %w", short, err)
	}
	var refused []string
	for i := range signers {
		s := &signers[i]
		if !bytes.Equal(s.key.Marshal(), sig.PublicKey.Marshal()) {
			continue
		}
		if err := s.allows(gitNamespace, c.Committer.When); err != nil {
			refused = append(refused, fmt.Sprintf("%s:%d (%s): %v", file, s.line, s.principals, err))
			continue
		}
		r, err := payload.Reader()
		if err != nil {
			return trust.Key{}, fmt.Errorf("source: commit %s: %w", short, err)
		}
		err = sshsig.Verify(r, sig, s.key, sig.HashAlgorithm, gitNamespace)
		r.Close()
		if err != nil {
			return trust.Key{}, fmt.Errorf("source: commit %s: SSH signature by %s does not verify: %v: %w", short, fp, err, ErrBadSignature)
		}
		return trust.Key{IDs: []string{fp}, Name: fmt.Sprintf("SSH key %s (%s)", fp, s.principals)}, nil
	}
	if len(refused) > 0 {
		return trust.Key{}, fmt.Errorf("source: commit %s is signed by SSH key %s, which %s does not allow for this commit: %s: %w",
			short, fp, file, strings.Join(refused, "; "), ErrBadSignature)
	}
	return trust.Key{}, fmt.Errorf("source: commit %s is signed by SSH key %s, which is not in the allowed signers file %s: %w", short, fp, file, ErrBadSignature)
}
