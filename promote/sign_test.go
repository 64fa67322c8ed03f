package promote

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/rasa-gitops/rasa-gitops/internal/testgit"
)

// testKey is one OpenPGP key for all the tests of a run (making one is slow): its
// armored public key and its unencrypted private key, serialized.
var testKey struct {
	once    sync.Once
	public  string
	private []byte
}

// newSignKey returns a fresh copy of the test key (so that encrypting it changes no
// other test's key) and its armored public key.
func newSignKey(t *testing.T) (*openpgp.Entity, string) {
	t.Helper()
	testKey.once.Do(func() {
		e, public := testgit.NewKey(t, "release")
		var b bytes.Buffer
		if err := e.SerializePrivateWithoutSigning(&b, nil); err != nil {
			t.Fatal(err)
		}
		testKey.public, testKey.private = public, b.Bytes()
	})
	keys, err := openpgp.ReadKeyRing(bytes.NewReader(testKey.private))
	if err != nil || len(keys) != 1 {
		t.Fatalf("test key: %v", err)
	}
	return keys[0], testKey.public
}

// writeKey writes e's private key, armored or binary, encrypted with passphrase when
// it is not empty, and returns the file's path.
func writeKey(t *testing.T, e *openpgp.Entity, passphrase string, armored bool) string {
	t.Helper()
	if passphrase != "" {
		if err := e.EncryptPrivateKeys([]byte(passphrase), nil); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if armored {
		w, err := armor.Encode(&b, openpgp.PrivateKeyType, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.SerializePrivateWithoutSigning(w, nil); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	} else if err := e.SerializePrivateWithoutSigning(&b, nil); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "key", b.String())
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadSignKey(t *testing.T) {
	tests := []struct {
		name string
		// files returns the key file and the passphrase file ("" for none).
		files func(t *testing.T) (key, pass string)
		want  string // substring of the error; "" for a key able to sign
	}{
		{name: "armored", files: func(t *testing.T) (string, string) {
			e, _ := newSignKey(t)
			return writeKey(t, e, "", true), ""
		}},
		{name: "binary", files: func(t *testing.T) (string, string) {
			e, _ := newSignKey(t)
			return writeKey(t, e, "", false), ""
		}},
		{name: "encrypted with its passphrase", files: func(t *testing.T) (string, string) {
			e, _ := newSignKey(t)
			return writeKey(t, e, "s3cret", true), writeFile(t, "pass", "s3cret\r\n")
		}},
		{name: "encrypted without passphrase", files: func(t *testing.T) (string, string) {
			e, _ := newSignKey(t)
			return writeKey(t, e, "s3cret", true), ""
		}, want: "the key is encrypted; give its passphrase with --sign-passphrase-file"},
		{name: "encrypted with a wrong passphrase", files: func(t *testing.T) (string, string) {
			e, _ := newSignKey(t)
			return writeKey(t, e, "s3cret", true), writeFile(t, "pass", "guess\n")
		}, want: "cannot decrypt the key"},
		{name: "missing passphrase file", files: func(t *testing.T) (string, string) {
			e, _ := newSignKey(t)
			return writeKey(t, e, "s3cret", true), filepath.Join(t.TempDir(), "none")
		}, want: "--sign-passphrase-file: "},
		{name: "public key only", files: func(t *testing.T) (string, string) {
			_, public := newSignKey(t)
			return writeFile(t, "pub.asc", public), ""
		}, want: "holds no private key"},
		{name: "not a key", files: func(t *testing.T) (string, string) {
			return writeFile(t, "key.asc", "hello\n"), ""
		}, want: "not an OpenPGP key"},
		{name: "missing key file", files: func(t *testing.T) (string, string) {
			return filepath.Join(t.TempDir(), "none.asc"), ""
		}, want: "--sign: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, pass := tt.files(t)
			e, err := loadSignKey(key, pass)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.PrivateKey == nil || e.PrivateKey.Encrypted {
				t.Fatalf("key %v cannot sign", e.PrimaryKey.KeyIdString())
			}
			var sig bytes.Buffer
			if err := openpgp.DetachSign(&sig, e, strings.NewReader("x"), nil); err != nil {
				t.Errorf("the loaded key does not sign: %v", err)
			}
		})
	}
}

func TestRunSigned(t *testing.T) {
	e, public := newSignKey(t)
	keyFile := writeKey(t, e, "s3cret", true)
	r := newTestRepo(t, "")
	o := r.options()
	o.SignKeyFile, o.PassphraseFile = keyFile, writeFile(t, "pass", "s3cret\n")
	res, err := Run(o)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%X", e.PrimaryKey.Fingerprint); res.Signer != want {
		t.Errorf("signer %q, want the key's fingerprint %s", res.Signer, want)
	}
	c := checkBranch(t, r, res.Branch, res.Commit)
	if c.PGPSignature == "" {
		t.Fatal("commit is not signed")
	}
	if _, err := c.Verify(public); err != nil {
		t.Errorf("signature does not verify with the key: %v", err)
	}
	tampered := *c
	tampered.Message += "x"
	if _, err := tampered.Verify(public); err == nil {
		t.Error("the signature verifies a different message")
	}
}

// TestCommitRollsBack makes the commit fail after the branch was created and the
// file written (a signing key still encrypted cannot sign) and checks that HEAD, the
// branch, the index and the file are put back.
func TestCommitRollsBack(t *testing.T) {
	r := newTestRepo(t, "")
	before := r.refs(t)
	p, err := prepare(r.options())
	if err != nil {
		t.Fatal(err)
	}
	e, _ := newSignKey(t)
	if err := e.EncryptPrivateKeys([]byte("s3cret"), nil); err != nil {
		t.Fatal(err)
	}
	p.signKey = e
	if _, err := p.commit(); err == nil || !strings.HasPrefix(err.Error(), "commit: ") {
		t.Fatalf("error %v, want the commit to fail", err)
	}
	if after := r.refs(t); after != before {
		t.Errorf("references after the failure:\n%s\nwant:\n%s", after, before)
	}
	if _, err := r.repo.Reference(p.branch, false); err != plumbing.ErrReferenceNotFound {
		t.Errorf("branch %s left behind: %v", p.branch.Short(), err)
	}
	if got := r.read(t, "environments/production.yaml"); got != declaration["environments/production.yaml"] {
		t.Errorf("file not restored:\n%s", got)
	}
	if st, err := r.worktree(t).Status(); err != nil || !st.IsClean() {
		t.Errorf("work tree or index not restored (%v):\n%s", err, st)
	}
}
