// Package testgit gives tests real Git remotes on loopback: a bare repository served
// by `git daemon`, by `git http-backend` (through net/http/cgi) or by sshd (through
// git-shell), and a working repository that commits (optionally OpenPGP-signed) and
// pushes to it.
package testgit

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/internal/needs"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Remote is a bare repository and a working clone that pushes to it.
type Remote struct {
	t      testing.TB
	Root   string // directory holding <Name>.git
	Name   string
	Bare   string
	Work   string
	repo   *git.Repository
	Branch string
}

// New makes an empty bare repository and a working repository on branch main.
func New(t testing.TB) *Remote {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		needs.Missing(t, "git is needed to serve test repositories: %v", err)
	}
	root := t.TempDir()
	r := &Remote{t: t, Root: root, Name: "deploy", Bare: filepath.Join(root, "deploy.git"), Work: t.TempDir(), Branch: "main"}
	if _, err := git.PlainInitWithOptions(r.Bare, &git.PlainInitOptions{Bare: true, InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")}}); err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainInitWithOptions(r.Work, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{r.Bare}}); err != nil {
		t.Fatal(err)
	}
	r.repo = repo
	return r
}

// CommitOptions shape one commit.
type CommitOptions struct {
	Message string
	Sign    *openpgp.Entity
	// Remove lists files to delete.
	Remove []string
	// Force pushes even when the remote's history is rewritten.
	Force bool
}

// Commit writes files (path → content) into the working tree, commits and pushes.
// It returns the commit hash.
func (r *Remote) Commit(files map[string]string, o CommitOptions) string {
	r.t.Helper()
	wt, err := r.repo.Worktree()
	if err != nil {
		r.t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(r.Work, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	for _, name := range o.Remove {
		os.Remove(filepath.Join(r.Work, filepath.FromSlash(name)))
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		r.t.Fatal(err)
	}
	msg := o.Message
	if msg == "" {
		msg = "change"
	}
	sig := &object.Signature{Name: "Dev Eloper", Email: "dev@example.com", When: time.Now()}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig, SignKey: o.Sign, AllowEmptyCommits: true})
	if err != nil {
		r.t.Fatal(err)
	}
	r.push(o.Force)
	return h.String()
}

// ResetHard moves the branch back to a commit (rewriting history); push with Force.
func (r *Remote) ResetHard(hash string) {
	r.t.Helper()
	wt, _ := r.repo.Worktree()
	if err := wt.Reset(&git.ResetOptions{Commit: plumbing.NewHash(hash), Mode: git.HardReset}); err != nil {
		r.t.Fatal(err)
	}
}

// ForcePush pushes the branch, rewriting the remote's history.
func (r *Remote) ForcePush() { r.t.Helper(); r.push(true) }

func (r *Remote) push(force bool) {
	r.t.Helper()
	spec := config.RefSpec("refs/heads/main:refs/heads/main")
	if force {
		spec = "+" + spec
	}
	err := r.repo.Push(&git.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{spec}, Force: force})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		r.t.Fatal(err)
	}
}

// Daemon serves the bare repository with `git daemon` on loopback. stop/start
// simulate the remote going down and coming back on the same port.
type Daemon struct {
	URL  string
	port int
	root string
	cmd  *exec.Cmd
	t    testing.TB
}

// ServeDaemon starts `git daemon` for the remote and returns it.
func (r *Remote) ServeDaemon() *Daemon {
	r.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		r.t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	d := &Daemon{URL: fmt.Sprintf("git://127.0.0.1:%d/%s.git", port, r.Name), port: port, root: r.Root, t: r.t}
	d.Start()
	r.t.Cleanup(d.Stop)
	return d
}

// Start (re)starts git daemon and waits until it accepts connections.
func (d *Daemon) Start() {
	d.t.Helper()
	d.cmd = exec.Command("git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack", "--base-path="+d.root, "--listen=127.0.0.1", fmt.Sprintf("--port=%d", d.port), d.root)
	// git runs git-daemon as a child: a process group lets Stop end both.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", d.port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.t.Fatal("git daemon did not start")
}

// Stop stops git daemon: the remote is down.
func (d *Daemon) Stop() {
	if d.cmd != nil && d.cmd.Process != nil {
		syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		d.cmd.Wait()
		d.cmd = nil
		for i := 0; i < 100; i++ { // until the port is closed
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", d.port))
			if err != nil {
				return
			}
			c.Close()
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// ServeHTTP serves the remote with `git http-backend` over HTTP on loopback; with a
// token, requests must carry it as the basic-auth password. It returns the URL.
func (r *Remote) ServeHTTP(token string) string {
	url, _ := r.ServeHTTPCounting(token)
	return url
}

// ServeHTTPCounting is ServeHTTP that also counts the requests it answers.
func (r *Remote) ServeHTTPCounting(token string) (string, *atomic.Int64) {
	r.t.Helper()
	return r.serveHTTP("", token)
}

// ServeHTTPOn is ServeHTTP listening on addr (host:port, port 0 for any) instead of
// loopback: for a client in a container, which reaches the host on the Docker bridge
// gateway (testengine.HostAddress), never on every interface.
func (r *Remote) ServeHTTPOn(addr, token string) string {
	r.t.Helper()
	url, _ := r.serveHTTP(addr, token)
	return url
}

func (r *Remote) serveHTTP(addr, token string) (string, *atomic.Int64) {
	r.t.Helper()
	requests := &atomic.Int64{}
	backend := "/usr/lib/git-core/git-http-backend"
	if out, err := exec.Command("git", "--exec-path").Output(); err == nil {
		backend = filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	}
	h := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + r.Root, "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		requests.Add(1)
		if token != "" {
			if _, pw, ok := req.BasicAuth(); !ok || pw != token {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		h.ServeHTTP(w, req)
	}))
	if addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			r.t.Fatal(err)
		}
		srv.Listener.Close()
		srv.Listener = ln
	}
	srv.Start()
	r.t.Cleanup(srv.Close)
	return srv.URL + "/" + r.Name + ".git", requests
}

// FastImport appends n commits (each changing history.txt) to the branch with
// git fast-import: a long history in seconds.
func (r *Remote) FastImport(n int) {
	r.t.Helper()
	var b strings.Builder
	for i := 0; i < n; i++ {
		content := fmt.Sprintf("commit %d\n", i)
		fmt.Fprintf(&b, "commit refs/heads/main\ncommitter Dev <dev@example.com> %d +0000\ndata 7\nhistory\n", 1700000000+i)
		if i == 0 {
			if head, err := exec.Command("git", "--git-dir", r.Bare, "rev-parse", "--verify", "-q", "refs/heads/main").Output(); err == nil {
				fmt.Fprintf(&b, "from %s\n", strings.TrimSpace(string(head)))
			}
		}
		fmt.Fprintf(&b, "M 644 inline history.txt\ndata %d\n%s\n", len(content), content)
	}
	cmd := exec.Command("git", "--git-dir", r.Bare, "fast-import", "--quiet")
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("fast-import: %v\n%s", err, out)
	}
}

// NewKey makes an OpenPGP key and returns it with its armored public key.
func NewKey(t testing.TB, name string) (*openpgp.Entity, string) {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	w, err := armorEncode(&b)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return e, b.String()
}
