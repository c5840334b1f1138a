package skydive_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/skydivetest"
	"github.com/wirekeeper/wirekeeper/internal/topology"
	"github.com/wirekeeper/wirekeeper/providers/skydive"
)

func TestAnExpiredLoginTokenIsRenewedWithoutLosingTheGraph(t *testing.T) {
	const secret = "t0ken-Pa55-wk"
	a := skydivetest.Start(t, skydivetest.Options{Users: map[string]string{"wk": secret}, TokenTTL: time.Hour})
	t.Setenv("WIREKEEPER_SECRET_SKYDIVE_RELOGIN", secret)
	src := newMemSource()
	src.change(func(n map[string]topology.Metadata, l map[[3]string]bool) {
		n["p1"] = port("p1", 1)
		l[[3]string{"host", "p1", topology.Ownership}] = true
	})
	r := newExporter(t, "h1", skydive.Options{}, src)
	r.apply(loadSet(t, exportDoc("sky", a.URL(),
		"auth: {username: wk, password: {env: WIREKEEPER_SECRET_SKYDIVE_RELOGIN}, method: login}, verifyInterval: 1h")), "sky")
	r.waitHeld(a, nil)
	r.p.Verify("sky")
	st := r.waitStatus("sky", "verified", func(s skydive.Status) bool { return s.ReadBacks == 1 })
	if !st.VerifiedOK || st.Logins != 1 {
		t.Fatalf("status %+v: want verified with one login", st)
	}

	// The token expires: the read-back is refused, logs in again and
	// reads; the connection and the graph stay, no Sync is needed.
	a.ExpireTokens()
	r.p.Verify("sky")
	st = r.waitStatus("sky", "the second read-back", func(s skydive.Status) bool { return s.ReadBacks == 2 })
	if !st.VerifiedOK || st.Logins != 2 || !st.Connected || st.Syncs != 1 || syncsAt(a, "wirekeeper.h1") != 1 {
		t.Errorf("after the token expired, a read-back: status %+v (%d Syncs received); want verified after a second login, no Sync", st, syncsAt(a, "wirekeeper.h1"))
	}

	// It expires again and the connection drops: the reconnect's upgrade
	// is refused, logs in again and connects, with the usual Sync.
	a.ExpireTokens()
	a.Cut()
	st = r.waitStatus("sky", "reconnected", func(s skydive.Status) bool { return s.Connected && s.Syncs == 2 })
	if st.Logins != 3 {
		t.Errorf("%d logins, want 3", st.Logins)
	}
	r.waitHeld(a, nil)
	r.p.Verify("sky")
	if st := r.waitStatus("sky", "the third read-back", func(s skydive.Status) bool { return s.ReadBacks == 3 }); !st.VerifiedOK {
		t.Errorf("after the reconnect: %s", st.Verified)
	}
	// Matched as the export and the stand-in say it: a bare "401" is also
	// in timestamps (12:34:56.401) and ports.
	if l := r.log.String(); strings.Contains(l, "HTTP 401") || strings.Contains(l, "refused the credentials") || strings.Contains(l, secret) {
		t.Errorf("the export reported a refusal (or the password) although it logged in again:\n%s", l)
	}
	refused := 0
	for _, l := range a.Log() {
		if strings.Contains(l, "401 unauthorized") {
			refused++
		}
	}
	if refused != 2 {
		t.Errorf("the analyzer refused %d requests, want 2: the expired token once on REST, once on the upgrade:\n%s", refused, strings.Join(a.Log(), "\n"))
	}
}

func TestDeletesCarryMetadataAndDeletedAt(t *testing.T) {
	a := skydivetest.Start(t, skydivetest.Options{})
	src := newMemSource()
	src.change(func(n map[string]topology.Metadata, l map[[3]string]bool) {
		n["p1"], n["p2"] = port("p1", 1), port("p2", 1)
		l[[3]string{"host", "p1", topology.Ownership}] = true
		l[[3]string{"p1", "p2", topology.Layer2}] = true
	})
	r := newExporter(t, "h1", skydive.Options{}, src)
	r.apply(loadSet(t, exportDoc("sky", a.URL(), "persistence: Persistent")), "sky")
	r.waitHeld(a, nil)
	before := time.Now().UnixMilli()
	// p2 goes, and the edge to it; the edge from the host to p1 goes alone.
	src.change(func(n map[string]topology.Metadata, l map[[3]string]bool) {
		delete(n, "p2")
		delete(l, [3]string{"p1", "p2", topology.Layer2})
		delete(l, [3]string{"host", "p1", topology.Ownership})
	})
	r.waitHeld(a, nil)
	after := time.Now().UnixMilli()
	p2, l2 := topology.ID("h1", "mem", "p2"), topology.ID(topology.ID("h1", "mem", "p1"), topology.ID("h1", "mem", "p2"), topology.Layer2)
	own := topology.ID(topology.ID("h1", "host"), topology.ID("h1", "mem", "p1"), topology.Ownership)
	found := map[string]skydivetest.Deletion{}
	for _, d := range a.Deleted() {
		found[d.ID] = d
	}
	for _, want := range []struct {
		id, cause string
		keys      []string
	}{
		{p2, "NodeDeleted", []string{"Type", "Name", "UUID"}},
		{l2, "EdgeDeleted", []string{"RelationType"}},
		{own, "EdgeDeleted", []string{"RelationType"}},
	} {
		d, ok := found[want.id]
		if !ok {
			t.Errorf("%s %s not deleted by the export's message", want.cause, want.id)
			continue
		}
		if d.Cause != want.cause || d.DeletedAt < before || d.DeletedAt > after || d.Origin != "wirekeeper.h1" {
			t.Errorf("deletion %+v: want %s with DeletedAt in [%d, %d]", d, want.cause, before, after)
		}
		for _, k := range want.keys {
			if s, _ := d.Metadata[k].(string); s == "" {
				t.Errorf("%s %s: the message carried no %s: %v", want.cause, want.id, k, d.Metadata)
			}
		}
	}
	cleanLog(t, a)
}
