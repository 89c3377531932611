// Package admin is gatewayd's local administration API: JSON over HTTP on a
// unix socket (mode 0600) that cmd/gatewayctl speaks. It provisions devices,
// lists sessions, reads the journal, sends commands to sensors and stores
// firmware images. The gateway implements Backend; Client is the other end.
//
// # Endpoints
//
//	GET    /v1/status                      Status
//	GET    /v1/devices                     []Device
//	POST   /v1/devices                     DeviceSpec -> 201 Device
//	GET    /v1/devices/{T:M}               Device
//	DELETE /v1/devices/{T:M}               204
//	GET    /v1/devices/{T:M}/readings?last=N   []Reading (oldest first)
//	POST   /v1/devices/{T:M}/command       CommandRequest -> CommandResult (waits)
//	GET    /v1/sessions                    []Session
//	GET    /v1/readings?from=SEQ&limit=N   []Reading
//	GET    /v1/firmware                    []Firmware
//	PUT    /v1/firmware/{name}?chunkSize=N raw image -> 201 Firmware
//	DELETE /v1/firmware/{name}             204
//	GET    /v1/things                      []things.Thing
//	GET    /v1/things/{id}                 things.Thing
//	GET    /v1/ports                       []Port (serial ports, USB ids)
//
// A failed request answers {"error": "...", "code": "..."} with the HTTP
// status of its code: not_found 404, invalid 400, conflict 409,
// unavailable 503, timeout 504, internal 500. Device keys are accepted but
// never returned, except a key the gateway generated, once, in the answer
// to the add that generated it.
//
// The endpoints the gateway adds with HandleJSON (the operator's, the OCO
// agent's, the JOSP endpoint's, the upstream's) are listed beside their
// types: the services that answer them and gatewayctl share those types.
package admin
