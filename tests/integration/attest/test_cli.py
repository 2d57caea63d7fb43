#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""ccattest end to end: --help of every command, dump (binary/hex/base64,
--json), verify of the real vectors with exit codes, the sim TD (init,
quotes with each flaw, verification only with the sim root pinned), policy
check and the reasons printed for every failed rule."""
import base64
import json
import os
import subprocess
import sys
import tempfile

CCATTEST = sys.argv[1]
TD = os.path.join(os.environ.get("CCSERVE_SHARED_TESTDATA", "../shared/testdata"), "tdx")
Q = lambda n: os.path.join(TD, "quotes", n)
C = lambda n: os.path.join(TD, "collateral", n)


def run(*args, rc=0, stdin=None):
    p = subprocess.run([CCATTEST, *args], capture_output=True, input=stdin)
    if p.returncode != rc:
        print("command:", args, "rc", p.returncode, "want", rc)
        print(p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))
        sys.exit(1)
    return p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def main():
    run("--help")
    for cmd in (["dump"], ["verify"], ["quote"], ["sim"], ["collateral"], ["policy"]):
        out, _ = run(*cmd, "--help")
        assert "usage:" in out, cmd
    run("nonsense", rc=2)
    run("verify", Q("v4-uptodate.dat"), rc=2)  # no --collateral

    # dump: binary, hex, base64, stdin, JSON
    raw = open(Q("v5-uptodate.dat"), "rb").read()
    out, _ = run("dump", Q("v5-uptodate.dat"))
    assert "MRSERVICETD" in out and "90c06f000000" in out.lower()
    j = json.loads(run("dump", "--json", "-", stdin=raw.hex().encode())[0])
    assert j["body_type"] == 3 and j["fmspc"] == "90c06f000000" and len(j["td_report"]["mrtd"]) == 96
    j2 = json.loads(run("dump", "--json", "-", stdin=base64.b64encode(raw))[0])
    assert j2 == j
    _, err = run("dump", "-", rc=3, stdin=raw[:300])
    assert "truncated" in err, err

    # verify the vectors
    out, _ = run("verify", Q("v4-uptodate.dat"), "--collateral", C("dqvl-2025-06/collateral.json"),
                 "--at", "2025-07-01T00:00:00Z")
    assert "ACCEPTED" in out and "UpToDate" in out
    out, _ = run("verify", Q("v4-uptodate.dat"), "--collateral", C("dqvl-2025-06/collateral.json"), rc=1)
    assert "collateral expired" in out, out
    out, _ = run("verify", Q("v5-tcb-not-supported.dat"), "--collateral", C("dqvl-2026-02/collateral.json"),
                 "--at", "2026-03-01T00:00:00Z", rc=1)
    assert "TCB level not supported" in out, out
    out, _ = run("verify", Q("v4-debug-td.dat"), "--collateral", C("gtg-2023"), "--at", "2023-07-01T01:00:00Z",
                 "--json", rc=1)
    j = json.loads(out)
    assert j["verified"] and not j["accepted"] and j["failed_rules"][0]["rule"] == "debug"
    run("verify", Q("v4-uptodate.dat"), "--collateral", C("dqvl-2025-06/collateral.json"), "--at", "yesterday", rc=2)

    with tempfile.TemporaryDirectory() as tmp:
        sim = os.path.join(tmp, "sim")
        run("sim", "init", sim)
        _, err = run("sim", "init", sim, rc=3)
        assert "already" in err
        assert os.stat(os.path.join(sim, "attestation.key")).st_mode & 0o777 == 0o600
        rd = "ab" * 64
        qf = os.path.join(tmp, "q.dat")
        run("quote", "--provider", "sim", "--sim-dir", sim, "--report-data", rd, "--out", qf)
        coll, root = os.path.join(sim, "collateral"), os.path.join(sim, "root_ca.pem")
        out, _ = run("verify", qf, "--collateral", coll, "--root", root, "--report-data", rd)
        assert "ACCEPTED" in out
        out, _ = run("verify", qf, "--collateral", coll, "--report-data", rd, rc=1)
        assert "trusted root" in out
        out, _ = run("verify", qf, "--collateral", coll, "--root", root, "--report-data", "cd" * 64, rc=1)
        assert "[report_data]" in out
        out, _ = run("verify", qf, "--collateral", os.path.join(sim, "collateral-expired"), "--root", root, rc=1)
        assert "collateral expired" in out
        # hex output through the environment variable
        env_out = subprocess.run([CCATTEST, "quote", "--provider", "sim", "--report-data", rd, "--hex"],
                                 capture_output=True, env=dict(os.environ, CCATTEST_SIM_DIR=sim))
        assert env_out.returncode == 0 and len(env_out.stdout.strip()) > 1000
        expect = {
            "debug-td": "[debug]",
            "other-mrtd": "[mrtd]",
            "revoked-pck": "revoked",
            "wrong-qe": "QE Identity",
            "out-of-date-tcb": "[tcb_status]",
            "bad-signature": "quote signature invalid",
        }
        mrtd = json.load(open(os.path.join(sim, "sim.json")))["mrtd"]
        pol = os.path.join(tmp, "policy.json")
        with open(pol, "w") as f:
            json.dump({"mrtd": [mrtd], "rtmr3": json.load(open(os.path.join(sim, "sim.json")))["rtmr3"]}, f)
        run("policy", "check", pol)
        for flaw, want in expect.items():
            fq = os.path.join(tmp, flaw + ".dat")
            run("quote", "--provider", "sim", "--sim-dir", sim, "--report-data", rd, "--flaw", flaw, "--out", fq)
            out, _ = run("verify", fq, "--collateral", coll, "--root", root, "--policy", pol, rc=1)
            assert want in out, (flaw, out)
        out, _ = run("verify", os.path.join(tmp, "out-of-date-tcb.dat"), "--collateral", coll, "--root", root, rc=1)
        assert "[advisories] advisory INTEL-SA-00837" in out, out
        # configured measurements reach the quote and the policy
        mq = os.path.join(tmp, "measured.dat")
        run("quote", "--provider", "sim", "--sim-dir", sim, "--report-data", rd, "--mrtd", "ab" * 48,
            "--rtmr", "2:" + "cd" * 48, "--out", mq)
        with open(pol, "w") as f:
            json.dump({"mrtd": ["ab" * 48], "rtmr2": "cd" * 48,
                       "rtmr3": json.load(open(os.path.join(sim, "sim.json")))["rtmr3"]}, f)
        run("verify", mq, "--collateral", coll, "--root", root, "--policy", pol)
        run("quote", "--provider", "sim", "--sim-dir", sim, "--report-data", rd, "--rtmr", "4:" + "cd" * 48, rc=2)
        run("quote", "--provider", "sim", "--sim-dir", sim, "--report-data", rd, "--flaw", "nope", rc=2)
        run("quote", "--provider", "sim", "--sim-dir", sim, "--report-data", "00", rc=2)
        run("quote", "--provider", "tsm", "--tsm-root", os.path.join(tmp, "no-configfs"), "--report-data", rd, rc=3)
        with open(pol, "w") as f:
            f.write('{"mrtd": ["00"], "typo": 1}')
        _, err = run("policy", "check", pol, rc=1)
        assert "policy" in err
    print("ok")


main()
