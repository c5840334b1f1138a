package collector_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/netbeamtest"
	"github.com/wirekeeper/wirekeeper/providers/collector"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/conformance"
	"github.com/wirekeeper/wirekeeper/spec"
)

// TestConformance runs the shared provider contract against the collector
// with its real peers: the Netbeam stand-in, the harness's RabbitMQ and
// MariaDB.
//
// The case has no Drift: a collector's live state is the loop this
// process runs with its spec, which no client outside the process can
// change. What the loop writes (the inventory, the messages) is its
// output, not the object.
func TestConformance(t *testing.T) {
	t.Parallel()
	r := newProviderRig(t, nil, "", nil, true)
	r.nb.SetInterfaces(netbeamtest.Iface("albq-asw1", "ge-0/0/1"))
	conformance.Run(t, firstPassApply{r.p}, []conformance.Case{{
		Name: "target",
		Set:  r.load(r.targetDoc("conf", "metrics: [traffic]", "", "lag: 1m, backfill: 10m, sliceMax: 5m")),
		Ref:  reconciler.Ref{Kind: collector.Kind, Name: "conf"},
		Update: func(o *spec.Object) {
			o.Spec.(*spec.CollectorTargetSpec).Netbeam.Metrics = []string{"traffic", "errors"}
		},
	}})
}

// firstPassApply is the provider as the suite drives it, its Apply
// returning once the collector it started or restarted has ended its
// first pass, cleanly. A collector's Apply starts a loop and returns; its
// Observe shows the counts of the passes (Details) from the end of the
// first one. The suite observes twice right after Apply and wants both
// alike, which a first pass ending between the two breaks although no
// Observe changed anything; and without the wait the suite would only
// ever see collectors that had not passed yet. Observe is not wrapped: it
// is checked as it is.
type firstPassApply struct{ *collector.Provider }

func (p firstPassApply) Apply(ctx context.Context, req reconciler.Request, ch reconciler.Change) error {
	if err := p.Provider.Apply(ctx, req, ch); err != nil || ch.Action == reconciler.ActionDelete {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, _ := p.Status(req.Ref.Name)
		switch {
		case st.Passes > 0 && st.LastError != "":
			// The peers are the suite's live system: a pass they fail
			// would leave the contract checked against a broken one.
			return fmt.Errorf("test: the collector's first pass failed: %s", st.LastError)
		case st.Passes > 0:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("test: the collector did not end a pass within 30s of the apply; status %+v", st)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}
