package vswitch

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/ovn-org/libovsdb/modelgen"
	"github.com/ovn-org/libovsdb/ovsdb"
)

// TestGeneratedModelsAreFresh renders every model from vswitch.ovsschema
// with the same modelgen options `make generate` uses and compares it with
// the committed file.
func TestGeneratedModelsAreFresh(t *testing.T) {
	raw, err := os.ReadFile("vswitch.ovsschema")
	if err != nil {
		t.Fatal(err)
	}
	var schema ovsdb.DatabaseSchema
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	if schema.Version != "8.3.1" {
		t.Errorf("schema version %s, want 8.3.1", schema.Version)
	}
	gen, err := modelgen.NewGenerator()
	if err != nil {
		t.Fatal(err)
	}
	check := func(file string, want []byte) {
		t.Helper()
		got, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("%s: %v (run make generate)", file, err)
			return
		}
		if string(got) != string(want) {
			t.Errorf("%s is stale: run make generate", file)
		}
	}
	for name, table := range schema.Tables {
		args := modelgen.GetTableTemplateData("vswitch", name, &table)
		args.WithExtendedGen(true)
		out, err := gen.Format(modelgen.NewTableTemplate(), args)
		if err != nil {
			t.Fatal(err)
		}
		check(modelgen.FileName(name), out)
	}
	out, err := gen.Format(modelgen.NewDBTemplate(), modelgen.GetDBTemplateData("vswitch", schema))
	if err != nil {
		t.Fatal(err)
	}
	check("model.go", out)
	for _, name := range Tables {
		if _, ok := schema.Tables[name]; !ok {
			t.Errorf("table %s is not in the schema", name)
		}
	}
}
