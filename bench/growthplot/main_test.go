package main

import (
	"strings"
	"testing"
)

func TestReadTableAndPlot(t *testing.T) {
	in := "goos: linux\nBenchmarkGrowth/render/envs=1-2   5   2000000 ns/op   10 B/op\nBenchmarkGrowth/render/envs=10-2   5   20000000 ns/op\nBenchmarkGrowth/poll/envs=1-2   5   1000000 ns/op\nBenchmarkGrowth/poll/envs=100-2   5   10000000 ns/op\nPASS\n"
	points, err := read(strings.NewReader(in))
	if err != nil || len(points) != 4 {
		t.Fatalf("read: %v %v", points, err)
	}
	tab := table(points)
	for _, want := range []string{"| render | 10 | 20.000 ms | 1.00 |", "| poll | 100 | 10.000 ms | 0.50 |"} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
	if s := svg(points); strings.Count(s, "<polyline") != 2 || strings.Count(s, "<circle") != 4 || !strings.HasSuffix(s, "</svg>\n") {
		t.Errorf("svg:\n%s", s)
	}
}
