package gateway

// docs/configuration.md lists every configuration key; it is generated from
// Config and its doc comments.
//go:generate go run ../scripts/configdoc -o ../docs/configuration.md
