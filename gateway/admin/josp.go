package admin

import (
	"time"

	"github.com/edgegate/edgegate/gateway/josp/wire"
)

// The JOSP endpoint's endpoints, added by the gateway with HandleJSON (an
// object is named by its thing ID or its objId):
//
//	GET    /v1/josp/objects                    []JOSPObject
//	GET    /v1/josp/objects/{id}               JOSPObjectDetail
//	GET    /v1/josp/services                   []JOSPService
//	GET    /v1/josp/objects/{id}/perms         []wire.Perm
//	POST   /v1/josp/objects/{id}/perms         JOSPPermRequest -> wire.Perm
//	PUT    /v1/josp/objects/{id}/perms/{perm}  JOSPPermRequest -> wire.Perm
//	DELETE /v1/josp/objects/{id}/perms/{perm}  {}

// JOSPObject describes an object the JOSP endpoint serves.
type JOSPObject struct {
	ThingID  string `json:"thingId"`
	ObjID    string `json:"objId"`
	Name     string `json:"name"`
	OwnerID  string `json:"ownerId"`
	Instance string `json:"instance"`
	Addr     string `json:"addr"`
	// CertSharingAddr is the certificate sharing port's address (TLS).
	CertSharingAddr string   `json:"certSharingAddr,omitempty"`
	TLS             bool     `json:"tls"`
	Services        int      `json:"services"`
	Pillars         []string `json:"pillars"`
	// Skipped lists the thing's properties and actions that have no
	// pillar.
	Skipped []string `json:"skipped,omitempty"`
}

// JOSPObjectDetail is one object with its permission rows.
type JOSPObjectDetail struct {
	JOSPObject
	Perms []wire.Perm `json:"perms"`
}

// JOSPService describes a connected JOSP service.
type JOSPService struct {
	ThingID   string        `json:"thingId"`
	ObjID     string        `json:"objId"`
	FullSrvID string        `json:"fullSrvId"`
	Remote    string        `json:"remote"`
	TLS       bool          `json:"tls"`
	Since     time.Time     `json:"since"`
	Perm      wire.PermType `json:"perm"`
}

// JOSPPermRequest is the body of a request that adds or updates a
// permission row.
type JOSPPermRequest struct {
	SrvID string        `json:"srvId"`
	UsrID string        `json:"usrId"`
	Type  wire.PermType `json:"type"`
	Conn  wire.ConnType `json:"conn"`
}
