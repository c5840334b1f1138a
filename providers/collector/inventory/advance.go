package inventory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ErrNoRow is wrapped by Advance's error when no row has the id.
var ErrNoRow = errors.New("no such row")

// errRaced says another writer changed the row between two statements of
// one attempt; the attempt can simply run again.
var errRaced = errors.New("the row changed while being advanced")

// Advance moves the watermark of row id for metric (traffic, errors or
// discards) forward to until (ms): data before until has been delivered.
// It never moves a watermark back: when until is not after the current
// watermark it changes nothing and returns nil. A NULL watermark is set.
// A watermark holding junk is not overwritten; the error names the row.
func (s *Store) Advance(ctx context.Context, id int64, metric string, until int64) error {
	col, err := column(metric)
	if err != nil {
		return err
	}
	if err := checkMillis(metric+" watermark", until); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := s.advanceOnce(ctx, id, col, until)
		if err == nil || attempt == maxAttempts || !retryable(err) || !pause(ctx, attempt) {
			return err
		}
	}
}

// advanceOnce is one attempt of Advance: one guarded UPDATE, and only when
// it changed nothing, one SELECT to tell why.
func (s *Store) advanceOnce(ctx context.Context, id int64, col string, until int64) error {
	// The guard compares numbers, not strings, so a watermark written
	// without zero-padding by another writer still compares right; junk
	// fails the REGEXP and is left alone.
	r, err := s.db.ExecContext(ctx, "UPDATE `"+s.table+"` SET `"+col+"` = ? WHERE `id` = ? AND (`"+col+"` IS NULL"+
		" OR (`"+col+"` REGEXP '^[0-9]{1,13}$' AND CAST(`"+col+"` AS UNSIGNED) < ?))",
		formatMillis(until), id, until)
	if err != nil {
		return s.fail(fmt.Sprintf("advance %s of row id %d in table %s", col, id, s.table), err)
	}
	if n, err := r.RowsAffected(); err != nil {
		return s.fail(fmt.Sprintf("advance %s of row id %d in table %s", col, id, s.table), err)
	} else if n > 0 {
		return nil
	}
	var cur sql.NullString
	err = s.db.QueryRowContext(ctx, "SELECT `"+col+"` FROM `"+s.table+"` WHERE `id` = ?", id).Scan(&cur)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("inventory: advance %s of row id %d in table %s: %w", col, id, s.table, ErrNoRow)
	case err != nil:
		return s.fail(fmt.Sprintf("advance %s of row id %d in table %s", col, id, s.table), err)
	case !cur.Valid:
		// Set to NULL by another writer since the UPDATE.
		return fmt.Errorf("inventory: advance %s of row id %d in table %s: %w", col, id, s.table, errRaced)
	}
	if _, err := parseMillis(cur.String); err != nil {
		return fmt.Errorf("inventory: advance %s of row id %d in table %s: current value: %w", col, id, s.table, err)
	}
	return nil // already at or past until
}

// Rows returns every row of the table, active and retired, by id. A row
// holding junk fails the call with an error naming it.
func (s *Store) Rows(ctx context.Context) ([]Row, error) {
	q, err := s.db.QueryContext(ctx, "SELECT "+selectColumns+" FROM `"+s.table+"` ORDER BY `id`")
	if err != nil {
		return nil, s.fail("read table "+s.table, err)
	}
	rows, err := scanRows(q)
	if err != nil {
		return nil, s.fail("read table "+s.table, err)
	}
	return rows, nil
}
