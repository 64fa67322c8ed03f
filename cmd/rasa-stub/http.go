package main

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
)

func newHandler(cfg config, a *agent) http.Handler {
	mux := http.NewServeMux()
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if cfg.authToken != "" && subtle.ConstantTimeCompare([]byte(r.URL.Query().Get("token")), []byte(cfg.authToken)) != 1 {
				writeJSON(w, http.StatusUnauthorized, map[string]any{"version": RasaVersion, "status": "failure", "reason": "NotAuthenticated", "message": "User is not authenticated.", "code": 401})
				return
			}
			h(w, r)
		}
	}
	api := func(h http.HandlerFunc) http.HandlerFunc {
		if !cfg.enableAPI {
			return func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }
		}
		return auth(h)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("Hello from Rasa: " + RasaVersion))
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"version": RasaVersion, "minimum_compatible_version": "3.5.0"})
	})
	mux.HandleFunc("GET /status", api(func(w http.ResponseWriter, _ *http.Request) {
		file, id, etag := a.status()
		if id == "" {
			// As Rasa 3 (@ensure_loaded_agent): no model loaded is a conflict.
			writeJSON(w, http.StatusConflict, map[string]any{"version": RasaVersion, "status": "failure", "reason": "Conflict", "message": "No agent loaded. To continue processing, a model of a trained agent needs to be loaded.", "code": 409})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"model_file": file, "model_id": id, "fingerprint": etag, "num_active_training_jobs": 0})
	}))
	mux.HandleFunc("PUT /model", api(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			ModelFile   string       `json:"model_file"`
			ModelServer *modelServer `json:"model_server"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"status": "failure", "reason": "BadRequest", "message": "invalid JSON: " + err.Error(), "code": 400})
			return
		}
		switch {
		case body.ModelServer != nil:
			// As Rasa's load_agent: pull from the server afresh (no If-None-Match), then keep pulling.
			a.mu.Lock()
			a.etag = ""
			a.mu.Unlock()
			a.setServer(*body.ModelServer)
			if err := a.pull(r.Context()); err != nil {
				writeJSON(w, http.StatusInternalServerError, map[string]any{"status": "failure", "reason": "LoadingError", "message": err.Error(), "code": 500})
				return
			}
		case body.ModelFile != "":
			if err := a.load(body.ModelFile, ""); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]any{"status": "failure", "reason": "BadRequest", "message": err.Error(), "code": 400})
				return
			}
		default:
			writeJSON(w, http.StatusBadRequest, map[string]any{"status": "failure", "reason": "BadRequest", "message": "give model_file or model_server", "code": 400})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("DELETE /model", api(func(w http.ResponseWriter, _ *http.Request) {
		// As Rasa: unload the model (the server keeps running without one).
		a.mu.Lock()
		a.file, a.modelID, a.etag, a.greet = "", "", "", ""
		a.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("POST /model/parse", api(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Text string `json:"text"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"status": "failure", "reason": "BadRequest", "message": err.Error(), "code": 400})
			return
		}
		_, id, _ := a.status()
		if id == "" {
			writeJSON(w, http.StatusConflict, map[string]any{"status": "failure", "reason": "Conflict", "message": "No agent loaded. To continue processing, a model of a trained agent needs to be loaded.", "code": 409})
			return
		}
		intent := "greet"
		if strings.Contains(strings.ToLower(body.Text), "bye") {
			intent = "goodbye"
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"text": body.Text, "intent": map[string]any{"name": intent, "confidence": 1.0},
			"entities": []any{}, "model_id": id,
		})
	}))
	mux.HandleFunc("POST /webhooks/rest/webhook", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Sender  string `json:"sender"`
			Message string `json:"message"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"status": "failure", "message": err.Error()})
			return
		}
		a.mu.Lock()
		id, greet := a.modelID, a.greet
		a.mu.Unlock()
		if id == "" {
			writeJSON(w, http.StatusOK, []any{})
			return
		}
		writeJSON(w, http.StatusOK, []any{map[string]any{"recipient_id": body.Sender, "text": greet}})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
