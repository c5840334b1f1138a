package amqp

import (
	"errors"
	"strings"
	"testing"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// TestFailQuotesNothingOfTheURL: the broker's reasons quote the user and
// the virtual host, the URL parser the URL; the publisher's errors name
// the field and the AMQP code only.
func TestFailQuotesNothingOfTheURL(t *testing.T) {
	p := New(Options{URL: "amqp://u:p@h/"})
	for _, tc := range []struct {
		err     error
		connect bool
		want    string
	}{
		{&amqp091.Error{Code: 403, Reason: "ACCESS_REFUSED - Login was refused for user 'CanaryUser'"}, true,
			"rabbitmq.url: cannot connect to the broker it names: the broker refused the credentials (AMQP 403 ACCESS_REFUSED)"},
		{amqp091.ErrVhost, true, "rabbitmq.url: cannot connect to the broker it names: the broker refused the virtual host"},
		{&amqp091.Error{Code: 403, Reason: "access to exchange 'x' in vhost 'CanaryVhost' refused for user 'CanaryUser'"}, false,
			"rabbitmq.url: declare: the user may not do this (AMQP 403 ACCESS_REFUSED)"},
		{&amqp091.Error{Code: 406, Reason: "inequivalent arg 'type' for exchange 'x' in vhost 'CanaryVhost'"}, false,
			"rabbitmq.url: declare: the broker holds it with other settings (AMQP 406 PRECONDITION_FAILED)"},
		{&amqp091.Error{Code: 599, Reason: "CanaryReason"}, false, "rabbitmq.url: declare: the broker answered AMQP 599 "},
		{errors.New("CanaryText of unknown origin"), false, "rabbitmq.url: declare: failed (the cause is not shown: it may quote the secret)"},
	} {
		var err error
		if tc.connect {
			err = p.failConnect(tc.err)
		} else {
			err = p.fail("declare", tc.err)
		}
		if err.Error() != tc.want {
			t.Errorf("%v: %q, want %q", tc.err, err, tc.want)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("%v: the error does not match its cause", tc.err)
		}
	}
	// A URL that does not parse: every call says so, quoting nothing.
	const url = "amqp://CanaryUser:CanaryPw@[CanaryHost/vhost"
	bad := New(Options{URL: url})
	err := bad.PublishAll(t.Context(), []Message{{MessageID: "m"}})
	if err == nil || err.Error() != "rabbitmq.url: does not parse: expected amqp://user:password@host:5672/vhost or amqps://..." {
		t.Errorf("PublishAll with %q = %v", url, err)
	}
	if err != nil && strings.Contains(err.Error(), "Canary") {
		t.Errorf("the error quotes the URL: %v", err)
	}
}
