package inventory

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"

	"github.com/wirekeeper/wirekeeper/internal/secret"
)

// batchSize is how many rows one INSERT writes, or one UPDATE retires: big
// enough that 10,000 interfaces take 20 statements, small enough to stay
// far below max_allowed_packet and the 65,535 placeholders of a statement.
const batchSize = 500

// maxAttempts bounds how often Sync and Advance run after a deadlock or a
// connection lost mid-statement. Deadlocks happen when Syncs race on an
// empty table: their FOR UPDATE takes gap locks, which do not conflict,
// and then their INSERTs wait on each other's gap.
const maxAttempts = 5

// maxNameLen is the width of the name column, in characters.
const maxNameLen = 128

// SyncResult counts what one Sync changed and what it returned.
type SyncResult struct {
	// Added is the number of rows inserted, Retired the number of rows
	// retired by this pass.
	Added, Retired int
	// Active is the number of active rows returned, RetiredOwed the number
	// of retired rows returned because data is still owed for them.
	Active, RetiredOwed int
}

// Sync reconciles the inventory with the resources the API lists now
// (present, after filtering; duplicates are ignored), at time now (ms), in
// one transaction:
//   - a resource with no active row gets a new row: status '1',
//     active_from = now, every watermark NULL, as the seed leaves it until
//     the metric is first collected;
//   - an active row whose resource is not in present is retired: status
//     '0', active_until = now;
//   - a resource that comes back after being retired gets a new active row,
//     the retired row staying as history;
//   - nothing else changes, so a pass with no change writes nothing.
//
// It returns, by id, the rows to collect metrics of: every active row, and
// every retired row that Row.Owed says still has data of metrics owed.
// Concurrent Syncs of one table are serialised by row locks, which also
// make an Advance of a row wait until the Sync that read it commits (tens
// of ms). A row holding junk (a status other than '1'/'0', a timestamp that
// is not 1 to 13 digits) fails the Sync with an error naming it. Sync is
// idempotent: after any error, calling it again is safe. An empty present
// retires every active row; the caller decides whether an empty listing is
// believable.
func (s *Store) Sync(ctx context.Context, present []string, now int64, metrics []string) ([]Row, SyncResult, error) {
	names, err := uniqueNames(present)
	if err != nil {
		return nil, SyncResult{}, err
	}
	for _, m := range metrics {
		if _, err := column(m); err != nil {
			return nil, SyncResult{}, err
		}
	}
	if err := checkMillis("now", now); err != nil {
		return nil, SyncResult{}, err
	}
	for attempt := 1; ; attempt++ {
		rows, res, err := s.syncOnce(ctx, names, now, metrics)
		if err == nil {
			return rows, res, nil
		}
		if attempt == maxAttempts || !retryable(err) || !pause(ctx, attempt) {
			return nil, SyncResult{}, s.fail("sync of table "+s.table, err)
		}
	}
}

// pause waits a little before attempt+1, longer after each attempt and
// jittered so that the losers of a deadlock do not collide again; it
// reports false when ctx ends first.
func pause(ctx context.Context, attempt int) bool {
	d := time.Duration(attempt) * (5*time.Millisecond + rand.N(20*time.Millisecond))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// doneRetired is the condition, true for a retired row whose watermarks of
// metrics have all reached active_until, all of them well-formed: the rows
// Sync need not read. NULL anywhere makes it NULL, which the query treats
// as "read it", and so junk is read, and reported, rather than skipped.
func doneRetired(metrics []string) string {
	cond := "`status` = '0' AND `active_until` REGEXP '^[0-9]{1,13}$'"
	for _, m := range metrics {
		col := "`" + metricColumn[m] + "`"
		cond += " AND " + col + " REGEXP '^[0-9]{1,13}$' AND CAST(" + col + " AS UNSIGNED) >= CAST(`active_until` AS UNSIGNED)"
	}
	return cond
}

// syncOnce is one attempt of Sync: one locking SELECT, batched INSERTs and
// UPDATEs, and, when rows were added, one SELECT of their ids.
func (s *Store) syncOnce(ctx context.Context, names []string, now int64, metrics []string) ([]Row, SyncResult, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, SyncResult{}, err
	}
	defer tx.Rollback() // after Commit, a no-op

	// FOR UPDATE: a second Sync of the table waits here until this one
	// commits, and then reads what it wrote, so no resource gets two rows.
	q, err := tx.QueryContext(ctx, "SELECT "+selectColumns+" FROM `"+s.table+"`"+
		" WHERE NOT COALESCE("+doneRetired(metrics)+", FALSE) ORDER BY `id` FOR UPDATE")
	if err != nil {
		return nil, SyncResult{}, err
	}
	rows, err := scanRows(q)
	if err != nil {
		return nil, SyncResult{}, err
	}

	isActive := make(map[string]bool, len(rows))
	for _, r := range rows {
		if r.Active {
			isActive[r.Name] = true
		}
	}
	isPresent := make(map[string]bool, len(names))
	var add []string
	for _, n := range names {
		isPresent[n] = true
		if !isActive[n] {
			add = append(add, n)
		}
	}
	var retire []int64
	for i := range rows {
		if r := &rows[i]; r.Active && !isPresent[r.Name] {
			retire = append(retire, r.ID)
			r.Active, r.ActiveUntil = false, &now
		}
	}

	res := SyncResult{Added: len(add), Retired: len(retire)}
	if len(add) > 0 || len(retire) > 0 {
		firstID, err := s.insert(ctx, tx, add, now)
		if err != nil {
			return nil, SyncResult{}, err
		}
		if err := s.retire(ctx, tx, retire, now); err != nil {
			return nil, SyncResult{}, err
		}
		if len(add) > 0 {
			added, err := s.readAdded(ctx, tx, firstID, rows, add)
			if err != nil {
				return nil, SyncResult{}, err
			}
			rows = append(rows, added...)
		}
		if err := tx.Commit(); err != nil {
			return nil, SyncResult{}, err
		}
	}

	out := rows[:0]
	for _, r := range rows {
		switch {
		case r.Active:
			res.Active++
		case r.Owed(metrics...):
			res.RetiredOwed++
		default:
			continue
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Row) int { return cmp.Compare(a.ID, b.ID) })
	return out, res, nil
}

// insert writes one new active row per name, its watermarks NULL,
// batchSize rows per statement, and returns the id of the first row written.
func (s *Store) insert(ctx context.Context, tx *sql.Tx, names []string, now int64) (int64, error) {
	from := formatMillis(now)
	firstID := int64(-1)
	for batch := range slices.Chunk(names, batchSize) {
		var b strings.Builder
		b.WriteString("INSERT INTO `" + s.table + "` (`name`, `status`, `active_from`, `active_until`," +
			" `errors_until`, `discards_until`, `traffic_until`) VALUES ")
		args := make([]any, 0, 2*len(batch))
		for i, n := range batch {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, '1', ?, NULL, NULL, NULL, NULL)")
			args = append(args, n, from)
		}
		r, err := tx.ExecContext(ctx, b.String(), args...)
		if err != nil {
			return 0, err
		}
		if firstID < 0 {
			// The first id of a multi-row INSERT; later ones are larger.
			if firstID, err = r.LastInsertId(); err != nil {
				return 0, err
			}
		}
	}
	return firstID, nil
}

// retire marks the rows ids retired at now, batchSize rows per statement.
func (s *Store) retire(ctx context.Context, tx *sql.Tx, ids []int64, now int64) error {
	until := formatMillis(now)
	for batch := range slices.Chunk(ids, batchSize) {
		args := make([]any, 0, 1+len(batch))
		args = append(args, until)
		for _, id := range batch {
			args = append(args, id)
		}
		r, err := tx.ExecContext(ctx, "UPDATE `"+s.table+"` SET `status` = '0', `active_until` = ?"+
			" WHERE `status` = '1' AND `id` IN (?"+strings.Repeat(", ?", len(batch)-1)+")", args...)
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil {
			return err
		} else if n != int64(len(batch)) {
			return secret.Safe(fmt.Errorf("retired %d of %d locked rows", n, len(batch)))
		}
	}
	return nil
}

// readAdded reads the active rows from firstID on that rows does not hold:
// the rows just inserted, with their ids. Every name in add must be there.
func (s *Store) readAdded(ctx context.Context, tx *sql.Tx, firstID int64, rows []Row, add []string) ([]Row, error) {
	q, err := tx.QueryContext(ctx, "SELECT "+selectColumns+" FROM `"+s.table+"`"+
		" WHERE `id` >= ? AND `status` = '1' ORDER BY `id`", firstID)
	if err != nil {
		return nil, err
	}
	found, err := scanRows(q)
	if err != nil {
		return nil, err
	}
	known := make(map[int64]bool, len(rows))
	for _, r := range rows {
		known[r.ID] = true
	}
	wanted := make(map[string]bool, len(add))
	for _, n := range add {
		wanted[n] = true
	}
	var out []Row
	for _, r := range found {
		if !known[r.ID] {
			out = append(out, r)
			delete(wanted, r.Name)
		}
	}
	if len(wanted) > 0 {
		return nil, secret.Safe(fmt.Errorf("%d inserted row(s) not found again from id %d", len(wanted), firstID))
	}
	return out, nil
}

// uniqueNames returns present without duplicates, in order, refusing names
// the name column cannot hold.
func uniqueNames(present []string) ([]string, error) {
	seen := make(map[string]bool, len(present))
	out := make([]string, 0, len(present))
	for _, n := range present {
		switch {
		case n == "":
			return nil, errors.New("inventory: a resource name is empty")
		case !utf8.ValidString(n):
			return nil, fmt.Errorf("inventory: resource %q is not valid UTF-8", n)
		case utf8.RuneCountInString(n) > maxNameLen:
			return nil, fmt.Errorf("inventory: resource %.40q... is longer than %d characters", n, maxNameLen)
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

// retryable reports whether a failed attempt may simply run again: InnoDB
// rolled the transaction back as a deadlock victim, or the connection broke
// (the transaction died with it).
func retryable(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 // ER_LOCK_DEADLOCK
	}
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, errRaced)
}
