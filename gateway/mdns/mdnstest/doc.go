// Package mdnstest helps tests that advertise over real multicast DNS on
// loopback: LockInstance serialises the tests, in every package and
// process, that advertise the same instance name.
package mdnstest
