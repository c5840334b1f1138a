package inventory

import (
	"errors"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/internal/secret"
)

func TestParseMillis(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "1700000000000", want: 1_700_000_000_000},
		{in: "0000000000005", want: 5},
		{in: "999", want: 999},
		{in: "9999999999999", want: MaxMillis},
		{in: "", wantErr: true},
		{in: "10000000000000", wantErr: true}, // 14 digits
		{in: "-5", wantErr: true},
		{in: "+5", wantErr: true},
		{in: " 5", wantErr: true},
		{in: "1.5", wantErr: true},
		{in: "1e12", wantErr: true},
		{in: "abc", wantErr: true},
		{in: "１２", wantErr: true}, // fullwidth digits
	}
	for _, tc := range tests {
		got, err := parseMillis(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseMillis(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestFormatMillis(t *testing.T) {
	for ms, want := range map[int64]string{0: "0000000000000", 5: "0000000000005", 1_700_000_000_000: "1700000000000", MaxMillis: "9999999999999"} {
		if got := formatMillis(ms); got != want {
			t.Errorf("formatMillis(%d) = %q, want %q", ms, got, want)
		}
	}
}

// TestClassifyMySQLQuotesNothing: a server's error quotes the user, host
// and database; what the store reports keeps the number and drops the
// text, and still matches the cause.
func TestClassifyMySQLQuotesNothing(t *testing.T) {
	s := &Store{table: "t"}
	cause := &mysql.MySQLError{Number: 1045, Message: "Access denied for user 'CanaryUser'@'canary-host' (using password: YES)"}
	err := s.fail("cannot connect to the MySQL server it names", cause)
	want := "inventory.mysql.dsn: cannot connect to the MySQL server it names: the server refused the credentials (MySQL error 1045)"
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !errors.Is(err, cause) {
		t.Error("the error does not match its cause")
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&mysql.MySQLError{Number: 1049, Message: "Unknown database 'CanaryDB'"}, "the database does not exist (MySQL error 1049)"},
		{&mysql.MySQLError{Number: 9999, Message: "CanaryText"}, "the server answered MySQL error 9999"},
		{mysql.ErrInvalidConn, "the connection broke"},
		{secret.Safe(errors.New("row id 3 (name \"x\"): column status: is NULL")), "row id 3 (name \"x\"): column status: is NULL"},
		{errors.New("CanaryText of unknown origin"), "failed (the cause is not shown: it may quote the secret)"},
	} {
		if got := s.fail("sync of table t", tc.err).Error(); got != "inventory.mysql.dsn: sync of table t: "+tc.want {
			t.Errorf("fail(%v) = %q, want the problem %q", tc.err, got, tc.want)
		}
	}
}
