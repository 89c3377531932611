package things_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/edgegate/edgegate/gateway/things"
)

func ExampleProfile_DecodeOrRaw() {
	p, err := things.LoadProfile(strings.NewReader(`
name = "thermo"
[[datatype]]
id = 10
name = "climate"
  [[datatype.field]]
  name = "temperature"
  offset = 0
  type = "i16"
  scale = 0.01
  unit = "Cel"
  [[datatype.field]]
  name = "battery"
  offset = 2
  type = "u8"
  unit = "%"
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.DecodeOrRaw(10, []byte{0x08, 0x66, 0x5A}))
	fmt.Println(p.DecodeOrRaw(10, []byte{0x08}))    // too short: kept raw
	fmt.Println(p.DecodeOrRaw(12, []byte{1, 2, 3})) // unknown DataType: kept raw
	// Output:
	// [temperature=21.5 battery=90]
	// [raw_10=08]
	// [raw_12=010203]
}

func ExampleHub_Subscribe() {
	h := things.New(things.Options{})
	defer h.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub := h.Subscribe(ctx, 16)

	_ = h.Register(things.Thing{ID: "native:lamp", Kind: things.KindNative})
	_ = h.Update("native:lamp", []things.PropertyValue{{Name: "on", Value: things.BoolValue(true)}},
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

	for range 2 {
		ev := <-sub.Events()
		fmt.Println(ev.Seq, ev.Type, ev.ThingID, ev.Changed, ev.Lost)
	}
	// Output:
	// 1 ThingAdded native:lamp [] 0
	// 2 ThingChanged native:lamp [on=true] 0
}
