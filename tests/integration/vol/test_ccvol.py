# SPDX-License-Identifier: Apache-2.0
"""ccvol end to end: interoperability with stock cryptsetup and e2fsprogs,
every bad-input case with its exit code, the terminal passphrase prompt, and
keyslot commands.  Usage: test_ccvol.py /path/to/ccvol
"""
import hashlib
import os
import pty
import select
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import luks_xts  # noqa: E402

CCVOL = None
FAST = ["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"]


def run(*args, input=None, check=None, **kw):
    p = subprocess.run(list(args), input=input, capture_output=True, **kw)
    if check is not None and p.returncode != check:
        raise AssertionError(f"{args} exited {p.returncode}, wanted {check}\n"
                             f"stdout: {p.stdout[-2000:]!r}\nstderr: {p.stderr[-2000:]!r}")
    return p


def tree_digest(root, with_meta=True, ns=True):
    """{relative path: description} for files, dirs and symlinks."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not (dirpath == root and d == "lost+found")]
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                desc = ("link", os.readlink(full))
            elif stat.S_ISDIR(st.st_mode):
                desc = ("dir",)
                if os.path.islink(full):
                    continue
            else:
                with open(full, "rb") as f:
                    desc = ("file", hashlib.sha256(f.read()).hexdigest())
            if with_meta and not stat.S_ISLNK(st.st_mode):
                mt = st.st_mtime_ns if ns else st.st_mtime_ns // 10**9
                desc += (stat.S_IMODE(st.st_mode), mt if not stat.S_ISDIR(st.st_mode) else 0)
            out[rel] = desc
    return out


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ccvol-it-")
        self.src = os.path.join(self.tmp, "src")
        os.makedirs(os.path.join(self.src, "model", "1", "variables"))
        with open(os.path.join(self.src, "model", "1", "saved_model.pb"), "wb") as f:
            f.write(os.urandom(300000))
        with open(os.path.join(self.src, "model", "1", "variables", "variables.data-00000-of-00001"), "wb") as f:
            f.write(os.urandom(2 * 1024 * 1024 + 17))
        with open(os.path.join(self.src, "server.key"), "wb") as f:
            f.write(b"-----BEGIN PRIVATE KEY-----\nnot a real key\n")
        os.chmod(os.path.join(self.src, "server.key"), 0o600)
        with open(os.path.join(self.src, "empty"), "wb"):
            pass
        os.symlink("1", os.path.join(self.src, "model", "latest"))
        os.utime(os.path.join(self.src, "model", "1", "saved_model.pb"), ns=(1600000000_000000000, 1700000000_123456789))
        self.key = os.path.join(self.tmp, "key")
        with open(self.key, "wb") as f:
            f.write(os.urandom(32).hex().encode())  # no newline: same bytes for cryptsetup

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def p(self, *names):
        return os.path.join(self.tmp, *names)

    def create(self, src=None, out=None, extra=()):
        out = out or self.p("vol.img")
        run(CCVOL, "create", "--from", src or self.src, "--out", out, "--key-file", self.key,
            *FAST, *extra, check=0)
        return out


class Interop(Base):
    def test_ccvol_volume_opens_with_stock_tools(self):
        img = self.create(extra=["--label", "models"])
        dump = run("cryptsetup", "luksDump", img, check=0).stdout.decode()
        self.assertIn("Version:       \t2", dump)
        self.assertIn("cipher: aes-xts-plain64", dump)
        self.assertIn("sector: 4096 [bytes]", dump)
        self.assertIn("Key:        512 bits", dump)
        self.assertIn("models", dump)
        run("cryptsetup", "open", "--test-passphrase", "--key-file", self.key, img, check=0)
        bad = self.p("bad")
        with open(bad, "wb") as f:
            f.write(b"wrong")
        self.assertNotEqual(run("cryptsetup", "open", "--test-passphrase", "--key-file", bad, img).returncode, 0)
        plain = self.p("plain.ext4")
        luks_xts.main_args(["decrypt", img, self.key, plain])
        run("e2fsck", "-fn", plain, check=0)
        out = self.p("rdump")
        os.mkdir(out)
        run("debugfs", "-R", f"rdump / {out}", plain, check=0)
        self.assertEqual(tree_digest(self.src, False), tree_digest(out, False))
        # ccvol's own round trip keeps modes and nanosecond mtimes too.
        ex = self.p("extracted")
        run(CCVOL, "extract", "--key-file", self.key, img, ex, check=0)
        self.assertEqual(tree_digest(self.src), tree_digest(ex))
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(ex, "server.key")).st_mode), 0o600)

    def test_ccvol_reads_stock_volume_512(self):
        # mke2fs -d, then cryptsetup's in-place encryption (512-byte sectors).
        img = self.p("stock.img")
        with open(img, "wb") as f:
            f.truncate(64 << 20)
        run("mke2fs", "-q", "-F", "-t", "ext4", "-d", self.src, img, "32M", check=0)
        run("cryptsetup", "reencrypt", "--encrypt", "--type", "luks2", "--reduce-device-size", "32M",
            "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--batch-mode",
            "--key-file", self.key, img, check=0)
        out = self.p("x")
        run(CCVOL, "extract", "--key-file", self.key, img, out, check=0)
        # mke2fs -d keeps whole seconds only.
        self.assertEqual(tree_digest(self.src, ns=False), tree_digest(out, ns=False))
        r = run(CCVOL, "check", "--key-file", self.key, img, check=0)
        self.assertIn(b"clean", r.stdout)
        # The raw volume key, as the key broker releases it.
        vk = self.p("vk")
        luks_xts.main_args(["vkey", img, self.key, vk])
        r = run(CCVOL, "cat", "--volume-key-file", vk, img, "/model/1/saved_model.pb", check=0)
        with open(os.path.join(self.src, "model", "1", "saved_model.pb"), "rb") as f:
            self.assertEqual(r.stdout, f.read())

    def test_ccvol_reads_stock_volume_4k(self):
        # luksFormat with 4 KiB sectors; the ext4 image encrypted into the
        # data segment by an independent AES-XTS implementation.
        img = self.p("fmt.img")
        plain = self.p("plain.ext4")
        with open(plain, "wb") as f:
            f.truncate(24 << 20)
        run("mke2fs", "-q", "-F", "-t", "ext4", "-d", self.src, plain, check=0)
        with open(img, "wb") as f:
            f.truncate((16 << 20) + (24 << 20))
        run("cryptsetup", "luksFormat", "--type", "luks2", "--sector-size", "4096", "--batch-mode",
            "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--key-file", self.key, img, check=0)
        off, sector, _, _ = luks_xts.luks_dump(img)
        self.assertEqual(sector, 4096)
        key = luks_xts.volume_key(img, self.key)
        with open(plain, "rb") as f:
            data = f.read()
        with open(img, "r+b") as f:
            f.seek(off)
            f.write(luks_xts.xts(key, data, 0, sector, True))
        out = self.p("x")
        run(CCVOL, "extract", "--key-file", self.key, img, out, check=0)
        self.assertEqual(tree_digest(self.src, ns=False), tree_digest(out, ns=False))

    def test_default_argon2id(self):
        # The one test with the default (slow) KDF.
        img = self.p("argon.img")
        pf = self.p("pass")
        with open(pf, "w") as f:
            f.write("a passphrase\n")
        run(CCVOL, "create", "--from", self.src, "--out", img, "--passphrase-file", pf, check=0)
        dump = run("cryptsetup", "luksDump", img, check=0).stdout.decode()
        self.assertIn("PBKDF:      argon2id", dump)
        r = run(CCVOL, "ls", "--passphrase-file", pf, img, "/model", check=0)
        self.assertEqual(r.stdout.decode().split(), ["1", "latest"])


class BadInput(Base):
    def expect(self, args, code, words):
        r = run(CCVOL, *args)
        self.assertEqual(r.returncode, code, f"{args}: stderr {r.stderr!r}")
        for w in words:
            self.assertIn(w, r.stderr.decode())
        return r

    def test_wrong_key(self):
        img = self.create()
        bad = self.p("bad")
        with open(bad, "wb") as f:
            f.write(b"nope")
        self.expect(["ls", "--key-file", bad, img], 3, ["wrong passphrase"])

    def test_not_luks(self):
        junk = self.p("junk.img")
        with open(junk, "wb") as f:
            f.write(os.urandom(1 << 20))
        self.expect(["ls", "--key-file", self.key, junk], 4, ["not a LUKS"])
        self.expect(["dump", junk], 4, ["not a LUKS"])

    def test_truncated(self):
        img = self.create()
        for size in (20000, 16 << 20, (16 << 20) + 8192):
            t = self.p("t.img")
            shutil.copy(img, t)
            os.truncate(t, size)
            self.expect(["ls", "--key-file", self.key, t], 5, ["truncated"])

    def test_header_copies(self):
        img = self.create()
        with open(img, "r+b") as f:
            f.seek(4096 + 64)
            f.write(b"\x5a" * 512)
        # Primary damaged: falls back to the secondary, like cryptsetup.
        run(CCVOL, "ls", "--key-file", self.key, img, check=0)
        with open(img, "r+b") as f:
            for off in (4096 + 64, 16384 + 4096 + 64):
                f.seek(off)
                f.write(b"\x5a" * 512)
        self.expect(["ls", "--key-file", self.key, img], 6, ["both copies damaged"])

    def test_unsupported_cipher(self):
        img = self.p("cbc.img")
        with open(img, "wb") as f:
            f.truncate(20 << 20)
        run("cryptsetup", "luksFormat", "--type", "luks2", "--cipher", "aes-cbc-essiv:sha256",
            "--key-size", "256", "--batch-mode", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000",
            "--key-file", self.key, img, check=0)
        self.expect(["ls", "--key-file", self.key, img], 7, ["unsupported encryption"])

    def test_ext4_corrupt(self):
        img = self.create()
        with open(img, "r+b") as f:
            f.seek((16 << 20) + 4096)  # group descriptors
            f.write(os.urandom(4096))
        self.expect(["ls", "--key-file", self.key, img], 8, ["corrupted"])
        self.expect(["check", "--key-file", self.key, img], 8, ["corrupted"])

    def test_extract_unsafe_symlink(self):
        for target in ("../../etc/passwd", "/etc/passwd", "a/../../../x", "../.."):
            src = self.p("evil")
            shutil.rmtree(src, ignore_errors=True)
            os.makedirs(os.path.join(src, "d"))
            os.symlink(target, os.path.join(src, "d", "l"))
            img = self.p("evil.img")
            if os.path.exists(img):
                os.unlink(img)
            self.create(src=src, out=img)
            out = self.p("out")
            self.expect(["extract", "--key-file", self.key, img, out], 9, ["outside the target"])
            self.assertFalse(os.path.exists(out))
            self.assertEqual([n for n in os.listdir(self.tmp) if n.startswith("out")], [])

    def test_unsafe_name(self):
        # A directory entry whose name contains '/': patched into a plain
        # ext4 image (no metadata checksums), then wrapped with stock tools.
        src = self.p("n")
        os.makedirs(src)
        with open(os.path.join(src, "aXXXXXXXXb"), "w") as f:
            f.write("x")
        plain = self.p("n.ext4")
        with open(plain, "wb") as f:
            f.truncate(8 << 20)
        run("mke2fs", "-q", "-F", "-t", "ext4", "-O", "^metadata_csum", "-d", src, plain, check=0)
        with open(plain, "rb") as f:
            data = bytearray(f.read())
        i = data.find(b"aXXXXXXXXb")
        self.assertGreater(i, 0)
        data[i:i + 10] = b"a/../../xb"
        img = self.p("n.img")
        with open(img, "wb") as f:
            f.truncate((16 << 20) + len(data))
        run("cryptsetup", "luksFormat", "--type", "luks2", "--sector-size", "4096", "--batch-mode",
            "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--key-file", self.key, img, check=0)
        off, sector, _, _ = luks_xts.luks_dump(img)
        key = luks_xts.volume_key(img, self.key)
        with open(img, "r+b") as f:
            f.seek(off)
            f.write(luks_xts.xts(key, bytes(data), 0, sector, True))
        out = self.p("out")
        self.expect(["extract", "--key-file", self.key, img, out], 9, ["unsafe name"])
        self.assertFalse(os.path.exists(out))
        self.expect(["ls", "--key-file", self.key, img], 9, ["unsafe name"])

    def wrap_plain(self, plain, img):
        """LUKS2-wrap a plaintext ext4 image with stock luksFormat and an
        independent AES-XTS encryption of the data segment."""
        with open(plain, "rb") as f:
            data = f.read()
        with open(img, "wb") as f:
            f.truncate((16 << 20) + len(data))
        run("cryptsetup", "luksFormat", "--type", "luks2", "--sector-size", "4096", "--batch-mode",
            "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--key-file", self.key, img, check=0)
        off, sector, _, _ = luks_xts.luks_dump(img)
        key = luks_xts.volume_key(img, self.key)
        with open(img, "r+b") as f:
            f.seek(off)
            f.write(luks_xts.xts(key, data, 0, sector, True))

    def test_directory_loop(self):
        # A directory hard-linked into its own subtree must not make the
        # recursive commands loop or explode.
        src = self.p("lp")
        os.makedirs(os.path.join(src, "a", "b"))
        with open(os.path.join(src, "a", "f"), "w") as f:
            f.write("x")
        plain = self.p("lp.ext4")
        with open(plain, "wb") as f:
            f.truncate(8 << 20)
        run("mke2fs", "-q", "-F", "-t", "ext4", "-d", src, plain, check=0)
        run("debugfs", "-w", "-R", "ln /a /a/b/loop", plain, check=0)
        img = self.p("lp.img")
        self.wrap_plain(plain, img)
        self.expect(["ls", "-R", "--key-file", self.key, img], 8, ["directory loop"])
        out = self.p("out")
        self.expect(["extract", "--key-file", self.key, img, out], 8, ["directory loop"])
        self.assertFalse(os.path.exists(out))
        self.expect(["check", "--key-file", self.key, img], 8, ["problems"])

    def test_output_exists(self):
        img = self.create()
        self.expect(["create", "--from", self.src, "--out", img, "--key-file", self.key, *FAST], 10,
                    ["already exists"])
        d = self.p("full")
        os.mkdir(d)
        open(os.path.join(d, "f"), "w").close()
        self.expect(["extract", "--key-file", self.key, img, d], 10, ["already exists"])

    def test_disk_full(self):
        # A private mount namespace with a small tmpfs: the mount disappears
        # with the process, nothing is left mounted.
        big = self.p("bigsrc")
        os.makedirs(big)
        with open(os.path.join(big, "blob"), "wb") as f:
            f.write(os.urandom(30 << 20))
        d = self.p("small")
        os.mkdir(d)
        rc = self.p("rc")
        script = (f"mount -t tmpfs -o size=24m ccvol-test '{d}' || exit 77; "
                  f"'{CCVOL}' create --from '{big}' --out '{d}/v.img' --key-file '{self.key}' "
                  f"--pbkdf pbkdf2 --pbkdf-force-iterations 1000 2>'{rc}.err'; echo $? > '{rc}'; "
                  f"ls -A '{d}' > '{rc}.ls'")
        r = run("unshare", "-m", "sh", "-c", script)
        if r.returncode == 77 or (r.returncode != 0 and not os.path.exists(rc)):
            self.skipTest("cannot mount a private tmpfs here")
        with open(rc) as f:
            self.assertEqual(f.read().strip(), "11")
        with open(rc + ".err") as f:
            self.assertIn("No space left", f.read())
        with open(rc + ".ls") as f:
            self.assertEqual(f.read().strip(), "")
        with open("/proc/mounts") as f:
            self.assertNotIn(d, f.read())

    def test_not_found_and_usage(self):
        img = self.create()
        self.expect(["cat", "--key-file", self.key, img, "/nope"], 12, ["No such file"])
        self.expect(["cat", "--key-file", self.key, img, "/model"], 12, ["directory"])
        self.expect(["frobnicate"], 2, ["unknown command"])
        self.expect(["ls", "--key-file", self.key, "--passphrase-file", self.key, img], 2, ["only one"])
        # No key option and no terminal.
        r = run(CCVOL, "ls", img, start_new_session=True, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"no key given", r.stderr)

    def test_keyslots(self):
        img = self.create()
        new = self.p("new")
        with open(new, "w") as f:
            f.write("second passphrase\n")
        r = run(CCVOL, "add-key", "--key-file", self.key, "--new-passphrase-file", new, *FAST, img, check=0)
        self.assertIn(b"added keyslot 1", r.stdout)
        run(CCVOL, "ls", "--passphrase-file", new, img, check=0)
        run("cryptsetup", "open", "--test-passphrase", "--key-file", self.key, img, check=0)
        run(CCVOL, "remove-key", "--key-file", self.key, img, check=0)
        self.expect(["ls", "--key-file", self.key, img], 3, ["wrong passphrase"])
        self.expect(["remove-key", "--passphrase-file", new, img], 13, ["last keyslot"])

    def test_dump_has_no_secrets(self):
        img = self.create()
        r = run(CCVOL, "dump", "--key-file", self.key, img, check=0)
        out = r.stdout.decode()
        self.assertIn("LUKS header information", out)
        self.assertIn("Filesystem (ext4)", out)
        self.assertNotIn("MK dump", out)
        vk = luks_xts.volume_key(img, self.key).hex()
        self.assertNotIn(vk[:16], out.replace(" ", ""))

    def test_help(self):
        for cmd in ("create", "ls", "cat", "stat", "extract", "check", "dump", "add-key",
                    "remove-key", "mount"):
            r = run(CCVOL, cmd, "--help", check=0)
            self.assertIn(b"Usage: ccvol " + cmd.encode(), r.stdout)


class Terminal(Base):
    def pty_run(self, args, answers):
        master, slave = pty.openpty()
        import fcntl
        import termios

        def ctty():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        p = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, preexec_fn=ctty, close_fds=True)
        os.close(slave)
        out = b""
        deadline = time.time() + 60
        pending = list(answers)
        while time.time() < deadline:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
                if pending and out.count(b"passphrase") > len(answers) - len(pending):
                    os.write(master, pending.pop(0) + b"\n")
            elif p.poll() is not None:
                break
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        os.close(master)
        return p.returncode, out

    def test_interactive_passphrase_and_progress(self):
        big = self.p("bigsrc")
        os.makedirs(big)
        with open(os.path.join(big, "blob"), "wb") as f:
            f.write(os.urandom(40 << 20))
        img = self.p("tty.img")
        rc, out = self.pty_run([CCVOL, "create", "--from", big, "--out", img, *FAST],
                               [b"typed secret", b"typed secret"])
        self.assertEqual(rc, 0, out)
        self.assertIn(b"Enter passphrase", out)
        self.assertIn(b"Verify passphrase", out)
        self.assertNotIn(b"typed secret", out)  # no echo
        self.assertIn(b"100%", out)
        pf = self.p("pf")
        with open(pf, "w") as f:
            f.write("typed secret\n")
        run(CCVOL, "ls", "--passphrase-file", pf, img, check=0)
        rc, out = self.pty_run([CCVOL, "create", "--from", big, "--out", self.p("tty2.img"), *FAST],
                               [b"one", b"two"])
        self.assertEqual(rc, 2)
        self.assertIn(b"do not match", out)
        self.assertFalse(os.path.exists(self.p("tty2.img")))


class Mount(Base):
    def mount(self, img, mnt):
        p = subprocess.Popen([CCVOL, "mount", "-f", "--key-file", self.key, img, mnt],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(100):
            if os.path.ismount(mnt) or p.poll() is not None:
                break
            time.sleep(0.05)
        if not os.path.ismount(mnt):
            p.kill()
            _, err = p.communicate()
            if b"cannot mount" in err or not os.path.exists("/dev/fuse"):
                self.skipTest("FUSE not available here: " + err.decode(errors="replace"))
            self.fail("mount did not appear: " + err.decode(errors="replace"))
        return p

    def test_mount_read_unmount_and_signal(self):
        if not shutil.which("fusermount3"):
            self.skipTest("fusermount3 missing")
        img = self.create()
        mnt = self.p("mnt")
        os.mkdir(mnt)
        p = self.mount(img, mnt)
        try:
            self.assertEqual(tree_digest(self.src), tree_digest(mnt))
            with self.assertRaises(OSError):
                open(os.path.join(mnt, "new"), "w")
        finally:
            run("fusermount3", "-u", mnt)
        self.assertEqual(p.wait(timeout=20), 0)
        self.assertFalse(os.path.ismount(mnt))
        # A signal ends it cleanly too.
        p = self.mount(img, mnt)
        p.terminate()
        self.assertEqual(p.wait(timeout=20), 0)
        self.assertFalse(os.path.ismount(mnt))


def main_args(argv):
    luks_xts.main_args(argv)


if __name__ == "__main__":
    CCVOL = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
