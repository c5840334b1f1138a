package ovsdbserver

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-logr/logr"
	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/wirekeeper/wirekeeper/internal/ovs/vswitch"
)

// DefaultDatapathType is the datapath_type Seed gives its bridge: the
// userspace datapath, which needs no kernel module and is what the test
// harness's ovs-vswitchd runs.
const DefaultDatapathType = "netdev"

// BridgeSeed describes a bridge SeedBridge creates.
type BridgeSeed struct {
	// Name of the bridge, and of its internal port and interface. Keep it
	// within 15 bytes if a real ovs-vswitchd is to create the device.
	Name string
	// DatapathType is the bridge's datapath_type. "" leaves it empty, which
	// ovs-vswitchd reads as "system" (the kernel datapath).
	DatapathType string
	// Ports are attached to the bridge besides its internal port.
	Ports []PortSeed
}

// PortSeed describes a port with a single interface of the same name.
type PortSeed struct {
	Name string
	// Type is the interface's type: "internal" for a device ovs-vswitchd
	// creates, "" for an existing system device.
	Type string
}

// Seed creates, in one transaction on the OVSDB server at address (unix:...
// or tcp:..., embedded or real), a bridge of datapath_type netdev with its
// internal port (as `ovs-vsctl add-br` does) and one port with an internal
// interface for each name in ports, all attached to the bridge, and the
// bridge to Open_vSwitch.bridges. It fails if the bridge or a port exists.
func Seed(ctx context.Context, address, bridge string, ports ...string) error {
	b := BridgeSeed{Name: bridge, DatapathType: DefaultDatapathType}
	for _, p := range ports {
		b.Ports = append(b.Ports, PortSeed{Name: p, Type: "internal"})
	}
	return SeedBridge(ctx, address, b)
}

// SeedBridge creates b in one transaction on the OVSDB server at address: a
// Bridge row referenced from Open_vSwitch.bridges, a Port and an Interface of
// type internal named like the bridge, and a Port and an Interface for each
// of b.Ports.
func SeedBridge(ctx context.Context, address string, b BridgeSeed) error {
	if b.Name == "" {
		return errors.New("ovsdbserver: seed: bridge name is empty")
	}
	c, err := Connect(ctx, address)
	if err != nil {
		return err
	}
	defer c.Close()

	ops, err := seedOps(c, b)
	if err != nil {
		return fmt.Errorf("ovsdbserver: seed bridge %s: %w", b.Name, err)
	}
	results, err := transact(ctx, c, ops)
	if err != nil {
		return fmt.Errorf("ovsdbserver: seed bridge %s: %w", b.Name, err)
	}
	if results[len(ops)-1].Count != 1 {
		// The bridge was garbage-collected with everything under it.
		return fmt.Errorf("ovsdbserver: seed bridge %s: %s has %d rows, want 1",
			b.Name, vswitch.OpenvSwitchTable, results[len(ops)-1].Count)
	}
	return nil
}

// seedOps builds the inserts of b and, last, the mutation of the root row.
func seedOps(c client.Client, b BridgeSeed) ([]ovsdb.Operation, error) {
	ports := append([]PortSeed{{Name: b.Name, Type: "internal"}}, b.Ports...)
	var models []model.Model
	var portUUIDs []string
	for i, p := range ports {
		iface := &vswitch.Interface{UUID: fmt.Sprintf("iface%d", i), Name: p.Name, Type: p.Type}
		port := &vswitch.Port{UUID: fmt.Sprintf("port%d", i), Name: p.Name, Interfaces: []string{iface.UUID}}
		models = append(models, iface, port)
		portUUIDs = append(portUUIDs, port.UUID)
	}
	br := &vswitch.Bridge{UUID: "bridge", Name: b.Name, DatapathType: b.DatapathType, Ports: portUUIDs}
	models = append(models, br)
	ops, err := c.Create(models...)
	if err != nil {
		return nil, err
	}
	attach, err := mutateRoot(c, br.UUID)
	if err != nil {
		return nil, err
	}
	return append(ops, attach), nil
}

// mutateRoot inserts bridgeUUID into Open_vSwitch.bridges of every root row
// (there is one); the result's Count tells whether there was one.
func mutateRoot(c client.Client, bridgeUUID string) (ovsdb.Operation, error) {
	set, err := ovsdb.NewOvsSet([]ovsdb.UUID{{GoUUID: bridgeUUID}})
	if err != nil {
		return ovsdb.Operation{}, err
	}
	return ovsdb.Operation{
		Op:        ovsdb.OperationMutate,
		Table:     vswitch.OpenvSwitchTable,
		Where:     anyRow,
		Mutations: []ovsdb.Mutation{*ovsdb.NewMutation("bridges", ovsdb.MutateOperationInsert, set)},
	}, nil
}

// anyRow matches every row. An empty where would too, but libovsdb drops an
// empty where from the request and ovsdb-server rejects a mutate without one.
var anyRow = []ovsdb.Condition{
	ovsdb.NewCondition("_uuid", ovsdb.ConditionNotEqual, ovsdb.UUID{GoUUID: "00000000-0000-0000-0000-000000000000"}),
}

// Connect returns a libovsdb client of the tables in vswitch.Tables connected
// to address, without a monitor and with its logging discarded. The caller
// closes it.
func Connect(ctx context.Context, address string) (client.Client, error) {
	dbModel, err := vswitch.ClientModel()
	if err != nil {
		return nil, fmt.Errorf("ovsdbserver: client model: %w", err)
	}
	discard := logr.Discard()
	c, err := client.NewOVSDBClient(dbModel, client.WithEndpoint(address), client.WithLogger(&discard))
	if err != nil {
		return nil, fmt.Errorf("ovsdbserver: client for %s: %w", address, err)
	}
	if err := c.Connect(ctx); err != nil {
		return nil, fmt.Errorf("ovsdbserver: cannot connect to %s: %w", address, err)
	}
	return c, nil
}

// transact runs ops as one transaction and turns failed operations into one
// error naming each failed operation's index, table and op.
func transact(ctx context.Context, c client.Client, ops []ovsdb.Operation) ([]ovsdb.OperationResult, error) {
	results, err := c.Transact(ctx, ops...)
	if err != nil {
		return nil, err
	}
	if len(results) < len(ops) {
		return nil, fmt.Errorf("%d operations sent, %d results received", len(ops), len(results))
	}
	var failed []string
	for i, r := range results {
		if r.Error == "" {
			continue
		}
		where := "commit"
		if i < len(ops) {
			where = fmt.Sprintf("operation %d (%s %s)", i, ops[i].Op, ops[i].Table)
		}
		failed = append(failed, fmt.Sprintf("%s: %s: %s", where, r.Error, r.Details))
	}
	if len(failed) > 0 {
		return results, errors.New(strings.Join(failed, "; "))
	}
	return results, nil
}
