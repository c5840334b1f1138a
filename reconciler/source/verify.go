package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/wirekeeper/wirekeeper/reconciler/trust"
)

const pgpSignatureHeader = "-----BEGIN PGP SIGNATURE-----"

// readKeyring reads an armored OpenPGP public keyring.
func readKeyring(file string) (openpgp.EntityList, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("source: cannot read the keyring: %w", err)
	}
	defer f.Close()
	keys, err := openpgp.ReadArmoredKeyRing(f)
	if err != nil {
		return nil, fmt.Errorf("source: keyring %s is not an armored OpenPGP keyring: %w", file, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("source: keyring %s holds no keys", file)
	}
	return keys, nil
}

// Verify checks that rev's commit is signed by a key of
// Options.VerifyKeyring (OpenPGP) or of Options.AllowedSigners (SSH, git's
// format). It returns nil when neither is set. Otherwise the error matches
// ErrUnsigned (no signature) or ErrBadSignature (unknown key, signature not
// matching the commit, a format no key was given for), and says which.
func (s *Source) Verify(rev *Revision) error {
	if s.keyring == nil && s.signers == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, c, unlock, err := s.openCommit(context.Background(), rev, false)
	if err != nil {
		return err
	}
	defer unlock()
	signer, err := s.verifyCommit(c)
	if err != nil {
		return err
	}
	s.log.Debug("source: signature verified", "commit", rev.Short, "signer", signer.Name)
	return nil
}

// verifyCommit checks c's signature by its format and returns the key
// that made it.
func (s *Source) verifyCommit(c *object.Commit) (trust.Key, error) {
	short := c.Hash.String()[:7]
	sig := c.PGPSignature
	switch {
	case strings.TrimSpace(sig) == "":
		return trust.Key{}, fmt.Errorf("source: commit %s: %w", short, ErrUnsigned)
	case strings.Count(sig, pgpSignatureHeader)+strings.Count(sig, sshSignatureHeader) > 1:
		return trust.Key{}, fmt.Errorf("source: commit %s carries several signatures: %w", short, ErrBadSignature)
	case strings.Contains(sig, sshSignatureHeader):
		if s.signers == nil {
			return trust.Key{}, fmt.Errorf("source: commit %s carries an SSH signature, and no allowed signers file is set (--allowed-signers): %w", short, ErrBadSignature)
		}
		return verifySSH(c, sig, s.signers, s.signersFile)
	case strings.Contains(sig, pgpSignatureHeader):
		if s.keyring == nil {
			return trust.Key{}, fmt.Errorf("source: commit %s carries an OpenPGP signature, and no OpenPGP keyring is set (--verify-signatures): %w", short, ErrBadSignature)
		}
		e, err := verifyCommit(c, s.keyring, s.keyFile)
		if err != nil {
			return trust.Key{}, err
		}
		id := keyID(e.PrimaryKey.KeyId)
		return trust.Key{IDs: []string{id, fmt.Sprintf("%X", e.PrimaryKey.Fingerprint)}, Name: "OpenPGP key " + id}, nil
	}
	return trust.Key{}, fmt.Errorf("source: commit %s carries a signature that is neither OpenPGP nor SSH (X.509?): %w", short, ErrBadSignature)
}

// verifyCommit checks c's OpenPGP signature against keyring.
func verifyCommit(c *object.Commit, keyring openpgp.EntityList, keyFile string) (*openpgp.Entity, error) {
	short := c.Hash.String()[:7]
	sig := c.PGPSignature
	payload := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(payload); err != nil {
		return nil, fmt.Errorf("source: commit %s: %w", short, err)
	}
	r, err := payload.Reader()
	if err != nil {
		return nil, fmt.Errorf("source: commit %s: %w", short, err)
	}
	defer r.Close()
	signer, err := openpgp.CheckArmoredDetachedSignature(keyring, r, strings.NewReader(sig), nil)
	switch {
	case err == nil:
		return signer, nil
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return nil, fmt.Errorf("source: commit %s is signed by key %s, which is not in the keyring %s: %w",
			short, signatureIssuer(sig), keyFile, ErrBadSignature)
	}
	return nil, fmt.Errorf("source: commit %s: signature by key %s does not verify: %v: %w",
		short, signatureIssuer(sig), err, ErrBadSignature)
}

// signatureIssuer returns the issuer key ID (or fingerprint) of an armored
// signature, or "unknown".
func signatureIssuer(armored string) string {
	block, err := armor.Decode(strings.NewReader(armored))
	if err != nil {
		return "unknown"
	}
	p, err := packet.Read(block.Body)
	if err != nil {
		return "unknown"
	}
	sig, ok := p.(*packet.Signature)
	switch {
	case !ok:
		return "unknown"
	case sig.IssuerKeyId != nil:
		return keyID(*sig.IssuerKeyId)
	case len(sig.IssuerFingerprint) > 0:
		return fmt.Sprintf("%X", sig.IssuerFingerprint)
	}
	return "unknown"
}

func keyID(id uint64) string { return fmt.Sprintf("%016X", id) }
