// Command growthplot reads the output of `go test -bench Growth ./pipeline` and writes
// an SVG plot of time per operation against the number of environments (log-log), one
// line per measured thing, plus a Markdown table with the growth between sizes. Used
// by bench/growth.sh; the figures are only those in its input.
package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// point is one benchmark line: what, at how many environments, how long.
type point struct {
	what string
	envs int
	ms   float64
}

var line = regexp.MustCompile(`^BenchmarkGrowth/(\w+)/envs=(\d+)\S*\s+\d+\s+([\d.]+) ns/op`)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: growthplot OUT.svg OUT.md < go-test-bench-output")
		os.Exit(64)
	}
	points, err := read(os.Stdin)
	if err == nil && len(points) == 0 {
		err = fmt.Errorf("no BenchmarkGrowth lines in the input")
	}
	if err == nil {
		err = os.WriteFile(os.Args[1], []byte(svg(points)), 0o644)
	}
	if err == nil {
		err = os.WriteFile(os.Args[2], []byte(table(points)), 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "growthplot:", err)
		os.Exit(1)
	}
}

func read(r io.Reader) ([]point, error) {
	var out []point
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		envs, _ := strconv.Atoi(m[2])
		ns, _ := strconv.ParseFloat(m[3], 64)
		out = append(out, point{what: m[1], envs: envs, ms: ns / 1e6})
	}
	return out, sc.Err()
}

// series groups the points by what they measure, each sorted by size.
func series(points []point) (names []string, by map[string][]point) {
	by = map[string][]point{}
	for _, p := range points {
		if _, ok := by[p.what]; !ok {
			names = append(names, p.what)
		}
		by[p.what] = append(by[p.what], p)
	}
	for _, s := range by {
		slices.SortFunc(s, func(a, b point) int { return a.envs - b.envs })
	}
	return names, by
}

// table is a Markdown table: ms per op at each size and the growth exponent between
// neighbouring sizes (1 is linear).
func table(points []point) string {
	names, by := series(points)
	var b strings.Builder
	b.WriteString("| what | environments | time/op | growth from the size before (1.0 = linear) |\n|---|---|---|---|\n")
	for _, n := range names {
		for i, p := range by[n] {
			growth := "—"
			if i > 0 {
				q := by[n][i-1]
				growth = fmt.Sprintf("%.2f", math.Log(p.ms/q.ms)/math.Log(float64(p.envs)/float64(q.envs)))
			}
			fmt.Fprintf(&b, "| %s | %d | %.3f ms | %s |\n", n, p.envs, p.ms, growth)
		}
	}
	return b.String()
}

// svg draws the series on log-log axes.
func svg(points []point) string {
	const w, h, left, bottom, top, right = 640.0, 400.0, 70.0, 50.0, 30.0, 130.0
	names, by := series(points)
	minX, maxX, minY, maxY := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, p := range points {
		minX, maxX = math.Min(minX, float64(p.envs)), math.Max(maxX, float64(p.envs))
		minY, maxY = math.Min(minY, p.ms), math.Max(maxY, p.ms)
	}
	lx0, lx1 := math.Floor(math.Log10(minX)), math.Ceil(math.Log10(maxX))
	ly0, ly1 := math.Floor(math.Log10(minY)), math.Ceil(math.Log10(maxY))
	lx1, ly1 = math.Max(lx1, lx0+1), math.Max(ly1, ly0+1)
	x := func(v float64) float64 { return left + (math.Log10(v)-lx0)/(lx1-lx0)*(w-left-right) }
	y := func(v float64) float64 { return h - bottom - (math.Log10(v)-ly0)/(ly1-ly0)*(h-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%.0f" y="18">time per operation (ms) against environments, log-log</text>`+"\n", left)
	for e := lx0; e <= lx1; e++ {
		v := math.Pow(10, e)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="middle">%g</text>`+"\n", x(v), top, x(v), h-bottom, x(v), h-bottom+18, v)
	}
	for e := ly0; e <= ly1; e++ {
		v := math.Pow(10, e)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="end">%g</text>`+"\n", left, y(v), w-right, y(v), left-6, y(v)+4, v)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">environments</text>`+"\n", (left+w-right)/2, h-12)
	colors := []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd"}
	for i, n := range names {
		c := colors[i%len(colors)]
		var pts []string
		for _, p := range by[n] {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(float64(p.envs)), y(p.ms)))
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", x(float64(p.envs)), y(p.ms), c)
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(pts, " "), c)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="%s">%s</text>`+"\n", w-right+10, top+20+float64(i)*18, c, n)
	}
	b.WriteString("</svg>\n")
	return b.String()
}
