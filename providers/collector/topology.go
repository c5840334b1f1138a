package collector

import (
	"github.com/wirekeeper/wirekeeper/internal/topology"
)

// Topology implements topology.Source: one node per running collector
// (Type collector), owned by the host, with where it reads and publishes,
// the number of active interfaces and its state (Collecting, Paused or
// Failing: the last pass failed or the broker returned messages).
func (p *Provider) Topology(g *topology.Graph) {
	for _, t := range p.targets.All() {
		st := t.status()
		state := "Collecting"
		switch {
		case st.Paused:
			state = "Paused"
		case st.LastError != "" || len(st.Unroutable) > 0:
			state = "Failing" // returned messages are not delivered either
		}
		id := topology.ID(g.Host(), "collector", t.name)
		n := g.AddNode(topology.PartCollectors, id, topology.Metadata{"Type": "collector", "Name": t.name, "Manager": "netbeam",
			"State": state, "Interfaces": st.Active,
			"Collector": topology.Metadata{"Netbeam": t.sp.Netbeam.URL, "Network": t.sp.Netbeam.Network,
				"Exchange": t.sp.RabbitMQ.Exchange, "Interval": t.sp.Interval.D().String()}})
		if n != nil {
			n.Object = Kind + "/" + t.name
		}
		g.Link(g.HostID(), id, topology.Ownership, nil)
	}
}

// OnTopologyChange implements topology.Source.
func (p *Provider) OnTopologyChange(f func()) { p.topo.Add(f) }
