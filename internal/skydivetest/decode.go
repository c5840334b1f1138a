package skydivetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// The analyzer registers typed decoders for some node metadata keys at
// start: the value under such a key is decoded into a fixed Go structure,
// and that structure is what the graph holds and what REST, SyncReply and
// Gremlin see. A decoded structure keeps only the fields it has, and
// (SkyDive encodes them with easyjson's omitempty) drops the empty ones;
// field names match exactly, case included; a null field is skipped; a
// value of the wrong JSON type is an error, and an error makes the whole
// element unparsable (see parseNode).
//
// metadataDecoders are the decoders of the keys wirekeeper sends or may
// send by SkyDive's own conventions. Each returns the canonical form the
// analyzer would serve, as generic JSON values (map[string]any, []any,
// string, int64 for the structures' integer fields).
var metadataDecoders = map[string]func(json.RawMessage) (any, error){
	"Ovs":              decodeOvs,
	"Container":        decodeContainer,
	"Metric":           decodeInterfaceMetric,
	"LastUpdateMetric": decodeInterfaceMetric,
}

// errDecode heads the errors of values a metadata decoder refuses.
var errDecode = errors.New("unable to decode")

// fieldDecoder decodes one field of a structure from its raw JSON value
// (never null: null fields are skipped) into out, or says why it cannot.
type fieldDecoder func(raw json.RawMessage, out map[string]any, name string) error

// decodeStruct is the decoding of an easyjson structure: raw must be an
// object (or null, the empty structure); its members named exactly like a
// field are decoded by that field's decoder, null members and unknown
// members are skipped.
func decodeStruct(what string, raw json.RawMessage, fields map[string]fieldDecoder) (map[string]any, error) {
	out := map[string]any{}
	if isNull(raw) {
		return out, nil
	}
	members, err := objectMembers(raw)
	if err != nil {
		return nil, fmt.Errorf("%w %s metadata %s: %v", errDecode, what, raw, err)
	}
	for _, m := range members {
		dec, known := fields[m.name]
		if !known || isNull(m.value) {
			continue
		}
		if err := dec(m.value, out, m.name); err != nil {
			return nil, fmt.Errorf("%w %s metadata %s: %s: %v", errDecode, what, raw, m.name, err)
		}
	}
	return out, nil
}

// decodeOvs is SkyDive's OvsMetadataDecoder (topology/probes/ovsdb): the
// structure OvsMetadata with OtherConfig and Options (maps of strings),
// Protocols (list of strings), DBVersion, Version and Error (strings),
// Metric and LastUpdateMetric (interface metrics), all omitempty. Any other
// key inside Ovs is lost, and so is every empty field:
// {"OtherConfig":null,"Protocols":[],"FailMode":"secure"} is stored as {}.
func decodeOvs(raw json.RawMessage) (any, error) {
	return decodeStruct("ovs", raw, map[string]fieldDecoder{
		"OtherConfig":      stringMapField,
		"Options":          stringMapField,
		"Protocols":        stringListField,
		"DBVersion":        stringField(true),
		"Version":          stringField(true),
		"Error":            stringField(true),
		"Metric":           metricField,
		"LastUpdateMetric": metricField,
	})
}

// decodeContainer is SkyDive's ContainerMetadataDecoder (topology,
// registered under "Container" since SkyDive's container metadata was
// standardised): ID, Runtime and Status (strings) and InitProcessPID are
// always present, Image and ImageID only when not empty, Hosts always (an
// object of IP, Hostname and ByIP, each only when not empty), Labels only
// when not empty.
func decodeContainer(raw json.RawMessage) (any, error) {
	out, err := decodeStruct("container", raw, map[string]fieldDecoder{
		"ID":             stringField(false),
		"Image":          stringField(true),
		"ImageID":        stringField(true),
		"Runtime":        stringField(false),
		"Status":         stringField(false),
		"InitProcessPID": int64Field,
		"Hosts":          hostsField,
		"Labels":         objectField,
	})
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"ID", "Runtime", "Status"} {
		if _, ok := out[k]; !ok {
			out[k] = ""
		}
	}
	if _, ok := out["InitProcessPID"]; !ok {
		out["InitProcessPID"] = int64(0)
	}
	if _, ok := out["Hosts"]; !ok {
		out["Hosts"] = map[string]any{}
	}
	return out, nil
}

// decodeInterfaceMetric is SkyDive's InterfaceMetric (topology): integer
// counters and the Start/Last times, each kept only when not zero. It is
// the decoder of the top-level Metric and LastUpdateMetric keys and of the
// two metric fields of Ovs.
func decodeInterfaceMetric(raw json.RawMessage) (any, error) {
	fields := map[string]fieldDecoder{}
	for _, name := range interfaceMetricFields {
		fields[name] = nonZeroInt64Field
	}
	return decodeStruct("interface metric", raw, fields)
}

// interfaceMetricFields are the fields of SkyDive's InterfaceMetric.
var interfaceMetricFields = []string{
	"Collisions", "Multicast", "RxBytes", "RxCompressed", "RxCrcErrors", "RxDropped",
	"RxErrors", "RxFifoErrors", "RxFrameErrors", "RxLengthErrors", "RxMissedErrors",
	"RxOverErrors", "RxPackets", "TxAbortedErrors", "TxBytes", "TxCarrierErrors",
	"TxCompressed", "TxDropped", "TxErrors", "TxFifoErrors", "TxHeartbeatErrors",
	"TxPackets", "TxWindowErrors", "Start", "Last",
}

// stringField decodes a string; with omitEmpty an empty one is dropped.
func stringField(omitEmpty bool) fieldDecoder {
	return func(raw json.RawMessage, out map[string]any, name string) error {
		var s string
		if err := strictString(raw, &s); err != nil {
			return err
		}
		if s != "" || !omitEmpty {
			out[name] = s
		}
		return nil
	}
}

// stringMapField decodes an object of strings, dropped when empty.
func stringMapField(raw json.RawMessage, out map[string]any, name string) error {
	members, err := objectMembers(raw)
	if err != nil {
		return err
	}
	m := map[string]any{}
	for _, mb := range members {
		var s string
		if err := strictString(mb.value, &s); err != nil {
			return fmt.Errorf("%s: %v", mb.name, err)
		}
		m[mb.name] = s
	}
	if len(m) > 0 {
		out[name] = m
	}
	return nil
}

// stringListField decodes a list of strings, dropped when empty.
func stringListField(raw json.RawMessage, out map[string]any, name string) error {
	var items []json.RawMessage
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '[' || json.Unmarshal(raw, &items) != nil {
		return fmt.Errorf("a list expected, got %s", raw)
	}
	list := make([]any, 0, len(items))
	for _, it := range items {
		var s string
		if err := strictString(it, &s); err != nil {
			return err
		}
		list = append(list, s)
	}
	if len(list) > 0 {
		out[name] = list
	}
	return nil
}

// int64Field decodes an integer literal, kept even when 0.
func int64Field(raw json.RawMessage, out map[string]any, name string) error {
	i, err := strictInt64(raw)
	if err != nil {
		return err
	}
	out[name] = i
	return nil
}

// nonZeroInt64Field decodes an integer literal, dropped when 0.
func nonZeroInt64Field(raw json.RawMessage, out map[string]any, name string) error {
	i, err := strictInt64(raw)
	if err != nil {
		return err
	}
	if i != 0 {
		out[name] = i
	}
	return nil
}

// metricField decodes an interface metric; a metric that is present stays,
// even with every counter 0 ({}): the structure holds a pointer to it.
func metricField(raw json.RawMessage, out map[string]any, name string) error {
	m, err := decodeInterfaceMetric(raw)
	if err != nil {
		return err
	}
	out[name] = m
	return nil
}

// hostsField decodes SkyDive's Hosts (the container's /etc/hosts).
func hostsField(raw json.RawMessage, out map[string]any, name string) error {
	h, err := decodeStruct("hosts", raw, map[string]fieldDecoder{
		"IP":       stringField(true),
		"Hostname": stringField(true),
		"ByIP":     objectField,
	})
	if err != nil {
		return err
	}
	out[name] = h
	return nil
}

// objectField decodes a free-form object (SkyDive's graph.Metadata),
// dropped when empty.
func objectField(raw json.RawMessage, out map[string]any, name string) error {
	if _, err := objectMembers(raw); err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	if len(m) > 0 {
		out[name] = m
	}
	return nil
}

// member is one member of a JSON object, in document order.
type member struct {
	name  string
	value json.RawMessage
}

// objectMembers splits a JSON object into its members, in order, keeping
// duplicates (a later one overrides an earlier one when decoded in order).
func objectMembers(raw json.RawMessage) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("an object expected, got %s", raw)
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, member{name: tok.(string), value: v})
	}
	if _, err := dec.Token(); err != nil && err != io.EOF {
		return nil, err
	}
	return out, nil
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// strictString decodes a JSON string (not null, not a number).
func strictString(raw json.RawMessage, s *string) error {
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '"' {
		return fmt.Errorf("a string expected, got %s", raw)
	}
	return json.Unmarshal(raw, s)
}

// strictInt64 decodes an integer literal as easyjson does: a JSON number
// written without fraction or exponent (1.0 and 1e3 are refused).
func strictInt64(raw json.RawMessage) (int64, error) {
	t := string(bytes.TrimSpace(raw))
	i, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("an integer expected, got %s", raw)
	}
	return i, nil
}
