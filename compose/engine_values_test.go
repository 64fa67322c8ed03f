package compose

import (
	"context"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// engineValidEnv are the variables testdata/engine-valid needs; reconcile's
// TestEngineValuesAcceptedByEngine sets them to a free subnet and free ports.
var engineValidEnv = map[string]string{
	"VALUES_PROJECT": "values",
	"STUB_IMAGE":     "rasa-gitops/rasa-stub:dev",
	"VALUES_SUBNET":  "10.213.57.0/24",
	"VALUES_ADDRESS": "10.213.57.10",
	"VALUES_PORTS":   "127.0.0.1:18000-18001",
}

// TestEngineValuesBoundaryValid validates testdata/engine-valid: values at the edge of
// what the Engine accepts must not be refused (reconcile converges the same files).
func TestEngineValuesBoundaryValid(t *testing.T) {
	if _, err := Validate(context.Background(), "testdata/engine-valid", LoadOptions{Env: engineValidEnv}); err != nil {
		t.Fatalf("testdata/engine-valid is refused:\n%v", err)
	}
}

// TestEngineValueProblems covers checks of fields that UnsupportedFields refuses today
// (so no repository reaches them): they take effect once a field is mapped.
func TestEngineValueProblems(t *testing.T) {
	swappiness := types.UnitBytes(101)
	tests := []struct {
		name string
		s    types.ServiceConfig
		want []string
	}{
		{"cfs period", types.ServiceConfig{ContainerSpec: types.ContainerSpec{CPUPeriod: 999}}, []string{"cpu_period: " + refusedByEngine + "the CFS period must be from 1000 (1ms) to 1000000 (1s)"}},
		{"cfs quota", types.ServiceConfig{ContainerSpec: types.ContainerSpec{CPUQuota: 999}}, []string{"cpu_quota: " + refusedByEngine + "the CFS quota must be at least 1000 (1ms)"}},
		{"swappiness", types.ServiceConfig{ContainerSpec: types.ContainerSpec{MemSwappiness: swappiness}}, []string{"mem_swappiness: " + refusedByEngine + "use a value from 0 to 100"}},
		{"blkio weight", types.ServiceConfig{ContainerSpec: types.ContainerSpec{BlkioConfig: &types.BlkioConfig{Weight: 5, WeightDevice: []types.WeightDevice{{Path: "/dev/sda", Weight: 2000}}}}},
			[]string{"blkio_config.weight: " + refusedByEngine + "a block I/O weight must be from 10 to 1000", "blkio_config.weight_device.0.weight: " + refusedByEngine + "a block I/O weight must be from 10 to 1000"}},
		{"boundaries", types.ServiceConfig{ContainerSpec: types.ContainerSpec{CPUPeriod: 1000, CPUQuota: 1000, MemSwappiness: -1, BlkioConfig: &types.BlkioConfig{Weight: 10}}}, nil},
		{"cpus with cfs", types.ServiceConfig{ContainerSpec: types.ContainerSpec{CPUS: 0.5, CPUPeriod: 100000, CPUQuota: 50000}},
			[]string{"cpu_period: " + refusedByEngine + "cpus and cpu_period cannot both be set", "cpu_quota: " + refusedByEngine + "cpus and cpu_quota cannot both be set"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range append(serviceValueProblems(tt.s), serviceCrossProblems(tt.s)...) {
				got = append(got, strings.Join(p.path, ".")+": "+p.msg)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
