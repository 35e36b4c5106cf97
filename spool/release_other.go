//go:build !linux

package spool

func dropMapped(addr, size uintptr) {}
