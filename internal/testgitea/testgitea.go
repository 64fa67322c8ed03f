package testgitea

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rasa-gitops/rasa-gitops/internal/needs"
)

// Gitea is a running Gitea with one admin user.
type Gitea struct {
	t testing.TB
	// URL is the web and Git root (http://127.0.0.1:port); API is URL + /api/v1.
	URL, API string
	User     string
	Password string
	// Token is an API token of User with every scope.
	Token string
	addr  string
	http  *http.Client
}

// Binary is the Gitea binary and the source directory it serves its locales from:
// $GITEA_BIN and $GITEA_SRC, else those scripts/gitea.sh puts in the first of
// $TOOLS_BIN, ~/.cache/rasa-gitops/tools (CI) and the module's bin/tools (make gitea)
// that has them.
func Binary() (bin, src string, err error) {
	bin, src = os.Getenv("GITEA_BIN"), os.Getenv("GITEA_SRC")
	if bin == "" || src == "" {
		home, _ := os.UserHomeDir()
		dirs := []string{os.Getenv("TOOLS_BIN"), filepath.Join(home, ".cache", "rasa-gitops", "tools")}
		if root, err := moduleRoot(); err == nil {
			dirs = append(dirs, filepath.Join(root, "bin", "tools"))
		}
		for _, dir := range dirs {
			if _, err := os.Stat(filepath.Join(dir, "gitea")); dir != "" && err == nil {
				bin, src = cmp.Or(bin, filepath.Join(dir, "gitea")), cmp.Or(src, filepath.Join(dir, "gitea-src"))
				break
			}
		}
	}
	if _, err := os.Stat(bin); bin == "" || err != nil {
		return "", "", fmt.Errorf("no Gitea binary (build it with scripts/gitea.sh or make gitea): %v", err)
	}
	if _, err := os.Stat(filepath.Join(src, "options", "locale")); err != nil {
		return "", "", fmt.Errorf("no Gitea source dir with options/locale (scripts/gitea.sh links it): %w", err)
	}
	return bin, src, nil
}

// moduleRoot is the directory of go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	for err == nil {
		if _, statErr := os.Stat(filepath.Join(dir, "go.mod")); statErr == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
	return "", err
}

// Start runs Gitea until the test ends and makes its admin user and token.
func Start(t testing.TB) *Gitea {
	t.Helper()
	bin, src, err := Binary()
	if err != nil {
		needs.Missing(t, "%v", err)
	}
	dir := t.TempDir()
	port := freePort(t)
	g := &Gitea{t: t, addr: "127.0.0.1:" + strconv.Itoa(port), User: "rasa-admin", Password: "Passw0rd-for-tests", http: &http.Client{Timeout: 30 * time.Second}}
	g.URL = "http://" + g.addr
	g.API = g.URL + "/api/v1"
	conf := filepath.Join(dir, "app.ini")
	if err := os.WriteFile(conf, []byte(appIni(dir, src, port)), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "web", "--config", conf, "--work-path", dir)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &logs, &logs
	cmd.Env = append(os.Environ(), "GITEA_WORK_DIR="+dir, "HOME="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("gitea log:\n%s", logs.String())
		}
	})
	g.waitUp(exited)
	g.admin(bin, conf, dir)
	return g
}

// appIni is a minimal configuration: SQLite, loopback only, no mail, SSH or
// registration, and the module source as static root (locales, templates).
func appIni(dir, src string, port int) string {
	runUser := "git"
	if u, err := user.Current(); err == nil {
		runUser = u.Username
	}
	return fmt.Sprintf(`APP_NAME = rasa-gitops test
RUN_USER = %[3]s
RUN_MODE = prod
WORK_PATH = %[1]s
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true

[database]
DB_TYPE = sqlite3
PATH = %[1]s/gitea.db

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = %[4]d
ROOT_URL = http://127.0.0.1:%[4]d/
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
LFS_START_SERVER = false
STATIC_ROOT_PATH = %[2]s
APP_DATA_PATH = %[1]s/data

[repository]
ROOT = %[1]s/repos
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true
SECRET_KEY = rasa-gitops-test-secret-key-0123456789

[service]
DISABLE_REGISTRATION = true
REQUIRE_SIGNIN_VIEW = false

[mailer]
ENABLED = false

[log]
MODE = console
LEVEL = warn

[cron]
ENABLED = false

[actions]
ENABLED = false

[indexer]
REPO_INDEXER_ENABLED = false

[webhook]
ALLOWED_HOST_LIST = loopback

[repo-archive]
ENABLED = false
`, dir, src, runUser, port)
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitUp polls the version endpoint until Gitea answers (it migrates its database
// first), failing if the process exits.
func (g *Gitea) waitUp(exited chan error) {
	g.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			g.t.Fatalf("gitea exited: %v", err)
		default:
		}
		if resp, err := g.http.Get(g.API + "/version"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	g.t.Fatal("gitea did not answer within 2 minutes")
}

// admin creates the admin user with the CLI and an API token with every scope.
func (g *Gitea) admin(bin, conf, dir string) {
	g.t.Helper()
	cmd := exec.Command(bin, "admin", "user", "create", "--config", conf, "--work-path", dir, "--admin",
		"--username", g.User, "--password", g.Password, "--email", g.User+"@example.com", "--must-change-password=false")
	cmd.Env = append(os.Environ(), "GITEA_WORK_DIR="+dir, "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		g.t.Fatalf("gitea admin user create: %v: %s", err, out)
	}
	var tok struct {
		SHA1 string `json:"sha1"`
	}
	body := map[string]any{"name": "rasa-gitops-test", "scopes": []string{"all"}}
	if err := g.do(http.MethodPost, "/users/"+g.User+"/tokens", body, &tok, true); err != nil {
		g.t.Fatal(err)
	}
	g.Token = tok.SHA1
}

// Do calls the API with the token: METHOD /api/v1PATH with a JSON body (nil: none),
// decoding the answer into out (nil: ignored). An answer of 300 or more fails the test.
func (g *Gitea) Do(method, path string, body, out any) {
	g.t.Helper()
	if err := g.do(method, path, body, out, false); err != nil {
		g.t.Fatal(err)
	}
}

func (g *Gitea) do(method, path string, body, out any, basic bool) error {
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, g.API+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if basic {
		req.SetBasicAuth(g.User, g.Password)
	} else {
		req.Header.Set("Authorization", "token "+g.Token)
	}
	resp, err := g.http.Do(req)
	if err != nil {
		return fmt.Errorf("gitea %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("gitea %s %s: %s: %s", method, path, resp.Status, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// CreateRepo makes an empty repository of the admin user and returns owner/name.
func (g *Gitea) CreateRepo(name string) string {
	g.t.Helper()
	g.Do(http.MethodPost, "/user/repos", map[string]any{"name": name, "default_branch": "main", "private": false}, nil)
	return g.User + "/" + name
}

// CloneURL is the HTTP clone URL of owner/name (no credentials: Git asks for them).
func (g *Gitea) CloneURL(repo string) string { return g.URL + "/" + repo + ".git" }

// PushURL is the clone URL with the admin's credentials, for pushing from tests.
func (g *Gitea) PushURL(repo string) string {
	return "http://" + g.User + ":" + g.Token + "@" + g.addr + "/" + repo + ".git"
}
