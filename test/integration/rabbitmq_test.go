package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

func TestRabbitMQ(t *testing.T) {
	amqpURL := testenv.AMQPURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	conn, err := amqp.DialConfig(amqpURL, amqp.Config{Dial: amqp.DefaultDial(10 * time.Second)})
	if err != nil {
		t.Fatalf("dial %s: %v", amqpURL, err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("channel: %v", err)
	}
	defer ch.Close()
	q, err := ch.QueueDeclare(testenv.UniqueName(t), false, true, true, false, nil)
	if err != nil {
		t.Fatalf("QueueDeclare: %v", err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatalf("Confirm: %v", err)
	}

	sent := amqp.Publishing{ContentType: "application/json", Body: []byte(`{"probe":1}`)}
	confirm, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", q.Name, true, false, sent)
	if err != nil {
		t.Fatalf("publish to %s: %v", q.Name, err)
	}
	acked, err := confirm.WaitContext(ctx)
	if err != nil {
		t.Fatalf("waiting for the publisher confirm: %v", err)
	}
	if !acked {
		t.Fatalf("publish to %s was nacked", q.Name)
	}

	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatalf("Consume: %v", err)
	}
	select {
	case d, ok := <-deliveries:
		if !ok {
			t.Fatal("delivery channel closed before a message arrived")
		}
		if string(d.Body) != string(sent.Body) || d.ContentType != sent.ContentType {
			t.Errorf("received %q (%s), want %q (%s)",
				d.Body, d.ContentType, sent.Body, sent.ContentType)
		}
	case <-ctx.Done():
		t.Fatalf("no message from %s: %v", q.Name, ctx.Err())
	}
}

func TestRabbitMQManagement(t *testing.T) {
	base := testenv.RabbitMQMgmtURL(t)
	amqpURL, err := url.Parse(testenv.AMQPURL(t))
	if err != nil {
		t.Fatalf("parse AMQP URL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// net/http sends the URL's user:password as basic auth.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/overview", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /api/overview: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/overview: %s", resp.Status)
	}
	var overview struct {
		RabbitMQVersion string `json:"rabbitmq_version"`
		Listeners       []struct {
			Protocol string `json:"protocol"`
			Port     int    `json:"port"`
		} `json:"listeners"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&overview); err != nil {
		t.Fatalf("decode /api/overview: %v", err)
	}
	if overview.RabbitMQVersion == "" {
		t.Error("overview has no rabbitmq_version")
	}
	want := fmt.Sprintf("amqp:%s", amqpURL.Port())
	var got []string
	for _, l := range overview.Listeners {
		got = append(got, fmt.Sprintf("%s:%d", l.Protocol, l.Port))
	}
	if !slices.Contains(got, want) {
		t.Errorf("listeners = %v, want one %s", got, want)
	}
}
