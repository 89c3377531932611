package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// LimitKind says which of the exclusive kinds of HistoryLimits is set.
type LimitKind uint8

// The kinds of history limits.
const (
	// LimitNone: every item.
	LimitNone LimitKind = iota
	// LimitLatest: the Count newest items.
	LimitLatest
	// LimitAncient: the Count oldest items.
	LimitAncient
	// LimitID: the items with FromID <= id <= ToID.
	LimitID
	// LimitDate: the items with FromDate <= time <= ToDate.
	LimitDate
	// LimitPage: page PageNum (from 0) of PageSize items, oldest first.
	LimitPage
)

var limitKindNames = [...]string{"none", "latest", "ancient", "id", "date", "page"}

// String returns "none", "latest", "ancient", "id", "date" or "page".
func (k LimitKind) String() string {
	if int(k) < len(limitKindNames) {
		return limitKindNames[k]
	}
	return fmt.Sprintf("LimitKind(%d)", k)
}

// Limits are the HistoryLimits of a history or events request: one kind of
// bound at most. Unset bounds are -1 (ids, page fields) or the zero time
// (dates).
type Limits struct {
	Kind     LimitKind
	Count    int64     // LimitLatest, LimitAncient
	FromID   int64     // LimitID; -1: from the first
	ToID     int64     // LimitID; -1: to the last
	FromDate time.Time // LimitDate; zero: from the first
	ToDate   time.Time // LimitDate; zero: to the last
	PageNum  int64     // LimitPage; -1: page 0
	PageSize int64     // LimitPage; -1: 10 items
}

// NoLimits returns limits selecting every item.
func NoLimits() Limits { return Limits{FromID: -1, ToID: -1, PageNum: -1, PageSize: -1} }

// Latest returns limits selecting the n newest items.
func Latest(n int64) Limits { l := NoLimits(); l.Kind, l.Count = LimitLatest, n; return l }

// Ancient returns limits selecting the n oldest items.
func Ancient(n int64) Limits { l := NoLimits(); l.Kind, l.Count = LimitAncient, n; return l }

// IDRange returns limits selecting ids from..to (-1: unbounded).
func IDRange(from, to int64) Limits {
	l := NoLimits()
	l.Kind, l.FromID, l.ToID = LimitID, from, to
	return l
}

// DateRange returns limits selecting times from..to (zero: unbounded).
func DateRange(from, to time.Time) Limits {
	l := NoLimits()
	l.Kind, l.FromDate, l.ToDate = LimitDate, from, to
	return l
}

// Page returns limits selecting page num of size items.
func Page(num, size int64) Limits {
	l := NoLimits()
	l.Kind, l.PageNum, l.PageSize = LimitPage, num, size
	return l
}

// DefaultPageSize is the page size of a page request without one.
const DefaultPageSize = 10

// PageBounds returns the page's number and size with the defaults applied
// (page 0, 10 items).
func (l Limits) PageBounds() (num, size int64) {
	num, size = l.PageNum, l.PageSize
	if num < 0 {
		num = 0
	}
	if size < 0 {
		size = DefaultPageSize
	}
	return num, size
}

// String returns the limits as the reference writes them:
// {}, { "latestCount":"10" }, { "ancientCount":"3" }, {"fromID":"5", "toID":"9"},
// {"fromDate":"<ms>", "toDate":"<ms>"}, {"pageNum":"2", "pageSize":"20"}.
func (l Limits) String() string { return string(l.AppendText(nil)) }

// AppendText appends what String returns.
func (l Limits) AppendText(b []byte) []byte {
	q := func(b []byte, key string, v int64) []byte {
		b = append(b, '"')
		b = append(b, key...)
		b = append(b, `":"`...)
		b = strconv.AppendInt(b, v, 10)
		return append(b, '"')
	}
	switch l.Kind {
	case LimitLatest:
		return append(q(append(b, "{ "...), "latestCount", l.Count), " }"...)
	case LimitAncient:
		return append(q(append(b, "{ "...), "ancientCount", l.Count), " }"...)
	case LimitID:
		b = q(append(b, '{'), "fromID", l.FromID)
		if l.ToID != -1 {
			b = q(append(b, ", "...), "toID", l.ToID)
		}
		return append(b, '}')
	case LimitDate:
		var from int64
		if !l.FromDate.IsZero() {
			from = l.FromDate.UnixMilli()
		}
		b = q(append(b, '{'), "fromDate", from)
		if !l.ToDate.IsZero() {
			b = q(append(b, ", "...), "toDate", l.ToDate.UnixMilli())
		}
		return append(b, '}')
	case LimitPage:
		b = q(append(b, '{'), "pageNum", l.PageNum)
		if l.PageSize != -1 {
			b = q(append(b, ", "...), "pageSize", l.PageSize)
		}
		return append(b, '}')
	}
	return append(b, "{}"...)
}

// ParseLimits reads HistoryLimits JSON: an object whose values are numbers
// or numbers in strings (dates also as RFC 3339 strings), null for unset.
// Unknown keys are ignored. Setting two kinds at once is an error, as in
// the reference; so is a negative count or page size.
func ParseLimits(s string) (Limits, error) {
	l := NoLimits()
	s = strings.TrimSpace(s)
	if s == "" {
		return l, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return l, fmt.Errorf("%w: limits %q: %w", ErrMalformed, s, err)
	}
	num := func(key string, set *bool) (int64, error) {
		v, ok := raw[key]
		if !ok {
			return -1, nil
		}
		v = bytes.TrimSpace(v)
		if string(v) == "null" {
			return -1, nil
		}
		var str string
		if json.Unmarshal(v, &str) == nil {
			v = []byte(strings.TrimSpace(str))
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(string(v), 64)
			if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<62 {
				return -1, fmt.Errorf("%w: limits: %s is %s, not an integer", ErrMalformed, key, v)
			}
			n = int64(f)
		}
		*set = true
		return n, nil
	}
	date := func(key string, set *bool) (time.Time, error) {
		if v, ok := raw[key]; ok {
			var str string
			if json.Unmarshal(v, &str) == nil {
				if t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(str)); err == nil {
					*set = true
					return t, nil
				}
			}
		}
		var dummy bool
		n, err := num(key, &dummy)
		if err != nil || !dummy {
			return time.Time{}, err
		}
		*set = true
		return time.UnixMilli(n), nil
	}
	var latest, ancient, fromID, toID, fromDate, toDate, pageNum, pageSize bool
	var err error
	var latestN, ancientN int64
	if latestN, err = num("latestCount", &latest); err != nil {
		return l, err
	}
	if ancientN, err = num("ancientCount", &ancient); err != nil {
		return l, err
	}
	if l.FromID, err = num("fromID", &fromID); err != nil {
		return l, err
	}
	if l.ToID, err = num("toID", &toID); err != nil {
		return l, err
	}
	if l.FromDate, err = date("fromDate", &fromDate); err != nil {
		return l, err
	}
	if l.ToDate, err = date("toDate", &toDate); err != nil {
		return l, err
	}
	if l.PageNum, err = num("pageNum", &pageNum); err != nil {
		return l, err
	}
	if l.PageSize, err = num("pageSize", &pageSize); err != nil {
		return l, err
	}
	// The reference counts a kind as set when a field differs from -1.
	latest = latest && latestN != -1
	ancient = ancient && ancientN != -1
	idKind := (fromID && l.FromID != -1) || (toID && l.ToID != -1)
	dateKind := fromDate || toDate
	pageKind := (pageNum && l.PageNum != -1) || (pageSize && l.PageSize != -1)
	kinds := 0
	for _, k := range []struct {
		set  bool
		kind LimitKind
	}{{latest, LimitLatest}, {ancient, LimitAncient}, {idKind, LimitID}, {dateKind, LimitDate}, {pageKind, LimitPage}} {
		if k.set {
			kinds++
			l.Kind = k.kind
		}
	}
	if kinds > 1 {
		return NoLimits(), fmt.Errorf("%w: limits %q set more than one kind", ErrMalformed, s)
	}
	switch l.Kind {
	case LimitLatest:
		l.Count = latestN
	case LimitAncient:
		l.Count = ancientN
	}
	if (l.Kind == LimitLatest || l.Kind == LimitAncient) && l.Count < 0 {
		return NoLimits(), fmt.Errorf("%w: limits %q: negative count", ErrMalformed, s)
	}
	if l.Kind == LimitPage && (l.PageSize < -1 || l.PageSize == 0 || l.PageNum < -1) {
		return NoLimits(), fmt.Errorf("%w: limits %q: page number and size must be positive", ErrMalformed, s)
	}
	return l, nil
}

// Select returns the items the limits select from items, which are in
// chronological order (oldest first); the result keeps that order. id and
// at give an item's id and time. Ranges are inclusive at both ends.
func Select[T any](items []T, l Limits, id func(T) int64, at func(T) time.Time) []T {
	switch l.Kind {
	case LimitLatest:
		if l.Count < int64(len(items)) {
			return items[int64(len(items))-l.Count:]
		}
		return items
	case LimitAncient:
		if l.Count < int64(len(items)) {
			return items[:l.Count]
		}
		return items
	case LimitID:
		var out []T
		for _, it := range items {
			n := id(it)
			if (l.FromID == -1 || n >= l.FromID) && (l.ToID == -1 || n <= l.ToID) {
				out = append(out, it)
			}
		}
		return out
	case LimitDate:
		var out []T
		for _, it := range items {
			t := at(it)
			if (l.FromDate.IsZero() || !t.Before(l.FromDate)) && (l.ToDate.IsZero() || !t.After(l.ToDate)) {
				out = append(out, it)
			}
		}
		return out
	case LimitPage:
		num, size := l.PageBounds()
		if size <= 0 || num > int64(len(items))/size {
			return nil
		}
		start := num * size
		if start >= int64(len(items)) {
			return nil
		}
		return items[start:min(start+size, int64(len(items)))]
	}
	return items
}
