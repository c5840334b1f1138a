package collector_test

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The SAND-CI collector's bodies for what the stand-in serves below, as
// seen running it beside wirekeeper (../../docs: seed-systems.md section 3):
// Python json.dumps output, numbers as Netbeam wrote them, the interface
// object in Netbeam's key order with "timestamp" appended, <>& as they are.
const (
	seedResource = "devices/albq-asw1/interfaces/ge-0%2F0%2F1"
	// seedInterfaces is the listing served: Netbeam's key order (not
	// sorted), a float speed, <>& and an escaped ü in the description.
	seedInterfaces = `[{"resource": "devices/albq-asw1/interfaces/ge-0%2F0%2F1", "name": "ge-0/0/1", "device": "albq-asw1", ` +
		`"description": "to <lab> & \u00fcber-link", "speed": 10000.0, "ipv4": null, "port": "ge-0/0/1", "nokiaType": null, "intracloud": false}]`
	// seedInterfaceBody is the seed's message for it; TS is the time of
	// the pass.
	seedInterfaceBody = `{"resource": "devices/albq-asw1/interfaces/ge-0%2F0%2F1", "name": "ge-0/0/1", "device": "albq-asw1", ` +
		`"description": "to <lab> & \u00fcber-link", "speed": 10000.0, "ipv4": null, "port": "ge-0/0/1", "nokiaType": null, "intracloud": false, "timestamp": TS}`
	seedPoints = `{"agg": "30s", "points": [[1796400000000, 656332.0, 1312000.0], [1796400030000, 656332.0, 1.5e+20], [1796400060000, null, 0.0]]}`
)

// seedStatsBodies are the seed's stats messages for seedPoints, by
// timestamp; the first is seed-systems.md's example body.
var seedStatsBodies = map[string]string{
	"1796400000000": `{"name": "devices/albq-asw1/interfaces/ge-0%2F0%2F1", "recordType": "traffic", "timestamp": 1796400000000, "in": 656332.0, "out": 1312000.0}`,
	"1796400030000": `{"name": "devices/albq-asw1/interfaces/ge-0%2F0%2F1", "recordType": "traffic", "timestamp": 1796400030000, "in": 656332.0, "out": 1.5e+20}`,
	"1796400060000": `{"name": "devices/albq-asw1/interfaces/ge-0%2F0%2F1", "recordType": "traffic", "timestamp": 1796400060000, "in": null, "out": 0.0}`,
}

func compact(t *testing.T, body string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(body)); err != nil {
		t.Fatalf("not JSON: %v: %s", err, body)
	}
	return b.String()
}

// TestSeedBodies publishes what the seed published for the same Netbeam
// answers: every stats body carries Netbeam's number text (656332.0 and
// 1.5e+20, not 656332 and 150000000000000000000) and the interface body is
// the object as Netbeam sent it, byte for byte (key order, 10000.0, <>&,
// \u00fc), with "timestamp" last. Compacted, both equal the seed's bodies:
// for these answers the seed differs only by its ", " and ": " separators.
// The inventory row keeps the watermarks of metrics not collected NULL.
func TestSeedBodies(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil, "")
	r.nb.SetInterfacesBody(seedInterfaces)
	r.nb.SetBody(seedResource, "traffic", seedPoints)
	before := time.Now().UnixMilli()
	r.apply(r.targetDoc("seed", "metrics: [traffic]", "", "lag: 0s, backfill: 10m"))
	r.waitFor("the first pass", 20*time.Second, func() bool { st, ok := r.p.Status("seed"); return ok && st.Passes >= 1 })
	r.waitFor("the messages of the first pass", 20*time.Second, func() bool { return r.consumer.Count() >= 1+len(seedStatsBodies) })

	stats, ifaces := map[string]bool{}, 0
	for _, d := range r.consumer.Messages() {
		switch d.RoutingKey {
		case "esnet_traffic":
			ts := strings.TrimPrefix(d.MessageID, seedResource+"|traffic|")
			want, ok := seedStatsBodies[ts]
			if !ok {
				t.Errorf("stats message %s was not served", d.MessageID)
				continue
			}
			stats[ts] = true
			if got := string(d.Body); got != compact(t, want) {
				t.Errorf("stats body of %s:\n got %s\nwant %s (the seed's, compacted)", ts, got, want)
			}
		case "esnet_interfaces":
			ifaces++
			var ts struct{ Timestamp int64 }
			if err := json.Unmarshal(d.Body, &ts); err != nil || ts.Timestamp < before || ts.Timestamp > time.Now().UnixMilli() {
				t.Fatalf("interface body %s: timestamp %d (%v), want the pass's time", d.Body, ts.Timestamp, err)
			}
			tsText := strconv.FormatInt(ts.Timestamp, 10)
			sent := strings.TrimSuffix(strings.TrimPrefix(seedInterfaces, "["), "]")
			if want := strings.TrimSuffix(sent, "}") + `,"timestamp":` + tsText + "}"; string(d.Body) != want {
				t.Errorf("interface body:\n got %s\nwant %s (Netbeam's bytes, timestamp appended)", d.Body, want)
			}
			if want := compact(t, strings.Replace(seedInterfaceBody, "TS", tsText, 1)); compact(t, string(d.Body)) != want {
				t.Errorf("interface body, compacted:\n got %s\nwant %s (the seed's)", compact(t, string(d.Body)), want)
			}
		}
	}
	if len(stats) != len(seedStatsBodies) || ifaces == 0 {
		t.Errorf("received stats for %v and %d interface messages; want all of %d points and one interface", stats, ifaces, len(seedStatsBodies))
	}

	// The inventory row as the seed leaves it: only the collected metric
	// has a watermark; errors and discards stay NULL.
	rows := r.rows()
	if len(rows) != 1 || !rows[0].Traffic.Valid || rows[0].Errors.Valid || rows[0].Discards.Valid {
		t.Errorf("inventory = %+v, want one row with traffic_until set and errors_until, discards_until NULL", rows)
	}
}
