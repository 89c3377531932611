module github.com/edgegate/edgegate

go 1.25.0

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/ProtonMail/go-crypto v1.5.2
	go.etcd.io/bbolt v1.4.3
)

require (
	github.com/creack/pty v1.1.24 // indirect
	github.com/jonboulle/clockwork v0.4.0 // indirect
	github.com/pion/dtls/v3 v3.1.15 // indirect
	github.com/pion/logging v0.2.4 // indirect
	github.com/pion/transport/v5 v5.0.0 // indirect
	go.bug.st/serial v1.8.0 // indirect
	golang.org/x/crypto v0.48.0 // indirect
	golang.org/x/sys v0.43.0 // indirect
	periph.io/x/conn/v3 v3.7.2 // indirect
	periph.io/x/host/v3 v3.8.5 // indirect
)
