#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ from real examples: the trace
fixtures' first lines (plain and compressed), the example configs, valid API bodies,
encoded engine records, and NBD sessions laid out byte for byte as our client
(`NbdClient`) and a qemu-style client send them. Re-run after a format changes:
`python3 fuzz/make_seeds.py` (needs zstd on PATH for the zstd trace seed)."""

import gzip
import json
import lzma
import pathlib
import struct
import subprocess

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parent
CORPUS = FUZZ / "corpus"
TRACES = ROOT / "crates/strata-sim/tests/fixtures/traces"


def put(target, name, data):
    path = CORPUS / target / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# ---- NBD -------------------------------------------------------------------------------
IHAVEOPT = 0x49484156454F5054
REQUEST_MAGIC = 0x25609513
OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_STARTTLS, OPT_INFO, OPT_GO, OPT_STRUCTURED = (
    1, 2, 3, 5, 6, 7, 8)
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH, CMD_TRIM, CMD_WRITE_ZEROES = 0, 1, 2, 3, 4, 6
FLAG_FUA, FLAG_NO_HOLE = 1, 2


def client_flags(no_zeroes=True):
    return struct.pack(">I", 1 | (2 if no_zeroes else 0))


def option(opt, payload=b""):
    return struct.pack(">QII", IHAVEOPT, opt, len(payload)) + payload


def info_request(name, infos=()):
    raw = name.encode()
    return (struct.pack(">I", len(raw)) + raw + struct.pack(">H", len(infos))
            + b"".join(struct.pack(">H", i) for i in infos))


def request(cmd, offset=0, length=0, flags=0, handle=1, payload=b""):
    return struct.pack(">IHHQQI", REQUEST_MAGIC, flags, cmd, handle, offset, length) + payload


def io_session():
    data = bytes((i * 7 + 1) & 0xFF for i in range(4096))
    return (request(CMD_WRITE, 0, 4096, handle=1, payload=data)
            + request(CMD_READ, 0, 4096, handle=2)
            + request(CMD_WRITE, 8192, 512, FLAG_FUA, handle=3, payload=data[:512])
            + request(CMD_FLUSH, handle=4)
            + request(CMD_TRIM, 4096, 4096, handle=5)
            + request(CMD_WRITE_ZEROES, 16384, 65536, FLAG_NO_HOLE, handle=6)
            + request(CMD_READ, 262144 - 512, 1024, handle=7)  # past the end: EINVAL
            + request(CMD_DISC, handle=8))


def nbd_seeds():
    # Our client (strata-nbd NbdClient::connect_*): GO asking BLOCK_SIZE and NAME, then I/O.
    put("nbd_session", "client_go_io", client_flags()
        + option(OPT_GO, info_request("fuzz", (3, 1))) + io_session())
    # qemu-style: STRUCTURED_REPLY first (refused), then GO with an INFO probe before it.
    put("nbd_session", "qemu_style", client_flags()
        + option(OPT_STRUCTURED) + option(OPT_INFO, info_request("fuzz", (3, 1, 2)))
        + option(OPT_GO, info_request("fuzz", (3,))) + io_session())
    put("nbd_session", "list_then_abort", client_flags() + option(OPT_LIST)
        + option(OPT_INFO, info_request("missing")) + option(OPT_STARTTLS)
        + option(OPT_ABORT))
    put("nbd_session", "export_name_oldway", client_flags(no_zeroes=False)
        + option(OPT_EXPORT_NAME, b"fuzz") + request(CMD_READ, 0, 512) + request(CMD_DISC))
    put("nbd_session", "read_only_writes", client_flags()
        + option(OPT_GO, info_request("ro")) + request(CMD_WRITE, 0, 16, payload=b"x" * 16)
        + request(CMD_TRIM, 0, 4096) + request(CMD_READ, 0, 16) + request(CMD_DISC))
    put("nbd_session", "oversized_write", client_flags()
        + option(OPT_GO, info_request("fuzz")) + request(CMD_WRITE, 0, 600000, handle=9)
        + request(CMD_DISC))

    put("nbd_request", "read", request(CMD_READ, 4096, 4096, handle=0xABCDEF))
    put("nbd_request", "write_fua", request(CMD_WRITE, 0, 512, FLAG_FUA, handle=2))
    put("nbd_request", "simple_reply", struct.pack(">IIQ", 0x67446698, 22, 7))
    put("nbd_request", "greeting", b"NBDMAGIC" + struct.pack(">QH", IHAVEOPT, 3))
    put("nbd_request", "option_header", struct.pack(">QII", IHAVEOPT, OPT_GO, 10))
    put("nbd_request", "option_reply_header",
        struct.pack(">QIII", 0x0003E889045565A9, OPT_GO, 3, 12))
    put("nbd_request", "info_request", info_request("fuzz", (3, 1)))
    put("nbd_request", "info_export", struct.pack(">HQH", 0, 1 << 30, 0x16D))
    put("nbd_request", "info_block_size", struct.pack(">HIII", 3, 1, 4096, 32 << 20))
    put("nbd_request", "server_entry", struct.pack(">I", 4) + b"db01")


# ---- traces ----------------------------------------------------------------------------
# Selector byte of the `trace` target: low nibble = index in Format::ALL, 0x10 = skip bad
# lines, bits 5-6 = DiskSim time unit, 0x80 = blkparse action D.
FORMATS = ["auto", "msr", "systor", "cloudphysics", "tencent", "disksim", "arc",
           "blkparse", "fio", "lbn"]
FIXTURES = {
    "msr": "msr_hm_0_sample1000.csv",
    "systor": "systor17_traces_sample.csv.gz",
    "cloudphysics": "cloudphysics_vscsi_head20k.csv.gz",
    "tencent": "tencent_handwritten.csv",
    "disksim": "msn_fs_head20k.trace.gz",
    "arc": "arc_P3_head20k.lis.gz",
    "blkparse": "blkparse_handwritten.txt",
    "fio": "fio_v3_fio333.log",
    "lbn": "lbn_handwritten.lbn",
}


def head(name, lines=12):
    raw = (TRACES / name).read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    if name.endswith(".lbn"):
        return raw
    return b"".join(raw.splitlines(keepends=True)[:lines])


def trace_seeds():
    for fmt, fixture in FIXTURES.items():
        content = head(fixture)
        put("trace", f"{fmt}_explicit", bytes([FORMATS.index(fmt)]) + content)
        put("trace", f"{fmt}_auto_skip", bytes([0x10]) + content)
    put("trace", "fio_v2", bytes([FORMATS.index("fio")]) + head("fio_v2_handwritten.log"))
    put("trace", "mqsim_us", bytes([FORMATS.index("disksim") | 0x20])
        + head("mqsim_tpcc-small.trace"))
    put("trace", "blkparse_issue", bytes([FORMATS.index("blkparse") | 0x80])
        + head("blkparse_handwritten.txt", 40))
    msr = head("msr_hm_0_sample1000.csv", 8)
    put("trace", "msr_gzip", b"\x00" + gzip.compress(msr, mtime=0))
    put("trace", "msr_xz", b"\x00" + lzma.compress(msr))
    zst = subprocess.run(["zstd", "-q", "-c"], input=msr, check=True, capture_output=True)
    put("trace", "msr_zstd", b"\x00" + zst.stdout)


# ---- config, API bodies, engine records -----------------------------------------------
def config_seeds():
    for path in sorted((ROOT / "deploy/config").glob("*.toml")):
        put("config", path.stem, path.read_bytes())
    put("config", "custom_tier", b"""nbd_max_request = "1M"
[[tier]]
kind = "nvme"
capacity = "64M"
path = "n.img"
[[tier]]
kind = "cold"
capacity = "1G"
[tier.profile]
read_latency_us = 9000.0
write_latency_us = 9000.0
read_mbps = 100.0
write_mbps = 100.0
parallelism = 1
seek_penalty = true
""")
    put("config", "empty", b"")


def api_seeds():
    bodies = {
        "create_text_size": {"name": "db01", "size": "20G", "profile": "database"},
        "create_bytes": {"name": "v-1", "size": 1048576, "extent_size": "64K", "pin": "nvme"},
        "create_extent_bytes": {"name": "web", "size": "1G", "extent_size": 4194304,
                                "profile": "web", "pin": "hdd"},
        "create_unknown_field": {"name": "x", "size": "1M", "speed": 3},
    }
    for name, body in bodies.items():
        put("api_bodies", name, b"\x00" + json.dumps(body).encode())
    put("api_bodies", "show", b"\x01db01")
    put("api_bodies", "delete", b"\x02db01")
    # Finding of 2026-11-23: GET /v1/volumes/d%9D%CF1 (name not UTF-8) got a plain-text 400.
    put("api_bodies", "regression_non_utf8_name", b"\x01d\x9d\xcf1")


def record_seeds():
    volume = {"id": 1, "name": "db01", "size_bytes": 20 << 30, "extent_size_bytes": 1 << 20,
              "profile": "database", "pin": "ssd", "created_unix_s": 1763900000}
    put("map_records", "volume", b"\x01" + json.dumps(volume).encode())
    put("map_records", "map_value_ssd", b"\x01" + struct.pack(">Q", 7 << 20) + b"ssd")
    put("map_records", "map_value_custom", b"\x01" + struct.pack(">Q", 0) + b"cold")
    put("map_records", "counter", b"\x01" + struct.pack(">Q", 5))
    put("map_records", "map_key", struct.pack(">Q", 3) + b"map/" + struct.pack(">Q", 3) + b"/"
        + struct.pack(">Q", 99))


if __name__ == "__main__":
    nbd_seeds()
    trace_seeds()
    config_seeds()
    api_seeds()
    record_seeds()
