package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/edgegate/edgegate/gateway/admin"
	"github.com/edgegate/edgegate/gateway/josp/wire"
)

const jospUsage = `josp objects                      the JOSP objects served
josp object ID                    one object (thing ID or objId) with its permissions
josp services                     the connected JOSP services
josp perms ID                     an object's permissions
josp perms add ID --srv S --usr U --type T [--conn C]
josp perms update ID PERM --srv S --usr U --type T [--conn C]
josp perms remove ID PERM
  S: a service id or #All; U: a user id, #All or #Owner;
  T: None, State, Actions or CoOwner; C: OnlyLocal (default) or LocalAndCloud`

// josp runs the "josp" commands.
func (x *cli) josp(ctx context.Context, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("%w: josp needs a command:\n%s", errUsage, jospUsage)
	}
	sub, rest := args[0], args[1:]
	if sub == "perms" && len(rest) > 0 && (rest[0] == "add" || rest[0] == "update" || rest[0] == "remove" || rest[0] == "rm") {
		sub, rest = "perms "+rest[0], rest[1:]
	}
	var err error
	switch sub {
	case "objects":
		err = x.jospObjects(ctx, rest)
	case "object":
		err = x.jospObject(ctx, rest)
	case "services":
		err = x.jospServices(ctx, rest)
	case "perms":
		err = x.jospPerms(ctx, rest)
	case "perms add", "perms update":
		err = x.jospPermSet(ctx, sub, rest)
	case "perms remove", "perms rm":
		err = x.jospPermRemove(ctx, rest)
	default:
		return fmt.Errorf("%w: unknown josp command %q:\n%s", errUsage, sub, jospUsage)
	}
	if errors.Is(err, admin.ErrNotFound) && strings.Contains(err.Error(), "no such endpoint") {
		return errors.New("the JOSP endpoint is off: set enabled = true in the [josp] section of gatewayd's configuration and restart it")
	}
	return err
}

func objPath(id string) string { return "/v1/josp/objects/" + url.PathEscape(id) }

func (x *cli) jospObjects(ctx context.Context, args []string) error {
	if _, err := parse(x.flags("josp objects"), args, 0, 0, "no arguments"); err != nil {
		return err
	}
	var list []admin.JOSPObject
	if err := x.c.Call(ctx, "GET", "/v1/josp/objects", nil, &list); err != nil || x.asJSON {
		return orJSON(x, list, err)
	}
	x.table("THING\tOBJID\tNAME\tOWNER\tADDR\tTLS\tSERVICES\tINSTANCE", func(w io.Writer) {
		for _, o := range list {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%v\t%d\t%s\n", o.ThingID, o.ObjID, o.Name, o.OwnerID, o.Addr, o.TLS, o.Services, o.Instance)
		}
	})
	return nil
}

func (x *cli) jospObject(ctx context.Context, args []string) error {
	pos, err := parse(x.flags("josp object"), args, 1, 1, "one object: a thing ID or an objId")
	if err != nil {
		return err
	}
	var o admin.JOSPObjectDetail
	if err := x.c.Call(ctx, "GET", objPath(pos[0]), nil, &o); err != nil || x.asJSON {
		return orJSON(x, o, err)
	}
	fmt.Fprintf(x.out, "object       %s (thing %s)\n", o.ObjID, o.ThingID)
	fmt.Fprintf(x.out, "name         %s\n", o.Name)
	fmt.Fprintf(x.out, "owner        %s\n", o.OwnerID)
	fmt.Fprintf(x.out, "listening    %s (tls %v)\n", o.Addr, o.TLS)
	if o.CertSharingAddr != "" {
		fmt.Fprintf(x.out, "cert sharing %s\n", o.CertSharingAddr)
	}
	fmt.Fprintf(x.out, "advertised   %s._josp2._tcp\n", o.Instance)
	fmt.Fprintf(x.out, "services     %d\n", o.Services)
	for _, p := range o.Pillars {
		fmt.Fprintf(x.out, "pillar       %s\n", p)
	}
	for _, s := range o.Skipped {
		fmt.Fprintf(x.out, "no pillar    %s\n", s)
	}
	x.printPerms(o.Perms)
	return nil
}

func (x *cli) printPerms(perms []wire.Perm) {
	x.table("PERM\tSRVID\tUSRID\tTYPE\tCONN\tUPDATED", func(w io.Writer) {
		for _, p := range perms {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.SrvID, p.UsrID, p.Type, p.Conn, p.Updated.Format(time.DateTime))
		}
	})
}

func (x *cli) jospServices(ctx context.Context, args []string) error {
	if _, err := parse(x.flags("josp services"), args, 0, 0, "no arguments"); err != nil {
		return err
	}
	var list []admin.JOSPService
	if err := x.c.Call(ctx, "GET", "/v1/josp/services", nil, &list); err != nil || x.asJSON {
		return orJSON(x, list, err)
	}
	x.table("SERVICE\tTHING\tOBJID\tREMOTE\tTLS\tPERM\tSINCE", func(w io.Writer) {
		for _, s := range list {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%v\t%s\t%s\n", s.FullSrvID, s.ThingID, s.ObjID, s.Remote, s.TLS, s.Perm, ago(s.Since))
		}
	})
	return nil
}

func (x *cli) jospPerms(ctx context.Context, args []string) error {
	pos, err := parse(x.flags("josp perms"), args, 1, 1, "one object: a thing ID or an objId")
	if err != nil {
		return err
	}
	var perms []wire.Perm
	if err := x.c.Call(ctx, "GET", objPath(pos[0])+"/perms", nil, &perms); err != nil || x.asJSON {
		return orJSON(x, perms, err)
	}
	x.printPerms(perms)
	return nil
}

func (x *cli) jospPermSet(ctx context.Context, sub string, args []string) error {
	fs := x.flags("josp " + sub)
	srv := fs.String("srv", "", "service id, or #All")
	usr := fs.String("usr", "", "user id, #All or #Owner")
	typ := fs.String("type", "", "None, State, Actions or CoOwner")
	conn := fs.String("conn", "OnlyLocal", "OnlyLocal or LocalAndCloud")
	n, what := 1, "an object (thing ID or objId)"
	if sub == "perms update" {
		n, what = 2, "an object (thing ID or objId) and a permission id"
	}
	pos, err := parse(fs, args, n, n, what)
	if err != nil {
		return err
	}
	if *srv == "" || *usr == "" || *typ == "" {
		return fmt.Errorf("%w: josp %s needs --srv, --usr and --type:\n%s", errUsage, sub, jospUsage)
	}
	body := admin.JOSPPermRequest{SrvID: *srv, UsrID: *usr}
	if body.Type, err = wire.ParsePermType(*typ); err != nil {
		return fmt.Errorf("%w: --type %q: want None, State, Actions or CoOwner", errUsage, *typ)
	}
	if body.Conn, err = wire.ParseConnType(*conn); err != nil {
		return fmt.Errorf("%w: --conn %q: want OnlyLocal or LocalAndCloud", errUsage, *conn)
	}
	var p wire.Perm
	if sub == "perms add" {
		err = x.c.Call(ctx, "POST", objPath(pos[0])+"/perms", body, &p)
	} else {
		err = x.c.Call(ctx, "PUT", objPath(pos[0])+"/perms/"+url.PathEscape(pos[1]), body, &p)
	}
	if err != nil || x.asJSON {
		return orJSON(x, p, err)
	}
	x.printPerms([]wire.Perm{p})
	return nil
}

func (x *cli) jospPermRemove(ctx context.Context, args []string) error {
	pos, err := parse(x.flags("josp perms remove"), args, 2, 2, "an object (thing ID or objId) and a permission id")
	if err != nil {
		return err
	}
	if err := x.c.Call(ctx, "DELETE", objPath(pos[0])+"/perms/"+url.PathEscape(pos[1]), nil, nil); err != nil {
		return err
	}
	if x.asJSON {
		return x.printJSON(map[string]string{"removed": pos[1]})
	}
	fmt.Fprintf(x.out, "removed %s\n", pos[1])
	return nil
}
