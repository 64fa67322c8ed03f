package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/rasa-gitops/rasa-gitops/compose"
	"github.com/rasa-gitops/rasa-gitops/internal/hostcfg"
	"github.com/rasa-gitops/rasa-gitops/internal/testengine"
	"github.com/rasa-gitops/rasa-gitops/modelserver"
	"github.com/rasa-gitops/rasa-gitops/reconcile"
)

// scaleEnvs is how many environments BenchmarkScale100 declares.
const scaleEnvs = 100

// BenchmarkScale100 declares 100 Rasa environments (the stand-in image, each serving a
// model) and measures, as whole processes in one run beside `docker compose` on the
// same rendered file: the first converge (`apply`, which waits until every server
// answers and serves its model, against `docker compose up -d --wait`), a no-op
// (`apply` against `up -d`), one environment changed (only that container replaced),
// one model promoted (to model-synced, no restart), the Engine floor of a replace
// (replaceFloor) and of the first converge (startFloor), and `rasa-gitops serve` holding
// the converged project: its RSS and its CPU per no-change poll. While Compose runs,
// the same model server serves its Rasa servers (serveModels). The two sides alternate,
// each sample of one followed by the same sample of the other, on the same containers
// where the sample allows it (each adopts what the other converged: compose_interop):
// first converge, medians of 3 (each after a `down`); no-op, medians of 5; one
// changed, medians of 5, each change made once the container it replaces has run 3 s
// (settle).
func BenchmarkScale100(b *testing.B) {
	compose := testengine.ComposeV2(b)
	cli := testengine.Connect(b)
	testengine.EnsureStubImage(b, cli)
	project := testengine.ProjectName(b)
	testengine.CleanupProject(b, cli, project)
	addr, port := testengine.FreeHostPort(b, cli)
	bin := filepath.Join(b.TempDir(), "rasa-gitops")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v %s", err, out)
	}
	dir, state := b.TempDir(), b.TempDir()
	files := standInDeclaration(b, project, port, "1s")
	for i := 0; i < scaleEnvs; i++ {
		files[fmt.Sprintf("environments/env-%03d.yaml", i)] = "model: moodbot-v1\n"
	}
	writeTree(b, dir, files)
	x := &scaleRun{b: b, bin: bin, compose: compose, project: project, dir: dir, state: state, addr: addr}
	var promote time.Duration
	var first, firstCompose, noop, noopCompose, change, changeCompose, floor, asks, starts []time.Duration
	for b.Loop() {
		for i := 0; i < firstRounds; i++ {
			x.down()
			first = append(first, x.timed(x.apply()))
			rendered := x.render()
			x.down()
			firstCompose = append(firstCompose, x.composeTimed(x.up(rendered, "--wait")))
		}
		x.timed(x.apply()) // adopts what Compose started: the same containers
		for i := 0; i < 5; i++ {
			noop = append(noop, x.timed(x.apply()))
			asks = append(asks, x.askAll())
			starts = append(starts, x.timed(exec.Command(x.bin, "--help")))
			noopCompose = append(noopCompose, x.composeTimed(x.up(x.render())))
		}
		for i := 0; i < changes; i++ {
			change = append(change, x.changed(cli, fmt.Sprintf("model: moodbot-v1\nservice:\n  environment: {CHANGED: \"%d\"}\n", i), func() time.Duration { return x.timed(x.apply()) }))
			changeCompose = append(changeCompose, x.changed(cli, fmt.Sprintf("model: moodbot-v1\nservice:\n  environment: {CHANGED: \"c%d\"}\n", i), func() time.Duration { return x.composeTimed(x.up(x.render())) }))
			floor = append(floor, replaceFloor(b, cli, project, i))
		}
		x.edit("env-042", fmt.Sprintf("model: moodbot-v2\nservice:\n  environment: {CHANGED: \"c%d\"}\n", changes-1)) // the last change, promoted
		before := x.ids()
		promote = x.timed(x.apply())
		x.assertTouched(before, x.ids(), 0)
	}
	x.down()
	firstFloor := startFloor(b, cli, project, scaleEnvs)
	x.timed(x.apply())
	rss, cpu := x.serveCost()
	x.down()
	report := func(name string, d time.Duration) { b.ReportMetric(d.Seconds(), name) }
	// Every sample, in the order taken (the two sides alternate): a median hides how
	// far one change moves from the next on a loaded machine.
	b.Logf("samples, seconds, in order:\nfirst apply %s\nfirst compose %s\nnoop apply %s\nnoop compose %s\nchanged apply %s\nchanged compose %s\nreplace floor %s",
		seconds(first), seconds(firstCompose), seconds(noop), seconds(noopCompose), seconds(change), seconds(changeCompose), seconds(floor))
	report("first-apply-s", median(first))
	report("first-compose-up-wait-s", median(firstCompose))
	report("first-engine-floor-s", firstFloor)
	report("noop-apply-s", median(noop))
	report("noop-compose-up-s", median(noopCompose))
	report("one-changed-apply-s", median(change))
	report("one-changed-compose-up-s", median(changeCompose))
	report("replace-engine-floor-s", median(floor))
	report("ask-100-servers-s", median(asks))
	report("process-start-s", median(starts))
	report("promote-to-synced-s", promote)
	b.ReportMetric(rss, "serve-rss-MiB")
	b.ReportMetric(cpu, "cpu-ms/poll")
}

// serveModels serves the model server on addr (the address a rendered file names),
// from the store, tag table and model token the applies left in state, while Compose
// runs that file: its Rasa servers then download their models when they start and
// pull as they do under rasa-gitops, instead of finding no server (Compose has none
// of its own; a team using it would run one beside it). It returns stop, which the
// test's cleanup also calls should the test stop before it does.
func serveModels(t testing.TB, state, addr string) (stop func()) {
	t.Helper()
	side, err := hostcfg.Config{StateDir: state}.OpenSide()
	if err != nil {
		t.Fatal(err)
	}
	listening, err := hostcfg.ListenModelServer(addr, side)
	if err != nil {
		t.Fatal(err)
	}
	stop = sync.OnceFunc(listening)
	t.Cleanup(stop)
	return stop
}

// seconds formats durations as seconds, three decimals each.
func seconds(ds []time.Duration) string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
	}
	return strings.Join(out, " ")
}

// composeTimed times a Compose command while the model server serves its Rasa servers
// (serveModels), so that they do the work they do under rasa-gitops.
func (x *scaleRun) composeTimed(cmd *exec.Cmd) time.Duration {
	stop := serveModels(x.b, x.state, x.addr)
	defer stop()
	return x.timed(cmd)
}

// changed changes env-042 to body once its container has settled, then runs timed (an
// `apply`, or `up -d` of the new render) and returns its time, after checking that only
// that one container was replaced.
func (x *scaleRun) changed(cli *client.Client, body string, timed func() time.Duration) time.Duration {
	x.settle(cli, "env-042")
	x.edit("env-042", body)
	before := x.ids()
	took := timed()
	x.assertTouched(before, x.ids(), 1)
	return took
}

// firstRounds is how many first converges BenchmarkScale100 times on each side,
// alternating the two: one first converge moves by up to 20% with what ran just
// before it, more than the difference it measures.
const firstRounds = 3

// changes is how many times BenchmarkScale100 changes one environment on each side.
const changes = 5

// settle waits until env's container has run as long as a side-by-side replace lets
// a young container serve before it withdraws it (reconcile's StableFor, 3 s: clients
// that resolved it while it started must still find it). Both sides' changes are
// spaced so: back to back, every other apply of rasa-gitops would wait out the rest of
// those 3 s, a cost of changing one environment twice within 3 s, not of a change.
func (x *scaleRun) settle(cli *client.Client, env string) {
	info, err := cli.ContainerInspect(context.Background(), x.project+"-"+compose.ServiceName(env)+"-1")
	if err != nil {
		x.b.Fatal(err)
	}
	started, err := time.Parse(time.RFC3339Nano, info.State.StartedAt)
	if err != nil {
		x.b.Fatal(err)
	}
	time.Sleep(time.Until(started.Add(3*time.Second + 100*time.Millisecond))) // workload spacing, not synchronisation
}

// scaleRun runs the commands of BenchmarkScale100.
type scaleRun struct {
	b                                       *testing.B
	bin, compose, project, dir, state, addr string
}

func (x *scaleRun) apply() *exec.Cmd {
	return exec.Command(x.bin, "apply", x.dir, "--state-dir", x.state, "--listen", x.addr, "--health-timeout", "5m", "--model-timeout", "5m")
}

func (x *scaleRun) render() []byte {
	out, err := exec.Command(x.bin, "render", x.dir, "--state-dir", x.state, "--show-secrets").Output()
	if err != nil {
		x.b.Fatalf("render: %v", err)
	}
	return out
}

func (x *scaleRun) up(rendered []byte, extra ...string) *exec.Cmd {
	cmd := exec.Command(x.compose, append([]string{"-p", x.project, "--project-directory", x.dir, "-f", "-", "up", "-d"}, extra...)...)
	cmd.Stdin = bytes.NewReader(rendered)
	return cmd
}

func (x *scaleRun) down() {
	if out, err := exec.Command(x.bin, "down", x.dir, "--state-dir", x.state).CombinedOutput(); err != nil {
		x.b.Fatalf("down: %v %s", err, out)
	}
}

func (x *scaleRun) timed(cmd *exec.Cmd) time.Duration {
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		x.b.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return time.Since(start)
}

func (x *scaleRun) edit(env, body string) {
	writeTree(x.b, x.dir, map[string]string{"environments/" + env + ".yaml": body})
}

// askAll asks the 100 Rasa servers at once what they serve, at the addresses and with
// the tokens of the last apply's snapshot, as a no-op apply does, and returns how long
// the answers took: the floor of a no-op that checks every server.
func (x *scaleRun) askAll() time.Duration {
	paths, _ := filepath.Glob(filepath.Join(x.state, "converged", "*.json"))
	if len(paths) != 1 {
		x.b.Fatalf("want one snapshot, have %v", paths)
	}
	snap, ok := reconcile.LoadConverged(paths[0])
	if !ok || len(snap.Environments) != scaleEnvs {
		x.b.Fatalf("snapshot %s: %d environments", paths[0], len(snap.Environments))
	}
	client := &http.Client{Timeout: 5 * time.Second}
	errs := make(chan error, len(snap.Environments))
	start := time.Now()
	for _, env := range snap.Environments {
		go func() {
			file, err := modelserver.RasaStatus(context.Background(), client, env.URL, env.Token)
			if err == nil && file != env.ModelFile {
				err = fmt.Errorf("%s serves %s", env.Name, file)
			}
			errs <- err
		}()
	}
	for range snap.Environments {
		if err := <-errs; err != nil {
			x.b.Fatal(err)
		}
	}
	return time.Since(start)
}

// ids maps the project's container names to their IDs.
func (x *scaleRun) ids() map[string]string {
	out, err := exec.Command("docker", "ps", "-a", "--filter", "label=com.docker.compose.project="+x.project, "--format", "{{.Names}} {{.ID}}").Output()
	if err != nil {
		x.b.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if name, id, ok := strings.Cut(line, " "); ok {
			m[name] = id
		}
	}
	return m
}

// assertTouched checks that exactly want containers changed ID.
func (x *scaleRun) assertTouched(before, after map[string]string, want int) {
	changed := 0
	for name, id := range after {
		if before[name] != id {
			changed++
		}
	}
	if changed != want || len(after) != scaleEnvs {
		x.b.Fatalf("%d containers replaced (want %d), %d in all", changed, want, len(after))
	}
}

// serveCost runs `rasa-gitops serve` on the converged project polling every second
// and returns its RSS (MiB) once it has served a while, and its CPU (user + system)
// per second of serving, which at --interval 1s is the CPU of one no-change poll and
// its share of idle, read from /proc over a 10 s window after a 5 s settling time.
func (x *scaleRun) serveCost() (rss, cpuPerPoll float64) {
	cmd := exec.Command(x.bin, "serve", x.dir, "--state-dir", x.state, "--listen", x.addr, "--interval", "1s")
	if err := cmd.Start(); err != nil {
		x.b.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	time.Sleep(5 * time.Second) // a measurement window, not synchronisation: the first run, then polls
	cpu0 := cpuTicks(x.b, cmd.Process.Pid)
	time.Sleep(10 * time.Second)
	cpu1 := cpuTicks(x.b, cmd.Process.Pid)
	return rssMiB(x.b, cmd.Process.Pid), float64(cpu1-cpu0) * 10 / 10 // 10 ms ticks, 10 polls
}

// cpuTicks is a process's user + system time in clock ticks (/proc/PID/stat).
func cpuTicks(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return utime + stime
}

// rssMiB is a process's resident set (/proc/PID/status VmRSS) in MiB.
func rssMiB(b *testing.B, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

// replaceFloor times, in process, the Engine calls any replace of one container makes
// (Compose's and rasa-gitops's alike, in their own orders): create and start a
// container of the stand-in image, stop and remove the one it replaces. The
// containers carry the project's label, so CleanupProject removes them.
func replaceFloor(b *testing.B, cli *client.Client, project string, round int) time.Duration {
	ctx := context.Background()
	cfg := &container.Config{Image: testengine.StubImage, Labels: map[string]string{"com.docker.compose.project": project}}
	name := func(which string) string { return fmt.Sprintf("%s-floor-%d-%s", project, round, which) }
	old, err := cli.ContainerCreate(ctx, cfg, nil, nil, nil, name("old"))
	if err == nil {
		err = cli.ContainerStart(ctx, old.ID, container.StartOptions{})
	}
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	created, err := cli.ContainerCreate(ctx, cfg, nil, nil, nil, name("new"))
	if err == nil {
		err = cli.ContainerStart(ctx, created.ID, container.StartOptions{})
	}
	if err == nil {
		err = cli.ContainerStop(ctx, old.ID, container.StopOptions{})
	}
	if err == nil {
		err = cli.ContainerRemove(ctx, old.ID, container.RemoveOptions{})
	}
	took := time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	if err := cli.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true}); err != nil {
		b.Fatal(err)
	}
	return took
}

// startFloor times, in process, the Engine calls any first converge of n stand-in
// containers makes (Compose's and rasa-gitops's alike): create each on a network of
// its own and start it, reconcile.DefaultParallel at a time (rasa-gitops's default;
// the Engine serialises most of a start, so more at once is no faster). Nothing waits
// for a server to answer, so this is the floor under both first-converge figures. The
// containers and the network carry the project's label and are removed before it
// returns (CleanupProject too, should it fail).
func startFloor(b *testing.B, cli *client.Client, project string, n int) time.Duration {
	ctx := context.Background()
	labels := map[string]string{"com.docker.compose.project": project}
	netName := project + "-floor"
	if _, err := cli.NetworkCreate(ctx, netName, network.CreateOptions{Labels: labels}); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	jobs := make(chan int)
	errs := make(chan error, n)
	start := time.Now()
	for w := 0; w < reconcile.DefaultParallel; w++ {
		go func() {
			for i := range jobs {
				cfg := &container.Config{Image: testengine.StubImage, Labels: labels}
				created, err := cli.ContainerCreate(ctx, cfg, &container.HostConfig{NetworkMode: container.NetworkMode(netName)}, nil, nil, fmt.Sprintf("%s-floor-first-%03d", project, i))
				if err == nil {
					ids[i] = created.ID
					err = cli.ContainerStart(ctx, created.ID, container.StartOptions{})
				}
				errs <- err
			}
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	var failed error
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil && failed == nil {
			failed = err
		}
	}
	took := time.Since(start)
	for _, id := range ids {
		if id != "" {
			_ = cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
		}
	}
	if err := cli.NetworkRemove(ctx, netName); err != nil && failed == nil {
		failed = err
	}
	if failed != nil {
		b.Fatal(failed)
	}
	return took
}
