package netbeam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Interface is one element of GET {base}/api/network/{network}/interfaces.
type Interface struct {
	// Resource is the element's "resource" field, already URL-encoded
	// (devices/albq-asw1/interfaces/ge-0%2F0%2F1), as Points expects it.
	Resource string
	// Raw is the element exactly as received, byte for byte, so it can be
	// republished with every field, known or not, intact.
	Raw json.RawMessage
}

// Interfaces lists the network's interfaces in the order the API sends them.
// A null list yields none. Every element must be an object with a string
// "resource"; otherwise the whole call fails, naming the element. Resources
// are returned as received: check them with ValidateResource before use
// (Points refuses invalid ones).
func (c *Client) Interfaces(ctx context.Context) ([]Interface, error) {
	u, err := c.endpoint("", "interfaces")
	if err != nil {
		return nil, err
	}
	var raws []json.RawMessage
	if err := c.get(ctx, u, func(d *json.Decoder) error { return d.Decode(&raws) }); err != nil {
		return nil, err
	}
	out := make([]Interface, 0, len(raws))
	for i, raw := range raws {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
			return nil, fmt.Errorf("netbeam: GET %s: interface %d is not an object", redact(u), i)
		}
		var resource string
		if err := json.Unmarshal(fields["resource"], &resource); err != nil || resource == "" {
			return nil, fmt.Errorf("netbeam: GET %s: interface %d has no string \"resource\"", redact(u), i)
		}
		out = append(out, Interface{Resource: resource, Raw: raw})
	}
	return out, nil
}

// Point is one [ts_ms, in, out] triple of a metric's series. In and Out
// hold the number text exactly as Netbeam wrote it (656332.0 stays
// 656332.0, 1.5e+20 stays 1.5e+20), and are nil where Netbeam sent JSON
// null (no sample), so a republished point keeps both its number form and
// its null.
type Point struct {
	// Timestamp is the sample time in milliseconds since the Unix epoch.
	Timestamp int64
	// In is the inbound value as sent, nil for null.
	In json.RawMessage
	// Out is the outbound value as sent, nil for null.
	Out json.RawMessage
}

// UnmarshalJSON decodes [ts, in, out]: ts must be an integral number, in and
// out numbers (within float64's range) or null. Elements after the third are
// ignored.
func (p *Point) UnmarshalJSON(b []byte) error {
	var elems []json.RawMessage
	if err := json.Unmarshal(b, &elems); err != nil {
		return fmt.Errorf("point %s: want [ts, in, out]: %w", b, err)
	}
	if len(elems) < 3 {
		return fmt.Errorf("point %s: want [ts, in, out]", b)
	}
	var v [3]float64
	for i := range v {
		if string(elems[i]) == "null" {
			elems[i] = nil
			continue
		}
		// elems[i] is one JSON value: ParseFloat accepts it exactly when it
		// is a number within float64's range (strings, objects, 1e400
		// refused); the text itself is what is kept.
		f, err := strconv.ParseFloat(string(elems[i]), 64)
		if err != nil {
			return fmt.Errorf("point %s: want [ts, in, out]: %w", b, err)
		}
		v[i] = f
	}
	if elems[0] == nil || v[0] != math.Trunc(v[0]) || math.Abs(v[0]) > 1<<53 {
		return fmt.Errorf("point %s: timestamp is not an integral number of milliseconds", b)
	}
	*p = Point{Timestamp: int64(v[0]), In: elems[1], Out: elems[2]}
	return nil
}

// MarshalJSON encodes the point as Netbeam does, [ts, in, out], with the
// values' text as received and null for a nil In or Out.
func (p Point) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{p.Timestamp, p.In, p.Out})
}

// Points fetches GET {base}/api/network/{network}/{resource}/{metric}?begin=&end=
// and returns the points as sent, in order, without filtering them by the
// window. resource goes into the path unchanged (already encoded; it must
// pass ValidateResource) and metric is a plain name (traffic, errors,
// discards). Top-level keys other than "points" are ignored; "points": null
// or [] yields no points, but a response without "points" is an error so an
// unexpected body is never mistaken for an empty window.
func (c *Client) Points(ctx context.Context, resource, metric string, begin, end int64) ([]Point, error) {
	if err := ValidateResource(resource); err != nil {
		return nil, err
	}
	if err := validateMetric(metric); err != nil {
		return nil, err
	}
	if begin > end {
		return nil, fmt.Errorf("netbeam: %s %s: begin %d is after end %d", resource, metric, begin, end)
	}
	query := "begin=" + strconv.FormatInt(begin, 10) + "&end=" + strconv.FormatInt(end, 10)
	u, err := c.endpoint(query, resource, metric)
	if err != nil {
		return nil, err
	}
	var body struct {
		Points json.RawMessage `json:"points"`
	}
	var points []Point
	err = c.get(ctx, u, func(d *json.Decoder) error {
		if err := d.Decode(&body); err != nil {
			return err
		}
		if body.Points == nil {
			return errors.New(`the response has no "points"`)
		}
		return json.Unmarshal(body.Points, &points)
	})
	if err != nil {
		return nil, err
	}
	return points, nil
}
