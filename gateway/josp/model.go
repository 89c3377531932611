package josp

import (
	"strconv"
	"strings"

	"github.com/edgegate/edgegate/gateway/josp/wire"
	"github.com/edgegate/edgegate/gateway/things"
)

// The containers of an object's structure.
const (
	// ContainerProperties holds a state pillar per property of the thing.
	ContainerProperties = "Properties"
	// ContainerActions holds an action pillar per action of the thing.
	ContainerActions = "Actions"
)

// Description is what an object says about itself besides its name: OBJ_INF's
// model, brand and descr, and the structure root's descr and descr_long.
type Description struct {
	Model string
	Brand string
	Descr string
}

// Range is the bounds of a range pillar.
type Range struct {
	Min, Max, Step float64
}

// pillar is one state or action pillar of an object and what it maps to.
type pillar struct {
	path   string // compPath
	typ    string // wire.Type*
	prop   string // the property of a state pillar
	action string // the action of an action pillar
	param  string // the one parameter of a range action
	bool   bool   // boolean state
	value  float64
	rng    Range
}

func (p *pillar) cmdType() string {
	if p.typ == wire.TypeBooleanState || p.typ == wire.TypeBooleanAction {
		return wire.CmdBoolean
	}
	return wire.CmdRange
}

func (p *pillar) isAction() bool { return p.action != "" }

// payload returns the UPD payload of a change from old to the pillar's
// current state.
func (p *pillar) payload(oldBool bool, oldValue float64) string {
	if p.cmdType() == wire.CmdBoolean {
		return string(wire.AppendBoolPayload(nil, p.bool, oldBool))
	}
	return string(wire.AppendRangePayload(nil, p.value, oldValue))
}

// model is an object's structure and its pillars.
type model struct {
	pillars []*pillar          // in structure order
	byPath  map[string]*pillar // compPath -> pillar
	byProp  map[string]*pillar // property name -> state pillar
	// skipped lists what has no pillar: properties that are neither
	// boolean nor numeric, actions with more than one parameter.
	skipped []string
}

// rangeFunc returns the bounds of a pillar (by property or action name).
type rangeFunc func(thingID, name string) (Range, bool)

// buildModel maps a thing to pillars: a boolean property is a
// BooleanState and a numeric one a RangeState, in the Properties
// container; an action without parameters is a BooleanAction and an
// action with one a RangeAction, in the Actions container. Names are
// sanitised and made unique. Action states come from saved (by path).
func buildModel(t things.Thing, ranges rangeFunc, saved map[string]float64) *model {
	m := &model{byPath: map[string]*pillar{}, byProp: map[string]*pillar{}}
	bounds := func(name string) Range {
		if ranges != nil {
			if r, ok := ranges(t.ID, name); ok {
				return r
			}
		}
		return Range{Min: wire.DefaultMin, Max: wire.DefaultMax, Step: wire.DefaultStep}
	}
	used := map[string]bool{}
	unique := func(container, name string) string {
		n := wire.Sanitize(name)
		if n == "" {
			n = "_"
		}
		cand := n
		for i := 2; used[container+wire.PathSeparator+cand]; i++ {
			cand = n + " " + strconv.Itoa(i)
		}
		used[container+wire.PathSeparator+cand] = true
		return container + wire.PathSeparator + cand
	}
	for _, p := range t.Properties {
		var pl *pillar
		switch p.Type {
		case things.TypeBool:
			pl = &pillar{typ: wire.TypeBooleanState, prop: p.Name}
			pl.bool, _ = p.Value.AsBool()
		case things.TypeInt, things.TypeFloat:
			pl = &pillar{typ: wire.TypeRangeState, prop: p.Name, rng: bounds(p.Name)}
			pl.value, _ = p.Value.AsFloat()
		default:
			m.skipped = append(m.skipped, "property "+p.Name+" ("+p.Type.String()+")")
			continue
		}
		pl.path = unique(ContainerProperties, p.Name)
		m.add(pl)
		m.byProp[p.Name] = pl
	}
	for _, a := range t.Actions {
		var pl *pillar
		switch len(a.Params) {
		case 0:
			pl = &pillar{typ: wire.TypeBooleanAction, action: a.Name}
		case 1:
			pl = &pillar{typ: wire.TypeRangeAction, action: a.Name, param: a.Params[0], rng: bounds(a.Name)}
		default:
			m.skipped = append(m.skipped, "action "+a.Name+" ("+strconv.Itoa(len(a.Params))+" parameters)")
			continue
		}
		pl.path = unique(ContainerActions, a.Name)
		if v, ok := saved[pl.path]; ok {
			pl.value, pl.bool = v, v != 0
		}
		m.add(pl)
	}
	return m
}

func (m *model) add(p *pillar) {
	m.pillars = append(m.pillars, p)
	m.byPath[p.path] = p
}

// structure returns the wire structure of the model, with descriptions of
// the thing's units and actions.
func (m *model) structure(t things.Thing, d Description) wire.Structure {
	s := wire.Structure{Descr: wire.Sanitize(d.Descr), Model: wire.Sanitize(d.Model), Brand: wire.Sanitize(d.Brand),
		DescrLong: wire.Sanitize(d.Descr)}
	descr := map[string]string{}
	for _, p := range t.Properties {
		descr["p:"+p.Name] = p.Unit
	}
	for _, a := range t.Actions {
		descr["a:"+a.Name] = a.Description
	}
	containers := map[string]int{}
	for _, p := range m.pillars {
		cname, name, _ := strings.Cut(p.path, wire.PathSeparator)
		i, ok := containers[cname]
		if !ok {
			i = len(s.Components)
			containers[cname] = i
			s.Components = append(s.Components, wire.Component{Name: cname, Type: wire.TypeContainer})
		}
		c := wire.Component{Name: name, Type: p.typ, Bool: p.bool, Value: p.value, Min: p.rng.Min, Max: p.rng.Max, Step: p.rng.Step}
		if p.isAction() {
			c.Descr = wire.Sanitize(descr["a:"+p.action])
		} else {
			c.Descr = wire.Sanitize(descr["p:"+p.prop])
		}
		s.Components[i].Components = append(s.Components[i].Components, c)
	}
	return s
}

// actionArgs returns the hub arguments of a command setting the pillar to
// value.
func (p *pillar) actionArgs(value float64) map[string]string {
	if p.param == "" {
		return nil
	}
	return map[string]string{p.param: strconv.FormatFloat(value, 'f', -1, 64)}
}
