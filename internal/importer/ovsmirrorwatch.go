package importer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/wirekeeper/wirekeeper/spec"
)

// MaxDump bounds an OVSMirrorWatch export read by FromOVSMirrorWatch.
const MaxDump = 64 << 20

// dumpEntry is one row of Django's `manage.py dumpdata` JSON.
type dumpEntry struct {
	Model  string          `json:"model"`
	PK     json.RawMessage `json:"pk"`
	Fields json.RawMessage `json:"fields"`
}

type omwManager struct {
	IPAddress string `json:"ip_address"`
	Port      int    `json:"port"`
	Name      string `json:"name"`
	Monitor   bool   `json:"monitor"`
}

type omwBridge struct {
	OVSName string          `json:"ovs_name"`
	Manager json.RawMessage `json:"ovsdb_manager"`
}

type omwPort struct {
	Bridge json.RawMessage `json:"bridge"`
}

type omwMirror struct {
	SrcPorts []json.RawMessage `json:"src_ports"`
	DstPorts []json.RawMessage `json:"dst_ports"`
	OutPort  json.RawMessage   `json:"out_port"`
}

// FromOVSMirrorWatch renders an OVSMirrorWatch database export (the JSON
// of `manage.py dumpdata`; its models in seed-systems.md): each manager
// as an OVSManager at tcp:IP:PORT for o.Node, each bridge, and each mirror
// on its output port's bridge with its source and destination ports.
// OVSMirrorWatch has no select_all, VLANs nor output VLAN. o.Address and
// o.Manager are not used: the export names its managers.
func FromOVSMirrorWatch(dump []byte, o Options) (Result, error) {
	if len(dump) > MaxDump {
		return Result{}, fmt.Errorf("the export is %d bytes, more than %d", len(dump), MaxDump)
	}
	if o.Policy == "" {
		o.Policy = spec.PolicyObserve
	}
	var entries []dumpEntry
	dec := json.NewDecoder(bytes.NewReader(dump))
	if err := dec.Decode(&entries); err != nil {
		return Result{}, fmt.Errorf("not a dumpdata export (a JSON array of {model, pk, fields}): %w", err)
	}
	w := newWriter(o.Node)
	res := Result{w: w}
	managers := map[string]omwManager{} // by pk
	bridges := map[string]omwBridge{}
	ports := map[string]omwPort{} // by pk: the OVS port name
	type mirror struct {
		name string
		omwMirror
	}
	var mirrors []mirror
	for i, e := range entries {
		pk := key(e.PK)
		var err error
		switch e.Model {
		case "manager.ovsmanager":
			var m omwManager
			err = json.Unmarshal(e.Fields, &m)
			managers[pk] = m
		case "bridge.ovsbridge":
			var b omwBridge
			err = json.Unmarshal(e.Fields, &b)
			bridges[pk] = b
		case "port.ovsport":
			var p omwPort
			err = json.Unmarshal(e.Fields, &p)
			ports[pk] = p
		case "mirror.ovsmirror":
			var m omwMirror
			err = json.Unmarshal(e.Fields, &m)
			mirrors = append(mirrors, mirror{pk, m})
		default:
			res.Skipped = append(res.Skipped, fmt.Sprintf("entry %d: model %q is not one of OVSMirrorWatch's managers, bridges, ports or mirrors", i, e.Model))
		}
		if err != nil {
			return Result{}, fmt.Errorf("entry %d (%s %s): %w", i, e.Model, pk, err)
		}
	}
	managerName := map[string]string{} // pk -> metadata.name
	for _, pk := range sortedKeys(managers) {
		m := managers[pk]
		ip, err := netip.ParseAddr(m.IPAddress)
		if err != nil {
			res.Skipped = append(res.Skipped, fmt.Sprintf("manager %s: ip_address %q is not an IP address", m.Name, m.IPAddress))
			continue
		}
		port := m.Port
		if port == 0 {
			port = 6640
		}
		name := objectName(m.Name)
		managerName[pk] = name
		w.add("managers.yaml", "OVSManager", name, map[string]any{"node": o.Node,
			"address": "tcp:" + netip.AddrPortFrom(ip, uint16(port)).String(), "policy": string(o.Policy)})
	}
	bridgeOf := func(pk string) (omwBridge, string, string) { // bridge, its manager's name, why not
		b, ok := bridges[pk]
		if !ok {
			return b, "", "its bridge is not in the export"
		}
		mgr := managerName[key(b.Manager)]
		if mgr == "" {
			return b, "", "bridge " + b.OVSName + " has no manager in the export"
		}
		return b, mgr, ""
	}
	for _, pk := range sortedKeys(bridges) {
		b, mgr, why := bridgeOf(pk)
		if why != "" {
			res.Skipped = append(res.Skipped, "Bridge "+b.OVSName+": "+why)
			continue
		}
		w.add("bridges.yaml", "Bridge", o.Node+"-"+b.OVSName, map[string]any{"manager": mgr, "bridge": b.OVSName, "policy": string(o.Policy)})
	}
	slices.SortFunc(mirrors, func(a, b mirror) int { return strings.Compare(a.name, b.name) })
	for _, m := range mirrors {
		out := key(m.OutPort)
		if out == "" {
			res.Skipped = append(res.Skipped, "Mirror "+m.name+": has no output port (a Mirror needs one)")
			continue
		}
		p, ok := ports[out]
		if !ok {
			res.Skipped = append(res.Skipped, "Mirror "+m.name+": its output port "+out+" is not in the export")
			continue
		}
		b, mgr, why := bridgeOf(key(p.Bridge))
		if why != "" {
			res.Skipped = append(res.Skipped, "Mirror "+m.name+": "+why)
			continue
		}
		sp := map[string]any{"manager": mgr, "bridge": b.OVSName, "mirrorName": m.name,
			"output": map[string]any{"port": out}, "policy": string(o.Policy)}
		if src := keys(m.SrcPorts); len(src) > 0 {
			sp["selectSrcPorts"] = src
		}
		if dst := keys(m.DstPorts); len(dst) > 0 {
			sp["selectDstPorts"] = dst
		}
		w.add("mirrors.yaml", "Mirror", o.Node+"-"+b.OVSName+"-"+m.name, sp)
	}
	return res, nil
}

// key is a primary or foreign key as text ("" for null): Django writes
// integers for the managers' and bridges' keys, strings for the ports'
// and mirrors'.
func key(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

func keys(raws []json.RawMessage) []string {
	out := make([]string, 0, len(raws))
	for _, r := range raws {
		if k := key(r); k != "" {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b string) int {
		x, errA := strconv.Atoi(a)
		y, errB := strconv.Atoi(b)
		if errA == nil && errB == nil {
			return x - y
		}
		return strings.Compare(a, b)
	})
	return out
}
