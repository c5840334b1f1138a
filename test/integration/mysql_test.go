package integration

import (
	"context"
	"database/sql"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

func TestMySQL(t *testing.T) {
	dsn := testenv.MySQLDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() }) // after the DROP below: cleanups run last-in first-out
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}

	table := testenv.UniqueName(t)
	if _, err := db.ExecContext(ctx, "CREATE TABLE "+table+
		" (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL)"); err != nil {
		t.Fatalf("create table %s: %v", table, err)
	}
	t.Cleanup(func() {
		if _, err := db.ExecContext(context.Background(), "DROP TABLE "+table); err != nil {
			t.Errorf("drop table %s: %v", table, err)
		}
	})

	want := map[int]string{1: "br0", 2: "eth-mirror"}
	for id, name := range want {
		if _, err := db.ExecContext(ctx, "INSERT INTO "+table+" (id, name) VALUES (?, ?)",
			id, name); err != nil {
			t.Fatalf("insert %d: %v", id, err)
		}
	}
	rows, err := db.QueryContext(ctx, "SELECT id, name FROM "+table+" ORDER BY id")
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	defer rows.Close()
	got := map[int]string{}
	for rows.Next() {
		var id int
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			t.Fatalf("scan: %v", err)
		}
		got[id] = name
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("rows: %v", err)
	}
	if len(got) != len(want) || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("rows = %v, want %v", got, want)
	}
}
