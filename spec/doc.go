// Package spec is wirekeeper's spec language: it decodes the YAML documents
// of a spec tree (apiVersion wirekeeper.io/v1alpha1, the kinds Kinds lists)
// into typed Objects, validates them one by one and as a set, and says which
// node's daemon applies each. Every problem is a Diagnostic with its
// file:line:column and document, all collected rather than the first
// returned. It knows YAML and validation, nothing about hosts: it reads spec
// files, never a live system, and names secrets without reading them.
package spec
