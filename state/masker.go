package state

import (
	"sort"
	"strings"
	"sync"
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
