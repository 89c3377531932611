package main

import (
	"context"

	"github.com/edgegate/edgegate/gateway/admin"
)

// Ports completes admin.Backend: the test gateway has no serial ports.
func (g *testGateway) Ports(context.Context) ([]admin.Port, error) { return nil, nil }
