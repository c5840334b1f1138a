package ovsdb

import (
	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/spec"
)

// mirrorPorts are the ports of a Mirror by OVS port name: the ports its spec
// names, and the ContainerPorts it names resolved to their OVS ports (the
// host end of the veth pair, named by ovs.ContainerPortName as the
// container-port provider names it).
type mirrorPorts struct {
	src, dst []string
	// output is the output port's OVS name; "" for an output VLAN.
	output string
	// container maps the OVS name of every ContainerPort the spec names to
	// that ContainerPort's metadata.name.
	container map[string]string
}

// resolveMirrorPorts resolves sp's ports with set, the revision sp comes
// from. A ContainerPort missing from set (the validator refuses such a
// spec) resolves to nothing.
func resolveMirrorPorts(set *spec.Set, sp *spec.MirrorSpec) mirrorPorts {
	mp := mirrorPorts{container: map[string]string{}}
	resolve := func(name string) string {
		if set == nil {
			return ""
		}
		o := set.Get("ContainerPort", name)
		if o == nil {
			return ""
		}
		cp := o.Spec.(*spec.ContainerPortSpec)
		port := ovs.ContainerPortName(cp.Node, cp.Container, cp.Interface)
		mp.container[port] = name
		return port
	}
	list := func(ports, containers []string) []string {
		out := append([]string(nil), ports...)
		for _, c := range containers {
			if port := resolve(c); port != "" {
				out = append(out, port)
			}
		}
		return out
	}
	mp.src = list(sp.SelectSrcPorts, sp.SelectSrcContainerPorts)
	mp.dst = list(sp.SelectDstPorts, sp.SelectDstContainerPorts)
	if sp.Output != nil {
		switch {
		case sp.Output.Port != "":
			mp.output = sp.Output.Port
		case sp.Output.ContainerPort != "":
			mp.output = resolve(sp.Output.ContainerPort)
		}
	}
	return mp
}

// describe names an OVS port as the spec does: "ContainerPort web (OVS
// port 635dce8fdad76_l)" for a ContainerPort's, the name itself otherwise.
func (mp mirrorPorts) describe(port string) string {
	if c, ok := mp.container[port]; ok {
		return "ContainerPort " + c + " (OVS port " + port + ")"
	}
	return port
}
