package inventory

import (
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/wirekeeper/wirekeeper/internal/secret"
)

// The metrics collected per interface, as Netbeam names them; each has its
// watermark column METRIC_until.
const (
	Traffic  = "traffic"
	Errors   = "errors"
	Discards = "discards"
)

// Metrics returns the metrics in the order the table's columns list them.
func Metrics() []string { return []string{Errors, Discards, Traffic} }

// metricColumn maps a metric to its watermark column.
var metricColumn = map[string]string{
	Traffic:  "traffic_until",
	Errors:   "errors_until",
	Discards: "discards_until",
}

// column is metric's watermark column, or an error naming the valid ones.
func column(metric string) (string, error) {
	col, ok := metricColumn[metric]
	if !ok {
		return "", fmt.Errorf("inventory: unknown metric %q, want traffic, errors or discards", metric)
	}
	return col, nil
}

// MaxMillis is the largest timestamp a VARCHAR(13) holds (in the year 2286).
const MaxMillis int64 = 9_999_999_999_999

// Row is one row of the inventory: one period during which an interface
// was listed by the API.
type Row struct {
	ID   int64
	Name string
	// Active is status '1'; a retired row (status '0') is kept as history.
	Active     bool
	ActiveFrom int64
	// ActiveUntil is when the interface left the API; nil while active.
	ActiveUntil *int64
	// Until maps a metric (traffic, errors, discards) to its watermark in
	// ms: data before it has been delivered. A metric whose column is NULL
	// is missing.
	Until map[string]int64
}

// Owed reports whether a retired row still has data of metrics to collect:
// at least one of their watermarks is before active_until, or is unknown
// (NULL: never collected). A retired row without active_until has no bound
// to collect to, and is not owed; an active row is never "owed", it is
// simply collected.
func (r Row) Owed(metrics ...string) bool {
	if r.Active || r.ActiveUntil == nil {
		return false
	}
	for _, m := range metrics {
		until, ok := r.Until[m]
		if !ok || until < *r.ActiveUntil {
			return true
		}
	}
	return false
}

// formatMillis writes ms as the table stores it: 13 digits, zero-padded.
func formatMillis(ms int64) string { return fmt.Sprintf("%013d", ms) }

// checkMillis refuses what formatMillis cannot store in 13 digits.
func checkMillis(what string, ms int64) error {
	if ms < 0 || ms > MaxMillis {
		return fmt.Errorf("inventory: %s %d is outside 0..%d ms", what, ms, MaxMillis)
	}
	return nil
}

// parseMillis reads a timestamp written by this package or by another
// writer: 1 to 13 ASCII digits, nothing else (no sign, space or fraction).
func parseMillis(s string) (int64, error) {
	if s == "" || len(s) > 13 || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a millisecond timestamp of at most 13 digits", s)
	}
	return strconv.ParseInt(s, 10, 64)
}

// selectColumns is the column list every row query reads, in the order
// rawRow.dest expects.
const selectColumns = "`id`, `name`, `status`, `active_from`, `active_until`, " +
	"`errors_until`, `discards_until`, `traffic_until`"

// rawRow holds a row as scanned, before its strings are checked.
type rawRow struct {
	id                                       int64
	name, status, activeFrom, activeUntil    sql.NullString
	errorsUntil, discardsUntil, trafficUntil sql.NullString
}

func (r *rawRow) dest() []any {
	return []any{&r.id, &r.name, &r.status, &r.activeFrom, &r.activeUntil,
		&r.errorsUntil, &r.discardsUntil, &r.trafficUntil}
}

// decode checks the strings of r and returns its Row; an error names the
// row and the column, since another writer may have left junk there.
func (r *rawRow) decode() (Row, error) {
	row := Row{ID: r.id, Name: r.name.String, Until: make(map[string]int64, 3)}
	bad := func(col string, err error) (Row, error) {
		return Row{}, fmt.Errorf("row id %d (name %q): column %s: %w", r.id, r.name.String, col, err)
	}
	if !r.name.Valid {
		return bad("name", errors.New("is NULL"))
	}
	switch {
	case !r.status.Valid:
		return bad("status", errors.New("is NULL, want '1' (active) or '0' (retired)"))
	case r.status.String == "1":
		row.Active = true
	case r.status.String == "0":
	default:
		return bad("status", fmt.Errorf("%q is neither '1' (active) nor '0' (retired)", r.status.String))
	}
	if !r.activeFrom.Valid {
		return bad("active_from", errors.New("is NULL"))
	}
	ms, err := parseMillis(r.activeFrom.String)
	if err != nil {
		return bad("active_from", err)
	}
	row.ActiveFrom = ms
	if r.activeUntil.Valid {
		ms, err := parseMillis(r.activeUntil.String)
		if err != nil {
			return bad("active_until", err)
		}
		row.ActiveUntil = &ms
	}
	for _, w := range []struct {
		metric string
		v      sql.NullString
	}{{Errors, r.errorsUntil}, {Discards, r.discardsUntil}, {Traffic, r.trafficUntil}} {
		if !w.v.Valid {
			continue
		}
		ms, err := parseMillis(w.v.String)
		if err != nil {
			return bad(metricColumn[w.metric], err)
		}
		row.Until[w.metric] = ms
	}
	return row, nil
}

// scanRows reads every row of rows. Rows that do not decode are all
// reported (up to maxReported), so that whoever cleans the table sees them
// at once; the caller prefixes the error with the package and table.
func scanRows(rows *sql.Rows) ([]Row, error) {
	defer rows.Close()
	var (
		out  []Row
		bad  []error
		more int
	)
	for rows.Next() {
		var raw rawRow
		if err := rows.Scan(raw.dest()...); err != nil {
			return nil, err
		}
		row, err := raw.decode()
		if err != nil {
			if len(bad) < maxReported {
				bad = append(bad, err)
			} else {
				more++
			}
			continue
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if more > 0 {
		bad = append(bad, fmt.Errorf("and %d more row(s) that do not decode", more))
	}
	if len(bad) > 0 {
		// Row ids, names and the values found: nothing of the DSN.
		return nil, secret.Safe(errors.Join(bad...))
	}
	return out, nil
}

// maxReported bounds how many undecodable rows one error lists.
const maxReported = 10
