package main

import (
	"fmt"
	"testing"

	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
)

// standInDeclaration is the files of a declaration whose environments run the stand-in
// Rasa image with the quickstart models, their model server at host.docker.internal:
// port (testengine.FreeHostPort's), pulling every pullInterval ("" for the default).
// Callers add the environments.
func standInDeclaration(t testing.TB, project string, port int, pullInterval string) map[string]string {
	t.Helper()
	files := testengine.QuickstartModels(t)
	pull := ""
	if pullInterval != "" {
		pull = "  pullInterval: " + pullInterval + "\n"
	}
	files["rasa-gitops.yaml"] = fmt.Sprintf("version: 1\nproject: %s\nrasa:\n  image: %s\n%smodelServer:\n  url: http://host.docker.internal:%d\n", project, testengine.StubImage, pull, port)
	return files
}
