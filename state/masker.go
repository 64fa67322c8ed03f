package state

import (
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Mask replaces a secret in everything the store writes.
const Mask = "********"

// Masker replaces known secret values (tokens, ${VAR} values) in text. Values shorter
// than 4 characters are not masked: they would mangle ordinary words.
type Masker struct {
	mu      sync.RWMutex
	secrets []string
}

// NewMasker returns a masker with no secrets.
func NewMasker() *Masker { return &Masker{} }

// Add registers secret values.
func (m *Masker) Add(values ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range values {
		if len(v) >= 4 && !contains(m.secrets, v) {
			m.secrets = append(m.secrets, v)
		}
	}
	// Longest first, so a secret containing another is masked whole.
	sort.Slice(m.secrets, func(i, j int) bool { return len(m.secrets[i]) > len(m.secrets[j]) })
}

// Apply masks every registered secret in s.
func (m *Masker) Apply(s string) string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, secret := range m.secrets {
		if strings.Contains(s, secret) {
			s = strings.ReplaceAll(s, secret, Mask)
		}
	}
	return s
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// MaskingWriter masks the registered secrets in everything written through it (a
// logger's output). The masker is loaded at every write, so the writer can be made
// before the store that owns the masker is open: until M holds one, text passes
// unchanged.
type MaskingWriter struct {
	W io.Writer
	M *atomic.Pointer[Masker]
}

// Write writes p masked, and reports len(p) written so that callers (zap) do not
// mistake a masked line of another length for a short write.
func (mw MaskingWriter) Write(p []byte) (int, error) {
	m := mw.M.Load()
	if m == nil {
		return mw.W.Write(p)
	}
	if _, err := io.WriteString(mw.W, m.Apply(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
