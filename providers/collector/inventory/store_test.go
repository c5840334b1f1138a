package inventory_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/providers/collector/inventory"
)

// column is a column as information_schema describes it.
type column struct {
	Name, Type, Nullable, Key, Extra string
}

func columnsOf(t *testing.T, r *rig) []column {
	t.Helper()
	q, err := r.raw.Query("SELECT column_name, column_type, is_nullable, column_key, extra FROM information_schema.columns"+
		" WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position", r.table)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var out []column
	for q.Next() {
		var c column
		if err := q.Scan(&c.Name, &c.Type, &c.Nullable, &c.Key, &c.Extra); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if err := q.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// primaryKey is the table's primary key columns, in order.
func primaryKey(t *testing.T, r *rig) []string {
	t.Helper()
	q, err := r.raw.Query("SELECT column_name FROM information_schema.key_column_usage"+
		" WHERE table_schema = DATABASE() AND table_name = ? AND constraint_name = 'PRIMARY' ORDER BY ordinal_position", r.table)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var out []string
	for q.Next() {
		var c string
		if err := q.Scan(&c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if err := q.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOpenCreatesTheESnetTable checks the table Open creates against the
// seed's (seed-systems.md section 3): its columns in the seed's order and
// its primary key (id, name).
func TestOpenCreatesTheESnetTable(t *testing.T) {
	r := newRig(t)
	want := []column{
		{"id", "int(11)", "NO", "PRI", "auto_increment"},
		{"name", "varchar(128)", "NO", "PRI", ""},
		{"status", "varchar(2)", "NO", "", ""},
		{"active_from", "varchar(13)", "NO", "", ""},
		{"active_until", "varchar(13)", "YES", "", ""},
		// The seed's order.
		{"errors_until", "varchar(13)", "YES", "", ""},
		{"discards_until", "varchar(13)", "YES", "", ""},
		{"traffic_until", "varchar(13)", "YES", "", ""},
	}
	if diff := cmp.Diff(want, columnsOf(t, r)); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"id", "name"}, primaryKey(t, r)); diff != "" {
		t.Errorf("primary key (-want +got):\n%s", diff)
	}

	// A second Open of the same table uses it as it is.
	s2, err := inventory.Open(ctxT(t), r.dsn, r.table)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	s2.Close()
	if diff := cmp.Diff(want, columnsOf(t, r)); diff != "" {
		t.Errorf("columns after a second Open (-want +got):\n%s", diff)
	}
}

// seedTables are tables as the ESnet collector made them: its columns and
// primary key as ../shared/reference/seed-systems.md records them, and the
// older sql/createTable.sql of sand-ci/esnet-collector (BIGINT timestamps,
// BOOLEAN status), which the store also reads and writes.
var seedTables = []struct {
	name, ddl, insert string
}{{
	name: "esnet_interfaces",
	ddl: "CREATE TABLE {t} (" +
		"id int(11) NOT NULL AUTO_INCREMENT, name varchar(128) NOT NULL, status varchar(2) DEFAULT NULL," +
		" active_from varchar(13) DEFAULT NULL, active_until varchar(13) DEFAULT NULL," +
		" errors_until varchar(13) DEFAULT NULL, discards_until varchar(13) DEFAULT NULL," +
		" traffic_until varchar(13) DEFAULT NULL, PRIMARY KEY (id, name)) DEFAULT CHARSET=latin1",
}, {
	// The same with PRIMARY KEY (id) alone.
	name: "esnet_interfaces, PRIMARY KEY (id)",
	ddl: "CREATE TABLE {t} (" +
		"id int(11) NOT NULL AUTO_INCREMENT, name varchar(128) DEFAULT NULL, status varchar(2) DEFAULT NULL," +
		" active_from varchar(13) DEFAULT NULL, active_until varchar(13) DEFAULT NULL," +
		" errors_until varchar(13) DEFAULT NULL, discards_until varchar(13) DEFAULT NULL," +
		" traffic_until varchar(13) DEFAULT NULL, PRIMARY KEY (id)) DEFAULT CHARSET=latin1",
}, {
	// Not the seed's, but a table an older wirekeeper created: the
	// watermarks traffic, errors, discards, and PRIMARY KEY (id).
	name: "older wirekeeper",
	ddl: "CREATE TABLE {t} (`id` INT NOT NULL AUTO_INCREMENT PRIMARY KEY, `name` VARCHAR(128) NOT NULL," +
		" `status` VARCHAR(2) NOT NULL, `active_from` VARCHAR(13) NOT NULL, `active_until` VARCHAR(13) NULL," +
		" `traffic_until` VARCHAR(13) NULL, `errors_until` VARCHAR(13) NULL, `discards_until` VARCHAR(13) NULL," +
		" KEY `name_status` (`name`, `status`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
}, {
	name: "createTable.sql",
	ddl: "CREATE TABLE {t} (id INT NOT NULL AUTO_INCREMENT, name VARCHAR(100) NOT NULL, status BOOLEAN NOT NULL," +
		" active_from BIGINT(13) NOT NULL, active_until BIGINT(13), errors_until BIGINT(13)," +
		" discards_until BIGINT(13), traffic_until BIGINT(13), PRIMARY KEY (id, name, active_from))",
}}

func TestOpenUsesTheSeedsTable(t *testing.T) {
	const (
		seeded = int64(1_600_000_000_000)
		now    = int64(1_700_000_000_000)
	)
	for _, tc := range seedTables {
		t.Run(tc.name, func(t *testing.T) {
			dsn, table, raw := newTable(t)
			r := &rig{dsn: dsn, table: table, raw: raw}
			r.exec(t, tc.ddl)
			// As the seed writes them: status 1 as a number, the
			// timestamp as Python's int, only errors collected.
			r.exec(t, "INSERT INTO {t} (name, status, active_from, errors_until) VALUES (?, 1, ?, ?), (?, 1, ?, NULL)",
				"devices/a/interfaces/x", seeded, seeded+60_000, "devices/b/interfaces/y", seeded)
			before, beforeKey := columnsOf(t, r), primaryKey(t, r)

			s, err := inventory.Open(ctxT(t), dsn, table)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			if diff := cmp.Diff(before, columnsOf(t, r)); diff != "" {
				t.Errorf("Open changed the seed's columns (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(beforeKey, primaryKey(t, r)); diff != "" {
				t.Errorf("Open changed the primary key (-before +after):\n%s", diff)
			}

			got, res, err := s.Sync(ctxT(t), []string{"devices/a/interfaces/x", "devices/c/interfaces/z"}, now, inventory.Metrics())
			if err != nil {
				t.Fatalf("Sync: %v", err)
			}
			want := []inventory.Row{
				{ID: 1, Name: "devices/a/interfaces/x", Active: true, ActiveFrom: seeded,
					Until: map[string]int64{"errors": seeded + 60_000}},
				// Retired with NULL watermarks: owed.
				{ID: 2, Name: "devices/b/interfaces/y", ActiveFrom: seeded, ActiveUntil: ptr(now), Until: map[string]int64{}},
				// New: every watermark NULL until collected, as the seed does.
				{ID: 3, Name: "devices/c/interfaces/z", Active: true, ActiveFrom: now, Until: map[string]int64{}},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Sync rows (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(inventory.SyncResult{Added: 1, Retired: 1, Active: 2, RetiredOwed: 1}, res); diff != "" {
				t.Errorf("Sync result (-want +got):\n%s", diff)
			}
			all, err := s.Rows(ctxT(t))
			if err != nil {
				t.Fatalf("Rows: %v", err)
			}
			if diff := cmp.Diff(want, all); diff != "" {
				t.Errorf("Rows (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOpenRefusesATableWithoutTheColumns(t *testing.T) {
	dsn, table, raw := newTable(t)
	r := &rig{dsn: dsn, table: table, raw: raw}
	r.exec(t, "CREATE TABLE {t} (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(128), status VARCHAR(2))")
	_, err := inventory.Open(ctxT(t), dsn, table)
	if err == nil || !strings.Contains(err.Error(), "active_from, active_until, errors_until, discards_until, traffic_until") {
		t.Fatalf("Open = %v, want an error naming the missing columns", err)
	}
}

func TestOpenRefusesBadTableNames(t *testing.T) {
	for _, table := range []string{"", "a-b", "a b", "x`; DROP TABLE y; --", "naïve", "t.u", strings.Repeat("t", 65)} {
		// No server is contacted: the name is checked first.
		_, err := inventory.Open(context.Background(), "u:p@tcp(127.0.0.1:1)/db", table)
		if err == nil || !strings.Contains(err.Error(), "inventory: table name") {
			t.Errorf("Open(table %q) = %v, want a table name error", table, err)
		}
	}
}

// TestOpenErrorsShowNothingOfTheDSN: the DSN is a secret, whole: an error
// names the field and the kind of problem, never its password, user,
// address or database, not even where the driver or the server quote them.
func TestOpenErrorsShowNothingOfTheDSN(t *testing.T) {
	cfg, err := mysql.ParseDSN(testenv.MySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	rand.Read(b[:])
	secret := "Secret-" + hex.EncodeToString(b[:])
	wrong := cfg.Clone()
	wrong.Passwd = secret
	wrong.User = "user" + secret
	closed := cfg.Clone()
	closed.Passwd, closed.Addr, closed.DBName = secret, "127.0.0.1:1", "db"+secret
	noDB := cfg.Clone()
	noDB.DBName = "db" + secret

	tests := []struct {
		name, dsn, want string
		// cause, when set, must match the error.
		cause func(error) bool
	}{{
		name: "wrong password",
		dsn:  wrong.FormatDSN(),
		want: "inventory.mysql.dsn: cannot connect to the MySQL server it names: the server refused the credentials (MySQL error 1045)",
	}, {
		name:  "nothing listening",
		dsn:   closed.FormatDSN(),
		want:  "inventory.mysql.dsn: cannot connect to the MySQL server it names: connection refused",
		cause: func(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) },
	}, {
		name: "no such database",
		dsn:  noDB.FormatDSN(),
		want: "inventory.mysql.dsn: cannot connect to the MySQL server it names: ",
	}, {
		name: "unparsable DSN",
		dsn:  "wirekeeper:" + secret + "@tcp(127.0.0.1:13306/db",
		want: "inventory.mysql.dsn: does not parse: expected a go-sql-driver DSN such as user:password@tcp(host:3306)/db",
	}, {
		name: "bad parameter",
		dsn:  "wirekeeper:" + secret + "@tcp(127.0.0.1:1)/db?parseTime=" + secret,
		want: "inventory.mysql.dsn: does not parse: ",
	}, {
		name: "the issue's DSN",
		dsn:  "glpat-" + secret + "/and+the+rest==",
		want: "inventory.mysql.dsn: does not parse: ",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := inventory.Open(ctxT(t), tc.dsn, "inv_never")
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), cfg.Addr) {
				t.Errorf("error shows part of the DSN: %v", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q, want it to start with %q", err, tc.want)
			}
			if tc.cause != nil && !tc.cause(err) {
				t.Errorf("error %v does not match its cause", err)
			}
		})
	}
}
