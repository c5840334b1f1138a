package netbeamtest

import (
	"encoding/json"
	"hash/fnv"
	"net/url"
	"strings"
)

// Metrics are the metric names the stand-in serves for every interface;
// any other name is answered 404.
var Metrics = []string{"traffic", "errors", "discards"}

// EncodeName encodes an interface name the way Netbeam does in a resource:
// url.PathEscape, with "/" sent as %2F.
func EncodeName(name string) string {
	return strings.ReplaceAll(url.PathEscape(name), "/", "%2F")
}

// Resource returns the encoded resource of an interface of a device:
// devices/<device>/interfaces/<EncodeName(name)>.
func Resource(device, name string) string {
	return "devices/" + EncodeName(device) + "/interfaces/" + EncodeName(name)
}

// Iface returns a realistic interface object: resource (encoded, see
// Resource), name, device, description, speed (10000 Mbps), ipv4, port,
// nokiaType, intracloud false, and an unknown "x-wirekeeper-extra" field
// holding values a re-encoding client would change (an integer beyond
// float64 precision, HTML-escaped text), to prove it is passed on intact.
func Iface(device, name string) map[string]any {
	return map[string]any{
		"resource":    Resource(device, name),
		"name":        name,
		"device":      device,
		"description": "to " + device + "-peer " + name,
		"speed":       10000,
		"ipv4":        "198.51.100.1",
		"port":        name,
		"nokiaType":   "",
		"intracloud":  false,
		"x-wirekeeper-extra": map[string]any{
			"bigint": json.Number("12345678901234567890"),
			"html":   "<a&b>",
			"nested": []any{1, "two", nil},
		},
	}
}

// In is the stand-in's inbound value of resource's metric at ts (ms): a
// deterministic function, so tests can compute what they must receive.
func In(resource, metric string, ts int64) float64 {
	h := seriesHash(resource, metric)
	return float64(h%1000) + float64(mod(ts/1000, 3600))*0.25
}

// Out is the stand-in's outbound value of resource's metric at ts (ms).
func Out(resource, metric string, ts int64) float64 {
	h := seriesHash(resource, metric)
	return 2*In(resource, metric, ts) + float64(h%7)
}

func seriesHash(resource, metric string) uint32 {
	f := fnv.New32a()
	f.Write([]byte(resource + "|" + metric))
	return f.Sum32()
}

// mod is a % b in [0, b), also for negative a.
func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// series returns the points at every multiple of stepMS in [begin, end).
func series(resource, metric string, begin, end, stepMS int64) [][3]float64 {
	first := begin + mod(-begin, stepMS) // smallest multiple of stepMS >= begin
	out := [][3]float64{}
	for ts := first; ts < end; ts += stepMS {
		out = append(out, [3]float64{float64(ts), In(resource, metric, ts), Out(resource, metric, ts)})
	}
	return out
}
