// Draws media/icon.png (128×128): two bars squeezed between chevrons, on a dark rounded tile.
// Written as a tiny PNG encoder so the icon is reproducible without image tools.
import { deflateSync } from 'node:zlib';
import { writeFileSync } from 'node:fs';

const N = 128;
const px = new Uint8Array(N * N * 4);
const put = (x, y, [r, g, b, a]) => {
  const i = (y * N + x) * 4;
  px[i] = r;
  px[i + 1] = g;
  px[i + 2] = b;
  px[i + 3] = a;
};
const inRoundRect = (x, y, r) => {
  const cx = Math.min(Math.max(x, r), N - 1 - r),
    cy = Math.min(Math.max(y, r), N - 1 - r);
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
};
for (let y = 0; y < N; y++)
  for (let x = 0; x < N; x++) {
    if (!inRoundRect(x, y, 22)) continue;
    put(x, y, [24, 32, 48, 255]);
    // Chevrons pointing inward from left and right: the "squeeze".
    const d = Math.abs(y - 64);
    if (Math.abs(x - (14 + d * 0.45)) < 5 && d < 40) put(x, y, [255, 170, 60, 255]);
    if (Math.abs(x - (113 - d * 0.45)) < 5 && d < 40) put(x, y, [255, 170, 60, 255]);
    // Stacked bars of decreasing width: tokens kept at decreasing precision.
    const bars = [
      [36, 56],
      [52, 48],
      [68, 40],
      [84, 32],
    ];
    for (const [top, w] of bars)
      if (y >= top && y < top + 10 && Math.abs(x - 64) < w / 2) put(x, y, [90, 200, 250, 255]);
  }
const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (buf) => {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
const chunk = (type, data) => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
};
const ihdr = Buffer.alloc(13);
ihdr.writeUInt32BE(N, 0);
ihdr.writeUInt32BE(N, 4);
ihdr[8] = 8;
ihdr[9] = 6;
const raw = Buffer.alloc(N * (N * 4 + 1));
for (let y = 0; y < N; y++) {
  raw[y * (N * 4 + 1)] = 0;
  Buffer.from(px.buffer, y * N * 4, N * 4).copy(raw, y * (N * 4 + 1) + 1);
}
writeFileSync(
  new URL('../media/icon.png', import.meta.url),
  Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]),
);
