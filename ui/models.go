package ui

import (
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rasa-gitops/rasa-gitops/internal/redact"
	"github.com/rasa-gitops/rasa-gitops/state"
)

// modelsView lists the models the host knows.
type modelsView struct {
	Models []modelRow
	// Scanned is how many audit rows were read for earlier use.
	Scanned, Limit   int
	Store, Catalogue bool
}

// modelRow is one model: where it is used now, where before, and whether the store
// keeps it.
type modelRow struct {
	Name, Digest string
	Size         int64
	Stored       bool
	Now, Before  []string
	// Declared says models.yaml of an applied revision lists it, from Source.
	Declared bool
	Source   string
}

// modelScan bounds how far back the audit log is read for earlier use.
const modelScan = 10000

// models joins the models the environments declare now, the retags of the audit log
// (the model each environment had before) and the store's files and names.
func (h *Handler) models(r *http.Request) (any, error) {
	ctx := r.Context()
	byName := map[string]*modelRow{}
	get := func(name string) *modelRow {
		if byName[name] == nil {
			byName[name] = &modelRow{Name: name}
		}
		return byName[name]
	}
	sts, err := h.c.State.Statuses(ctx)
	if err != nil {
		return nil, err
	}
	for _, st := range sts {
		if st.DesiredModel != "" {
			m := get(st.DesiredModel)
			m.Digest, m.Now = st.DesiredDigest, append(m.Now, st.Name)
		}
	}
	h.catalogue(sts, get)
	v := modelsView{Store: h.c.Models != nil, Limit: modelScan, Catalogue: h.c.Revisions != nil}
	err = h.c.State.EachHistory(ctx, state.Filter{Action: "retag model", Limit: modelScan}, func(row state.Row) error {
		v.Scanned++
		if row.Before != "" && row.Before != "(none)" {
			m := get(row.Before)
			if !contains(m.Now, row.Environment) && !contains(m.Before, row.Environment) {
				m.Before = append(m.Before, row.Environment)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	h.stored(byName, get)
	for _, m := range byName {
		v.Models = append(v.Models, *m)
	}
	sort.Slice(v.Models, func(i, j int) bool { return v.Models[i].Name < v.Models[j].Name })
	return v, nil
}

// catalogue adds models.yaml of each applied revision (when the checkouts are at
// hand): every model it lists, with its digest and source (credentials removed).
func (h *Handler) catalogue(sts []state.EnvStatus, get func(string) *modelRow) {
	if h.c.Revisions == nil {
		return
	}
	seen := map[string]bool{}
	for _, st := range sts {
		rev := parseRevision(st.LastApplied, "")
		if rev.Hash == "" || seen[rev.Hash] {
			continue
		}
		seen[rev.Hash] = true
		d, err := h.c.Revisions.Declared(rev.Hash)
		if err != nil {
			continue
		}
		for name, m := range d.Models {
			row := get(name)
			row.Declared, row.Source = true, redact.URL(m.Source)
			if row.Digest == "" {
				row.Digest = m.SHA256
			}
		}
	}
}

// stored marks the models the store keeps, with their sizes; a stored file no name
// points to is listed by its digest.
func (h *Handler) stored(byName map[string]*modelRow, get func(string) *modelRow) {
	if h.c.Models == nil {
		return
	}
	dir := h.c.Models.Dir()
	sizes := map[string]int64{}
	files, _ := os.ReadDir(filepath.Join(dir, "sha256"))
	for _, f := range files {
		if d, ok := strings.CutSuffix(f.Name(), ".tar.gz"); ok {
			if info, err := f.Info(); err == nil {
				sizes[d] = info.Size()
			}
		}
	}
	names, _ := os.ReadDir(filepath.Join(dir, "names"))
	for _, n := range names {
		name, ok := strings.CutSuffix(n.Name(), ".tar.gz")
		if data, err := os.ReadFile(filepath.Join(dir, "names", n.Name())); ok && err == nil {
			if m := get(name); m.Digest == "" {
				m.Digest = strings.TrimSpace(string(data))
			}
		}
	}
	named := map[string]bool{}
	for _, m := range byName {
		if size, ok := sizes[m.Digest]; ok {
			m.Stored, m.Size, named[m.Digest] = true, size, true
		}
	}
	for d, size := range sizes {
		if !named[d] {
			*get("sha256:" + d[:min(12, len(d))]) = modelRow{Name: "(no name) " + shortDigest(d), Digest: d, Size: size, Stored: true}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
