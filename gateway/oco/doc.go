// Package oco makes the gateway a managed agent of an OCO server (Open
// Computer Orchestration): it says hello every interval, pins the server's
// keys on first use, reports its own inventory when asked and runs the
// deploy jobs it is given.
//
// # Generations
//
// Two generations of the agent protocol exist, both JSON-RPC 2.0 over HTTP
// POST to the server's api-agent.php with the header content-type:
// application/json, exactly (a charset is refused):
//
//	legacy (servers up to v1.0.1)      current (servers from v1.1.7)
//	oco.agent_hello                    oco.agent.hello
//	oco.agent_update                   oco.agent.update
//	oco.update_deploy_status           oco.agent.update_job_state
//	GET ?id=&hostname=&agent-key=      oco.agent.download (signed JSON)
//	params: hostname, agent-key, data  params: hostname, uid, timestamp, data
//	server-key repeated in replies     x-oco-agent-signature: hex(HMAC-SHA256(key, body))
//	                                   x-oco-server-signature: hex(HMAC-SHA256(server key, body))
//	                                   result.timestamp increasing
//
// [Auto] sends the current hello and falls back to the legacy one when the
// server answers as a legacy server does ("Unknown method", or v1.0.1's
// "400 Parameter Mismatch": it knows the current name but wants the
// plaintext key); the generation found is kept in the store. A legacy
// server that stops knowing the legacy names (an upgrade) moves the agent
// to the current generation; nothing moves it back.
//
// The signature header goes out in lower case (the server looks it up in a
// case-sensitive PHP array). Agent timestamps are Unix seconds with four
// decimals, strictly increasing (persisted). The agent_version sent is
// [WireAgentVersion]: current servers use signatures only from version
// 1.1.7 on.
//
// # Keys (trust on first use)
//
// The first hello is signed with (legacy: carries) the registration key
// from the configuration. The server answers it with the host's agent key
// and server key, once: both are stored durably before anything else. A
// stored key is never replaced; an answer offering another one, failing
// the signature or the repeated key, or whose timestamp does not increase,
// is discarded and logged as a security event. Keys never appear in logs,
// errors or the admin API ([Secret]).
//
// # Errors
//
// Servers answer errors with a status and a bare message: 400/401 with a
// text/html body (current), a reason phrase and an empty body (v1.0.1), or
// 200 with a JSON error (v0.13). [ServerError] keeps the status and the
// message and matches [ErrUnknownMethod], [ErrUnauthorized],
// [ErrNotFound], [ErrRejected] or [ErrServerFailure].
//
// # Jobs
//
// Jobs run in the server's order. A job's progress is persisted before and
// after each step (started, downloading, unpacked, executing, final). A
// procedure runs at most once: a job whose final state is recorded is only
// reported again, and a job whose procedure was running when the gateway
// stopped is reported as failed (state -1, return code -9999). Packages
// are unpacked through an os.Root (no entry leaves the job's directory,
// links must stay inside it, sizes and counts are bounded). Procedures run
// under /bin/sh in the job's directory with a timeout, their output kept
// within a bound, as an unprivileged account when the gateway is root.
package oco
