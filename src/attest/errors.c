/* SPDX-License-Identifier: Apache-2.0 */
#include "internal.h"

const char *attest_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case ATTEST_E_QUOTE_TRUNCATED: return "quote truncated: a field runs past the end of the data";
	case ATTEST_E_QUOTE_TOOBIG: return "quote too large";
	case ATTEST_E_QUOTE_VERSION: return "unsupported quote version (expected 4 or 5)";
	case ATTEST_E_TEE_TYPE: return "quote is not a TDX quote (TEE type is not 0x81)";
	case ATTEST_E_KEY_TYPE: return "unsupported attestation key type (expected ECDSA-P256)";
	case ATTEST_E_BODY_TYPE: return "unsupported quote body type or body size";
	case ATTEST_E_QUOTE_LENGTH: return "inconsistent length fields in the quote";
	case ATTEST_E_CERT_DATA_TYPE: return "unsupported certification data type (expected 6 with a type 5 PCK chain)";
	case ATTEST_E_BAD_PEM: return "malformed certificate or CRL (PEM/DER)";
	case ATTEST_E_BAD_JSON: return "malformed JSON";
	case ATTEST_E_COLLATERAL_MISSING: return "collateral incomplete: a required item is missing";
	case ATTEST_E_COLLATERAL_FORMAT: return "collateral has an invalid field";
	case ATTEST_E_UNTRUSTED_ROOT: return "certificate chain does not lead to the trusted root CA";
	case ATTEST_E_CHAIN: return "certificate chain invalid (signature or structure)";
	case ATTEST_E_CERT_EXPIRED: return "a certificate is not valid at the verification time";
	case ATTEST_E_CERT_REVOKED: return "a certificate has been revoked";
	case ATTEST_E_CRL_INVALID: return "CRL not issued or signed by the expected CA";
	case ATTEST_E_CRL_EXPIRED: return "CRL is not valid at the verification time";
	case ATTEST_E_PCK_EXTENSIONS: return "PCK certificate SGX extensions missing or malformed";
	case ATTEST_E_TCB_INFO_SIGNATURE: return "TCB Info signature invalid";
	case ATTEST_E_QE_IDENTITY_SIGNATURE: return "QE Identity signature invalid";
	case ATTEST_E_COLLATERAL_EXPIRED: return "collateral expired: TCB Info or QE Identity outside its validity window";
	case ATTEST_E_FMSPC_MISMATCH: return "TCB Info is for another FMSPC than the PCK certificate";
	case ATTEST_E_PCEID_MISMATCH: return "TCB Info is for another PCE-ID than the PCK certificate";
	case ATTEST_E_QE_REPORT_SIGNATURE: return "QE report signature invalid (not signed by the PCK key)";
	case ATTEST_E_QE_REPORT_DATA: return "QE report data does not bind the attestation key and QE auth data";
	case ATTEST_E_QUOTE_SIGNATURE: return "quote signature invalid";
	case ATTEST_E_QE_IDENTITY_MISMATCH: return "quoting enclave does not match the QE Identity";
	case ATTEST_E_TDX_MODULE_MISMATCH: return "TDX module identity does not match the TCB Info";
	case ATTEST_E_TCB_NOT_SUPPORTED: return "TCB level not supported: no TCB level matches the platform";
	case ATTEST_E_TCB_REVOKED: return "TCB revoked";
	case ATTEST_E_POLICY: return "policy invalid";
	case ATTEST_E_POLICY_REJECTED: return "rejected by policy";
	case ATTEST_E_PROVIDER: return "evidence provider failed";
	case ATTEST_E_PROVIDER_RACE: return "configfs-tsm report changed concurrently (generation mismatch)";
	case ATTEST_E_UNSUPPORTED: return "unsupported provider or option";
	case ATTEST_E_FETCH: return "collateral fetch failed";
	default: return cc_strerror(err);
	}
}
