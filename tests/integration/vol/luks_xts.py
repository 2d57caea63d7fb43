# SPDX-License-Identifier: Apache-2.0
"""Independent LUKS2 data-segment decryption/encryption for interop tests.

Uses only the stock tools' view of the volume (`cryptsetup luksDump` and
`--dump-volume-key`) and python3-cryptography's AES-XTS, so it shares no code
with the vol library.  IV of each sector = iv_tweak + byte offset / 512,
little-endian 64-bit (dm-crypt plain64).
"""
import re
import subprocess
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def luks_dump(img):
    out = subprocess.run(["cryptsetup", "luksDump", img], check=True,
                         capture_output=True, text=True).stdout
    off = int(re.search(r"offset:\s+(\d+) \[bytes\]", out).group(1))
    sector = int(re.search(r"sector:\s+(\d+) \[bytes\]", out).group(1))
    cipher = re.search(r"cipher:\s+(\S+)", out).group(1)
    return off, sector, cipher, out


def volume_key(img, keyfile):
    out = subprocess.run(["cryptsetup", "luksDump", "--dump-volume-key", "--batch-mode",
                          "--key-file", keyfile, img], check=True,
                         capture_output=True, text=True).stdout
    m = re.search(r"MK dump:\s*((?:[0-9a-f]{2} ?\s*)+)", out)
    if not m:
        raise SystemExit("no volume key in luksDump output")
    return bytes.fromhex("".join(m.group(1).split()))


def xts(key, data, start, sector, encrypt, iv_tweak=0):
    out = bytearray()
    for i in range(0, len(data), sector):
        iv = (iv_tweak + (start + i) // 512).to_bytes(16, "little")
        c = Cipher(algorithms.AES(key), modes.XTS(iv))
        op = c.encryptor() if encrypt else c.decryptor()
        out += op.update(data[i:i + sector]) + op.finalize()
    return bytes(out)


def main_args(argv):
    # decrypt IMG KEYFILE OUT  |  vkey IMG KEYFILE OUT
    cmd, img, keyfile, out = argv[0:4]
    key = volume_key(img, keyfile)
    if cmd == "vkey":
        with open(out, "wb") as f:
            f.write(key)
        return
    off, sector, cipher, _ = luks_dump(img)
    assert cipher == "aes-xts-plain64", cipher
    with open(img, "rb") as f, open(out, "wb") as o:
        f.seek(off)
        pos = 0
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            chunk = chunk[:len(chunk) - len(chunk) % sector]
            o.write(xts(key, chunk, pos, sector, False))
            pos += len(chunk)


if __name__ == "__main__":
    main_args(sys.argv[1:])
