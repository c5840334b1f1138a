package skydive

import "github.com/wirekeeper/wirekeeper/internal/topology"

// AddSource adds s to the parts of the graph, as Options.Sources does: the
// registry hands the provider every other provider that draws a part.
// Called before the provider is used.
func (p *Provider) AddSource(s topology.Source) {
	p.opts.Sources = append(p.opts.Sources, s)
	s.OnTopologyChange(p.kickAll)
}
