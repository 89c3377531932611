package board_test

import (
	"fmt"
	"testing/fstest"

	"github.com/edgegate/edgegate/board"
)

func ExampleDetect() {
	root := fstest.MapFS{"proc/device-tree/model": {Data: []byte("Raspberry Pi Zero 2 W Rev 1.0\x00")}}
	info := board.Detect(root)
	fmt.Println(info.Model.ID, info.Model.Family, info.Model.SoC, info.IsRaspberryPi())

	laptop := board.Detect(fstest.MapFS{})
	fmt.Println(laptop.Model.ID, laptop.IsRaspberryPi())
	// Output:
	// rpi-zero-2-w pi3 RP3A0 true
	// generic false
}

func ExampleInit() {
	laptop := board.Detect(fstest.MapFS{})
	hw, err := board.Init(laptop, func() error { panic("not called on a generic machine") })
	fmt.Println(hw.GPIO, hw.SPI, err)
	fmt.Println(hw.Reason)
	// Output:
	// false false <nil>
	// generic is not a Raspberry Pi: GPIO and SPI unavailable
}

func ExampleConfig_Validate() {
	for _, c := range []board.Config{
		{Watchdog: "watchdog"},
		{LoRaHAT: "dragino-lora-gps-hat", LED: "gpio:GPIO25"},
	} {
		fmt.Println(c.Validate())
	}
	// Output:
	// board: invalid configuration: board.watchdog = "watchdog": want "" or an absolute device path such as "/dev/watchdog"
	// board: invalid configuration: board.led = "gpio:GPIO25": GPIO25 is already the lora cs of dragino-lora-gps-hat
}

func ExampleLookupProfile() {
	p, _ := board.LookupProfile("adafruit-rfm9x-bonnet")
	fmt.Printf("%s: spi %s, reset %s, dio0 %s, button %s\n", p.Description, p.Pins.SPI, p.Pins.Reset, p.Pins.DIO0, p.Pins.Button)
	// Output:
	// Adafruit LoRa Radio Bonnet RFM95W (SX1276): spi /dev/spidev0.1, reset GPIO25, dio0 GPIO22, button GPIO5
}
