"""gen_image.py — PIL's decode of real Tiny-ImageNet JPEGs, and
torchvision's Resize + CenterCrop of one, for tests/test_image.c.

Usage (needs Debian's python3-pil and python3-torchvision, and the shared
data): /usr/bin/python3 tests/ref/gen_image.py tests/ref [DATA_DIR]
DATA_DIR defaults to /work/shared/data/tiny-imagenet-200.

Writes image_tiny.ref: the magic b"FGIMGREF", u32le count, then per record
  u16le len, the file's path relative to DATA_DIR (len bytes),
  u8 mode (b"R": convert ("RGB"), b"L": convert ("L")),
  u32le side (0: the decoded image; else Resize (side) + CenterCrop (side)
  with PIL's BILINEAR, torchvision's rule, of the decoded image's top-left
  crop_h x crop_w pixels), u32le crop_h, crop_w, u32le height, width, channels,
  then height * width * channels bytes (HWC).
"""
import os
import struct
import sys

from PIL import Image
import torchvision.transforms as T

#   one colour (YCbCr, 4:2:0) and one greyscale (1-component) JPEG
FILES = ["val/images/val_0.JPEG", "val/images/val_10.JPEG"]
#   fit references (file, crop_h, crop_w, side): shrink (a 7/8 scale),
#   enlarge, and a 48 x 64 crop to 40 (resized 40 x 53: the centre crop's
#   left = round (13 / 2) = 6, Python's round half to even)
FITS = [("val/images/val_0.JPEG", 64, 64, 56), ("val/images/val_0.JPEG", 64, 64, 80),
        ("val/images/val_0.JPEG", 48, 64, 40), ("val/images/val_0.JPEG", 64, 27, 20)]


def record(name, mode, side, crop, image):
    pixels = image.tobytes()
    channels = 3 if image.mode == "RGB" else 1
    head = struct.pack("<H", len(name)) + name.encode() + mode
    head += struct.pack("<IIIIII", side, crop[0], crop[1], image.height, image.width, channels)
    assert len(pixels) == image.height * image.width * channels
    return head + pixels


def main():
    out = sys.argv[1]
    data = sys.argv[2] if len(sys.argv) > 2 else "/work/shared/data/tiny-imagenet-200"
    records = []
    for name in FILES:
        with Image.open(os.path.join(data, name)) as im:
            im.load()
            for mode, pil_mode in ((b"R", "RGB"), (b"L", "L")):
                records.append(record(name, mode, 0, (0, 0), im.convert(pil_mode)))
    for name, crop_h, crop_w, side in FITS:
        with Image.open(os.path.join(data, name)) as im:
            part = im.convert("RGB").crop((0, 0, crop_w, crop_h))
            fitted = T.CenterCrop(side)(T.Resize(side)(part))
            records.append(record(name, b"R", side, (crop_h, crop_w), fitted))
    with open(os.path.join(out, "image_tiny.ref"), "wb") as f:
        f.write(b"FGIMGREF" + struct.pack("<I", len(records)))
        for r in records:
            f.write(r)


if __name__ == "__main__":
    main()
