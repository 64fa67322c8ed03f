package compose

import (
	"context"
	"testing"
)

// TestLabelFileRelativeToRepository: a relative label_file is read from the
// repository, whatever the process's directory (validate used to look for it there).
func TestLabelFileRelativeToRepository(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"rasa-gitops.yaml":             "version: 1\nproject: lf\ncompose:\n  files: [compose/base.yml]\n",
		"compose/base.yml":             "services:\n  db:\n    image: postgres:13\n    label_file: compose/labels.env\n",
		"compose/labels.env":           "tier=data\n",
		"environments/production.yaml": "",
	})
	d, err := Load(dir, LoadOptions{})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	r, err := Render(context.Background(), d, RenderOptions{ModelToken: "model-token", DefaultToken: "rasa-token", GeneratedDir: t.TempDir()})
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	if got := r.Project.Services["db"].Labels["tier"]; got != "data" {
		t.Errorf("label tier = %q, want data from the label file", got)
	}
}
