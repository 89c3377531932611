#!/usr/bin/env python3
"""An independent Native Thing client: the draft flow of the seed text.

It browses _wss._tcp by mDNS, picks the instance "steward" whose TXT uuid
is the one given, fetches the server certificate and checks its SHA-256
against TXT sha256, pins it, then pairs, says hello, defines a prototype,
registers a thing by UDN, updates it, confirms the steward's observe
request, reports an occurrence, and answers one perform request.

Usage: native_client.py STEWARD_UUID
Prints progress lines; exits non-zero on the first failure.
"""

import asyncio
import hashlib
import json
import socket
import ssl
import sys
import time

import websockets
from zeroconf import IPVersion, ServiceBrowser, ServiceListener, Zeroconf

TYPE = "_wss._tcp.local."


def say(*words):
    print(*words, flush=True)


def fail(why):
    say("FAIL", why)
    sys.exit(1)


class Listener(ServiceListener):
    def __init__(self):
        self.names = []

    def add_service(self, zc, type_, name):
        self.names.append(name)

    def update_service(self, zc, type_, name):
        self.names.append(name)

    def remove_service(self, zc, type_, name):
        pass


def discover(uuid):
    zc = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    try:
        listener = Listener()
        ServiceBrowser(zc, TYPE, listener)
        deadline = time.time() + 15
        while time.time() < deadline:
            for name in list(listener.names):
                if not name.startswith("steward."):
                    continue
                info = zc.get_service_info(TYPE, name, timeout=2000)
                if info is None:
                    continue
                txt = {k.decode(): (v or b"").decode() for k, v in info.properties.items()}
                if txt.get("uuid") == uuid:
                    addrs = info.parsed_addresses(IPVersion.V4Only)
                    return (addrs[0] if addrs else "127.0.0.1"), info.port, txt
            time.sleep(0.2)
        fail("steward %s not found by mDNS" % uuid)
    finally:
        zc.close()


def pin(host, port, fingerprint):
    pem = ssl.get_server_certificate((host, port))
    der = ssl.PEM_cert_to_DER_cert(pem)
    got = hashlib.sha256(der).hexdigest()
    if got != fingerprint:
        fail("certificate sha256 %s does not match TXT %s" % (got, fingerprint))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=pem)
    ctx.check_hostname = True
    return ctx


class Session:
    """Routes replies to their requests by requestID; the steward's own
    requests (they have a path) wait in a queue."""

    def __init__(self, ws):
        self.ws = ws
        self.waiting = {}
        self.requests = asyncio.Queue()
        self.task = asyncio.ensure_future(self.read())

    async def read(self):
        async for frame in self.ws:
            msg = json.loads(frame)
            if "path" in msg:
                await self.requests.put(msg)
            elif msg.get("requestID") in self.waiting:
                self.waiting.pop(msg["requestID"]).set_result(msg)

    async def call(self, msg):
        fut = asyncio.get_running_loop().create_future()
        self.waiting[msg["requestID"]] = fut
        await self.ws.send(json.dumps(msg))
        return await asyncio.wait_for(fut, 10)

    async def request(self, timeout=15):
        return await asyncio.wait_for(self.requests.get(), timeout)


async def call(ws, msg):
    await ws.send(json.dumps(msg))
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


def ok(reply, *path):
    v = reply
    for k in path:
        v = (v or {}).get(k)
    if not isinstance(v, dict) or v.get("status") != "success":
        fail("not a success: %s" % json.dumps(reply))
    return v


async def flow(host, port, ctx):
    uri = "wss://%s:%d/native" % (host, port)
    uuid = "5a1d9a53-7e0c-4a8b-9a57-python000001"
    async with websockets.connect(uri, ssl=ctx) as ws:
        r = await call(ws, {"path": "/api/v1/pair", "requestID": "1", "uuid": uuid})
        passcode = ok(r, "result").get("passCode")
        if not passcode:
            fail("no passCode: %s" % r)
        say("PAIRED")
    async with websockets.connect(uri, ssl=ctx) as ws:
        r = await call(ws, {"path": "/api/v1/hello", "requestID": "2", "uuid": uuid, "passcode": "wrong"})
        if not (r.get("error") or {}).get("permanent"):
            fail("a wrong passcode was accepted: %s" % r)
    async with websockets.connect(uri, ssl=ctx) as ws:
        ok(await call(ws, {"path": "/api/v1/hello", "requestID": "2", "uuid": uuid, "passcode": passcode}), "result")
        say("HELLO")
        s = Session(ws)
        call_ = s.call
        proto = "/device/sensor/python/noise"
        r = await call_({"path": "/api/v1/prototype", "requestID": "3", "things": {proto: {
            "observe": ["motion"], "perform": ["speak"],
            "properties": {"name": True, "status": ["quiet", "noisy"], "noise": "decibels"},
            "validate": {"observe": True, "perform": True}}}})
        ok(r, "things", proto)
        r = await call_({"path": "/api/v1/register", "requestID": "4", "things": {"py-udn-1": {
            "prototype": proto, "name": "python noise", "status": "quiet",
            "device": {"name": "Py", "maker": "Python", "unit": {"serial": "1", "udn": "py-udn-1"}},
            "updated": int(time.time() * 1000), "info": {"noise": 20}}}})
        thing_id = ok(r, "things", "py-udn-1").get("thingID")
        r = await call_({"path": "/api/v1/update", "requestID": "5", "things": {thing_id: {
            "status": "noisy", "updated": int(time.time() * 1000), "info": {"noise": 42}}}})
        ok(r, "things", thing_id)
        # The steward asks to observe the declared event: answer with a
        # detailed result, then report an occurrence.
        req = await s.request()
        if req.get("path") != "/api/v1/observe":
            fail("expected an observe request: %s" % req)
        event_id, entry = next(iter(req["events"].items()))
        if entry.get("thing") != thing_id or entry.get("observe") != "motion":
            fail("observe entry: %s" % entry)
        await ws.send(json.dumps({"requestID": req["requestID"], "events": {event_id: {"status": "success"}}}))
        r = await call_({"path": "/api/v1/report", "requestID": "6", "events": {event_id: {"reason": "observe"}}})
        ok(r, "events", event_id)
        say("REGISTERED", thing_id)
        req = await s.request()
        if req.get("path") != "/api/v1/perform":
            fail("expected a perform request: %s" % req)
        task_id, entry = next(iter(req["tasks"].items()))
        if entry.get("thing") != thing_id or entry.get("perform") != "speak":
            fail("perform entry: %s" % entry)
        await ws.send(json.dumps({"requestID": req["requestID"], "tasks": {task_id: {"status": "success"}}}))
        say("PERFORMED", entry.get("parameter"))
        await asyncio.sleep(0.2)


def main():
    if len(sys.argv) != 2:
        fail("usage: native_client.py STEWARD_UUID")
    host, port, txt = discover(sys.argv[1])
    say("FOUND", host, port, txt.get("name", ""))
    ctx = pin(host, port, txt.get("sha256", ""))
    say("PINNED")
    asyncio.run(flow(host, port, ctx))
    say("DONE")


if __name__ == "__main__":
    main()
