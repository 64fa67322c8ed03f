package state

import (
	"encoding/json"
	"strconv"
	"time"
)

// AppendJSON appends the row as encoding/json encodes it (same fields, order and
// escaping) without reflection: `history --json` of a long audit log spends its time
// here otherwise.
func (r Row) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, r.ID, 10)
	b = append(b, `,"time":"`...)
	b = r.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	for _, f := range [...]struct{ key, value string }{
		{"revision", r.Revision}, {"author", r.Author}, {"signer", r.Signer}, {"environment", r.Environment},
		{"action", r.Action}, {"before", r.Before}, {"after", r.After}, {"outcome", r.Outcome},
		{"error", r.Error}, {"prev_hash", r.PrevHash}, {"hash", r.Hash},
	} {
		b = append(b, `,"`...)
		b = append(b, f.key...)
		b = append(b, `":`...)
		b = appendJSONString(b, f.value)
	}
	return append(b, '}')
}

// appendJSONString quotes s as encoding/json does: plain printable ASCII directly,
// anything that needs escaping (quotes, control characters, <, >, &, non-ASCII)
// through encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
