package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// modelServer is the models: section of endpoints.yml (Rasa's EndpointConfig).
type modelServer struct {
	URL       string `yaml:"url" json:"url"`
	Token     string `yaml:"token" json:"token"`
	TokenName string `yaml:"token_name" json:"token_name"`
	// WaitTimeBetweenPulls is seconds between pulls; 0 or absent means pull once.
	WaitTimeBetweenPulls flexInt `yaml:"wait_time_between_pulls" json:"wait_time_between_pulls"`
}

// flexInt accepts a number or a numeric string, as Rasa's YAML reader yields both.
type flexInt int

func (f *flexInt) UnmarshalYAML(n *yaml.Node) error {
	if n.Tag == "!!null" || n.Value == "" {
		*f = 0
		return nil
	}
	v, err := strconv.ParseFloat(n.Value, 64)
	if err != nil {
		return fmt.Errorf("wait_time_between_pulls %q is not a number", n.Value)
	}
	*f = flexInt(v)
	return nil
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" || s == "" {
		*f = 0
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("wait_time_between_pulls %s is not a number", b)
	}
	*f = flexInt(v)
	return nil
}

type endpointsFile struct {
	Models *modelServer `yaml:"models"`
}

var envRef = regexp.MustCompile(`\$\{([^}]*)\}`)

// readEndpoints reads endpoints.yml, substituting ${VAR} from the environment as Rasa
// does; an unset variable is an error, as in Rasa. A missing file means no endpoints.
func readEndpoints(path string) (endpointsFile, error) {
	var out endpointsFile
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("read endpoints: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return out, fmt.Errorf("read endpoints %s: %w", path, err)
	}
	var missing []string
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
			n.Value = envRef.ReplaceAllStringFunc(n.Value, func(m string) string {
				name := m[2 : len(m)-1]
				v, ok := os.LookupEnv(name)
				if !ok {
					missing = append(missing, name)
				}
				return v
			})
			n.Tag = "" // let the substituted text decide its type, as Rasa's loader does
			n.Style = 0
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	if len(missing) > 0 {
		return out, fmt.Errorf("read endpoints %s: environment variables not set: %s", path, strings.Join(missing, ", "))
	}
	if len(doc.Content) == 0 {
		return out, nil
	}
	if err := doc.Content[0].Decode(&out); err != nil {
		return out, fmt.Errorf("read endpoints %s: %w", path, err)
	}
	return out, nil
}

// agent holds the loaded model and the model server it pulls from.
type agent struct {
	dir    string
	logger *log.Logger
	client *http.Client

	mu      sync.Mutex
	server  *modelServer
	etag    string // ETag of the loaded model: sent back as If-None-Match
	file    string // file name of the loaded model
	modelID string
	greet   string
	wake    chan struct{}
}

func newAgent(dir string, logger *log.Logger) *agent {
	// A bounded connect keeps an unreachable model server from delaying startup; the
	// download itself may take as long as the model needs.
	transport := &http.Transport{DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext, ResponseHeaderTimeout: time.Minute}
	return &agent{dir: dir, logger: logger, client: &http.Client{Transport: transport}, wake: make(chan struct{}, 1)}
}

func (a *agent) setServer(s modelServer) {
	a.mu.Lock()
	a.server = &s
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// status is what GET /status reports.
func (a *agent) status() (file, id, etag string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.file, a.modelID, a.etag
}

// pullLoop pulls every wait_time_between_pulls seconds; a new server (PUT /model)
// restarts the timer.
func (a *agent) pullLoop(ctx context.Context) {
	for {
		a.mu.Lock()
		var wait time.Duration
		if a.server != nil {
			wait = time.Duration(a.server.WaitTimeBetweenPulls) * time.Second
		}
		a.mu.Unlock()
		var tick <-chan time.Time
		var timer *time.Timer
		if wait > 0 {
			timer = time.NewTimer(wait)
			tick = timer.C
		}
		select {
		case <-ctx.Done():
		case <-a.wake:
		case <-tick:
			_ = a.pull(ctx) // a failed pull keeps the loaded model; it is logged
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// pull asks the model server for a newer model, as Rasa 3's agent does: GET with
// ?<token_name>=<token> and If-None-Match; 204/304/404 and errors mean no change; a 200
// body is saved under the `filename` header and loaded; only a successful load changes
// the ETag sent next time.
func (a *agent) pull(ctx context.Context) error {
	a.mu.Lock()
	server, etag := a.server, a.etag
	a.mu.Unlock()
	if server == nil || server.URL == "" {
		return nil
	}
	u, err := url.Parse(server.URL)
	if err != nil {
		a.logger.Printf("model server url %q is invalid: %v", server.URL, err)
		return err
	}
	if server.Token != "" {
		q := u.Query()
		name := server.TokenName
		if name == "" {
			name = "token"
		}
		q.Set(name, server.Token)
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	req.Header.Set("Accept-Encoding", "gzip, deflate")
	resp, err := a.client.Do(req)
	if err != nil {
		// url.Error quotes the whole URL, token included: report it without the query.
		err = fmt.Errorf("get %s: %w", redactQuery(server.URL), errors.Unwrap(err))
		a.logger.Printf("tried to fetch model from server, but couldn't reach it: %v", err)
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent, http.StatusNotModified:
		return nil
	case http.StatusNotFound:
		a.logger.Printf("model server didn't find a model for our request (status 404)")
		return nil
	case http.StatusOK:
	default:
		a.logger.Printf("tried to fetch model from server, but got status %d", resp.StatusCode)
		return fmt.Errorf("model server answered %d", resp.StatusCode)
	}
	name := filepath.Base(resp.Header.Get("filename"))
	if name == "" || name == "." || name == "/" {
		a.logger.Printf("model server sent no filename header: model not loaded")
		return errors.New("no filename header")
	}
	if err := os.MkdirAll(a.dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(a.dir, name)
	tmp, err := os.CreateTemp(a.dir, ".download-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, resp.Body); err != nil {
		tmp.Close()
		a.logger.Printf("model download failed: %v", err)
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if err := a.load(path, resp.Header.Get("ETag")); err != nil {
		a.logger.Printf("could not load model %s: %v", name, err)
		return err
	}
	return nil
}

// load reads a model archive (gzip tar with metadata.json at its root, as Rasa 3
// writes) and makes it the served model.
func (a *agent) load(path, etag string) error {
	if !strings.HasSuffix(path, ".tar.gz") {
		return fmt.Errorf("model file %s does not end in .tar.gz", filepath.Base(path))
	}
	meta, err := readMetadata(path)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.file, a.modelID, a.etag, a.greet = filepath.Base(path), meta.ModelID, etag, meta.greeting()
	a.mu.Unlock()
	a.logger.Printf("loaded model %s (model_id %s, etag %s)", filepath.Base(path), meta.ModelID, etag)
	return nil
}

type metadata struct {
	ModelID string `json:"model_id"`
	Domain  struct {
		Responses map[string][]struct {
			Text string `json:"text"`
		} `json:"responses"`
	} `json:"domain"`
}

func (m metadata) greeting() string {
	if r := m.Domain.Responses["utter_greet"]; len(r) > 0 {
		return r[0].Text
	}
	return "Hello from the stand-in Rasa server"
}

func readMetadata(path string) (metadata, error) {
	var meta metadata
	f, err := os.Open(path)
	if err != nil {
		return meta, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return meta, fmt.Errorf("not a gzip file: %w", err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return meta, errors.New("no metadata.json in the model archive")
		}
		if err != nil {
			return meta, fmt.Errorf("not a tar archive: %w", err)
		}
		if strings.TrimPrefix(h.Name, "./") == "metadata.json" {
			if err := json.NewDecoder(io.LimitReader(tr, 16<<20)).Decode(&meta); err != nil {
				return meta, fmt.Errorf("metadata.json: %w", err)
			}
			if meta.ModelID == "" {
				return meta, errors.New("metadata.json has no model_id")
			}
			return meta, nil
		}
	}
}

// redactQuery drops the query string (which may carry the model token) from a URL.
func redactQuery(raw string) string {
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		return raw[:i] + "?…"
	}
	return raw
}
