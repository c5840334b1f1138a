package ovsdbserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"github.com/ovn-org/libovsdb/cache"
	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	"github.com/wirekeeper/wirekeeper/internal/ovs/vswitch"
	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// backend is an OVSDB server the behaviour tests run against: the embedded
// one always, the harness's ovsdb-server when it runs, so each finding in the
// package doc is checked against the real thing.
type backend struct {
	name    string
	address func(t *testing.T) string
	real    bool
}

var backends = []backend{
	{name: "embedded", address: func(t *testing.T) string { return startServer(t).Address() }},
	{name: "ovsdb-server", address: func(t *testing.T) string { return testenv.OVSDB(t) }, real: true},
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func startServer(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s, err := Start(t.TempDir(), opts...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// newClient connects a client of vswitch.ClientModel to address, closed when
// t ends.
func newClient(t *testing.T, address string) client.Client {
	t.Helper()
	dbModel, err := vswitch.ClientModel()
	if err != nil {
		t.Fatal(err)
	}
	discard := logr.Discard()
	c, err := client.NewOVSDBClient(dbModel, client.WithEndpoint(address), client.WithLogger(&discard))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(testContext(t)); err != nil {
		t.Fatalf("Connect(%s): %v", address, err)
	}
	t.Cleanup(c.Close)
	return c
}

// shortName returns "wk" and 6 hex digits: unique, and short enough with a
// one-letter suffix for a Linux interface name (15 bytes).
func shortName(t *testing.T) string {
	t.Helper()
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "wk" + hex.EncodeToString(b[:])
}

// seededBridge seeds a fresh bridge with ports <bridge>a and <bridge>b on the
// backend and returns the address and the bridge; on a real server the bridge
// is deleted when t ends.
func seededBridge(t *testing.T, b backend) (address, bridge string) {
	t.Helper()
	address = b.address(t)
	bridge = shortName(t)
	if b.real {
		t.Cleanup(func() { delBridge(t, address, bridge) })
	}
	if err := Seed(testContext(t), address, bridge, bridge+"a", bridge+"b"); err != nil {
		t.Fatalf("Seed: %v", err)
	}
	return address, bridge
}

func delBridge(t *testing.T, address, bridge string) {
	out, err := exec.Command("ovs-vsctl", "--db="+address, "--no-wait", "--if-exists", "del-br", bridge).CombinedOutput()
	if err != nil {
		t.Errorf("ovs-vsctl del-br %s: %v\n%s", bridge, err, out)
	}
}

func byName(name string) []ovsdb.Condition {
	return []ovsdb.Condition{ovsdb.NewCondition("name", ovsdb.ConditionEqual, name)}
}

func byUUID(uuid string) []ovsdb.Condition {
	return []ovsdb.Condition{ovsdb.NewCondition("_uuid", ovsdb.ConditionEqual, ovsdb.UUID{GoUUID: uuid})}
}

// mustTransact runs ops and fails t on any error, of the call or of an
// operation.
func mustTransact(t *testing.T, c client.Client, ops ...ovsdb.Operation) []ovsdb.OperationResult {
	t.Helper()
	results, err := transact(testContext(t), c, ops)
	if err != nil {
		t.Fatalf("transact: %v", err)
	}
	return results
}

// selectRows reads the rows of table matching where, straight from the server
// (not from a cache), decoded into models of type T.
func selectRows[T any, PT interface {
	*T
	model.Model
}](t *testing.T, c client.Client, table string, where []ovsdb.Condition) []T {
	t.Helper()
	if where == nil {
		where = anyRow
	}
	results := mustTransact(t, c, ovsdb.Operation{Op: ovsdb.OperationSelect, Table: table, Where: where})
	var out []T
	for _, row := range results[0].Rows {
		var m T
		info, err := c.Cache().DatabaseModel().NewModelInfo(PT(&m))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Cache().Mapper().GetRowData(&row, info); err != nil {
			t.Fatalf("decode %s row: %v", table, err)
		}
		// GetRowData skips _uuid, which is not a schema column.
		u, ok := row["_uuid"].(ovsdb.UUID)
		if !ok {
			t.Fatalf("%s row without _uuid: %v", table, row)
		}
		if err := info.SetField("_uuid", u.GoUUID); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func getBridge(t *testing.T, c client.Client, name string) vswitch.Bridge {
	t.Helper()
	rows := selectRows[vswitch.Bridge](t, c, vswitch.BridgeTable, byName(name))
	if len(rows) != 1 {
		t.Fatalf("%d bridges named %s, want 1", len(rows), name)
	}
	return rows[0]
}

func mirrorsNamed(t *testing.T, c client.Client, name string) []vswitch.Mirror {
	t.Helper()
	return selectRows[vswitch.Mirror](t, c, vswitch.MirrorTable, byName(name))
}

// portUUIDs maps the names of all ports to their UUIDs.
func portUUIDs(t *testing.T, c client.Client) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, p := range selectRows[vswitch.Port](t, c, vswitch.PortTable, nil) {
		m[p.Name] = p.UUID
	}
	return m
}

// createMirror inserts a Mirror under a uuid-name and adds it to the bridge's
// mirrors in one transaction, the way wirekeeper creates one, and returns its
// UUID.
func createMirror(t *testing.T, c client.Client, bridge, name string, srcPorts ...string) string {
	t.Helper()
	m := &vswitch.Mirror{UUID: "newmirror", Name: name, SelectSrcPort: srcPorts}
	ops, err := c.Create(m)
	if err != nil {
		t.Fatal(err)
	}
	br := &vswitch.Bridge{Name: bridge}
	mutate, err := c.Where(br).Mutate(br, model.Mutation{
		Field: &br.Mirrors, Mutator: ovsdb.MutateOperationInsert, Value: []string{m.UUID},
	})
	if err != nil {
		t.Fatal(err)
	}
	results := mustTransact(t, c, append(ops, mutate...)...)
	if results[1].Count != 1 {
		t.Fatalf("mutate of bridge %s matched %d rows, want 1", bridge, results[1].Count)
	}
	return results[0].UUID.GoUUID
}

func TestStart(t *testing.T) {
	dir := t.TempDir()
	s, err := Start(dir)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if got, want := s.Address(), "unix:"+filepath.Join(dir, SocketName); got != want {
		t.Errorf("Address() = %q, want %q", got, want)
	}
	if got := s.TCPAddress(); got != "" {
		t.Errorf("TCPAddress() = %q without WithLoopbackTCP, want \"\"", got)
	}
	c := newClient(t, s.Address())
	roots := selectRows[vswitch.OpenvSwitch](t, c, vswitch.OpenvSwitchTable, nil)
	if len(roots) != 1 || len(roots[0].Bridges) != 0 {
		t.Errorf("Open_vSwitch rows = %+v, want one without bridges", roots)
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	awaitDisconnected(t, c)
	if _, err := os.Stat(filepath.Join(dir, SocketName)); !os.IsNotExist(err) {
		t.Errorf("socket after Close: stat error %v, want not exist", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// awaitDisconnected waits until an echo through c fails. (libovsdb's
// Connected stays true when the server hangs up, and DisconnectNotify drops
// its notification when nobody is receiving at that moment.)
func awaitDisconnected(t *testing.T, c client.Client) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Echo(ctx)
		cancel()
		if err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("echo still answered 10s after Close")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStartSocketPath(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string) string // returns the dir to Start in
		wantErr string                                // "" for success
	}{
		{
			name:    "fresh directory",
			prepare: func(t *testing.T, dir string) string { return dir },
		},
		{
			name: "stale socket is replaced",
			prepare: func(t *testing.T, dir string) string {
				l, err := net.Listen("unix", filepath.Join(dir, SocketName))
				if err != nil {
					t.Fatal(err)
				}
				l.(*net.UnixListener).SetUnlinkOnClose(false)
				l.Close()
				return dir
			},
		},
		{
			name: "live server",
			prepare: func(t *testing.T, dir string) string {
				startServerIn(t, dir)
				return dir
			},
			wantErr: "already listens",
		},
		{
			name: "not a socket",
			prepare: func(t *testing.T, dir string) string {
				if err := os.WriteFile(filepath.Join(dir, SocketName), nil, 0o600); err != nil {
					t.Fatal(err)
				}
				return dir
			},
			wantErr: "is not a socket",
		},
		{
			name: "path too long",
			prepare: func(t *testing.T, dir string) string {
				long := filepath.Join(dir, strings.Repeat("d", 100))
				if err := os.Mkdir(long, 0o700); err != nil {
					t.Fatal(err)
				}
				return long
			},
			wantErr: "longer than the 107",
		},
		{
			name:    "missing directory",
			prepare: func(t *testing.T, dir string) string { return filepath.Join(dir, "missing") },
			wantErr: "cannot serve",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.prepare(t, t.TempDir())
			s, err := Start(dir)
			if err == nil {
				// Registered before the client's, so it runs after it: a
				// server hanging up right after Connect trips a data race
				// inside libovsdb's client.
				t.Cleanup(func() { s.Close() })
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Start: %v", err)
				}
				c := newClient(t, s.Address())
				if n := len(selectRows[vswitch.OpenvSwitch](t, c, vswitch.OpenvSwitchTable, nil)); n != 1 {
					t.Errorf("%d Open_vSwitch rows, want 1", n)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Start error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func startServerIn(t *testing.T, dir string) *Server {
	t.Helper()
	s, err := Start(dir)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestLoopbackTCP(t *testing.T) {
	s := startServer(t, WithLoopbackTCP())
	if !strings.HasPrefix(s.TCPAddress(), "tcp:127.0.0.1:") {
		t.Fatalf("TCPAddress() = %q, want tcp:127.0.0.1:PORT", s.TCPAddress())
	}
	ctx := testContext(t)
	if err := Seed(ctx, s.TCPAddress(), "br0", "p1"); err != nil {
		t.Fatalf("Seed over tcp: %v", err)
	}
	overTCP := newClient(t, s.TCPAddress())
	overUnix := newClient(t, s.Address())
	if got := getBridge(t, overUnix, "br0").Name; got != "br0" {
		t.Errorf("bridge seeded over tcp, read over unix: name %q", got)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	awaitDisconnected(t, overTCP)
}

// libovsdb's server never drops the monitor of a client that went away; it
// must keep serving, and new monitors must still hear of changes.
func TestMonitoringClientGone(t *testing.T) {
	s := startServer(t)
	ctx := testContext(t)
	gone := newClient(t, s.Address())
	if _, err := gone.MonitorAll(ctx); err != nil {
		t.Fatalf("MonitorAll: %v", err)
	}
	gone.Close()
	if err := Seed(ctx, s.Address(), "br0"); err != nil {
		t.Fatalf("Seed after a monitoring client left: %v", err)
	}
	watcher := newClient(t, s.Address())
	if _, err := watcher.MonitorAll(ctx); err != nil {
		t.Fatalf("MonitorAll: %v", err)
	}
	if err := Seed(ctx, s.Address(), "br1"); err != nil {
		t.Fatalf("Seed: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for watcher.Cache().Table(vswitch.BridgeTable).Len() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("watcher has %d bridges after 10s, want 2", watcher.Cache().Table(vswitch.BridgeTable).Len())
		}
		time.Sleep(time.Millisecond)
	}
}

// seededBridgeView is what Seed's rows say about a bridge.
type seededBridgeView struct {
	DatapathType string
	InRoot       bool
	Ports        map[string]string // port name -> "interface name/type"
}

func viewBridge(t *testing.T, c client.Client, name string) seededBridgeView {
	t.Helper()
	br := getBridge(t, c, name)
	v := seededBridgeView{DatapathType: br.DatapathType, Ports: map[string]string{}}
	for _, root := range selectRows[vswitch.OpenvSwitch](t, c, vswitch.OpenvSwitchTable, nil) {
		v.InRoot = v.InRoot || slices.Contains(root.Bridges, br.UUID)
	}
	for _, pu := range br.Ports {
		ports := selectRows[vswitch.Port](t, c, vswitch.PortTable, byUUID(pu))
		if len(ports) != 1 {
			t.Fatalf("port %s: %d rows", pu, len(ports))
		}
		var ifaces []string
		for _, iu := range ports[0].Interfaces {
			for _, i := range selectRows[vswitch.Interface](t, c, vswitch.InterfaceTable, byUUID(iu)) {
				ifaces = append(ifaces, i.Name+"/"+i.Type)
			}
		}
		v.Ports[ports[0].Name] = strings.Join(ifaces, ",")
	}
	return v
}

func TestSeed(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			address, bridge := seededBridge(t, b)
			c := newClient(t, address)
			want := seededBridgeView{
				DatapathType: "netdev",
				InRoot:       true,
				Ports: map[string]string{
					bridge:       bridge + "/internal",
					bridge + "a": bridge + "a/internal",
					bridge + "b": bridge + "b/internal",
				},
			}
			if diff := cmp.Diff(want, viewBridge(t, c, bridge)); diff != "" {
				t.Errorf("seeded bridge (-want +got):\n%s", diff)
			}

			err := Seed(testContext(t), address, bridge)
			if err == nil || !strings.Contains(err.Error(), "constraint violation") {
				t.Errorf("Seed of an existing bridge: error %v, want a constraint violation", err)
			}
		})
	}
}

func TestSeedBridge(t *testing.T) {
	s := startServer(t)
	seed := BridgeSeed{Name: "br1", Ports: []PortSeed{{Name: "eth9"}, {Name: "tap9", Type: "internal"}}}
	if err := SeedBridge(testContext(t), s.Address(), seed); err != nil {
		t.Fatalf("SeedBridge: %v", err)
	}
	want := seededBridgeView{
		InRoot: true,
		Ports:  map[string]string{"br1": "br1/internal", "eth9": "eth9/", "tap9": "tap9/internal"},
	}
	if diff := cmp.Diff(want, viewBridge(t, newClient(t, s.Address()), "br1")); diff != "" {
		t.Errorf("seeded bridge (-want +got):\n%s", diff)
	}
	if err := SeedBridge(testContext(t), s.Address(), BridgeSeed{}); err == nil {
		t.Error("SeedBridge without a name: no error")
	}
}

// Finding (a): a named-uuid insert and a mutate referring to it commit in one
// transaction.
func TestNamedUUIDInsertAndReference(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			address, bridge := seededBridge(t, b)
			c := newClient(t, address)
			uuid := createMirror(t, c, bridge, bridge+"m")
			if !ovsdb.IsValidUUID(uuid) {
				t.Fatalf("insert result UUID %q is not a real UUID", uuid)
			}
			mirrors := mirrorsNamed(t, c, bridge+"m")
			if len(mirrors) != 1 || mirrors[0].UUID != uuid {
				t.Errorf("mirrors named %sm = %+v, want one with UUID %s", bridge, mirrors, uuid)
			}
			if got := getBridge(t, c, bridge).Mirrors; !cmp.Equal(got, []string{uuid}) {
				t.Errorf("bridge mirrors = %v, want [%s]", got, uuid)
			}
		})
	}
}

// mirrorEvents records the cache events of one named Mirror as strings.
type mirrorEvents struct {
	name  string
	ports map[string]string // UUID -> name, to print select_src_port
	ch    chan string
}

func (e *mirrorEvents) src(m model.Model) string {
	var names []string
	for _, u := range m.(*vswitch.Mirror).SelectSrcPort {
		names = append(names, e.ports[u])
	}
	slices.Sort(names)
	return "[" + strings.Join(names, " ") + "]"
}

func (e *mirrorEvents) handler() *cache.EventHandlerFuncs {
	mine := func(table string, m model.Model) bool {
		return table == vswitch.MirrorTable && m.(*vswitch.Mirror).Name == e.name
	}
	return &cache.EventHandlerFuncs{
		AddFunc: func(table string, m model.Model) {
			if mine(table, m) {
				e.ch <- "add " + e.src(m)
			}
		},
		UpdateFunc: func(table string, old, m model.Model) {
			// ovs-vswitchd updates statistics now and then; only
			// select_src_port matters here.
			if mine(table, m) && e.src(old) != e.src(m) {
				e.ch <- "update " + e.src(old) + " -> " + e.src(m)
			}
		},
		DeleteFunc: func(table string, m model.Model) {
			if mine(table, m) {
				e.ch <- "delete " + e.src(m)
			}
		},
	}
}

// Finding (b): changes another client commits reach a monitoring client's
// cache and its event handlers.
func TestMonitorDeliversOtherClientsChanges(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			address, bridge := seededBridge(t, b)
			ctx := testContext(t)
			writer := newClient(t, address)
			ports := portUUIDs(t, writer)
			events := &mirrorEvents{name: bridge + "m", ports: map[string]string{}, ch: make(chan string, 16)}
			for name, u := range ports {
				events.ports[u] = name
			}
			watcher := newClient(t, address)
			watcher.Cache().AddEventHandler(events.handler())
			if _, err := watcher.MonitorAll(ctx); err != nil {
				t.Fatalf("MonitorAll: %v", err)
			}

			createMirror(t, writer, bridge, events.name, ports[bridge+"a"])
			if err := SetMirrorSelectSrc(ctx, address, events.name, bridge+"b"); err != nil {
				t.Fatalf("SetMirrorSelectSrc: %v", err)
			}
			if err := DeleteMirror(ctx, address, bridge, events.name); err != nil {
				t.Fatalf("DeleteMirror: %v", err)
			}

			want := []string{
				"add [" + bridge + "a]",
				"update [" + bridge + "a] -> [" + bridge + "b]",
				"delete [" + bridge + "b]",
			}
			var got []string
			timeout := time.After(10 * time.Second)
			for len(got) < len(want) {
				select {
				case ev := <-events.ch:
					got = append(got, ev)
				case <-timeout:
					t.Fatalf("events after 10s (-want +got):\n%s", cmp.Diff(want, got))
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// Finding (c): a Mirror no Bridge references is garbage-collected, both when
// inserted unreferenced and when its last reference goes.
func TestGarbageCollection(t *testing.T) {
	tests := []struct {
		name string
		do   func(t *testing.T, c client.Client, bridge, mirror string) (insertedUUID string)
	}{
		{
			name: "inserted without reference",
			do: func(t *testing.T, c client.Client, bridge, mirror string) string {
				ops, err := c.Create(&vswitch.Mirror{Name: mirror})
				if err != nil {
					t.Fatal(err)
				}
				return mustTransact(t, c, ops...)[0].UUID.GoUUID
			},
		},
		{
			name: "last reference removed",
			do: func(t *testing.T, c client.Client, bridge, mirror string) string {
				uuid := createMirror(t, c, bridge, mirror)
				if n := len(mirrorsNamed(t, c, mirror)); n != 1 {
					t.Fatalf("%d mirrors after create, want 1", n)
				}
				br := &vswitch.Bridge{Name: bridge}
				ops, err := c.Where(br).Mutate(br, model.Mutation{
					Field: &br.Mirrors, Mutator: ovsdb.MutateOperationDelete, Value: []string{uuid},
				})
				if err != nil {
					t.Fatal(err)
				}
				mustTransact(t, c, ops...)
				return uuid
			},
		},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			address, bridge := seededBridge(t, b)
			c := newClient(t, address)
			for i, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					mirror := fmt.Sprintf("%sg%d", bridge, i)
					uuid := tt.do(t, c, bridge, mirror)
					if !ovsdb.IsValidUUID(uuid) {
						t.Errorf("insert reported UUID %q", uuid)
					}
					if got := mirrorsNamed(t, c, mirror); len(got) != 0 {
						t.Errorf("unreferenced mirror still there: %+v", got)
					}
				})
			}
		})
	}
}

// Finding (d): map mutations follow RFC 7047.
func TestMapMutations(t *testing.T) {
	steps := []struct {
		name    string
		mutator ovsdb.Mutator
		value   any // map[string]string, or []string of keys to delete
		want    map[string]string
	}{
		{"insert into empty", ovsdb.MutateOperationInsert, map[string]string{"a": "1", "b": "2"}, map[string]string{"a": "1", "b": "2"}},
		{"insert keeps existing keys", ovsdb.MutateOperationInsert, map[string]string{"a": "9", "c": "3"}, map[string]string{"a": "1", "b": "2", "c": "3"}},
		{"delete keys", ovsdb.MutateOperationDelete, []string{"b", "missing"}, map[string]string{"a": "1", "c": "3"}},
		{"delete pair with other value", ovsdb.MutateOperationDelete, map[string]string{"a": "9"}, map[string]string{"a": "1", "c": "3"}},
		{"delete pair", ovsdb.MutateOperationDelete, map[string]string{"a": "1"}, map[string]string{"c": "3"}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			address, bridge := seededBridge(t, b)
			c := newClient(t, address)
			for _, step := range steps {
				var value any
				var err error
				switch v := step.value.(type) {
				case map[string]string:
					value, err = ovsdb.NewOvsMap(v)
				case []string:
					value, err = ovsdb.NewOvsSet(v)
				}
				if err != nil {
					t.Fatal(err)
				}
				mustTransact(t, c, ovsdb.Operation{
					Op: ovsdb.OperationMutate, Table: vswitch.BridgeTable, Where: byName(bridge),
					Mutations: []ovsdb.Mutation{*ovsdb.NewMutation("external_ids", step.mutator, value)},
				})
				got := getBridge(t, c, bridge).ExternalIDs
				if diff := cmp.Diff(step.want, got); diff != "" {
					t.Errorf("%s: external_ids (-want +got):\n%s", step.name, diff)
				}
			}
		})
	}
}

// outcome is how a transaction failed: how many results came back, which one
// carries the error, its error string, and which operation libovsdb's
// CheckOperationResults blames (-1: none, a commit-time error).
type outcome struct {
	Results int
	Failed  int
	Error   string
	Blamed  int
}

// Finding (e): failed transactions report errors per operation, or in an
// extra result for what is found at commit, as ovsdb-server does; the
// embedded server does not check enum and integer range constraints.
func TestTransactionErrors(t *testing.T) {
	zero := 0
	const missing = "7b6c3c4e-1111-2222-3333-444455556666"
	tests := []struct {
		name string
		ops  func(bridge string) []ovsdb.Operation
		want map[string]outcome // by backend name
	}{
		{
			name: "duplicate bridge name",
			ops: func(bridge string) []ovsdb.Operation {
				return []ovsdb.Operation{
					{Op: ovsdb.OperationInsert, Table: vswitch.BridgeTable, UUIDName: "dup", Row: ovsdb.Row{"name": bridge}},
					{Op: ovsdb.OperationMutate, Table: vswitch.OpenvSwitchTable, Where: anyRow, Mutations: []ovsdb.Mutation{
						*ovsdb.NewMutation("bridges", ovsdb.MutateOperationInsert, ovsdb.UUID{GoUUID: "dup"})}},
				}
			},
			want: map[string]outcome{
				"embedded":     {Results: 3, Failed: 2, Error: "constraint violation", Blamed: -1},
				"ovsdb-server": {Results: 3, Failed: 2, Error: "constraint violation", Blamed: -1},
			},
		},
		{
			name: "reference to a missing row",
			ops: func(bridge string) []ovsdb.Operation {
				return []ovsdb.Operation{{Op: ovsdb.OperationMutate, Table: vswitch.BridgeTable, Where: byName(bridge),
					Mutations: []ovsdb.Mutation{*ovsdb.NewMutation("mirrors", ovsdb.MutateOperationInsert, ovsdb.UUID{GoUUID: missing})}}}
			},
			want: map[string]outcome{
				"embedded":     {Results: 2, Failed: 1, Error: "referential integrity violation", Blamed: -1},
				"ovsdb-server": {Results: 2, Failed: 1, Error: "referential integrity violation", Blamed: -1},
			},
		},
		{
			name: "update of an immutable column",
			ops: func(bridge string) []ovsdb.Operation {
				return []ovsdb.Operation{
					{Op: ovsdb.OperationSelect, Table: vswitch.BridgeTable, Where: byName(bridge), Columns: []string{"name"}},
					{Op: ovsdb.OperationUpdate, Table: vswitch.BridgeTable, Where: byName(bridge), Row: ovsdb.Row{"name": "x" + bridge}},
					{Op: ovsdb.OperationSelect, Table: vswitch.BridgeTable, Where: byName(bridge), Columns: []string{"name"}},
				}
			},
			want: map[string]outcome{
				"embedded":     {Results: 3, Failed: 1, Error: "constraint violation", Blamed: 1},
				"ovsdb-server": {Results: 3, Failed: 1, Error: "constraint violation", Blamed: 1},
			},
		},
		{
			name: "wait that times out",
			ops: func(bridge string) []ovsdb.Operation {
				return []ovsdb.Operation{
					{Op: ovsdb.OperationWait, Table: vswitch.BridgeTable, Timeout: &zero, Where: byName(bridge),
						Columns: []string{"datapath_type"}, Until: string(ovsdb.WaitConditionEqual), Rows: []ovsdb.Row{{"datapath_type": "system"}}},
					{Op: ovsdb.OperationDelete, Table: vswitch.MirrorTable, Where: anyRow},
				}
			},
			want: map[string]outcome{
				"embedded":     {Results: 2, Failed: 0, Error: "timed out", Blamed: 0},
				"ovsdb-server": {Results: 2, Failed: 0, Error: "timed out", Blamed: 0},
			},
		},
		{
			name: "value outside an enum",
			ops: func(bridge string) []ovsdb.Operation {
				return []ovsdb.Operation{{Op: ovsdb.OperationUpdate, Table: vswitch.BridgeTable, Where: byName(bridge), Row: ovsdb.Row{"fail_mode": "bogus"}}}
			},
			want: map[string]outcome{
				"embedded":     {Results: 1, Failed: -1, Blamed: -1}, // committed
				"ovsdb-server": {Results: 1, Failed: 0, Error: "constraint violation", Blamed: 0},
			},
		},
		{
			name: "integer out of range",
			ops: func(bridge string) []ovsdb.Operation {
				return []ovsdb.Operation{{Op: ovsdb.OperationUpdate, Table: vswitch.PortTable, Where: byName(bridge + "a"), Row: ovsdb.Row{"tag": 5000}}}
			},
			want: map[string]outcome{
				"embedded":     {Results: 1, Failed: -1, Blamed: -1}, // committed
				"ovsdb-server": {Results: 1, Failed: 0, Error: "constraint violation", Blamed: 0},
			},
		},
		{
			name: "mutate without where",
			ops: func(bridge string) []ovsdb.Operation {
				return []ovsdb.Operation{{Op: ovsdb.OperationMutate, Table: vswitch.BridgeTable, Where: []ovsdb.Condition{},
					Mutations: []ovsdb.Mutation{*ovsdb.NewMutation("flood_vlans", ovsdb.MutateOperationInsert, 7)}}}
			},
			want: map[string]outcome{
				"embedded":     {Results: 1, Failed: -1, Blamed: -1}, // mutated every bridge
				"ovsdb-server": {Results: 1, Failed: 0, Error: "syntax error", Blamed: 0},
			},
		},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			address, bridge := seededBridge(t, b)
			c := newClient(t, address)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					ops := tt.ops(bridge)
					results, err := c.Transact(testContext(t), ops...)
					if err != nil {
						t.Fatalf("Transact: %v", err)
					}
					got := outcome{Results: len(results), Failed: -1, Blamed: -1}
					for i, r := range results {
						if r.Error != "" {
							got.Failed, got.Error = i, r.Error
							t.Logf("result %d: %s: %s", i, r.Error, r.Details)
							break
						}
					}
					opErrs, _ := ovsdb.CheckOperationResults(results, ops)
					for _, e := range opErrs {
						for i := range ops {
							if e.Operation() == &ops[i] {
								got.Blamed = i
							}
						}
					}
					if diff := cmp.Diff(tt.want[b.name], got); diff != "" {
						t.Errorf("outcome (-want +got):\n%s", diff)
					}
				})
			}
		})
	}
}

// A select returns only the requested columns from ovsdb-server, and all but
// the empty sets and maps from the embedded server.
func TestSelectColumns(t *testing.T) {
	want := map[string][]string{
		"embedded":     {"_uuid", "datapath_type", "mcast_snooping_enable", "name", "ports", "rstp_enable", "stp_enable"},
		"ovsdb-server": {"name"},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			address, bridge := seededBridge(t, b)
			c := newClient(t, address)
			results := mustTransact(t, c, ovsdb.Operation{Op: ovsdb.OperationSelect, Table: vswitch.BridgeTable,
				Where: byName(bridge), Columns: []string{"name"}})
			if len(results[0].Rows) != 1 {
				t.Fatalf("%d rows, want 1", len(results[0].Rows))
			}
			var got []string
			for col := range results[0].Rows[0] {
				got = append(got, col)
			}
			slices.Sort(got)
			if diff := cmp.Diff(want[b.name], got); diff != "" {
				t.Errorf("columns (-want +got):\n%s", diff)
			}
		})
	}
}

func TestForeignHelpers(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			address, bridge := seededBridge(t, b)
			ctx := testContext(t)
			c := newClient(t, address)
			ports := portUUIDs(t, c)
			mirror := bridge + "m"
			createMirror(t, c, bridge, mirror, ports[bridge+"a"])

			srcOf := func() []string {
				t.Helper()
				m := mirrorsNamed(t, c, mirror)
				if len(m) != 1 {
					t.Fatalf("%d mirrors named %s, want 1", len(m), mirror)
				}
				slices.Sort(m[0].SelectSrcPort)
				return m[0].SelectSrcPort
			}
			both := []string{ports[bridge+"a"], ports[bridge+"b"]}
			slices.Sort(both)
			for _, step := range []struct {
				ports []string
				want  []string
			}{
				{[]string{bridge + "b", bridge + "a"}, both},
				{nil, nil},
				{[]string{bridge + "b"}, []string{ports[bridge+"b"]}},
			} {
				if err := SetMirrorSelectSrc(ctx, address, mirror, step.ports...); err != nil {
					t.Fatalf("SetMirrorSelectSrc(%v): %v", step.ports, err)
				}
				if diff := cmp.Diff(step.want, srcOf(), cmpEmptyNil()); diff != "" {
					t.Errorf("select_src_port after SetMirrorSelectSrc(%v) (-want +got):\n%s", step.ports, diff)
				}
			}

			failures := []struct {
				name    string
				call    func() error
				wantErr string
			}{
				{"select_src of a missing mirror", func() error { return SetMirrorSelectSrc(ctx, address, bridge+"x", bridge+"a") }, "0 rows in Mirror"},
				{"select_src with a missing port", func() error { return SetMirrorSelectSrc(ctx, address, mirror, bridge+"z") }, "0 rows in Port"},
				{"delete a missing mirror", func() error { return DeleteMirror(ctx, address, bridge, bridge+"x") }, "0 rows in Mirror"},
				{"delete from another bridge", func() error { return DeleteMirror(ctx, address, bridge+"x", mirror) }, "referential integrity violation"},
			}
			for _, f := range failures {
				if err := f.call(); err == nil || !strings.Contains(err.Error(), f.wantErr) {
					t.Errorf("%s: error %v, want one containing %q", f.name, err, f.wantErr)
				}
			}

			if err := DeleteMirror(ctx, address, bridge, mirror); err != nil {
				t.Fatalf("DeleteMirror: %v", err)
			}
			if got := mirrorsNamed(t, c, mirror); len(got) != 0 {
				t.Errorf("mirror after DeleteMirror: %+v", got)
			}
			if got := getBridge(t, c, bridge).Mirrors; len(got) != 0 {
				t.Errorf("bridge mirrors after DeleteMirror: %v", got)
			}
		})
	}
}

func cmpEmptyNil() cmp.Option {
	return cmp.FilterValues(func(a, b []string) bool { return len(a) == 0 && len(b) == 0 }, cmp.Comparer(func(_, _ []string) bool { return true }))
}

// TestTimings reports (and does not judge) how long transactions take.
func TestTimings(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			address, bridge := seededBridge(t, b)
			c := newClient(t, address)
			t.Logf("small transaction round trip: %s", roundTrip(t, c, bridge))
		})
	}
	t.Run("embedded 1000 mirrors", func(t *testing.T) {
		if testing.Short() {
			t.Skip("-short")
		}
		address, bridge := seededBridge(t, backends[0])
		ctx := testContext(t)
		c := newClient(t, address)
		watcher := newClient(t, address)
		if _, err := watcher.MonitorAll(ctx); err != nil {
			t.Fatal(err)
		}
		const n = 1000 // 10,000 take about 5 s here (21 s under -race)
		var models []model.Model
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprintf("mirror%d", i)
			models = append(models, &vswitch.Mirror{UUID: names[i], Name: names[i]})
		}
		ops, err := c.Create(models...)
		if err != nil {
			t.Fatal(err)
		}
		br := &vswitch.Bridge{Name: bridge}
		mutate, err := c.Where(br).Mutate(br, model.Mutation{Field: &br.Mirrors, Mutator: ovsdb.MutateOperationInsert, Value: names})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		mustTransact(t, c, append(ops, mutate...)...)
		committed := time.Since(start)
		for watcher.Cache().Table(vswitch.MirrorTable).Len() < n {
			if time.Since(start) > 5*time.Minute {
				t.Fatalf("monitor saw %d of %d mirrors after 5 minutes", watcher.Cache().Table(vswitch.MirrorTable).Len(), n)
			}
			time.Sleep(time.Millisecond)
		}
		seen := time.Since(start)
		if got := len(getBridge(t, c, bridge).Mirrors); got != n {
			t.Errorf("bridge has %d mirrors, want %d", got, n)
		}
		t.Logf("insert %d mirrors in one transaction: %s; in the monitoring client's cache after %s; small round trip afterwards: %s",
			n, committed, seen, roundTrip(t, c, bridge))
	})
}

// roundTrip returns the mean time of a one-operation update transaction.
func roundTrip(t *testing.T, c client.Client, bridge string) time.Duration {
	t.Helper()
	const rounds = 200
	start := time.Now()
	for i := range rounds {
		value, err := ovsdb.NewOvsMap(map[string]string{"seq": fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		mustTransact(t, c, ovsdb.Operation{Op: ovsdb.OperationUpdate, Table: vswitch.BridgeTable,
			Where: byName(bridge), Row: ovsdb.Row{"external_ids": value}})
	}
	return time.Since(start) / rounds
}
