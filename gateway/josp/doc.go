// Package josp is the gateway's JOSP direct endpoint: every thing of the
// hub is served on the local network as a JOSP 2.0 object, as the
// reference object daemon (JOD 2.2.4) serves its own, so that JOSP
// services find it, read its state and history, and act on it.
//
// # Objects
//
// Each thing gets an object with its own TCP listener (a configured port
// range, or an ephemeral port), advertised by DNS-SD as `_josp2._tcp`
// under the instance name `{objName}-{instanceId}` with a TXT record of
// the single string instanceId (a random 0..9999 picked at each start),
// as the reference does. Objects appear and go away with the things of
// the hub. The object's identity is kept in the endpoint's store.KV
// namespace: an objId of the reference's format (five upper-case letters,
// then two groups of five letters or digits), the owner
// (`00000-00000-00000`, anonymous, until a service sets one), the name a
// service set, the permission rows and the last state of each action
// pillar. A new owner gives the object a new objId with the same first
// group and disconnects every service, as in the reference.
//
// # Structure
//
// A thing's boolean properties are BooleanState pillars and its numeric
// properties RangeState pillars, in a container named Properties; its
// actions without parameters are BooleanAction pillars and its actions
// with one parameter RangeAction pillars, in a container named Actions.
// Other properties (strings, raw bytes) and actions with more parameters
// have no pillar. Names are sanitised (see wire.Sanitize) and made
// unique.
//
// # Connections
//
// The object speaks first: `\n<objId>\n##`. The service answers with its
// `<fullSrvId>\n` line, unless (TLS) its certificate's CN is a fullSrvId.
// One connection per fullSrvId is live: a second one is told bye. The
// presentation follows (OBJ_INF_MSG and OBJ_STRUCT_MSG with State,
// OBJ_PERMS_MSG with CoOwner, SRV_PERMS_MSG when a permission row
// applies), then state updates (UPD_MSG on every change, to every service
// with State), heartbeats (`hb_rq` after Options.Heartbeat of silence,
// closed when 9/10 of it more pass without a frame) and the services'
// requests.
// Every request's fullSrvId line must be the connection's own identity
// (stricter than the reference, which trusts the line): one that claims
// another is dropped. Commands go through Hub.Perform to the thing's own
// protocol and are answered by the UPD_MSG of the pillar's new state.
//
// # Permissions
//
// Levels None < State < Actions < CoOwner (`Status` accepted for State),
// rows of srvId/usrId with the wildcards #All and #Owner, connection
// types OnlyLocal and LocalAndCloud (both apply to direct connections).
// Unlike the reference, an object without an owner does not grant
// everything to everyone, and #Owner matches nobody until an owner is
// set. A new object has a row granting Options.Everyone to #All/#All, a
// row granting CoOwner to its future owner (#All/#Owner), and a CoOwner
// row for each of Options.CoOwners (added once to existing objects too).
//
// # TLS
//
// With Options.TLS the listeners speak TLS 1.2 only and require a client
// certificate, trusted when the service shared it first on port+1 (the
// certificate sharing exchange: both sides send their DER certificate and
// the delimiter, then the service says bye). As with the reference, the
// trust is in memory and starts empty at each start; it encrypts the
// connection and binds the service's identity to its certificate, while
// the permissions decide what the service may do. Plain TCP, the
// reference's default, is the endpoint's default too.
package josp
