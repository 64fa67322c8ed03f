package state

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// TestHistoryReadsEveryColumnBothWays: the joined fast path and the column-by-column
// path read the same rows; a row whose text holds the separator is read whole, with
// the filter's limit and order kept across the switch.
func TestHistoryReadsEveryColumnBothWays(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	var entries []Entry
	for i := 1; i <= 6; i++ {
		e := Entry{Time: time.Date(2026, 11, 1, 0, 0, i, 123, time.UTC), Revision: fmt.Sprint("main@sha1:", i), Author: "dev <dev@x>", Signer: "ABCD",
			Environment: "production", Action: "recreate service:rasa-production", Before: "a", After: "b", Outcome: "done", Error: ""}
		if i == 3 {
			e.Error = "odd\x1fseparator\x1fin the error"
		}
		if i == 5 {
			e.Before = "" // empty columns keep their place
		}
		entries = append(entries, e)
	}
	if err := s.Record(ctx, entries...); err != nil {
		t.Fatal(err)
	}
	var joined, byColumn []Row
	if err := s.EachHistory(ctx, Filter{Limit: 5}, func(r Row) error { joined = append(joined, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.eachByColumn(ctx, Filter{Limit: 5}, func(r Row) error { byColumn = append(byColumn, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(joined) != 5 || joined[0].ID != 6 || joined[4].ID != 2 {
		t.Fatalf("rows %v", ids(joined))
	}
	if !reflect.DeepEqual(joined, byColumn) {
		t.Errorf("the two paths differ:\n%+v\n%+v", joined, byColumn)
	}
	if joined[3].Error != "odd\x1fseparator\x1fin the error" || joined[1].Before != "" || joined[1].After != "b" {
		t.Errorf("columns read wrong: %+v", joined)
	}
	if !joined[0].Time.Equal(entries[5].Time) {
		t.Errorf("time %v, want %v", joined[0].Time, entries[5].Time)
	}
}

func ids(rows []Row) []int64 {
	var out []int64
	for _, r := range rows {
		out = append(out, r.ID)
	}
	return out
}

// TestHistoryFiltersByAction: an action filter keeps the action itself and the
// actions it starts as a word ("start" keeps "start service:x", not "started").
func TestHistoryFiltersByAction(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	var entries []Entry
	for _, a := range []string{"start service:rasa-a", "plan", "started", "start", "policy: signature", "start service:rasa-b"} {
		entries = append(entries, Entry{Environment: "a", Action: a, Outcome: "done"})
	}
	if err := s.Record(ctx, entries...); err != nil {
		t.Fatal(err)
	}
	for action, want := range map[string][]int64{"start": {6, 4, 1}, "policy:": {5}, "plan": {2}, "nothing": nil} {
		rows, err := s.History(ctx, Filter{Action: action, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(rows); !reflect.DeepEqual(got, want) {
			t.Errorf("action %q: rows %v, want %v", action, got, want)
		}
	}
}
