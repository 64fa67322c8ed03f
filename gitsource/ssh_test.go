package gitsource

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/rasa-gitops/rasa-gitops/internal/redact"
	"github.com/rasa-gitops/rasa-gitops/internal/testgit"
)

// sshRemote is a remote with one commit (deploy/rasa-gitops.yaml) served by a real
// sshd, and the options of a source that follows it with the accepted key.
func sshRemote(t *testing.T) (*testgit.Remote, *testgit.SSHServer, string, Options) {
	t.Helper()
	remote := testgit.New(t)
	first := remote.Commit(map[string]string{"deploy/rasa-gitops.yaml": "version: 1\n"}, testgit.CommitOptions{Message: "first"})
	srv := remote.ServeSSH()
	opts := Options{URL: srv.URL, Branch: "main", Path: "deploy", StateDir: t.TempDir(), Username: srv.User,
		SSHKeyFile: srv.ClientKey, KnownHostsFile: srv.KnownHosts}
	return remote, srv, first, opts
}

// openSource opens a source or fails the test.
func openSource(t *testing.T, opts Options) *Source {
	t.Helper()
	src, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// fetchCheckout fetches, wants the given head, and checks it out.
func fetchCheckout(t *testing.T, src *Source, want string) Revision {
	t.Helper()
	rev, err := src.Fetch(context.Background())
	if err != nil || rev.Hash != want {
		t.Fatalf("fetch: %+v %v, want %s", rev, err, want)
	}
	if err := src.Checkout(rev); err != nil {
		t.Fatal(err)
	}
	return rev
}

// wantCheckout checks the source's current checkout is the revision with the content.
func wantCheckout(t *testing.T, src *Source, hash, content string) {
	t.Helper()
	if got := filepath.Base(filepath.Dir(src.Dir())); got != hash {
		t.Errorf("current checkout is %s, want %s", got, hash)
	}
	if data, err := os.ReadFile(filepath.Join(src.Dir(), "rasa-gitops.yaml")); err != nil || string(data) != content {
		t.Errorf("checked-out declaration: %q %v, want %q", data, err, content)
	}
}

// wantNoKeyIn fails if err quotes any line of the private key file.
func wantNoKeyIn(t *testing.T, err error, keyFile string) {
	t.Helper()
	data, rerr := os.ReadFile(keyFile)
	if rerr != nil {
		t.Fatal(rerr)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if len(line) > 20 && !strings.HasPrefix(line, "-----") && strings.Contains(err.Error(), line) {
			t.Errorf("the error quotes the private key: %v", err)
		}
	}
}

func TestSSHCloneAndFetch(t *testing.T) {
	remote, _, first, opts := sshRemote(t)
	src := openSource(t, opts)
	rev := fetchCheckout(t, src, first)
	if rev.Message != "first" || !strings.Contains(rev.Author, "dev@example.com") {
		t.Errorf("first revision: %+v", rev)
	}
	wantCheckout(t, src, first, "version: 1\n")
	if _, err := src.Fetch(context.Background()); !errors.Is(err, ErrUnchanged) {
		t.Errorf("fetch without a push: %v, want ErrUnchanged", err)
	}

	second := remote.Commit(map[string]string{"deploy/rasa-gitops.yaml": "version: 1\nproject: x\n"}, testgit.CommitOptions{Message: "second"})
	fetchCheckout(t, src, second)
	wantCheckout(t, src, second, "version: 1\nproject: x\n")

	// A new source on the same state directory reuses the clone over SSH.
	if rev, err := openSource(t, opts).Fetch(context.Background()); err != nil || rev.Hash != second {
		t.Errorf("reopened source: %+v %v", rev, err)
	}
}

func TestSSHRefusesHostKeyNotInKnownHosts(t *testing.T) {
	_, srv, _, opts := sshRemote(t)
	fingerprint := ssh.FingerprintSHA256(srv.HostKey)
	dir := t.TempDir()
	_, otherPub := testgit.NewSSHKey(t, dir, "other_host")
	otherKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(otherPub))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, file, knownHosts, want string
	}{
		{"no line for the host", "known_hosts.other-host", knownhosts.Line([]string{"127.0.0.1:1"}, srv.HostKey) + "\n", "is not in known_hosts"},
		{"another key for the host", "known_hosts.other-key", knownhosts.Line([]string{srv.Addr}, otherKey) + "\n", "does not match known_hosts"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := opts
			o.StateDir = t.TempDir()
			o.KnownHostsFile = filepath.Join(dir, c.file)
			if err := os.WriteFile(o.KnownHostsFile, []byte(c.knownHosts), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := openSource(t, o).Fetch(context.Background())
			if err == nil {
				t.Fatal("a host key missing from known_hosts was accepted")
			}
			t.Logf("refused: %v", err)
			for _, want := range []string{fingerprint, c.want, o.KnownHostsFile, srv.Addr} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			wantNoKeyIn(t, err, o.SSHKeyFile)
		})
	}
}

func TestSSHRefusesWrongClientKey(t *testing.T) {
	_, _, _, opts := sshRemote(t)
	opts.SSHKeyFile, _ = testgit.NewSSHKey(t, t.TempDir(), "stranger")
	_, err := openSource(t, opts).Fetch(context.Background())
	if err == nil {
		t.Fatal("a key the server does not authorize was accepted")
	}
	t.Logf("refused: %v", err)
	for _, want := range []string{"unable to authenticate", "publickey", redact.URL(opts.URL)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	wantNoKeyIn(t, err, opts.SSHKeyFile)
}

// A refused fetch (the server revokes the key, or its host key changes) leaves the
// last good revision checked out and current, and does not count as seen.
func TestSSHKeepsLastGoodRevisionWhileRefused(t *testing.T) {
	remote, srv, first, opts := sshRemote(t)
	src := openSource(t, opts)
	fetchCheckout(t, src, first)

	second := remote.Commit(map[string]string{"deploy/rasa-gitops.yaml": "version: 1\nproject: second\n"}, testgit.CommitOptions{})
	srv.Authorize() // no key is authorized any more
	if _, err := src.Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Fatalf("fetch with a revoked key: %v", err)
	}
	wantCheckout(t, src, first, "version: 1\n")

	srv.AuthorizeClientKey()
	fetchCheckout(t, src, second) // the refused fetch did not mark the head as seen
	wantCheckout(t, src, second, "version: 1\nproject: second\n")

	remote.Commit(map[string]string{"deploy/rasa-gitops.yaml": "version: 1\nproject: third\n"}, testgit.CommitOptions{})
	srv.RotateHostKey()
	_, err := src.Fetch(context.Background())
	if err == nil || !strings.Contains(err.Error(), ssh.FingerprintSHA256(srv.HostKey)) {
		t.Fatalf("fetch from a server whose host key changed: %v", err)
	}
	t.Logf("refused: %v", err)
	wantCheckout(t, src, second, "version: 1\nproject: second\n")
}
