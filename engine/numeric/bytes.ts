// Byte amounts for people: binary units (KiB = 2^10 bytes, MiB = 2^20, GiB = 2^30) everywhere a
// size is shown, with three significant digits. The budget grammar (engine/kv/budget-text.ts)
// reads "MB" as MiB too, so what the status bar prints can be typed back into the settings.

const UNITS: [string, number][] = [
  ['GiB', 2 ** 30],
  ['MiB', 2 ** 20],
  ['KiB', 2 ** 10],
];

export function formatBytes(bytes: number): string {
  const n = Math.abs(bytes);
  const unit = UNITS.find(([, scale]) => n >= scale);
  if (!unit) return `${Math.round(bytes)} B`;
  const v = bytes / unit[1];
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return `${v.toFixed(digits)} ${unit[0]}`;
}
