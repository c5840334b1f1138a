package main

import (
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// readConfigFile reads the YAML config file: a mapping whose keys are the
// options' camelCase names. The nodes are walked, rather than decoded into a
// struct, so that every unknown key and every bad value is reported with
// its file:line, all at once.
func (e runEnv) readConfigFile(file string) (map[string]setting, []error) {
	data, err := e.readFile(file)
	if err != nil {
		return nil, []error{fmt.Errorf("cannot read the config file: %w", err)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			return nil, []error{fmt.Errorf("%s:%s: %s", file, m[1], m[2])}
		}
		return nil, []error{fmt.Errorf("%s: %s", file, msg)}
	}
	if len(doc.Content) == 0 {
		return nil, nil // an empty file sets nothing
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, []error{fmt.Errorf("%s:%d: must be a mapping of settings (key: value)", file, root.Line)}
	}
	byKey := map[string]runOption{}
	var keys []string
	for _, o := range runOptions {
		if o.name != "config" {
			byKey[o.key()] = o
			keys = append(keys, o.key())
		}
	}
	settings := map[string]setting{}
	firstLine := map[string]int{}
	var errs []error
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		at := fmt.Sprintf("%s:%d", file, k.Line)
		o, ok := byKey[k.Value]
		if !ok {
			errs = append(errs, unknownKey(at, k.Value, keys))
			continue
		}
		if line, dup := firstLine[k.Value]; dup {
			errs = append(errs, fmt.Errorf("%s: %s: set again (first at line %d)", at, k.Value, line))
			continue
		}
		firstLine[k.Value] = k.Line
		if v.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Errorf("%s: %s: must be a single value, not a list or a mapping", at, k.Value))
			continue
		}
		value := v.Value
		if v.Tag == "!!null" {
			value = ""
		}
		settings[o.name] = setting{value, fmt.Sprintf("%s:%d: %s: %s", file, v.Line, k.Value, o.display(value))}
	}
	return settings, errs
}

var yamlLineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// unknownKey explains a config key that is not a setting.
func unknownKey(at, key string, keys []string) error {
	if key == "config" {
		return fmt.Errorf("%s: config: cannot be set in the config file", at)
	}
	norm := func(s string) string { return strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(s)) }
	for _, s := range secretValueOptions {
		if norm(key) == norm(s.name) {
			return s.refusal(at + ": " + key)
		}
	}
	hint := ""
	for _, k := range keys {
		if norm(k) == norm(key) {
			hint = fmt.Sprintf(" (did you mean %q?)", k)
		}
	}
	return fmt.Errorf("%s: unknown key %q%s; valid keys: %s", at, key, hint, strings.Join(keys, ", "))
}
