// Package reconciler is wirekeeper's engine: it pulls specs from git, plans
// the changes for each object, drives the providers, and writes status and
// drift reports back as commits. It knows plans, queues, conditions and git,
// nothing about any one live system. It is built by issue 3; this file only
// reserves the package's place in the layout.
package reconciler
