package inventory_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/providers/collector/inventory"
)

func TestAdvanceOnlyMovesForward(t *testing.T) {
	r := newRig(t)
	ctx := ctxT(t)
	if _, _, err := r.store.Sync(ctx, []string{"a"}, t1, allMetrics); err != nil {
		t.Fatal(err)
	}
	mark := t1 - bfMillis
	r.startCollection(t, mark)
	steps := []struct {
		name   string
		setup  string // SQL run first, as another writer
		metric string
		until  int64
		want   dbRow
	}{
		{name: "forward", metric: "traffic", until: mark + 1000,
			want: dbRow{1, "a", "1", "1700000000000", "<nil>", "1699827201000", "1699827200000", "1699827200000"}},
		{name: "equal changes nothing", metric: "traffic", until: mark + 1000,
			want: dbRow{1, "a", "1", "1700000000000", "<nil>", "1699827201000", "1699827200000", "1699827200000"}},
		{name: "back changes nothing", metric: "traffic", until: mark,
			want: dbRow{1, "a", "1", "1700000000000", "<nil>", "1699827201000", "1699827200000", "1699827200000"}},
		{name: "other metrics are their own", metric: "discards", until: t1,
			want: dbRow{1, "a", "1", "1700000000000", "<nil>", "1699827201000", "1699827200000", "1700000000000"}},
		{name: "NULL is set", setup: "UPDATE {t} SET errors_until = NULL", metric: "errors", until: 5,
			want: dbRow{1, "a", "1", "1700000000000", "<nil>", "1699827201000", "0000000000005", "1700000000000"}},
		// Compared as numbers: as strings, "999" > "1000".
		{name: "unpadded value of another writer", setup: "UPDATE {t} SET errors_until = '999'", metric: "errors", until: 1000,
			want: dbRow{1, "a", "1", "1700000000000", "<nil>", "1699827201000", "0000000001000", "1700000000000"}},
		{name: "retired rows advance too", setup: "UPDATE {t} SET status = '0', active_until = '1700000000000'", metric: "errors", until: t1,
			want: dbRow{1, "a", "0", "1700000000000", "1700000000000", "1699827201000", "1700000000000", "1700000000000"}},
	}
	for _, st := range steps {
		if st.setup != "" {
			r.exec(t, st.setup)
		}
		if err := r.store.Advance(ctx, 1, st.metric, st.until); err != nil {
			t.Fatalf("%s: Advance: %v", st.name, err)
		}
		if diff := cmp.Diff([]dbRow{st.want}, r.dump(t)); diff != "" {
			t.Fatalf("%s: table (-want +got):\n%s", st.name, diff)
		}
	}
}

func TestAdvanceErrors(t *testing.T) {
	r := newRig(t)
	ctx := ctxT(t)
	if _, _, err := r.store.Sync(ctx, []string{"a", "junk"}, t1, allMetrics); err != nil {
		t.Fatal(err)
	}
	r.exec(t, "UPDATE {t} SET traffic_until = 'soon' WHERE name = 'junk'")
	before := r.dump(t)
	tests := []struct {
		name    string
		id      int64
		metric  string
		until   int64
		wantErr string
		wantIs  error
	}{
		{"unknown metric", 1, "packets", t1, `unknown metric "packets", want traffic, errors or discards`, nil},
		{"negative", 1, "traffic", -1, "traffic watermark -1 is outside", nil},
		{"past 13 digits", 1, "traffic", inventory.MaxMillis + 1, "is outside 0..9999999999999", nil},
		{"no such row", 99, "traffic", t1, "row id 99", inventory.ErrNoRow},
		{"junk left as it is", 2, "traffic", t1, `row id 2 in table ` + r.table + `: current value: "soon" is not a millisecond timestamp`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := r.store.Advance(ctx, tc.id, tc.metric, tc.until)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "inventory: ") {
				t.Errorf("Advance = %v, want inventory: ...%s", err, tc.wantErr)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("Advance = %v, want errors.Is %v", err, tc.wantIs)
			}
		})
	}
	if diff := cmp.Diff(before, r.dump(t)); diff != "" {
		t.Errorf("failed Advances changed the table (-before +after):\n%s", diff)
	}
}

// Eight collectors advance their own rows at once, each also offering
// stale watermarks, while Sync passes run; run with -race.
func TestAdvanceConcurrently(t *testing.T) {
	r := newRig(t)
	ctx := ctxT(t)
	const workers, steps = 8, 60
	rows, _, err := r.store.Sync(ctx, names("adv", workers), t1, allMetrics)
	if err != nil {
		t.Fatal(err)
	}
	mark := t1 - bfMillis
	r.startCollection(t, mark)
	var wg sync.WaitGroup
	errs := make(chan error, workers*steps*3+100)
	for w := range workers {
		wg.Add(1)
		go func(id int64) {
			defer wg.Done()
			for i := 1; i <= steps; i++ {
				for _, m := range inventory.Metrics() {
					if err := r.store.Advance(ctx, id, m, mark+int64(i)*60_000); err != nil {
						errs <- err
					}
					// A stale one, as a slow worker might offer.
					if err := r.store.Advance(ctx, id, m, mark+int64(i-1)*60_000); err != nil {
						errs <- err
					}
				}
			}
		}(rows[w].ID)
	}
	stop := make(chan struct{})
	syncDone := make(chan struct{})
	go func() {
		defer close(syncDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, res, err := r.store.Sync(ctx, names("adv", workers), t1+1000, allMetrics); err != nil {
				errs <- err
			} else if res.Added+res.Retired != 0 {
				errs <- errors.New("a no-change Sync changed rows")
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-syncDone
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	all, err := r.store.Rows(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	final := mark + steps*60_000
	for _, row := range all {
		want := map[string]int64{"traffic": final, "errors": final, "discards": final}
		if diff := cmp.Diff(want, row.Until); diff != "" {
			t.Errorf("row %d watermarks (-want +got):\n%s", row.ID, diff)
		}
	}
}
