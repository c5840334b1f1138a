package inventory

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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

func TestRedactorScrubsButUnwraps(t *testing.T) {
	cause := errors.New("dial tcp: user u password hunter2 refused")
	r := redactor{password: "hunter2", dsn: "u:hunter2@tcp(h:1)/d", shown: "mysql u@tcp(h:1)/d"}
	err := r.errorf("inventory: cannot connect to %s: %w", r.shown, cause)
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows the password: %v", err)
	}
	if !errors.Is(err, cause) {
		t.Errorf("scrubbed error does not unwrap to its cause")
	}
	clean := r.errorf("inventory: %w", errors.New("nothing secret"))
	if diff := cmp.Diff("inventory: nothing secret", clean.Error()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := guessPasswords("u:p@ss@tcp(h:1/d"); !cmp.Equal(got, []string{"p", "p@ss"}) {
		t.Errorf("guessPasswords = %q", got)
	}
}
