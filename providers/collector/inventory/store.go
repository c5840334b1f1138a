// Package inventory keeps the collector's interface inventory and its
// per-metric collection watermarks in a MySQL/MariaDB table with exactly the
// columns of the SAND-CI ESnet collector's `esnet_interfaces`, so that the
// seed's consumers keep reading it:
//
//	id             INT AUTO_INCREMENT
//	name           VARCHAR(128)  the Netbeam resource
//	status         VARCHAR(2)    '1' active, '0' retired
//	active_from    VARCHAR(13)   ms timestamp, 13 digits
//	active_until   VARCHAR(13)   NULL while active
//	errors_until   VARCHAR(13)   watermark of each metric, NULL until the
//	discards_until VARCHAR(13)   metric is first collected
//	traffic_until  VARCHAR(13)
//	PRIMARY KEY (id, name)
//
// A table is created with the columns in the seed's order and its primary
// key; one created by an older wirekeeper (traffic_until before
// errors_until, PRIMARY KEY (id)) or by the seed is used as it is: every
// query names its columns.
//
// Unlike the seed, an interface gone from the API is retired (status '0',
// active_until set) and still collected up to active_until, and a
// watermark only moves forward (Store.Advance), after the data up to it has
// been delivered.
//
// Connections: the pool recycles connections after connMaxLifetime, so that
// none outlives a server's wait_timeout or a proxy's idle cut, and the
// driver checks a pooled connection's liveness before reusing it. A
// connection found dead before anything was sent (after a MariaDB restart,
// say) is reported as driver.ErrBadConn, which database/sql retries on a
// fresh connection by itself. A connection that breaks mid-statement is not
// retried by database/sql; Sync and Advance retry such failures (and
// InnoDB deadlocks) themselves, a few times, which is safe because both are
// idempotent: Sync reconciles from what it reads, Advance only moves
// forward. When the server stays away the error is returned and the caller
// backs off and calls again.
package inventory

import (
	"context"
	"crypto/tls"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/wirekeeper/wirekeeper/internal/secret"
)

// Pool settings; see the package comment.
const (
	connMaxLifetime = 3 * time.Minute
	connMaxIdleTime = time.Minute
	maxOpenConns    = 16
	maxIdleConns    = 8
	// dialTimeout applies when the DSN sets no timeout of its own.
	dialTimeout = 10 * time.Second
)

// columns are the table's columns, in the order every query reads them.
var columns = []string{"id", "name", "status", "active_from", "active_until",
	"errors_until", "discards_until", "traffic_until"}

// Store is the inventory table of one collector target. It is safe for
// concurrent use.
type Store struct {
	db    *sql.DB
	table string // validated, used between backquotes
}

// Open connects to the database that dsn (a go-sql-driver DSN) names, pings
// it, and creates table when it is missing; an existing table (one made by
// the seed, say) is used as it is, provided it has every column. table must
// be 1 to 64 ASCII letters, digits or underscores. Errors never show the
// DSN's password.
func Open(ctx context.Context, dsn, table string) (*Store, error) {
	return OpenTLS(ctx, dsn, table, nil)
}

// OpenTLS is Open over TLS with tlsCfg (nil: as the DSN's tls parameter
// says). Without a ServerName the certificate is checked against the DSN's
// host.
func OpenTLS(ctx context.Context, dsn, table string, tlsCfg *tls.Config) (*Store, error) {
	if err := validIdentifier(table); err != nil {
		return nil, err
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		// ParseDSN's messages quote parts of the DSN.
		return nil, secret.Failure(DSNField, "does not parse", err, func(error) string {
			return "expected a go-sql-driver DSN such as user:password@tcp(host:3306)/db"
		})
	}
	if tlsCfg != nil {
		tlsCfg = tlsCfg.Clone()
		if tlsCfg.ServerName == "" {
			if host, _, err := net.SplitHostPort(cfg.Addr); err == nil {
				tlsCfg.ServerName = host
			}
		}
		cfg.TLS = tlsCfg
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = dialTimeout
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, secret.Failure(DSNField, "cannot be used", err, classifyMySQL)
	}
	db := sql.OpenDB(connector)
	db.SetConnMaxLifetime(connMaxLifetime)
	db.SetConnMaxIdleTime(connMaxIdleTime)
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxIdleConns)
	s := &Store{db: db, table: table}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, s.fail("cannot connect to the MySQL server it names", err)
	}
	if err := s.ensureTable(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the connections; the table stays.
func (s *Store) Close() error { return s.db.Close() }

// ensureTable creates the table when missing, its columns in the seed's
// order and its primary key the seed's (id, name), and checks that an
// existing one has every column the store reads and writes, in whatever
// order, whatever its keys.
func (s *Store) ensureTable(ctx context.Context) error {
	// utf8mb4_bin: resources compare byte for byte, as the API spells them.
	ddl := "CREATE TABLE IF NOT EXISTS `" + s.table + "` (" +
		"`id` INT NOT NULL AUTO_INCREMENT, " +
		"`name` VARCHAR(128) NOT NULL, " +
		"`status` VARCHAR(2) NOT NULL, " +
		"`active_from` VARCHAR(13) NOT NULL, " +
		"`active_until` VARCHAR(13) NULL, " +
		"`errors_until` VARCHAR(13) NULL, " +
		"`discards_until` VARCHAR(13) NULL, " +
		"`traffic_until` VARCHAR(13) NULL, " +
		"PRIMARY KEY (`id`, `name`), " +
		"KEY `name_status` (`name`, `status`)" +
		") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
	if _, err := s.db.ExecContext(ctx, ddl); err != nil {
		return s.fail("cannot create table "+s.table, err)
	}
	rows, err := s.db.QueryContext(ctx, "SELECT LOWER(column_name) FROM information_schema.columns "+
		"WHERE table_schema = DATABASE() AND table_name = ?", s.table)
	if err != nil {
		return s.fail("cannot read the columns of table "+s.table, err)
	}
	defer rows.Close()
	var have []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return s.fail("cannot read the columns of table "+s.table, err)
		}
		have = append(have, c)
	}
	if err := rows.Err(); err != nil {
		return s.fail("cannot read the columns of table "+s.table, err)
	}
	var missing []string
	for _, c := range columns {
		if !slices.Contains(have, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("inventory: table %s exists but lacks the column(s) %s of the ESnet inventory",
			s.table, strings.Join(missing, ", "))
	}
	return nil
}

// validIdentifier accepts what can safely go between backquotes in SQL
// without escaping: 1 to 64 ASCII letters, digits and underscores.
func validIdentifier(table string) error {
	if table == "" || len(table) > 64 {
		return fmt.Errorf("inventory: table name %q must be 1 to 64 characters", table)
	}
	for _, c := range table {
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return fmt.Errorf("inventory: table name %q may hold only ASCII letters, digits and _", table)
		}
	}
	return nil
}

// DSNField is the spec field the DSN comes from: errors about using the
// DSN name it (and the kind of problem), never any part of the DSN.
const DSNField = "inventory.mysql.dsn"

// fail is the error for what failing with err on the server the DSN names:
// the words come from secret.Failure, never from err's text, which quotes
// the user, host or database the DSN gave.
func (s *Store) fail(what string, err error) error {
	return secret.Failure(DSNField, what, err, classifyMySQL)
}

// classifyMySQL names the MySQL problems by number, without the server's
// message, which quotes the user, host and database.
func classifyMySQL(err error) string {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1045:
			return "the server refused the credentials (MySQL error 1045)"
		case 1044:
			return "the user may not use the database (MySQL error 1044)"
		case 1049:
			return "the database does not exist (MySQL error 1049)"
		case 1130:
			return "the server does not accept connections from this host (MySQL error 1130)"
		case 1142, 1143:
			return fmt.Sprintf("the user lacks a privilege on the table (MySQL error %d)", me.Number)
		case 1146:
			return "the table does not exist (MySQL error 1146)"
		case 1205:
			return "a lock wait timed out (MySQL error 1205)"
		case 1213:
			return "a deadlock (MySQL error 1213)"
		case 1040:
			return "the server has too many connections (MySQL error 1040)"
		case 3159:
			return "the server requires TLS (MySQL error 3159)"
		}
		return fmt.Sprintf("the server answered MySQL error %d", me.Number)
	}
	switch {
	case errors.Is(err, mysql.ErrInvalidConn), errors.Is(err, driver.ErrBadConn):
		return "the connection broke"
	case errors.Is(err, mysql.ErrNoTLS):
		return "the server does not support TLS"
	case errors.Is(err, mysql.ErrCleartextPassword), errors.Is(err, mysql.ErrNativePassword), errors.Is(err, mysql.ErrOldPassword):
		return "the server asks for an authentication method the DSN does not allow"
	case errors.Is(err, mysql.ErrPktSync), errors.Is(err, mysql.ErrPktSyncMul), errors.Is(err, mysql.ErrMalformPkt):
		return "the server's answer was out of sequence or malformed"
	}
	return ""
}
