// Package amqp publishes the collector's messages to RabbitMQ (AMQP 0-9-1)
// with publisher confirms, for at-least-once delivery.
//
// A Publisher holds one connection, made lazily by the first call that needs
// it and again by the first call after it was lost. Every connect checks
// that the exchange exists with a passive declare, which needs no
// permission, so a broker account allowed only to write (the ESnet
// collector's) is enough; only a missing exchange is declared (durable, of
// Options.ExchangeType), which needs configure permission. PublishAll sends a
// batch pipelined, with at most Options.MaxInFlight unconfirmed messages per
// channel, and returns nil only once the broker has acknowledged every one of
// them and returned none. Any other failure (a nack, a channel or connection
// closed before all confirms arrived, ctx ending) is an error, and the
// caller publishes the whole batch again: a message may then reach
// consumers twice, which they detect by its message_id. Messages are
// published as the ESnet collector published them (content_type
// text/plain, no headers) plus delivery_mode 2 (persistent), a message_id
// and, when given, a timestamp.
//
// Publications are mandatory, where the seed's were not: a message that no
// queue is bound to receive is returned by the broker (basic.return, before
// the acknowledgement it still sends), and PublishAll reports exactly which
// messages came back with an *UnroutableError, so that the caller does not
// count them as delivered. Options.AllowUnroutable restores the seed's way:
// such messages are dropped by the broker and count as delivered. Queues
// are the consumers' business; QueueDepth reads the ones the caller watches
// for backpressure.
//
// Reconnection is left to the caller: a call that finds the connection lost
// dials once (bounded by ctx and ConnectTimeout) and returns the error if
// the broker is still away, so the caller's own backoff decides how often to
// try. A broker under a resource alarm blocks publishing connections and
// stops reading them; a call whose ctx ends then tears that connection down
// (the only way to free a write stuck on it), so other calls in progress
// fail too and the next one reconnects. The URL's password never appears in
// an error or a log line.
package amqp
