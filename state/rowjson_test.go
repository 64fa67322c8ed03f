package state

import (
	"encoding/json"
	"testing"
	"time"
)

// TestAppendJSONIsEncodingJSON: the hand-written encoding is byte for byte what
// encoding/json writes, escapes and all.
func TestAppendJSONIsEncodingJSON(t *testing.T) {
	rows := []Row{
		{},
		{ID: 42, Entry: Entry{Time: time.Date(2026, 11, 29, 23, 1, 2, 345678900, time.UTC), Revision: "main@sha1:abc", Author: "Dev <dev@example.com>",
			Environment: "production", Action: "retag model", Before: "a & b", After: "pässwörd \u2028 ü", Outcome: "done", Error: "line\n\"quoted\"\t\\ \x01 \xff"}, PrevHash: "00", Hash: "ff"},
	}
	for _, r := range rows {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.AppendJSON(nil); string(got) != string(want) {
			t.Errorf("AppendJSON:\n%s\nencoding/json:\n%s", got, want)
		}
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add(int64(1), "main@sha1:x", "<a>&\"b\"", "ü\n")
	f.Fuzz(func(t *testing.T, id int64, rev, action, errText string) {
		r := Row{ID: id, Entry: Entry{Time: time.Unix(id%1e9, 0).UTC(), Revision: rev, Action: action, Error: errText}}
		want, _ := json.Marshal(r)
		if got := r.AppendJSON(nil); string(got) != string(want) {
			t.Fatalf("AppendJSON %s, encoding/json %s", got, want)
		}
	})
}
