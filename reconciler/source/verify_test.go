package source

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

func newPGPKey(t *testing.T, name string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "wirekeeper test", strings.ToLower(name)+"@example.net", nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// writeKeyring writes the public keys of entities as an armored keyring.
func writeKeyring(t *testing.T, entities ...*openpgp.Entity) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "trusted.asc")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := armor.Encode(f, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entities {
		if err := e.Serialize(w); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return name
}

// worktreeCommit commits managers.yaml in a non-bare repository with
// go-git's worktree, signed by key when it is not nil.
func worktreeCommit(t *testing.T, dir string, key *openpgp.Entity) plumbing.Hash {
	t.Helper()
	repo, err := git.PlainOpen(dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	}
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "managers.yaml"), managerYAML+"# "+time.Now().String()+"\n")
	if _, err := wt.Add("managers.yaml"); err != nil {
		t.Fatal(err)
	}
	h, err := wt.Commit("update managers", &git.CommitOptions{
		Author:  &object.Signature{Name: "Ada Operator", Email: "ada@example.net", When: time.Now()},
		SignKey: key,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestVerify(t *testing.T) {
	trusted, other := newPGPKey(t, "Trusted"), newPGPKey(t, "Other")
	keyring := writeKeyring(t, trusted)

	tests := []struct {
		name     string
		commit   func(t *testing.T, dir string) // makes the head of main
		wantErr  error
		wantText string
	}{
		{name: "signed by a trusted key", commit: func(t *testing.T, dir string) { worktreeCommit(t, dir, trusted) }},
		{name: "unsigned", commit: func(t *testing.T, dir string) { worktreeCommit(t, dir, nil) }, wantErr: ErrUnsigned, wantText: "is not signed"},
		{
			name:     "signed by another key",
			commit:   func(t *testing.T, dir string) { worktreeCommit(t, dir, other) },
			wantErr:  ErrBadSignature,
			wantText: "signed by key " + keyID(other.PrimaryKey.KeyId) + ", which is not in the keyring " + keyring,
		},
		{
			name: "trusted signature over another commit",
			commit: func(t *testing.T, dir string) {
				tamper(t, dir, trusted, func(c *object.Commit) { c.Message = "update managers (and something else)\n" })
			},
			wantErr:  ErrBadSignature,
			wantText: "does not verify",
		},
		{
			name: "SSH signature",
			commit: func(t *testing.T, dir string) {
				tamper(t, dir, trusted, func(c *object.Commit) {
					c.PGPSignature = "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n"
				})
			},
			wantErr:  ErrBadSignature,
			wantText: "carries an SSH signature, and no allowed signers file is set",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "specs")
			tt.commit(t, dir)
			s := newSource(t, dir, func(o *Options) { o.VerifyKeyring = keyring })
			rev := mustFetch(t, s)
			err := s.Verify(rev)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantText) {
				t.Fatalf("Verify error = %v, want %v containing %q", err, tt.wantErr, tt.wantText)
			}
			other := map[error]error{ErrUnsigned: ErrBadSignature, ErrBadSignature: ErrUnsigned}[tt.wantErr]
			if errors.Is(err, other) {
				t.Errorf("Verify error %v matches %v too", err, other)
			}

			unverified := newSource(t, dir)
			if err := unverified.Verify(mustFetch(t, unverified)); err != nil {
				t.Errorf("Verify without a keyring: %v, want nil", err)
			}
		})
	}
}

// tamper makes a commit signed by key, changes it with edit keeping the
// signature, and moves main to the changed commit.
func tamper(t *testing.T, dir string, key *openpgp.Entity, edit func(*object.Commit)) {
	t.Helper()
	worktreeCommit(t, dir, key)
	repo, err := git.PlainOpen(dir)
	if err != nil {
		t.Fatal(err)
	}
	head, err := repo.Head()
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.CommitObject(head.Hash())
	if err != nil {
		t.Fatal(err)
	}
	edit(c)
	h := storeObject(t, repo.Storer, c.Encode)
	if err := repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName("main"), h)); err != nil {
		t.Fatal(err)
	}
}

func TestKeyringErrors(t *testing.T) {
	notArmored := filepath.Join(t.TempDir(), "keys.asc")
	writeFile(t, notArmored, "not a keyring\n")
	_, err := New(Options{URL: "git://127.0.0.1/specs.git", CacheDir: t.TempDir(), VerifyKeyring: notArmored})
	if err == nil || !strings.Contains(err.Error(), "not an armored OpenPGP keyring") {
		t.Errorf("New with a bad keyring: error = %v, want \"not an armored OpenPGP keyring\"", err)
	}
}
