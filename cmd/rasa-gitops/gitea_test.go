package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
	"github.com/rasa-gitops/rasa-gitops/internal/testgit"
	"github.com/rasa-gitops/rasa-gitops/internal/testgitea"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// giteaStatus is one commit status as Gitea's API answers it (its state is "status").
type giteaStatus struct {
	ID          int64  `json:"id"`
	Status      string `json:"status"`
	Context     string `json:"context"`
	Description string `json:"description"`
}

// statusesOf reads every status of a commit for one context, oldest first.
func statusesOf(g *testgitea.Gitea, repo, sha, context string) []giteaStatus {
	var all []giteaStatus
	g.Do(http.MethodGet, "/repos/"+repo+"/statuses/"+sha+"?limit=50", nil, &all)
	var out []giteaStatus
	for _, s := range all {
		if s.Context == context {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b giteaStatus) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// waitStatus polls Gitea until context's newest status on sha is state.
func waitStatus(t *testing.T, g *testgitea.Gitea, repo, sha, context, want string) []giteaStatus {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var got []giteaStatus
	for time.Now().Before(deadline) {
		if got = statusesOf(g, repo, sha, context); len(got) > 0 && got[len(got)-1].Status == want {
			return got
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no %s status %s on %s; statuses: %+v", context, want, sha[:12], got)
	return nil
}

// waitCond polls cond until it holds or a minute passes.
func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// editOnGitea commits one file change through Gitea's contents API (an unsigned
// commit made by the forge), on branch, or on a new branch from it; it returns the
// commit hash. The API wants the blob hash of the file it replaces: computed here from
// its old content (Gitea 1.26's GET contents sometimes panics on a nil repository).
func editOnGitea(g *testgitea.Gitea, repo, path, old, content, branch, newBranch string) string {
	blob := sha1.Sum([]byte(fmt.Sprintf("blob %d\x00%s", len(old), old)))
	body := map[string]any{"content": base64.StdEncoding.EncodeToString([]byte(content)), "sha": hex.EncodeToString(blob[:]), "branch": branch, "message": "edit " + path}
	if newBranch != "" {
		body["new_branch"] = newBranch
	}
	var out struct {
		Commit struct {
			SHA string `json:"sha"`
		} `json:"commit"`
	}
	g.Do(http.MethodPut, "/repos/"+repo+"/contents/"+path, body, &out)
	return out.Commit.SHA
}

// flakyProxy forwards to Gitea's API, or answers 500 while down (a forge that fails).
type flakyProxy struct {
	down     atomic.Bool
	refused  atomic.Int64
	upstream http.Handler
}

func (p *flakyProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.down.Load() {
		p.refused.Add(1)
		http.Error(w, "forge down", http.StatusInternalServerError)
		return
	}
	p.upstream.ServeHTTP(w, r)
}

func newFlakyProxy(t *testing.T, api string) (*flakyProxy, string) {
	target, err := url.Parse(api)
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyProxy{upstream: httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv.URL + target.Path
}

// prLoop is a daemon following a repository on a real Gitea, posting commit statuses
// to it through a proxy that can play a forge that is down.
type prLoop struct {
	t         *testing.T
	g         *testgitea.Gitea
	repo      string
	f         *daemonFixture
	proxy     *flakyProxy
	tokenFile string
	initial   string // the first commit, signed by the experimental signer
}

// startPRLoop pushes a declaration whose experimental environment needs a signer
// (its first commit is signed) to Gitea, starts the daemon on it, and waits for the
// first commit's production status.
func startPRLoop(t *testing.T) *prLoop {
	l := &prLoop{t: t, g: testgitea.Start(t)}
	cli := testengine.Connect(t)
	testengine.EnsureStubImage(t, cli)
	project := testengine.ProjectName(t)
	testengine.CleanupProject(t, cli, project)
	l.repo = l.g.CreateRepo("deploy")
	alice, alicePub := testgit.NewKey(t, "alice")
	proxy, forgeAPI := newFlakyProxy(t, l.g.API)
	l.proxy = proxy
	addr, port := testengine.FreeHostPort(t, cli)
	files := standInDeclaration(t, project, port, "1s")
	files["environments/production.yaml"] = "model: moodbot-v1\n"
	files["environments/experimental.yaml"] = "model: moodbot-v2\n"
	local := testgit.New(t)
	l.initial = local.Commit(files, testgit.CommitOptions{Message: "initial", Sign: alice})
	if out, err := exec.Command("git", "-C", local.Work, "push", l.g.PushURL(l.repo), "main").CombinedOutput(); err != nil {
		t.Fatalf("push to gitea: %v: %s", err, out)
	}
	secrets := t.TempDir()
	l.tokenFile = filepath.Join(secrets, "api")
	writeFile(t, l.tokenFile, "api-token-for-gitea-test", 0o600)
	writeFile(t, filepath.Join(secrets, "forge"), l.g.Token+"\n", 0o600)
	writeFile(t, filepath.Join(secrets, "alice.asc"), alicePub, 0o644)
	writeFile(t, filepath.Join(secrets, "policy.yaml"), "environments:\n  experimental:\n    signers: ["+filepath.Join(secrets, "alice.asc")+"]\n", 0o644)
	l.f = &daemonFixture{t: t, project: project, base: "http://" + addr, state: t.TempDir(), apiToken: "api-token-for-gitea-test", log: &syncBuffer{}, done: make(chan int, 1)}
	l.runDaemon("--repo", l.g.CloneURL(l.repo), "--listen", addr, "--api-token-file", l.tokenFile, "--policy", filepath.Join(secrets, "policy.yaml"),
		"--forge", "gitea", "--forge-api-url", forgeAPI, "--forge-repo", l.repo, "--forge-token-file", filepath.Join(secrets, "forge"))
	waitStatus(t, l.g, l.repo, l.initial, "rasa-gitops/production", "success")
	return l
}

// runDaemon runs the daemon in-process until the test ends, then checks the forge
// token never reached its log.
func (l *prLoop) runDaemon(args ...string) {
	f := l.f
	args = append([]string{"daemon", "--state-dir", f.state, "--poll", "@every 1h", "--health-timeout", "20s"}, args...)
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	go func() { f.done <- run(ctx, args, io.Discard, f.log) }()
	l.t.Cleanup(func() {
		f.stop()
		if strings.Contains(f.log.String(), l.g.Token) {
			l.t.Error("the forge token reached the daemon's log")
		}
		if l.t.Failed() {
			l.t.Logf("daemon log:\n%s", f.log.String())
		}
	})
}

func (l *prLoop) sync() {
	l.f.request(http.MethodPost, "/api/sync", nil, http.Header{"Authorization": {"Bearer " + l.f.apiToken}})
}

// openPR opens a pull request promoting production to moodbot-v2, as `promote` would.
func (l *prLoop) openPR() int {
	editOnGitea(l.g, l.repo, "environments/production.yaml", "model: moodbot-v1\n", "model: moodbot-v2\n", "main", "promote/production/moodbot-v2")
	var pr struct {
		Number int `json:"number"`
	}
	l.g.Do(http.MethodPost, "/repos/"+l.repo+"/pulls", map[string]any{"head": "promote/production/moodbot-v2", "base": "main", "title": "promote production to moodbot-v2"}, &pr)
	return pr.Number
}

// commentPreview does what the README's CI job does: `preview --format markdown` of
// the pull request's ref, posted as a comment; it returns the comments read back.
func (l *prLoop) commentPreview(pr int) []string {
	var md bytes.Buffer
	start := time.Now()
	if code := run(context.Background(), []string{"preview", "--server", l.f.base, "--api-token-file", l.tokenFile, "--format", "markdown",
		fmt.Sprintf("refs/pull/%d/head", pr)}, &md, io.Discard); code != exitOK {
		l.t.Fatalf("preview exited %d: %s", code, md.String())
	}
	l.t.Logf("rasa-gitops preview (the first: it clones the repository for previews) took %s", time.Since(start).Round(time.Millisecond))
	l.g.Do(http.MethodPost, fmt.Sprintf("/repos/%s/issues/%d/comments", l.repo, pr), map[string]string{"body": md.String()}, nil)
	var comments []struct {
		Body string `json:"body"`
	}
	l.g.Do(http.MethodGet, fmt.Sprintf("/repos/%s/issues/%d/comments", l.repo, pr), nil, &comments)
	bodies := make([]string, len(comments))
	for i, c := range comments {
		bodies[i] = c.Body
	}
	return bodies
}

// host is what a preview must not change, on the real Engine: the project's
// containers (ID, state, start time, labels), the tag table and the model store.
func (l *prLoop) host() string {
	l.t.Helper()
	ctx := context.Background()
	cli := testengine.Connect(l.t)
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+l.f.project))})
	if err != nil {
		l.t.Fatal(err)
	}
	var b strings.Builder
	for _, c := range list {
		info, err := cli.ContainerInspect(ctx, c.ID)
		if err != nil {
			l.t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s %s %s %v\n", c.ID, c.Names, info.State.Status, info.State.StartedAt, info.Config.Labels)
	}
	tags, err := os.ReadFile(filepath.Join(l.f.state, "models", "tags.json"))
	if err != nil {
		l.t.Fatal(err)
	}
	b.Write(tags)
	models, _ := os.ReadDir(filepath.Join(l.f.state, "models", "sha256"))
	for _, m := range models {
		fmt.Fprintf(&b, "\n%s", m.Name())
	}
	return b.String()
}

// merge merges the pull request and returns the merge commit.
func (l *prLoop) merge(pr int) string {
	l.g.Do(http.MethodPost, fmt.Sprintf("/repos/%s/pulls/%d/merge", l.repo, pr), map[string]any{"Do": "merge"}, nil)
	var merged struct {
		SHA string `json:"merge_commit_sha"`
	}
	l.g.Do(http.MethodGet, fmt.Sprintf("/repos/%s/pulls/%d", l.repo, pr), nil, &merged)
	return merged.SHA
}

// TestPullRequestLoopOnGitea is the promotion loop on a real Gitea on loopback: a pull
// request changing production's model gets a preview comment naming the model change,
// the plan and the policy verdict; after the merge, the merge commit's
// rasa-gitops/production status goes pending → success once the Rasa server serves
// the new model; an unsigned change to the signed environment ends in a failure
// status saying why, posted once the forge, down (500) while the daemon reconciled,
// answers again.
func TestPullRequestLoopOnGitea(t *testing.T) {
	l := startPRLoop(t)
	pr := l.openPR()
	before := l.host()
	if !strings.Contains(before, "-rasa-production-1") || !strings.Contains(before, "moodbot-v1") {
		t.Fatalf("the host snapshot misses production:\n%s", before)
	}
	comments := l.commentPreview(pr)
	if after := l.host(); after != before {
		t.Errorf("the preview changed the host:\n--- before\n%s\n--- after\n%s", before, after)
	}
	if len(comments) != 1 {
		t.Fatalf("%d comments on the pull request", len(comments))
	}
	for _, want := range []string{"| production | `moodbot-v1` → `moodbot-v2`", "in the store) | would be applied |", "| experimental | `moodbot-v2` (unchanged) | unchanged |", "**Plan** (0 action(s)):", "nothing to do"} {
		if !strings.Contains(comments[0], want) {
			t.Errorf("the preview comment lacks %q:\n%s", want, comments[0])
		}
	}
	if st := l.f.statuses()["production"]; st.DesiredModel != "moodbot-v1" {
		t.Errorf("the preview changed production: %s", st.DesiredModel)
	}

	merged := l.merge(pr)
	l.sync()
	seen := waitStatus(t, l.g, l.repo, merged, "rasa-gitops/production", "success")
	if len(seen) < 2 || seen[0].Status != "pending" || !strings.HasSuffix(seen[0].Description, " moodbot-v2") || !strings.HasPrefix(seen[len(seen)-1].Description, "serving moodbot-v2 since ") {
		t.Errorf("production's statuses on the merge commit: %+v", seen)
	}

	// An unsigned change to the signed environment while the forge answers 500.
	l.proxy.down.Store(true)
	unsigned := editOnGitea(l.g, l.repo, "environments/experimental.yaml", "model: moodbot-v2\n", "model: moodbot-v1\n", "main", "")
	l.sync()
	l.f.waitFor("the refusal recorded while the forge is down", func(s map[string]state.EnvStatus) bool {
		return s["experimental"].Sync == state.Refused && strings.HasSuffix(s["experimental"].LastAttempted, unsigned)
	})
	waitCond(t, "a post refused by the forge", func() bool { return l.proxy.refused.Load() > 0 })
	if got := statusesOf(l.g, l.repo, unsigned, "rasa-gitops/experimental"); len(got) != 0 {
		t.Errorf("statuses reached the forge while it was down: %+v", got)
	}
	l.proxy.down.Store(false)
	refused := waitStatus(t, l.g, l.repo, unsigned, "rasa-gitops/experimental", "failure")
	if d := refused[len(refused)-1].Description; d != "refused: not signed by a signer allowed for experimental" {
		t.Errorf("the refusal says %q", d)
	}
	if st := l.f.statuses()["experimental"]; st.Sync != state.Refused || st.DesiredModel != "moodbot-v2" {
		t.Errorf("experimental after the unsigned change: %s %s", st.Sync, st.DesiredModel)
	}
	if n := l.f.audited("preview"); n != 1 {
		t.Errorf("%d previews audited, want 1", n)
	}
}
