package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// window is a compiled Window: minutes since local midnight, compared on the
// wall clock of its zone, so it follows DST changes (09:00 stays 09:00).
type window struct {
	loc      *time.Location
	days     [7]bool // indexed by time.Weekday
	from, to int     // minutes; to may be 1440; from > to crosses midnight
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// compileWindow validates w; errs receives (field suffix, message) pairs.
func compileWindow(w *Window, fail func(field, msg string)) *window {
	out := &window{loc: time.UTC, from: 0, to: 24 * 60}
	ok := true
	if w.Zone != "" {
		loc, err := time.LoadLocation(w.Zone)
		if err != nil {
			fail("zone", fmt.Sprintf("unknown time zone %q", w.Zone))
			ok = false
		} else {
			out.loc = loc
		}
	}
	if len(w.Days) == 0 {
		out.days = [7]bool{true, true, true, true, true, true, true}
	}
	for i, d := range w.Days {
		wd, known := dayNames[strings.ToLower(d)]
		if !known {
			fail(fmt.Sprintf("days[%d]", i), fmt.Sprintf("unknown day %q (want mon, tue, wed, thu, fri, sat or sun)", d))
			ok = false
			continue
		}
		out.days[wd] = true
	}
	if w.From != "" {
		m, err := clockMinutes(w.From, false)
		if err != nil {
			fail("from", err.Error())
			ok = false
		}
		out.from = m
	}
	if w.To != "" {
		m, err := clockMinutes(w.To, true)
		if err != nil {
			fail("to", err.Error())
			ok = false
		}
		out.to = m
	}
	if ok && out.from == out.to {
		fail("to", "from and to are equal: the window would be empty")
		ok = false
	}
	if !ok {
		return nil
	}
	return out
}

// clockMinutes parses "HH:MM"; "24:00" only when allow24.
func clockMinutes(s string, allow24 bool) (int, error) {
	bad := fmt.Errorf("invalid time of day %q (want HH:MM, 00:00 to 23:59)", s)
	h, m, found := strings.Cut(s, ":")
	if !found || len(h) != 2 || len(m) != 2 {
		return 0, bad
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 {
		return 0, bad
	}
	if hh == 24 && mm == 0 && allow24 {
		return 24 * 60, nil
	}
	if hh > 23 {
		return 0, bad
	}
	return hh*60 + mm, nil
}

// contains reports whether t falls in the window. A window that crosses
// midnight belongs to the day it starts on: fri 22:00-06:00 includes
// Saturday 03:00. The previous day is taken from the calendar, not t-24h,
// so DST days (23 or 25 hours) do not shift it.
func (w *window) contains(t time.Time) bool {
	lt := t.In(w.loc)
	m := lt.Hour()*60 + lt.Minute()
	wd := lt.Weekday()
	if w.from < w.to {
		return w.days[wd] && m >= w.from && m < w.to
	}
	if m >= w.from {
		return w.days[wd]
	}
	return m < w.to && w.days[(wd+6)%7]
}
