package collector_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp091 "github.com/rabbitmq/amqp091-go"
)

// The SAND-CI collector's bodies for what the stand-in serves below, as
// seen running it beside wirekeeper (../../docs: seed-systems.md section 3):
// Python json.dumps output, numbers as Netbeam wrote them, the interface
// object in Netbeam's key order with "timestamp" appended, <>& as they are.
const (
	seedResource = "devices/albq-asw1/interfaces/ge-0%2F0%2F1"
	// seedInterfaces is the listing served: Netbeam's key order (not
	// sorted), a float speed, <>& and an escaped ü in the description,
	// each object written as json.dumps writes it.
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

// properties are a delivery's AMQP properties, but for message_id and
// timestamp, which are checked apart.
type properties struct {
	ContentType, ContentEncoding, CorrelationID, ReplyTo, Expiration, Type, UserID, AppID string
	DeliveryMode, Priority                                                                uint8
	Headers                                                                               amqp091.Table
}

// TestSeedBodies publishes, through a real RabbitMQ, what the seed
// published for the same Netbeam answers, and compares the bytes: every
// stats body equals the seed's byte for byte (its separators, Netbeam's
// number text 656332.0, 1.5e+20, 0.0 and null), and the interface body is
// the object's bytes as Netbeam sent them with `, "timestamp": N}`
// appended, which, this object being written as json.dumps writes it,
// equals the seed's body byte for byte. The routing keys and content_type
// are the seed's; the properties that are not (delivery_mode 2, a
// message_id, a timestamp) are all there is besides. The inventory row
// keeps the watermarks of metrics not collected NULL.
func TestSeedBodies(t *testing.T) {
	t.Parallel()
	r := newRig(t, nil, "")
	// A second queue, read with basic.get to see every property.
	raw := r.queue + ".raw"
	r.broker.DeclareQueue(t, raw, r.exchange, "esnet_interfaces")
	r.broker.DeclareQueue(t, raw, r.exchange, "esnet_traffic")
	r.nb.SetInterfacesBody(seedInterfaces)
	r.nb.SetBody(seedResource, "traffic", seedPoints)
	before := time.Now().UnixMilli()
	r.apply(r.targetDoc("seed", "metrics: [traffic]", "", "lag: 0s, backfill: 10m"))
	r.waitFor("the first pass", 20*time.Second, func() bool { st, ok := r.p.Status("seed"); return ok && st.Passes >= 1 })
	r.waitFor("the messages of the first pass", 20*time.Second, func() bool { return r.consumer.Count() >= 1+len(seedStatsBodies) })
	deliveries := r.broker.GetAll(t, raw)
	after := time.Now().UnixMilli()

	stats, ifaces := map[string]bool{}, 0
	for _, d := range deliveries {
		if diff := cmp.Diff(properties{ContentType: "text/plain", DeliveryMode: 2}, properties{
			d.ContentType, d.ContentEncoding, d.CorrelationId, d.ReplyTo, d.Expiration, d.Type, d.UserId, d.AppId,
			d.DeliveryMode, d.Priority, d.Headers}); diff != "" {
			t.Errorf("properties of %s (-want +got):\n%s", d.MessageId, diff)
		}
		switch d.RoutingKey {
		case "esnet_traffic":
			ts := strings.TrimPrefix(d.MessageId, seedResource+"|traffic|")
			want, ok := seedStatsBodies[ts]
			if !ok {
				t.Errorf("stats message %s was not served", d.MessageId)
				continue
			}
			stats[ts] = true
			if diff := cmp.Diff(want, string(d.Body)); diff != "" {
				t.Errorf("stats body of %s, against the seed's (-want +got):\n%s", ts, diff)
			}
			if ms, _ := strconv.ParseInt(ts, 10, 64); !d.Timestamp.Equal(time.UnixMilli(ms).Truncate(time.Second)) {
				t.Errorf("timestamp property of %s = %v, want the point's time", d.MessageId, d.Timestamp)
			}
		case "esnet_interfaces":
			ifaces++
			// The time of the pass, which the seed's body carries too.
			tsText, ok := strings.CutPrefix(d.MessageId, seedResource+"|interface|")
			if ts, err := strconv.ParseInt(tsText, 10, 64); !ok || err != nil || ts < before || ts > after {
				t.Fatalf("interface message id %q, want %s|interface| and the pass's time", d.MessageId, seedResource)
			}
			if d.Timestamp.IsZero() {
				t.Errorf("interface message %s has no timestamp property", d.MessageId)
			}
			sent := strings.TrimSuffix(strings.TrimPrefix(seedInterfaces, "["), "]")
			if diff := cmp.Diff(strings.TrimSuffix(sent, "}")+`, "timestamp": `+tsText+"}", string(d.Body)); diff != "" {
				t.Errorf("interface body, against Netbeam's bytes with the timestamp appended (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(strings.Replace(seedInterfaceBody, "TS", tsText, 1), string(d.Body)); diff != "" {
				t.Errorf("interface body, against the seed's (-want +got):\n%s", diff)
			}
		default:
			t.Errorf("message %s on routing key %q", d.MessageId, d.RoutingKey)
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
