package modelserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ModelServerConfig is the models: section of Rasa's endpoints.yml, as PUT /model takes it.
type ModelServerConfig struct {
	URL                  string `json:"url"`
	Token                string `json:"token"`
	WaitTimeBetweenPulls int    `json:"wait_time_between_pulls"`
}

// Nudge asks the Rasa server at rasaURL (http://host:port) to load its model from the
// model server now, with PUT /model {"model_server": ...}, as Rasa's HTTP API allows.
// Rasa answers 204 once the model is loaded. Errors never carry the tokens.
func Nudge(ctx context.Context, client *http.Client, rasaURL, authToken string, ms ModelServerConfig) error {
	body, err := json.Marshal(map[string]any{"model_server": ms})
	if err != nil {
		return err
	}
	u := strings.TrimRight(rasaURL, "/") + "/model?token=" + url.QueryEscape(authToken)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("nudge %s: bad address", rasaURL)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("nudge %s: %w", rasaURL, scrub(err, authToken, ms.Token))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		// Rasa's answer may quote the model server's URL with its ?token=.
		return fmt.Errorf("nudge %s: PUT /model answered %s: %s", rasaURL, resp.Status, scrubText(strings.TrimSpace(string(msg)), authToken, ms.Token))
	}
	return nil
}

// Unload asks the Rasa server at rasaURL to unload its model (DELETE /model), for an
// environment whose declaration no longer names one.
func Unload(ctx context.Context, client *http.Client, rasaURL, authToken string) error {
	u := strings.TrimRight(rasaURL, "/") + "/model?token=" + url.QueryEscape(authToken)
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u, nil)
	if err != nil {
		return fmt.Errorf("unload %s: bad address", rasaURL)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("unload %s: %w", rasaURL, scrub(err, authToken))
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("unload %s: DELETE /model answered %s", rasaURL, resp.Status)
	}
	return nil
}

// RasaStatus reads GET /status of a Rasa server: model_file is the file name of the
// loaded model (<model>.tar.gz when it came from this model server), empty when none.
func RasaStatus(ctx context.Context, client *http.Client, rasaURL, authToken string) (modelFile string, err error) {
	u := strings.TrimRight(rasaURL, "/") + "/status?token=" + url.QueryEscape(authToken)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("status %s: bad address", rasaURL)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("status %s: %w", rasaURL, scrub(err, authToken))
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusConflict {
		return "", nil // Rasa 3 answers 409 "No agent loaded" while it serves no model
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s: %s", rasaURL, resp.Status)
	}
	var st struct {
		ModelFile string `json:"model_file"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil {
		return "", fmt.Errorf("status %s: %w", rasaURL, err)
	}
	// Rasa 3 reports a path; the file name is what identifies the model.
	if i := strings.LastIndex(st.ModelFile, "/"); i >= 0 {
		st.ModelFile = st.ModelFile[i+1:]
	}
	return st.ModelFile, nil
}

// scrub removes tokens from an error's text (url.Error quotes the whole URL).
func scrub(err error, tokens ...string) error {
	return fmt.Errorf("%s", scrubText(err.Error(), tokens...))
}

// scrubText removes tokens, plain and URL-escaped, from text.
func scrubText(s string, tokens ...string) string {
	for _, t := range tokens {
		if t == "" {
			continue
		}
		s = strings.ReplaceAll(s, t, "********")
		s = strings.ReplaceAll(s, url.QueryEscape(t), "********")
	}
	return s
}
