// Package providers holds one sub-package per kind of live system (OVSDB,
// containers, collectors, SkyDive), each knowing its system and nothing about
// git, and the ordered registry that builds them for `wirekeeper run`. The
// providers arrive with issues 4 to 7.
package providers
