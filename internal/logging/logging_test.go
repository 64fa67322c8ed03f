package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
)

// TestConcurrentLinesStayWhole: lines logged from many goroutines to a plain writer
// (run with -race) neither race nor interleave.
func TestConcurrentLinesStayWhole(t *testing.T) {
	var buf bytes.Buffer
	log, err := New("json", &buf)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				log.Info("model load ended")
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 400 {
		t.Fatalf("%d lines, want 400", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "{") || !strings.HasSuffix(l, "}") {
			t.Fatalf("a broken line: %q", l)
		}
	}
}

func TestUnknownFormat(t *testing.T) {
	if _, err := New("xml", &bytes.Buffer{}); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("err = %v", err)
	}
}

// TestMaskedBeforeEncoding: secrets with characters JSON escapes (a quote, a
// backslash, a newline) and non-ASCII ones are masked in the message and in fields of
// every kind, so neither the raw nor the escaped form reaches the output.
func TestMaskedBeforeEncoding(t *testing.T) {
	secrets := []string{`pa"ss\word`, "line1\nline2-secret", "pässwörd-ü-geheim", `tab	and "quote"`}
	var buf bytes.Buffer
	log, err := New("json", &buf)
	if err != nil {
		t.Fatal(err)
	}
	log = Masked(log, func(s string) string {
		for _, secret := range secrets {
			s = strings.ReplaceAll(s, secret, "********")
		}
		return s
	})
	for _, s := range secrets {
		log.With(zap.String("with", "w:"+s)).Info("message "+s,
			zap.String("string", s), zap.Error(errors.New("error: "+s)), zap.Strings("list", []string{"a", s}),
			zap.Any("map", map[string]string{"k": s}), zap.Stringer("stringer", stringer(s)), zap.Int("n", 1))
	}
	out := buf.String()
	for _, s := range secrets {
		escaped, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, form := range []string{s, strings.Trim(string(escaped), `"`)} {
			if strings.Contains(out, form) {
				t.Errorf("secret %q reached the log as %q:\n%s", s, form, out)
			}
		}
	}
	if strings.Count(out, "********") < 6*len(secrets) || !strings.Contains(out, `"n":1`) {
		t.Errorf("fields lost:\n%s", out)
	}
}

type stringer string

func (s stringer) String() string { return string(s) }
