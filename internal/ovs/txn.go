package ovs

import (
	"fmt"
	"maps"
	"slices"
	"sync/atomic"

	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"
	libovsdb "github.com/ovn-org/libovsdb/ovsdb"

	"github.com/wirekeeper/wirekeeper/internal/ovs/vswitch"
)

// Txn is one OVSDB transaction being built: the operations of several
// objects, with the range of operations each object contributed, so that a
// failed operation is reported on the object that asked for it.
type Txn struct {
	client client.Client
	// Ops are the operations so far, in order.
	Ops []libovsdb.Operation
	// staged holds the bridge mutations of the object being built; keep
	// moves them to bridgeMutations once all its operations are built,
	// Drop forgets them when one failed.
	staged []stagedMutation
	// bridgeMutations collects the mutations of Bridge set columns, sent
	// as one operation per bridge, column and mutator: a pass adding 1,000
	// mirrors to a bridge mutates its row once, not 1,000 times.
	bridgeMutations map[bridgeMutation][]string
	mutationOrder   []bridgeMutation
}

type bridgeMutation struct {
	bridge, column string
	op             libovsdb.Mutator
}

type stagedMutation struct {
	key    bridgeMutation
	values []string
}

// Add appends ops, or returns the error of building them.
func (t *Txn) Add(ops []libovsdb.Operation, err error) error {
	if err != nil {
		return fmt.Errorf("ovsdb: building the operation: %w", err)
	}
	t.Ops = append(t.Ops, ops...)
	return nil
}

// Keep adds the staged bridge mutations of the object just built to the
// transaction's; Drop forgets them, with the object's operations from.
func (t *Txn) Keep() {
	if t.bridgeMutations == nil {
		t.bridgeMutations = map[bridgeMutation][]string{}
	}
	for _, m := range t.staged {
		if _, ok := t.bridgeMutations[m.key]; !ok {
			t.mutationOrder = append(t.mutationOrder, m.key)
		}
		t.bridgeMutations[m.key] = append(t.bridgeMutations[m.key], m.values...)
	}
	t.staged = t.staged[:0]
}

func (t *Txn) Drop(from int) {
	t.Ops = t.Ops[:from]
	t.staged = t.staged[:0]
}

// NamedUUID returns a fresh name for a row inserted by this transaction,
// unique in the process: transactions built apart can be sent as one
// (Ports groups concurrent writes).
func (t *Txn) NamedUUID(prefix string) string {
	return fmt.Sprintf("wk_%s_%d", prefix, namedRows.Add(1))
}

// namedRows numbers the rows NamedUUID names.
var namedRows atomic.Uint64

// MutateBridge inserts values into, or deletes them from, a set column of
// a bridge ("mirrors" or "ports"). A mutation, not a write of the column:
// what other clients put there is never touched. It is staged for the
// object being built, and sent by Flush with the others of the same bridge.
func (t *Txn) MutateBridge(uuid, column string, op libovsdb.Mutator, values ...string) error {
	if column != "mirrors" && column != "ports" {
		return fmt.Errorf("ovsdb: no bridge column %s", column)
	}
	t.staged = append(t.staged, stagedMutation{bridgeMutation{uuid, column, op}, values})
	return nil
}

// Flush appends the collected bridge mutations, one operation per bridge,
// column and mutator, in the order they were first asked for.
func (t *Txn) Flush() error {
	for _, k := range t.mutationOrder {
		b := &vswitch.Bridge{UUID: k.bridge}
		field := any(&b.Mirrors)
		if k.column == "ports" {
			field = &b.Ports
		}
		if err := t.Add(t.client.Where(b).Mutate(b, model.Mutation{Field: field, Mutator: k.op, Value: t.bridgeMutations[k]})); err != nil {
			return err
		}
	}
	t.bridgeMutations, t.mutationOrder = nil, nil
	return nil
}

// SetExternalIDs sets keys of the external_ids of row (a *vswitch.Mirror,
// *vswitch.Bridge or *vswitch.Interface with its UUID), leaving every
// other key as it is.
func (t *Txn) SetExternalIDs(row model.Model, ids map[string]string) error {
	var field any
	switch r := row.(type) {
	case *vswitch.Mirror:
		field = &r.ExternalIDs
	case *vswitch.Bridge:
		field = &r.ExternalIDs
	case *vswitch.Interface:
		field = &r.ExternalIDs
	default:
		return fmt.Errorf("ovsdb: external_ids of %T", row)
	}
	keys := slices.Sorted(maps.Keys(ids))
	// OVSDB's map insert keeps an existing key's value: delete the keys first.
	return t.Add(t.client.Where(row).Mutate(row,
		model.Mutation{Field: field, Mutator: libovsdb.MutateOperationDelete, Value: keys},
		model.Mutation{Field: field, Mutator: libovsdb.MutateOperationInsert, Value: ids}))
}

// NewTxn starts a transaction for the client cl.
func NewTxn(cl client.Client) *Txn { return &Txn{client: cl} }

// DescribeResult is an operation's error as OVSDB reports it, with details.
func DescribeResult(r libovsdb.OperationResult) string {
	if r.Details != "" {
		return r.Error + ": " + r.Details
	}
	return r.Error
}

// Client is the client the transaction is built for, to build operations with.
func (t *Txn) Client() client.Client { return t.client }
