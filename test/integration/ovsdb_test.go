package integration

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// bridge is the part of the Open_vSwitch schema's Bridge table this test reads.
type bridge struct {
	UUID string `ovsdb:"_uuid"`
	Name string `ovsdb:"name"`
}

// openvSwitch is the root table, which holds every bridge in use.
type openvSwitch struct {
	UUID    string   `ovsdb:"_uuid"`
	Bridges []string `ovsdb:"bridges"`
}

// listBridges connects to endpoint with libovsdb, monitors the whole model and
// returns the bridges named by the root row, by name with their UUIDs.
func listBridges(t *testing.T, endpoint string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dbModel, err := model.NewClientDBModel("Open_vSwitch", map[string]model.Model{
		"Bridge":       &bridge{},
		"Open_vSwitch": &openvSwitch{},
	})
	if err != nil {
		t.Fatalf("NewClientDBModel: %v", err)
	}
	// Verbosity 0 keeps libovsdb's V(3)+ chatter out; errors still reach t.Log.
	logger := testr.NewWithOptions(t, testr.Options{Verbosity: 0})
	c, err := client.NewOVSDBClient(dbModel, client.WithEndpoint(endpoint), client.WithLogger(&logger))
	if err != nil {
		t.Fatalf("NewOVSDBClient(%s): %v", endpoint, err)
	}
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("Connect(%s): %v", endpoint, err)
	}
	defer c.Close()
	if _, err := c.MonitorAll(ctx); err != nil {
		t.Fatalf("MonitorAll(%s): %v", endpoint, err)
	}

	var roots []openvSwitch
	if err := c.List(ctx, &roots); err != nil {
		t.Fatalf("List Open_vSwitch on %s: %v", endpoint, err)
	}
	if len(roots) != 1 {
		t.Fatalf("%s: %d Open_vSwitch rows, want 1", endpoint, len(roots))
	}
	var bridges []bridge
	if err := c.List(ctx, &bridges); err != nil {
		t.Fatalf("List Bridge on %s: %v", endpoint, err)
	}
	byName := map[string]string{}
	for _, b := range bridges {
		if !slices.Contains(roots[0].Bridges, b.UUID) {
			t.Errorf("%s: bridge %s (%s) is not in Open_vSwitch.bridges %v",
				endpoint, b.Name, b.UUID, roots[0].Bridges)
		}
		byName[b.Name] = b.UUID
	}
	return byName
}

func TestOVSDB(t *testing.T) {
	host1 := map[string]string{
		"unix": testenv.OVSDB(t),
		"tcp":  testenv.OVSDBTCP(t),
	}
	host2 := map[string]string{
		"unix": testenv.OVSDB2(t),
		"tcp":  testenv.OVSDB2TCP(t),
	}

	viaUnix := listBridges(t, host1["unix"])
	viaTCP := listBridges(t, host1["tcp"])
	if viaUnix["br0"] == "" {
		t.Fatalf("host 1 (%s): no bridge br0 among %v", host1["unix"], viaUnix)
	}
	if viaTCP["br0"] != viaUnix["br0"] {
		t.Errorf("host 1: br0 is %q over tcp but %q over unix; want one server",
			viaTCP["br0"], viaUnix["br0"])
	}

	h2Unix := listBridges(t, host2["unix"])
	h2TCP := listBridges(t, host2["tcp"])
	if h2Unix["br0"] == "" || h2TCP["br0"] != h2Unix["br0"] {
		t.Errorf("host 2: br0 is %q over unix, %q over tcp; want the same non-empty UUID",
			h2Unix["br0"], h2TCP["br0"])
	}
	if h2Unix["br0"] == viaUnix["br0"] {
		t.Errorf("hosts 1 and 2 share br0 UUID %s; want two separate databases", viaUnix["br0"])
	}
}
