//go:build !amd64 || noasm

package main

// loops is empty: the probe's FMA loops are amd64 assembly.
func loops() []fmaLoop { return nil }
