module github.com/edgegate/edgegate

go 1.24.0

require (
	github.com/BurntSushi/toml v1.6.0 // indirect
	github.com/ProtonMail/go-crypto v1.5.2 // indirect
	go.etcd.io/bbolt v1.4.3 // indirect
	golang.org/x/sys v0.35.0 // indirect
)
