package compose

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Rendering 100 environments through compose-go's loader costs ~1 ms of CPU and ~1 MB
// per service, nearly all of it interpolation, schema validation, canonical transform
// and decoding of fields that are the same in every environment. So environments
// that share a shape (image, whether the port is published, and their own service
// fields) are loaded once, as a template service whose per-environment values are
// placeholders, and each environment's service is a copy of the loaded template with
// its own values put in. Environments whose result could depend on more than those
// values (any `ports:` in their layers) are loaded as themselves; so is everything
// when the template load fails, so that problems are placed as before.
const (
	// placeholderName stands for the environment's name in a template service. It is
	// not a DNS label with its prefix, so no environment is named after it.
	placeholderName  = "rgtmplenvq7x3k"
	placeholderToken = "rgtmpltokq7x3k"
	placeholderMark  = "rgtmpl"
	// templateServicePrefix names the template services: a dot is not allowed in an
	// environment name, so no rasa-<env> service has it.
	templateServicePrefix = "rasa-gitops.template."
)

// shape groups the environments that render from one template service.
type shape struct {
	template string // the template service's name
	rep      Environment
	// fields are the environments' own service fields with their plain string
	// values under environment: and labels: replaced by placeholders (valuePlaceholder).
	fields map[string]any
	envs   []stampedEnvironment
}

// stampedEnvironment is an environment of a shape with the values its placeholders
// stand for, in placeholder order.
type stampedEnvironment struct {
	Environment
	values []string
}

// planShapes splits the environments into those rendered as themselves and the
// shapes the others are stamped from. ok is false when stamping cannot be trusted
// for this declaration at all.
func planShapes(d *Declaration) (direct []Environment, shapes []*shape, ok bool) {
	template, err := json.Marshal(d.Rasa.Service)
	if err != nil || strings.Contains(string(template), placeholderMark) || hasKey(d.Rasa.Service, "ports") {
		return d.Environments, nil, true
	}
	for name := range d.composeServices {
		if strings.HasPrefix(name, templateServicePrefix) {
			return nil, nil, false
		}
	}
	byKey := map[string]*shape{}
	for _, env := range d.Environments {
		own, err := json.Marshal(env.Service)
		generic, values := genericFields(env.Service)
		fields, gerr := json.Marshal(generic)
		if err != nil || gerr != nil || strings.Contains(string(own), placeholderMark) || hasKey(env.Service, "ports") ||
			strings.Contains(env.Name+env.Token+env.Image, placeholderMark) {
			direct = append(direct, env)
			continue
		}
		key := env.Image + "\x00" + strconv.FormatBool(env.Publish != nil) + "\x00" + string(fields)
		s := byKey[key]
		if s == nil {
			s = &shape{template: templateServicePrefix + strconv.Itoa(len(shapes)), rep: env, fields: generic}
			byKey[key] = s
			shapes = append(shapes, s)
		}
		s.envs = append(s.envs, stampedEnvironment{Environment: env, values: values})
	}
	return direct, shapes, true
}

// genericFields copies an environment's service fields with each plain string value
// of the mapping forms of environment: and labels: (which compose-go keeps verbatim)
// replaced by a numbered placeholder, and returns the values in placeholder order
// (keys sorted). Values with a $ are kept: compose-go interpolates them.
func genericFields(fields map[string]any) (map[string]any, []string) {
	var values []string
	generic, cloned := fields, false
	for _, key := range []string{"environment", "labels"} {
		m, ok := fields[key].(map[string]any)
		if !ok {
			continue
		}
		out := make(map[string]any, len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			v, isString := m[k].(string)
			if !isString || strings.Contains(v, "$") {
				out[k] = m[k]
				continue
			}
			out[k] = valuePlaceholder(len(values))
			values = append(values, v)
		}
		if !cloned {
			generic, cloned = maps.Clone(fields), true
		}
		generic[key] = out
	}
	return generic, values
}

// valuePlaceholder stands for the i-th value of genericFields; no placeholder is a
// prefix of another.
func valuePlaceholder(i int) string { return "rgtmplv" + strconv.Itoa(i) + "q7x3k" }

func hasKey(m map[string]any, key string) bool {
	_, ok := m[key]
	return ok
}

// templateEnvironment is the environment a shape's template service is rendered for.
func (s *shape) templateEnvironment() Environment {
	env := s.rep
	env.Name, env.Token, env.Service = placeholderName, placeholderToken, s.fields
	return env
}

// stampReplacer puts env's own values where the template has placeholders; the
// derived values come first, so that the name inside them is not replaced alone.
func stampReplacer(d *Declaration, env stampedEnvironment, token string) *strings.Replacer {
	pairs := []string{
		ModelTagPath(d.Project, placeholderName), ModelTagPath(d.Project, env.Name),
		databaseName(placeholderName), databaseName(env.Name),
		placeholderName, env.Name,
		placeholderToken, token,
	}
	for i, v := range env.values {
		pairs = append(pairs, valuePlaceholder(i), v)
	}
	return strings.NewReplacer(pairs...)
}

// stampServices replaces each shape's template service in project with one service
// per environment of the shape. It returns false when a template is missing (a
// profile disabled it, say), and the caller loads every service as itself instead.
func stampServices(d *Declaration, project *types.Project, shapes []*shape, tokenOf func(Environment) string) bool {
	for _, s := range shapes {
		tmpl, ok := project.Services[s.template]
		if !ok || (s.rep.Publish != nil && len(tmpl.Ports) != 1) {
			return false
		}
		delete(project.Services, s.template)
		for _, env := range s.envs {
			svc := stampValue(reflect.ValueOf(tmpl), stampReplacer(d, env, tokenOf(env.Environment))).Interface().(types.ServiceConfig)
			svc.Name = ServiceName(env.Name)
			if env.Publish != nil {
				ports, err := types.ParsePortConfig(env.Publish.String() + ":" + strconv.Itoa(d.Rasa.Port))
				if err != nil || len(ports) != 1 {
					return false
				}
				svc.Ports = ports
			}
			project.Services[svc.Name] = svc
		}
	}
	return true
}

// stampValue deep-copies v, passing every string (and map key) through r.
func stampValue(v reflect.Value, r *strings.Replacer) reflect.Value {
	switch v.Kind() {
	case reflect.String:
		out := reflect.New(v.Type()).Elem()
		out.SetString(r.Replace(v.String()))
		return out
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type().Elem())
		out.Elem().Set(stampValue(v.Elem(), r))
		return out
	case reflect.Interface:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type()).Elem()
		out.Set(stampValue(v.Elem(), r))
		return out
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(stampValue(v.Index(i), r))
		}
		return out
	case reflect.Array:
		out := reflect.New(v.Type()).Elem()
		for i := range v.Len() {
			out.Index(i).Set(stampValue(v.Index(i), r))
		}
		return out
	case reflect.Map:
		return stampMap(v, r)
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		out.Set(v)
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				out.Field(i).Set(stampValue(v.Field(i), r))
			}
		}
		return out
	}
	return v
}

func stampMap(v reflect.Value, r *strings.Replacer) reflect.Value {
	if v.IsNil() {
		return v
	}
	out := reflect.MakeMapWithSize(v.Type(), v.Len())
	for it := v.MapRange(); it.Next(); {
		out.SetMapIndex(stampValue(it.Key(), r), stampValue(it.Value(), r))
	}
	return out
}
