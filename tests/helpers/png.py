"""An independent reader of the PNG scatter plots (zlib + struct, sharing nothing with the writer):
decode the chunks checking their CRCs, and find the markers as blobs of one colour."""
from __future__ import annotations

import struct
import zlib

import numpy as np


def decode_png(data: bytes) -> tuple[np.ndarray, dict[str, str], list[bytes]]:
    """Pixels (h x w x 3), tEXt chunks and chunk types of an 8-bit RGB, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, kinds, texts, idat = 8, [], {}, b""
    width = height = None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, f"bad CRC in {kind!r}"
        kinds.append(kind)
        if kind == b"IHDR":
            width, height, depth, ctype, comp, filt, interlace = struct.unpack(">IIBBBBB", body)
            assert (depth, ctype, comp, filt, interlace) == (8, 2, 0, 0, 0)
        elif kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            texts[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, 1 + 3 * width)
    assert not raw[:, 0].any(), "this writer uses filter type 0 on every row"
    return raw[:, 1:].reshape(height, width, 3), texts, kinds


def blobs_of_color(pixels: np.ndarray, rgb: tuple[int, int, int]) -> list[set[tuple[int, int]]]:
    """4-connected components of the pixels of exactly this colour."""
    ys, xs = np.nonzero(np.all(pixels == np.array(rgb, dtype=np.uint8), axis=2))
    todo = set(zip(xs.tolist(), ys.tolist()))
    out = []
    while todo:
        seed = todo.pop()
        blob, stack = {seed}, [seed]
        while stack:
            x, y = stack.pop()
            for n in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
                if n in todo:
                    todo.remove(n)
                    blob.add(n)
                    stack.append(n)
        out.append(blob)
    return out
