// Package reconciler is wirekeeper's engine: it plans the changes for each
// object, drives the providers, and keeps the status that is written back to
// git. It knows plans, queues and conditions, nothing about any one live
// system; providers plug in through the Provider contract in provider.go.
//
// Sub-packages: source pulls spec revisions with go-git, status renders and
// commits the status and drift reports, webhook turns Git host push events
// into triggers, daemon wires them into `wirekeeper run`.
package reconciler
