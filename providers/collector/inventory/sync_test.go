package inventory_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/providers/collector/inventory"
)

const (
	t1       = int64(1_700_000_000_000)
	bfMillis = int64(48 * 3600 * 1000)
)

// allMetrics are the metrics the Syncs of these tests collect.
var allMetrics = inventory.Metrics()

// startCollection sets every watermark of the table's rows to mark, as a
// collector's first collection of each metric does.
func (r *rig) startCollection(t *testing.T, mark int64) {
	t.Helper()
	m := fmt.Sprintf("%013d", mark)
	r.exec(t, "UPDATE {t} SET traffic_until = ?, errors_until = ?, discards_until = ?", m, m, m)
}

func TestSyncAddsOneRowPerNewResource(t *testing.T) {
	r := newRig(t)
	long := strings.Repeat("é", 128) // the column's width, in characters
	got, res, err := r.store.Sync(ctxT(t), []string{"devices/a/interfaces/ge-0%2F0%2F1", "b", "devices/a/interfaces/ge-0%2F0%2F1", long}, t1, allMetrics)
	if err != nil {
		t.Fatal(err)
	}
	// Every watermark NULL, as the seed leaves a row until the metric is
	// first collected.
	marks := map[string]int64{}
	want := []inventory.Row{
		{ID: 1, Name: "devices/a/interfaces/ge-0%2F0%2F1", Active: true, ActiveFrom: t1, Until: marks},
		{ID: 2, Name: "b", Active: true, ActiveFrom: t1, Until: marks},
		{ID: 3, Name: long, Active: true, ActiveFrom: t1, Until: marks},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(inventory.SyncResult{Added: 3, Active: 3}, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	// What the seed's consumers read: 13-digit strings, status '1'.
	wantDB := []dbRow{
		{1, "devices/a/interfaces/ge-0%2F0%2F1", "1", "1700000000000", "<nil>", "<nil>", "<nil>", "<nil>"},
		{2, "b", "1", "1700000000000", "<nil>", "<nil>", "<nil>", "<nil>"},
		{3, long, "1", "1700000000000", "<nil>", "<nil>", "<nil>", "<nil>"},
	}
	if diff := cmp.Diff(wantDB, r.dump(t)); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}

func TestSyncWithoutChangeWritesNothing(t *testing.T) {
	r := newRig(t)
	ctx := ctxT(t)
	if _, _, err := r.store.Sync(ctx, []string{"a", "b", "c"}, t1, allMetrics); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.store.Sync(ctx, []string{"a", "b"}, t1+60_000, allMetrics); err != nil {
		t.Fatal(err)
	}
	before := r.dump(t)
	writes := r.countWrites(t)

	// Later, same resources in another order: nothing to do.
	got, res, err := r.store.Sync(ctx, []string{"b", "a", "b"}, t1+120_000, allMetrics)
	if err != nil {
		t.Fatal(err)
	}
	if n := writes(); n != 0 {
		t.Errorf("a no-change pass wrote %d row(s), want 0", n)
	}
	if diff := cmp.Diff(before, r.dump(t)); diff != "" {
		t.Errorf("table changed (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(inventory.SyncResult{Active: 2, RetiredOwed: 1}, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if len(got) != 3 {
		t.Errorf("got %d rows, want a, b and the retired c", len(got))
	}
}

func TestSyncRetiresAndRevives(t *testing.T) {
	r := newRig(t)
	ctx := ctxT(t)
	t2, t3 := t1+3_600_000, t1+7_200_000
	if _, _, err := r.store.Sync(ctx, []string{"a", "b"}, t1, allMetrics); err != nil {
		t.Fatal(err)
	}
	r.startCollection(t, t1-bfMillis)

	got, res, err := r.store.Sync(ctx, []string{"a"}, t2, allMetrics)
	if err != nil {
		t.Fatal(err)
	}
	mark := t1 - bfMillis
	marks := map[string]int64{"traffic": mark, "errors": mark, "discards": mark}
	a := inventory.Row{ID: 1, Name: "a", Active: true, ActiveFrom: t1, Until: marks}
	bOld := inventory.Row{ID: 2, Name: "b", ActiveFrom: t1, ActiveUntil: ptr(t2), Until: marks}
	if diff := cmp.Diff([]inventory.Row{a, bOld}, got); diff != "" {
		t.Errorf("after retiring b (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(inventory.SyncResult{Retired: 1, Active: 1, RetiredOwed: 1}, res); diff != "" {
		t.Errorf("result after retiring b (-want +got):\n%s", diff)
	}

	got, res, err = r.store.Sync(ctx, []string{"a", "b"}, t3, allMetrics)
	if err != nil {
		t.Fatal(err)
	}
	bNew := inventory.Row{ID: 3, Name: "b", Active: true, ActiveFrom: t3, Until: map[string]int64{}}
	if diff := cmp.Diff([]inventory.Row{a, bOld, bNew}, got); diff != "" {
		t.Errorf("after b came back (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(inventory.SyncResult{Added: 1, Active: 2, RetiredOwed: 1}, res); diff != "" {
		t.Errorf("result after b came back (-want +got):\n%s", diff)
	}
	wantDB := []dbRow{
		{1, "a", "1", "1700000000000", "<nil>", "1699827200000", "1699827200000", "1699827200000"},
		{2, "b", "0", "1700000000000", "1700003600000", "1699827200000", "1699827200000", "1699827200000"},
		{3, "b", "1", "1700007200000", "<nil>", "<nil>", "<nil>", "<nil>"},
	}
	if diff := cmp.Diff(wantDB, r.dump(t)); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}

func TestSyncReturnsRetiredRowsOnlyWhileOwed(t *testing.T) {
	r := newRig(t)
	ctx := ctxT(t)
	t2 := t1 + 600_000
	if _, _, err := r.store.Sync(ctx, []string{"a", "keep"}, t1, allMetrics); err != nil {
		t.Fatal(err)
	}
	r.startCollection(t, t1-bfMillis)
	if _, _, err := r.store.Sync(ctx, []string{"keep"}, t2, allMetrics); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		metric    string
		until     int64
		wantOwed  bool
		wantUntil map[string]int64
	}{
		{"traffic", t2, true, map[string]int64{"traffic": t2, "errors": t1 - bfMillis, "discards": t1 - bfMillis}},
		{"errors", t2 - 1, true, map[string]int64{"traffic": t2, "errors": t2 - 1, "discards": t1 - bfMillis}},
		{"errors", t2, true, map[string]int64{"traffic": t2, "errors": t2, "discards": t1 - bfMillis}},
		// Past active_until counts as done, too.
		{"discards", t2 + 5, false, map[string]int64{"traffic": t2, "errors": t2, "discards": t2 + 5}},
	}
	for i, st := range steps {
		if err := r.store.Advance(ctx, 1, st.metric, st.until); err != nil {
			t.Fatalf("step %d: Advance: %v", i, err)
		}
		got, res, err := r.store.Sync(ctx, []string{"keep"}, t2+int64(i+1)*60_000, allMetrics)
		if err != nil {
			t.Fatalf("step %d: Sync: %v", i, err)
		}
		var owed *inventory.Row
		for j := range got {
			if got[j].ID == 1 {
				owed = &got[j]
			}
		}
		if (owed != nil) != st.wantOwed || res.RetiredOwed != map[bool]int{true: 1}[st.wantOwed] {
			t.Fatalf("step %d (%s to %d): returned a = %v, RetiredOwed = %d; want owed %v",
				i, st.metric, st.until, owed != nil, res.RetiredOwed, st.wantOwed)
		}
		if owed != nil {
			if diff := cmp.Diff(st.wantUntil, owed.Until); diff != "" {
				t.Errorf("step %d: watermarks (-want +got):\n%s", i, diff)
			}
		}
	}
	// No longer collected, still in the table as history.
	all, err := r.store.Rows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := inventory.Row{ID: 1, Name: "a", ActiveFrom: t1, ActiveUntil: ptr(t2), Until: steps[len(steps)-1].wantUntil}
	if len(all) != 2 || !cmp.Equal(want, all[0]) {
		t.Errorf("Rows = %+v, want first %+v", all, want)
	}
}

func TestSyncReportsJunkRows(t *testing.T) {
	tests := []struct {
		name, column, value, wantErr string
	}{
		{"status", "status", "x", `row id 2 (name "junk"): column status: "x" is neither '1' (active) nor '0' (retired)`},
		{"active_from", "active_from", "17000000000OO", `row id 2 (name "junk"): column active_from: "17000000000OO" is not a millisecond timestamp`},
		{"active_until", "active_until", " 1700", `column active_until: " 1700" is not`},
		{"traffic_until", "traffic_until", "-5", `column traffic_until: "-5" is not`},
		{"errors_until", "errors_until", "1.7e12", `column errors_until: "1.7e12" is not`},
		{"discards_until", "discards_until", "", `column discards_until: "" is not`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			if _, _, err := r.store.Sync(ctxT(t), []string{"ok", "junk"}, t1, allMetrics); err != nil {
				t.Fatal(err)
			}
			r.exec(t, "UPDATE {t} SET `"+tc.column+"` = ? WHERE name = 'junk'", tc.value)
			before := r.dump(t)
			if _, _, err := r.store.Sync(ctxT(t), []string{"ok"}, t1+1000, allMetrics); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Sync error = %v, want it to contain %q", err, tc.wantErr)
			}
			if diff := cmp.Diff(before, r.dump(t)); diff != "" {
				t.Errorf("a failed Sync changed the table (-before +after):\n%s", diff)
			}
			if _, err := r.store.Rows(ctxT(t)); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Rows error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestSyncRefusesBadInput(t *testing.T) {
	tests := []struct {
		name    string
		present []string
		now     int64
		metrics []string
		wantErr string
	}{
		{"empty name", []string{"a", ""}, t1, allMetrics, "a resource name is empty"},
		{"name too long", []string{strings.Repeat("x", 129)}, t1, allMetrics, "longer than 128 characters"},
		{"not UTF-8", []string{"a\xff"}, t1, allMetrics, "not valid UTF-8"},
		{"unknown metric", []string{"a"}, t1, []string{"traffic", "packets"}, `unknown metric "packets"`},
		{"now past 13 digits", []string{"a"}, inventory.MaxMillis + 1, allMetrics, "now 10000000000000 is outside"},
	}
	r := newRig(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := r.store.Sync(ctxT(t), tc.present, tc.now, tc.metrics)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "inventory: ") {
				t.Errorf("Sync error = %v, want inventory: ...%s", err, tc.wantErr)
			}
		})
	}
	if rows := r.dump(t); len(rows) != 0 {
		t.Errorf("refused Syncs wrote %d rows", len(rows))
	}
}

// TestSyncOwedOnlyForCollectedMetrics retires a row whose traffic is
// collected to active_until and whose errors and discards were never
// collected (NULL, as with metrics: [traffic]): Syncs collecting traffic
// only do not return it, one collecting errors too does.
func TestSyncOwedOnlyForCollectedMetrics(t *testing.T) {
	r := newRig(t)
	ctx := ctxT(t)
	t2 := t1 + 600_000
	if _, _, err := r.store.Sync(ctx, []string{"a", "keep"}, t1, []string{"traffic"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.store.Sync(ctx, []string{"keep"}, t2, []string{"traffic"}); err != nil {
		t.Fatal(err)
	}
	if err := r.store.Advance(ctx, 1, "traffic", t2); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		metrics []string
		owed    int
	}{{[]string{"traffic"}, 0}, {[]string{"traffic", "errors"}, 1}} {
		got, res, err := r.store.Sync(ctx, []string{"keep"}, t2+60_000, tc.metrics)
		if err != nil {
			t.Fatal(err)
		}
		if res.RetiredOwed != tc.owed || len(got) != 1+tc.owed {
			t.Errorf("Sync collecting %v: RetiredOwed %d, %d rows; want %d owed", tc.metrics, res.RetiredOwed, len(got), tc.owed)
		}
	}
}

// Concurrent first passes on an empty table take InnoDB gap locks that
// deadlock; Sync retries, and no resource gets two active rows.
func TestSyncConcurrentPassesAddEachResourceOnce(t *testing.T) {
	r := newRig(t)
	present := names("conc", 300)
	const passes = 4
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		added int
		errs  []error
	)
	for range passes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, res, err := r.store.Sync(ctxT(t), present, t1, allMetrics)
			mu.Lock()
			defer mu.Unlock()
			added += res.Added
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("Sync: %v", err)
	}
	if added != len(present) {
		t.Errorf("passes added %d rows in all, want %d", added, len(present))
	}
	seen := map[string]int{}
	for _, row := range r.dump(t) {
		seen[row.Name]++
	}
	for _, n := range present {
		if seen[n] != 1 {
			t.Errorf("%s has %d rows, want 1", n, seen[n])
		}
	}
}
