// Package providers holds one sub-package per kind of live system (OVSDB,
// containers, collectors, SkyDive), each knowing its system and nothing about
// git. They arrive with issues 4 to 7; this file only reserves the place.
package providers
