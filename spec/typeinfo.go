package spec

import (
	"reflect"
	"sync"
)

// fieldInfo is one decodable struct field with its parsed rules.
type fieldInfo struct {
	index int
	name  string
	field reflect.StructField
	rules Rules
}

// typeInfo caches the fields of a spec struct type, parsed once.
type typeInfo struct {
	fields []fieldInfo
	byName map[string]int // json name -> position in fields
	names  []string       // json names in declaration order
}

var typeInfos sync.Map // reflect.Type -> *typeInfo

func infoOf(t reflect.Type) *typeInfo {
	if ti, ok := typeInfos.Load(t); ok {
		return ti.(*typeInfo)
	}
	ti := &typeInfo{byName: map[string]int{}}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name := JSONName(sf)
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		ti.byName[name] = len(ti.fields)
		ti.fields = append(ti.fields, fieldInfo{index: i, name: name, field: sf, rules: FieldRules(sf)})
		ti.names = append(ti.names, name)
	}
	actual, _ := typeInfos.LoadOrStore(t, ti)
	return actual.(*typeInfo)
}
