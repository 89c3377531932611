package boardhost

import "testing"

// TestInit loads periph's host drivers on whatever machine runs the tests.
// On a machine without GPIO hardware the drivers skip themselves: Init must
// not fail or hang for that.
func TestInit(t *testing.T) {
	if err := Init(); err != nil {
		t.Fatalf("Init: %v", err)
	}
	if err := Init(); err != nil {
		t.Fatalf("second Init: %v", err)
	}
}
