package ovsdbserver

import (
	"context"
	"fmt"

	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/wirekeeper/wirekeeper/internal/ovs/vswitch"
)

// The functions in this file change an OVSDB server the way an operator with
// ovs-vsctl would, behind wirekeeper's back: the demo and tests use them to
// cause drift. Each opens its own connection and closes it before returning.

// DeleteMirror removes the Mirror named mirrorName from bridge's mirrors and
// deletes the row in one transaction, as
// `ovs-vsctl -- --id=@m get Mirror NAME -- remove Bridge BRIDGE mirrors @m`
// does (there ovsdb-server's garbage collection deletes the row). It fails
// unless exactly one Mirror has that name and the bridge exists.
func DeleteMirror(ctx context.Context, address, bridge, mirrorName string) error {
	c, err := Connect(ctx, address)
	if err != nil {
		return err
	}
	defer c.Close()

	mirror, err := uniqueUUID(ctx, c, vswitch.MirrorTable, mirrorName)
	if err != nil {
		return fmt.Errorf("ovsdbserver: delete mirror: %w", err)
	}
	ref, err := ovsdb.NewOvsSet([]ovsdb.UUID{mirror})
	if err != nil {
		return fmt.Errorf("ovsdbserver: delete mirror: %w", err)
	}
	ops := []ovsdb.Operation{{
		Op:        ovsdb.OperationMutate,
		Table:     vswitch.BridgeTable,
		Where:     []ovsdb.Condition{ovsdb.NewCondition("name", ovsdb.ConditionEqual, bridge)},
		Mutations: []ovsdb.Mutation{*ovsdb.NewMutation("mirrors", ovsdb.MutateOperationDelete, ref)},
	}, {
		Op:    ovsdb.OperationDelete,
		Table: vswitch.MirrorTable,
		Where: []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, mirror)},
	}}
	results, err := transact(ctx, c, ops)
	if err != nil {
		return fmt.Errorf("ovsdbserver: delete mirror %s: %w", mirrorName, err)
	}
	if results[0].Count != 1 {
		return fmt.Errorf("ovsdbserver: delete mirror %s: no bridge %s", mirrorName, bridge)
	}
	return nil
}

// SetMirrorSelectSrc sets select_src_port of the Mirror named mirrorName to
// the Ports named ports (none clears it), as
// `ovs-vsctl set Mirror NAME select_src_port=@p1,@p2` does. It fails unless
// exactly one Mirror has that name and every port exists.
func SetMirrorSelectSrc(ctx context.Context, address, mirrorName string, ports ...string) error {
	c, err := Connect(ctx, address)
	if err != nil {
		return err
	}
	defer c.Close()

	mirror, err := uniqueUUID(ctx, c, vswitch.MirrorTable, mirrorName)
	if err != nil {
		return fmt.Errorf("ovsdbserver: set mirror select_src_port: %w", err)
	}
	uuids := make([]ovsdb.UUID, 0, len(ports))
	for _, p := range ports {
		u, err := uniqueUUID(ctx, c, vswitch.PortTable, p)
		if err != nil {
			return fmt.Errorf("ovsdbserver: set mirror %s select_src_port: %w", mirrorName, err)
		}
		uuids = append(uuids, u)
	}
	set, err := ovsdb.NewOvsSet(uuids)
	if err != nil {
		return fmt.Errorf("ovsdbserver: set mirror %s select_src_port: %w", mirrorName, err)
	}
	ops := []ovsdb.Operation{{
		Op:    ovsdb.OperationUpdate,
		Table: vswitch.MirrorTable,
		Where: []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, mirror)},
		Row:   ovsdb.Row{"select_src_port": set},
	}}
	results, err := transact(ctx, c, ops)
	if err != nil {
		return fmt.Errorf("ovsdbserver: set mirror %s select_src_port: %w", mirrorName, err)
	}
	if results[0].Count != 1 {
		return fmt.Errorf("ovsdbserver: set mirror %s select_src_port: mirror deleted meanwhile", mirrorName)
	}
	return nil
}

// uniqueUUID returns the UUID of the one row of table whose name is name.
func uniqueUUID(ctx context.Context, c client.Client, table, name string) (ovsdb.UUID, error) {
	results, err := transact(ctx, c, []ovsdb.Operation{{
		Op:      ovsdb.OperationSelect,
		Table:   table,
		Where:   []ovsdb.Condition{ovsdb.NewCondition("name", ovsdb.ConditionEqual, name)},
		Columns: []string{"_uuid"},
	}})
	if err != nil {
		return ovsdb.UUID{}, fmt.Errorf("select %s %s: %w", table, name, err)
	}
	rows := results[0].Rows
	if len(rows) != 1 {
		return ovsdb.UUID{}, fmt.Errorf("%d rows in %s named %q, want 1", len(rows), table, name)
	}
	u, ok := rows[0]["_uuid"].(ovsdb.UUID)
	if !ok {
		return ovsdb.UUID{}, fmt.Errorf("%s %s: _uuid is %T, not a uuid", table, name, rows[0]["_uuid"])
	}
	return u, nil
}

// DeleteBridge removes the bridge named bridge from Open_vSwitch.bridges and
// deletes it, as `ovs-vsctl del-br` does; its ports, interfaces and
// mirrors, referenced by nothing else, go with it (the server garbage-
// collects them). A missing bridge is not an error.
func DeleteBridge(ctx context.Context, address, bridge string) error {
	c, err := Connect(ctx, address)
	if err != nil {
		return err
	}
	defer c.Close()
	results, err := transact(ctx, c, []ovsdb.Operation{{
		Op: ovsdb.OperationSelect, Table: vswitch.BridgeTable, Columns: []string{"_uuid", "ports"},
		Where: []ovsdb.Condition{ovsdb.NewCondition("name", ovsdb.ConditionEqual, bridge)},
	}})
	if err != nil {
		return fmt.Errorf("ovsdbserver: delete bridge %s: %w", bridge, err)
	}
	if len(results[0].Rows) == 0 {
		return nil
	}
	row := results[0].Rows[0]
	id, ok := row["_uuid"].(ovsdb.UUID)
	if !ok {
		return fmt.Errorf("ovsdbserver: delete bridge %s: _uuid is %T", bridge, row["_uuid"])
	}
	ref, err := ovsdb.NewOvsSet([]ovsdb.UUID{id})
	if err != nil {
		return err
	}
	ops := []ovsdb.Operation{{
		Op: ovsdb.OperationMutate, Table: vswitch.OpenvSwitchTable, Where: anyRow,
		Mutations: []ovsdb.Mutation{*ovsdb.NewMutation("bridges", ovsdb.MutateOperationDelete, ref)},
	}, {
		Op: ovsdb.OperationDelete, Table: vswitch.BridgeTable,
		Where: []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, id)},
	}}
	if _, err := transact(ctx, c, ops); err != nil {
		return fmt.Errorf("ovsdbserver: delete bridge %s: %w", bridge, err)
	}
	return nil
}
