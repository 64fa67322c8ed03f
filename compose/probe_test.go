package compose

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestServiceFieldProblemsArePlaced checks the problems compose-go finds in Compose
// service fields: each one at the field it is about, one per field, worded without a
// variable's value, whatever compose-go's error text looks like.
func TestServiceFieldProblemsArePlaced(t *testing.T) {
	env := map[string]string{"CPU_SHARE": "half-a-secret", "PIDS": "many-secret", "PORT_TARGET": "eighty-secret"}
	tests := []struct {
		name, file, yaml string
		want             []string
	}{
		{
			name: "two casts fail",
			file: "environments/worker.yaml",
			yaml: "service:\n  cpus: ${CPU_SHARE}\n  pids_limit: ${PIDS}\n",
			want: []string{
				`environments/worker.yaml:2:9: service.cpus: failed to cast to expected type: strconv.ParseFloat: parsing "${CPU_SHARE}": invalid syntax`,
				`environments/worker.yaml:3:15: service.pids_limit: failed to cast to expected type: strconv.ParseInt: parsing "${PIDS}": invalid syntax`,
			},
		},
		{
			name: "cast in a list",
			file: "environments/worker.yaml",
			yaml: "service:\n  ports:\n    - target: 80\n    - target: ${PORT_TARGET}\n",
			want: []string{
				`environments/worker.yaml:4:15: service.ports.1.target: failed to cast to expected type: strconv.Atoi: parsing "${PORT_TARGET}": invalid syntax`,
			},
		},
		{
			name: "boolean cast",
			file: "environments/worker.yaml",
			yaml: "service:\n  init: maybe\n",
			want: []string{
				`environments/worker.yaml:2:9: service.init: failed to cast to expected type: invalid boolean: maybe`,
			},
		},
		{
			name: "key with dots",
			file: "environments/worker.yaml",
			yaml: "service:\n  labels:\n    com.example.team: [a]\n",
			want: []string{
				`environments/worker.yaml:3:23: service.labels.com.example.team must be a boolean, null, number or string`,
			},
		},
		{
			name: "key with a space",
			file: "environments/worker.yaml",
			yaml: "service:\n  environment:\n    MY VAR: {a: 1}\n",
			want: []string{
				`environments/worker.yaml:3:13: service.environment.MY VAR must be a boolean, null, number or string`,
			},
		},
		{
			name: "unknown field in a compose file",
			file: "compose/base.yml",
			yaml: "services:\n  db:\n    image: postgres:13\n    healthcheck:\n      test: [CMD, pg_isready]\n      tries: 3\n",
			want: []string{
				`compose/base.yml:6:7: unknown Compose field "tries" in services.db.healthcheck: see https://docs.docker.com/reference/compose-file/services/`,
			},
		},
		{
			name: "duration",
			file: "compose/base.yml",
			yaml: "services:\n  db:\n    image: postgres:13\n    healthcheck:\n      interval: often\n",
			want: []string{
				`compose/base.yml:5:17: services.db.healthcheck.interval: time: invalid duration "often"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := baseFiles()
			files[tt.file] = tt.yaml
			if strings.HasPrefix(tt.file, "compose/") {
				files["rasa-gitops.yaml"] = "version: 1\nproject: demo\ncompose:\n  files: [" + tt.file + "]\n"
			}
			_, err := Validate(context.Background(), writeRepo(t, files), LoadOptions{Env: env})
			var problems Problems
			if !errors.As(err, &problems) {
				t.Fatalf("want Problems, got %v", err)
			}
			got := strings.Split(problems.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for _, v := range env {
				if strings.Contains(problems.Error(), v) {
					t.Errorf("a value leaked: %s", problems.Error())
				}
			}
		})
	}
}
