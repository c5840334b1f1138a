package collector_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/netbeamtest"
	"github.com/wirekeeper/wirekeeper/providers/collector"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// expectIDs returns the message ids, and the points by id, that Netbeam
// serves for resource and metrics over [begin, end).
func (r *rig) expect(resource string, metrics []string, begin, end int64) map[string][3]float64 {
	out := map[string][3]float64{}
	for _, m := range metrics {
		for _, p := range r.nb.Expected(resource, m, begin, end) {
			out[fmt.Sprintf("%s|%s|%d", resource, m, int64(p[0]))] = p
		}
	}
	return out
}

// compact is body with JSON's insignificant whitespace removed.
func compact(t *testing.T, body string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(body)); err != nil {
		t.Fatalf("not JSON: %v: %s", err, body)
	}
	return b.String()
}

func mustInt(t testing.TB, s string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("not a ms timestamp: %q", s)
	}
	return v
}

// TestCollectEndToEnd runs one target from its spec: the include/exclude
// globs pick the interfaces, each is published on the interfaces routing
// key with a timestamp and its fields intact, the inventory gets its row
// in the seed's layout, and every point from active_from - backfill to the
// watermark arrives once, in the seed's body, persistent, with its id.
func TestCollectEndToEnd(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil, "")
	keep, skip, other := netbeamtest.Iface("albq-asw1", "ge-0/0/1"), netbeamtest.Iface("albq-asw1", "ge-0/0/2"), netbeamtest.Iface("chic-cr6", "xe-1/0/0")
	r.nb.SetInterfaces(keep, skip, other)
	res := keep["resource"].(string)
	r.apply(r.targetDoc("esnet",
		`metrics: [traffic, errors], interfaces: {include: ["devices/albq-asw1/interfaces/*"], exclude: ["devices/*/interfaces/ge-0%2F0%2F2"]}`,
		"", "lag: 1m, backfill: 10m, sliceMax: 3m"))
	r.waitFor("the first pass", 20*time.Second, func() bool { st, ok := r.p.Status("esnet"); return ok && st.Passes >= 1 })
	if ph, msg := r.phase("esnet"); ph != reconciler.PhaseReady {
		t.Fatalf("phase %s (%s), want Ready", ph, msg)
	}

	rows := r.rows()
	if len(rows) != 1 || rows[0].Name != res || rows[0].Status != "1" || rows[0].ActiveUntil.Valid {
		t.Fatalf("inventory = %+v, want one active row for %s", rows, res)
	}
	from := mustInt(t, rows[0].ActiveFrom)
	if !rows[0].Traffic.Valid || !rows[0].Errors.Valid || rows[0].Traffic.String != rows[0].Errors.String {
		t.Fatalf("watermarks = %+v, want traffic and errors set alike", rows[0])
	}
	wm := mustInt(t, rows[0].Traffic.String)
	if lag := time.Since(time.UnixMilli(wm)); lag < time.Minute || lag > 2*time.Minute {
		t.Errorf("watermark %v behind now, want about the 1m lag", lag)
	}
	want := r.expect(res, []string{"traffic", "errors"}, from-(10*time.Minute).Milliseconds(), wm)
	if len(want) < 30 {
		t.Fatalf("only %d points expected; the window is wrong", len(want))
	}
	r.waitFor("every point", 20*time.Second, func() bool { return len(r.stats()) >= len(want) })
	got := r.stats()
	for id, p := range want {
		b, ok := got[id]
		if !ok {
			t.Errorf("point %s never arrived", id)
			continue
		}
		if b.Name != res || b.Timestamp != int64(p[0]) || b.In == nil || *b.In != p[1] || b.Out == nil || *b.Out != p[2] {
			t.Errorf("point %s = %+v, want %v", id, b, p)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("message %s is outside the window", id)
		}
	}
	var ifaceMsgs int
	for _, d := range r.consumer.Messages() {
		if d.ContentType != "text/plain" || d.DeliveryMode != 2 || d.MessageID == "" {
			t.Fatalf("message %s: content type %q, delivery mode %d; want text/plain, persistent, an id", d.MessageID, d.ContentType, d.DeliveryMode)
		}
		if d.RoutingKey != "esnet_interfaces" {
			continue
		}
		ifaceMsgs++
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(d.Body, &obj); err != nil {
			t.Fatal(err)
		}
		var sent map[string]json.RawMessage
		raw, _ := json.Marshal(keep)
		json.Unmarshal(raw, &sent)
		for k, v := range sent {
			// The stand-in indents its listing, and the message keeps
			// those bytes: compare the values compacted.
			if compact(t, string(obj[k])) != string(v) {
				t.Errorf("interface message field %s = %s, want %s as Netbeam sent it", k, obj[k], v)
			}
		}
		if ts, err := strconv.ParseInt(string(obj["timestamp"]), 10, 64); err != nil || time.Since(time.UnixMilli(ts)) > time.Minute {
			t.Errorf("interface message timestamp = %s, want now in ms", obj["timestamp"])
		}
	}
	if ifaceMsgs < 1 {
		t.Errorf("no interface message published")
	}
	if st, _ := r.p.Status("esnet"); st.Confirmed < uint64(len(want)) || st.Active != 1 {
		t.Errorf("status = %+v", st)
	}
	r.waitFor("details in the object's status", 10*time.Second, func() bool {
		o := r.e.Status().Object(reconciler.Ref{Kind: collector.Kind, Name: "esnet"})
		return o != nil && len(o.Details) >= 3 && strings.HasPrefix(o.Details[0], "interfaces: 1 active, 0 retired") &&
			strings.Contains(strings.Join(o.Details, "\n"), "traffic: collected to ")
	})
}
