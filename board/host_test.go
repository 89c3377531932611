package board

import (
	"errors"
	"strings"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spireg"
	"periph.io/x/conn/v3/spi/spitest"
)

var (
	piInfo     = Info{Model: ParseModel("Raspberry Pi Zero 2 W Rev 1.0"), Raw: "Raspberry Pi Zero 2 W Rev 1.0", Source: dtModelPath}
	genericPC  = Info{Model: GenericModel("")}
	forcedPi   = Info{Model: ParseModel("Raspberry Pi 4 Model B"), Forced: true}
	errHostBad = errors.New("bcm283x: /dev/gpiomem: permission denied")
)

func TestInitGenericSkipsHost(t *testing.T) {
	called := false
	hw, err := Init(genericPC, func() error { called = true; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if called {
		t.Fatal("host init called on a generic machine")
	}
	if hw.GPIO || hw.SPI || !strings.Contains(hw.Reason, "not a Raspberry Pi") {
		t.Fatalf("hardware %+v", hw)
	}
	// No host init function at all is fine there too.
	if _, err := Init(genericPC, nil); err != nil {
		t.Fatal(err)
	}
}

func TestInitPi(t *testing.T) {
	t.Run("host init fails", func(t *testing.T) {
		hw, err := Init(piInfo, func() error { return errHostBad })
		if !errors.Is(err, errHostBad) || !strings.Contains(err.Error(), "Raspberry Pi Zero 2 W") {
			t.Fatalf("err %v", err)
		}
		if hw.GPIO || hw.SPI || hw.Reason == "" || hw.Board != piInfo {
			t.Fatalf("hardware %+v", hw)
		}
	})
	t.Run("no host init function", func(t *testing.T) {
		if _, err := Init(piInfo, nil); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("nothing registered", func(t *testing.T) {
		calls := 0
		hw, err := Init(forcedPi, func() error { calls++; return nil })
		if err != nil || calls != 1 {
			t.Fatalf("err %v, calls %d", err, calls)
		}
		if hw.GPIO || hw.SPI || !strings.Contains(hw.Reason, "no GPIO pin and no SPI port") {
			t.Fatalf("hardware %+v", hw)
		}
	})
	t.Run("gpio and spi registered", func(t *testing.T) {
		hw, err := Init(piInfo, func() error {
			registerTestPin(t, &gpiotest.Pin{N: "BOARDTEST_GPIO", Num: 9901})
			registerTestSPI(t, "/dev/spidev9.0", "SPI9.0")
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !hw.GPIO || !hw.SPI || hw.Reason != "" {
			t.Fatalf("hardware %+v", hw)
		}
	})
	t.Run("gpio only", func(t *testing.T) {
		hw, err := Init(piInfo, func() error {
			registerTestPin(t, &gpiotest.Pin{N: "BOARDTEST_GPIO2", Num: 9902})
			return nil
		})
		if err != nil || !hw.GPIO || hw.SPI || !strings.Contains(hw.Reason, "no SPI port") {
			t.Fatalf("hardware %+v, %v", hw, err)
		}
	})
}

// registerTestPin adds p to periph's gpioreg for the test.
func registerTestPin(t *testing.T, p gpio.PinIO) {
	t.Helper()
	if err := gpioreg.Register(p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := gpioreg.Unregister(p.Name()); err != nil {
			t.Error(err)
		}
	})
}

// registerTestSPI adds an empty playback port to periph's spireg.
func registerTestSPI(t *testing.T, name, alias string) {
	t.Helper()
	open := func() (spi.PortCloser, error) { return &spitest.Playback{}, nil }
	if err := spireg.Register(name, []string{alias}, -1, open); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := spireg.Unregister(name); err != nil {
			t.Error(err)
		}
	})
}
