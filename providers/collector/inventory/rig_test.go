package inventory_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/providers/collector/inventory"
)

// Every test gets a table of its own in the harness's shared MariaDB,
// named inv_ plus random hex and dropped when the test ends.

// rig is one test's table, a Store on it, and a raw connection to look at
// the table behind the Store's back.
type rig struct {
	dsn, table string
	raw        *sql.DB
	store      *inventory.Store
}

// newTable returns a fresh table name and a raw connection; nothing is
// created yet.
func newTable(t testing.TB) (dsn, table string, raw *sql.DB) {
	t.Helper()
	dsn = testenv.MySQLDSN(t)
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	table = "inv_" + hex.EncodeToString(b[:])
	raw, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := raw.Exec("DROP TABLE IF EXISTS `" + table + "`"); err != nil {
			t.Errorf("dropping %s: %v", table, err)
		}
		raw.Close()
	})
	return dsn, table, raw
}

// newRig opens a Store on a fresh table.
func newRig(t testing.TB) *rig {
	t.Helper()
	dsn, table, raw := newTable(t)
	s, err := inventory.Open(context.Background(), dsn, table)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &rig{dsn: dsn, table: table, raw: raw, store: s}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// exec runs SQL on the raw connection; the table's name replaces {t}.
func (r *rig) exec(t testing.TB, query string, args ...any) sql.Result {
	t.Helper()
	res, err := r.raw.Exec(expand(query, r.table), args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return res
}

func expand(query, table string) string {
	return strings.ReplaceAll(query, "{t}", "`"+table+"`")
}

// dbRow is a row as the table holds it, strings and NULLs ("<nil>"), for
// checking exactly what consumers of the table will read.
type dbRow struct {
	ID                                       int64
	Name, Status, ActiveFrom, ActiveUntil    string
	TrafficUntil, ErrorsUntil, DiscardsUntil string
}

// dump returns every row of the table as stored.
func (r *rig) dump(t testing.TB) []dbRow {
	t.Helper()
	q, err := r.raw.Query("SELECT id, name, status, active_from, active_until, traffic_until, errors_until, discards_until FROM `" +
		r.table + "` ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var out []dbRow
	for q.Next() {
		var (
			d  dbRow
			ns [7]sql.NullString
		)
		if err := q.Scan(&d.ID, &ns[0], &ns[1], &ns[2], &ns[3], &ns[4], &ns[5], &ns[6]); err != nil {
			t.Fatal(err)
		}
		s := make([]string, 7)
		for i, n := range ns {
			s[i] = "<nil>"
			if n.Valid {
				s[i] = n.String
			}
		}
		d.Name, d.Status, d.ActiveFrom, d.ActiveUntil = s[0], s[1], s[2], s[3]
		d.TrafficUntil, d.ErrorsUntil, d.DiscardsUntil = s[4], s[5], s[6]
		out = append(out, d)
	}
	if err := q.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// countWrites installs triggers that count every row inserted, updated
// (even to the same values) or deleted in the table, and returns a func
// reading the count.
func (r *rig) countWrites(t testing.TB) func() int {
	t.Helper()
	counter := r.table + "_writes"
	if _, err := r.raw.Exec("CREATE TABLE `" + counter + "` (n INT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.raw.Exec("DROP TABLE IF EXISTS `" + counter + "`") })
	r.exec(t, "INSERT INTO `"+counter+"` VALUES (0)")
	for _, ev := range []string{"INSERT", "UPDATE", "DELETE"} {
		r.exec(t, "CREATE TRIGGER `"+r.table+"_"+ev+"` AFTER "+ev+" ON {t} FOR EACH ROW UPDATE `"+counter+"` SET n = n + 1")
	}
	return func() int {
		var n int
		if err := r.raw.QueryRow("SELECT n FROM `" + counter + "`").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
}

func ptr(v int64) *int64 { return &v }

// names returns n resource names like Netbeam's, with an encoded slash.
func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "devices/" + prefix + "-asw1/interfaces/ge-0%2F0%2F" + strconv.Itoa(i)
	}
	return out
}
