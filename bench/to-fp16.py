#!/usr/bin/env python3
"""bench/to-fp16.py MODEL OUT — a copy of a safetensors model folder with its float32 tensors
stored as float16, so that bench/gpu-speed.sh's carry (64 MiB in all) holds MiniLM. Both stacks
load it back as float32. Python's standard library only (struct's 'e' is IEEE half)."""
import json
import shutil
import struct
import sys
from pathlib import Path


def convert(src: Path, dst: Path) -> None:
    raw = src.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len])
    body = raw[8 + header_len :]
    out_header, chunks, offset = {}, [], 0
    for name, info in header.items():
        if name == "__metadata__":
            out_header[name] = info
            continue
        start, end = info["data_offsets"]
        data = body[start:end]
        dtype = info["dtype"]
        if dtype == "F32":
            count = len(data) // 4
            data = struct.pack(f"<{count}e", *struct.unpack(f"<{count}f", data))
            dtype = "F16"
        out_header[name] = {
            "dtype": dtype,
            "shape": info["shape"],
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    text = json.dumps(out_header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the format aligns the data to 8 bytes
    with dst.open("wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for chunk in chunks:
            f.write(chunk)


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.suffix == ".safetensors":
            convert(f, dst / f.name)
        elif f.is_file():
            shutil.copy(f, dst / f.name)


if __name__ == "__main__":
    main()
