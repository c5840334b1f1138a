package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// Defaults of HTTPLimits, for the webhook and the metrics endpoint.
const (
	// DefaultReadHeaderTimeout bounds reading a request's headers.
	DefaultReadHeaderTimeout = 5 * time.Second
	// DefaultReadTimeout bounds reading a whole request, body included: a
	// 1 MiB webhook body (the handler's limit) needs 70 KB/s.
	DefaultReadTimeout = 15 * time.Second
	// DefaultWriteTimeout bounds a request from the end of its headers to
	// the end of the response; net/http counts the body read in it, so it
	// exceeds DefaultReadTimeout.
	DefaultWriteTimeout = 20 * time.Second
	// DefaultIdleTimeout bounds how long a kept-alive connection waits for
	// its next request.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultMaxConns bounds the connections each server handles at once.
	DefaultMaxConns = 64
)

// HTTPLimits bound what clients can hold of the webhook and the metrics
// servers; each server applies them on its own, so a flood of the webhook
// does not block /healthz. Zero fields take the Default* values.
type HTTPLimits struct {
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxConns is how many connections one server handles at once; further
	// ones wait in the kernel's accept queue until one closes.
	MaxConns int
}

func (l HTTPLimits) withDefaults() HTTPLimits {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&l.ReadTimeout, DefaultReadTimeout)
	def(&l.WriteTimeout, DefaultWriteTimeout)
	def(&l.IdleTimeout, DefaultIdleTimeout)
	if l.MaxConns == 0 {
		l.MaxConns = DefaultMaxConns
	}
	return l
}

func (l HTTPLimits) check() error {
	if l.ReadHeaderTimeout < 0 || l.ReadTimeout < 0 || l.WriteTimeout < 0 || l.IdleTimeout < 0 || l.MaxConns < 0 {
		return fmt.Errorf("daemon: negative HTTP limit in %+v", l)
	}
	return nil
}

// listen binds the webhook and metrics listeners before anything else, so
// a bad address fails the start instead of a goroutine later.
func (d *Daemon) listen() ([]*http.Server, error) {
	limits := d.opts.HTTPLimits.withDefaults()
	var servers []*http.Server
	for _, l := range []struct {
		name, addr string
		h          http.Handler
	}{{"webhook", d.opts.WebhookListen, d.opts.Webhook}, {"metrics", d.opts.MetricsListen, d.opts.Metrics}} {
		if l.addr == "" || l.h == nil {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			for _, s := range servers {
				s.Close()
			}
			return nil, fmt.Errorf("daemon: %s listener: %w", l.name, err)
		}
		s := &http.Server{
			Handler:           l.h,
			ReadHeaderTimeout: limits.ReadHeaderTimeout,
			ReadTimeout:       limits.ReadTimeout,
			WriteTimeout:      limits.WriteTimeout,
			IdleTimeout:       limits.IdleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
		}
		servers = append(servers, s)
		d.log.Info("listening", "server", l.name, "address", ln.Addr().String(), "maxConnections", limits.MaxConns)
		go func() {
			if err := s.Serve(netutil.LimitListener(ln, limits.MaxConns)); err != nil && !errors.Is(err, http.ErrServerClosed) {
				d.log.Error("server stopped", "server", l.name, "err", err)
			}
		}()
	}
	return servers, nil
}

// maxHeaderBytes bounds request headers; Git hosts send a few KiB.
const maxHeaderBytes = 64 << 10
