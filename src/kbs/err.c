/* SPDX-License-Identifier: Apache-2.0 */
#include "kbs-internal.h"

#include <string.h>

const char *kbs_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case KBS_E_BADREQ: return "malformed request";
	case KBS_E_VERSION: return "unsupported protocol version";
	case KBS_E_TEE: return "TEE type not supported or not trusted";
	case KBS_E_NOSESSION: return "no session (missing, unknown, expired or evicted cookie)";
	case KBS_E_NONCE_EXPIRED: return "challenge nonce expired";
	case KBS_E_NONCE_USED: return "challenge nonce already used (replay)";
	case KBS_E_NONCE_MISMATCH: return "nonce does not match this session's challenge";
	case KBS_E_BINDING: return "REPORTDATA does not bind the runtime-data (nonce and tee-pubkey)";
	case KBS_E_EVIDENCE: return "attestation evidence failed verification";
	case KBS_E_NOT_ATTESTED: return "session has not attested";
	case KBS_E_ATTEST_EXPIRED: return "session attestation expired";
	case KBS_E_NO_POLICY: return "resource has no release policy (default deny)";
	case KBS_E_POLICY_DENY: return "release policy refused the evidence";
	case KBS_E_NO_RESOURCE: return "unknown resource";
	case KBS_E_BADNAME: return "invalid resource name (want repo/type/tag)";
	case KBS_E_TOOBIG: return "request or value too large";
	case KBS_E_MASTER_KEY: return "master key file invalid or does not open this store";
	case KBS_E_CORRUPT: return "sealed value failed authentication (tampered or moved)";
	case KBS_E_STORE: return "store failure";
	case KBS_E_SCHEMA: return "store schema unknown to this build";
	case KBS_E_JWE: return "JWE malformed or does not decrypt";
	case KBS_E_JWK: return "JWK malformed or unsupported (want EC P-256, ECDH-ES[+A256KW])";
	case KBS_E_METHOD: return "method not allowed";
	case KBS_E_NOTFOUND: return "no such endpoint";
	case KBS_E_PROTOCOL: return "broker reply broke the protocol";
	case KBS_E_HTTP: return "HTTP transport failure";
	case KBS_E_POLICY: return "policy document invalid";
	case KBS_E_REFUSED: return "the broker refused the request (its rule is logged above)";
	}
	return cc_strerror(err);
}

/* Machine-readable rule names used in problem documents and the audit log. */
const char *kbs_rule_name(int err)
{
	switch (err) {
	case 0: return "ok";
	case KBS_E_BADREQ: return "malformed-request";
	case KBS_E_VERSION: return "unsupported-version";
	case KBS_E_TEE: return "tee-not-trusted";
	case KBS_E_NOSESSION: return "no-session";
	case KBS_E_NONCE_EXPIRED: return "nonce-expired";
	case KBS_E_NONCE_USED: return "nonce-replayed";
	case KBS_E_NONCE_MISMATCH: return "nonce-mismatch";
	case KBS_E_BINDING: return "report-data-mismatch";
	case KBS_E_EVIDENCE: return "evidence-invalid";
	case KBS_E_NOT_ATTESTED: return "not-attested";
	case KBS_E_ATTEST_EXPIRED: return "attestation-expired";
	case KBS_E_NO_POLICY: return "no-policy";
	case KBS_E_POLICY_DENY: return "policy-denied";
	case KBS_E_NO_RESOURCE: return "unknown-resource";
	case KBS_E_BADNAME: return "invalid-resource-name";
	case KBS_E_TOOBIG: return "body-too-large";
	case KBS_E_JWK: return "invalid-tee-pubkey";
	case KBS_E_METHOD: return "method-not-allowed";
	case KBS_E_NOTFOUND: return "not-found";
	case KBS_E_POLICY: return "policy-invalid";
	}
	return "internal-error";
}
