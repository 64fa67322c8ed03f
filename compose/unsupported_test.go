package compose

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// TestEveryServiceFieldIsAppliedOrRefused walks compose-go's ServiceConfig (with the
// ContainerSpec and WorkloadSpec it embeds) by reflection: every field must be either
// applied (AppliedFields) or refused by name (unsupportedFields), never both, so that a
// field added by a compose-go release fails here until it is mapped or refused. A
// struct field may be listed whole, or split into its own fields.
func TestEveryServiceFieldIsAppliedOrRefused(t *testing.T) {
	listed := map[string]bool{}
	for f := range AppliedFields {
		if _, both := unsupportedFields[f]; both {
			t.Errorf("%s is both in AppliedFields and refused by compose.UnsupportedFields: keep one", f)
		}
		listed[f] = true
	}
	for f := range unsupportedFields {
		listed[f] = true
	}
	split := func(prefix string) bool {
		for f := range listed {
			if strings.HasPrefix(f, prefix) {
				return true
			}
		}
		return false
	}
	seen := map[string]bool{}
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, prefix string) {
		fields := jsonFields(typ)
		names := make([]string, 0, len(fields))
		for name := range fields {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			path := prefix + name
			seen[path] = true
			if listed[path] {
				continue
			}
			if elem, star := structUnder(typ.FieldByIndex(fields[name]).Type); elem != nil && split(path+".") {
				walk(elem, path+"."+star)
				continue
			}
			t.Errorf("compose-go's ServiceConfig has field %s: map it in reconcile/convert.go or refuse it in compose.UnsupportedFields", path)
		}
	}
	walk(reflect.TypeOf(types.ServiceConfig{}), "")
	for f := range listed {
		if !seen[f] {
			t.Errorf("%s is listed, but compose-go's ServiceConfig has no such field: remove it", f)
		}
	}
}

// structUnder returns the struct type a field holds (through pointers, map values and
// list entries) and the path step that leads into it ("*." for maps and lists).
func structUnder(t reflect.Type) (reflect.Type, string) {
	star := ""
	for {
		switch t.Kind() {
		case reflect.Pointer:
			t = t.Elem()
		case reflect.Map, reflect.Slice, reflect.Array:
			t, star = t.Elem(), "*."
		case reflect.Struct:
			return t, star
		default:
			return nil, ""
		}
	}
}

// TestUnsupportedFieldsAreReported sets each refused field, alone, and expects
// UnsupportedFields to name it where it is.
func TestUnsupportedFieldsAreReported(t *testing.T) {
	for _, field := range sortedFieldPaths() {
		s := types.ServiceConfig{ContainerSpec: types.ContainerSpec{Image: "alpine:3"}}
		want := setField(reflect.ValueOf(&s).Elem(), strings.Split(field, "."), nil)
		var got []string
		for _, u := range UnsupportedFields(s) {
			got = append(got, u.Field())
		}
		if strings.Join(got, ",") != strings.Join(want, ".") {
			t.Errorf("with %s set, UnsupportedFields names %v, want [%s]", field, got, strings.Join(want, "."))
		}
	}
}

// setField gives the field at steps a value that is not empty, creating what leads
// to it ("*" becomes the map key "x" or the list's first entry); it returns the path.
func setField(v reflect.Value, steps, at []string) []string {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		v = v.Elem()
	}
	if len(steps) == 0 {
		fill(v)
		return at
	}
	switch v.Kind() {
	case reflect.Struct:
		return setField(v.FieldByIndex(jsonFields(v.Type())[steps[0]]), steps[1:], append(at, steps[0]))
	case reflect.Map:
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		path := setField(elem, steps[1:], append(at, "x"))
		v.SetMapIndex(reflect.ValueOf("x").Convert(v.Type().Key()), elem)
		return path
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		return setField(v.Index(0), steps[1:], append(at, "0"))
	}
	panic("cannot follow " + strings.Join(steps, "."))
}

// fill sets v to a value that is not empty.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		v.SetMapIndex(reflect.ValueOf("x").Convert(v.Type().Key()), reflect.New(v.Type().Elem()).Elem())
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := v.Field(i); f.CanSet() && v.Type().Field(i).Tag.Get("json") != "-" {
				fill(f)
				return
			}
		}
	}
}
