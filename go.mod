module github.com/edgegate/edgegate

go 1.24.0

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/ProtonMail/go-crypto v1.5.2
	go.etcd.io/bbolt v1.4.3
)

require golang.org/x/sys v0.35.0 // indirect
