// Package statuspage serves the gateway's local web page for installers
// and operators, with /metrics, /healthz and /readyz beside it.
//
// The page is plain HTML and CSS with a little JavaScript, embedded in the
// binary: no CDN, no build step, and it fits a phone's screen. It polls
// /api/overview (an admin.Overview: identity, links, sessions, devices with
// their latest values, native things, the services' optional sections,
// recent errors, reading rates) and has one action, opening the pairing
// window (POST /api/pairing).
//
// Served on loopback (the default) the page needs no password but answers
// only requests whose Host is a loopback name, so a web site cannot reach
// it through DNS rebinding. Served on any other address it requires a
// password, set at first boot or with `gatewayctl web password` and kept
// only as an argon2id hash; until one is set it serves nothing but the
// health endpoints and a page saying how to set it. A login gives a session
// cookie (HttpOnly, SameSite=Strict); scrapers may send the password with
// HTTP Basic authentication instead.
//
// Every POST must carry the page's CSRF token (an HMAC of the session under
// a key made at start) in the X-CSRF-Token header or a csrf form field,
// and, when the browser sends them, an Origin matching the Host and a
// Sec-Fetch-Site of same-origin. Responses carry a Content-Security-Policy
// that allows only the page's own scripts and styles.
package statuspage
