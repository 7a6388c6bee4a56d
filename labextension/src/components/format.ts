/** Human-readable numbers for the panels. */

const UNITS = ['kB', 'MB', 'GB', 'TB', 'PB'];
const BINARY_UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

let byteUnits: 'decimal' | 'binary' = 'decimal';

/** Decimal (1 kB = 1000 B, the default, as the Hub) or binary (1 KiB = 1024 B) sizes from now on. */
export function setByteUnits(units: 'decimal' | 'binary'): void {
  byteUnits = units;
}

/**
 * Bytes as a short decimal size, as the Hub shows them (1 kB = 1000 bytes): `999 B`, `68.2 kB`,
 * `1.5 GB`; `—` when unknown. One decimal, rounded half up with the same float arithmetic as
 * `human_size` in `src/model_studio/_format.py`, so the sidebar and the terminal print the same
 * text (tests/test_format.py runs both over one table). With binary units (the "byteUnits"
 * preference) the same rules in powers of 1024: `1.5 GiB`.
 */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) {
    return '—';
  }
  const base = byteUnits === 'binary' ? 1024 : 1000;
  const units = byteUnits === 'binary' ? BINARY_UNITS : UNITS;
  const sign = bytes < 0 ? '-' : '';
  let value = Math.abs(bytes);
  const whole = Math.floor(value + 0.5);
  if (whole < base) {
    return `${sign}${whole} B`;
  }
  let tenths = 0;
  let unit = 0;
  for (; unit < units.length; unit++) {
    value /= base;
    tenths = Math.floor(value * 10 + 0.5);
    // 999.95 kB rounds to 1000.0: say 1.0 MB instead
    if (tenths < base * 10 || unit === units.length - 1) {
      break;
    }
  }
  return `${sign}${Math.floor(tenths / 10)}.${tenths % 10} ${units[unit]}`;
}

export function formatRate(bytesPerSecond: number | null | undefined): string {
  if (!bytesPerSecond) {
    return '—';
  }
  return `${formatBytes(bytesPerSecond)}/s`;
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !isFinite(seconds) || seconds < 0) {
    return '—';
  }
  const s = Math.round(seconds);
  if (s < 60) {
    return `${s}s`;
  }
  const m = Math.floor(s / 60);
  if (m < 60) {
    return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  }
  const h = Math.floor(m / 60);
  return `${h}h ${String(m % 60).padStart(2, '0')}m`;
}

/** 494_000_000 -> "494M", 7_240_000_000 -> "7.2B". */
export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined) {
    return '—';
  }
  const steps: Array<[number, string]> = [
    [1e12, 'T'],
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'K']
  ];
  for (const [size, suffix] of steps) {
    if (Math.abs(n) >= size) {
      const v = n / size;
      return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(0) : v.toFixed(1)}${suffix}`;
    }
  }
  return String(n);
}

export function formatPercent(value: number | null | undefined, digits = 0): string {
  if (value === null || value === undefined || !isFinite(value)) {
    return '—';
  }
  return `${value.toFixed(digits)}%`;
}

/** A safe fragment for `data-testid` values built from model ids (`org/name` kept readable). */
export function testIdPart(id: string): string {
  return id.replace(/[^A-Za-z0-9._/-]/g, '_');
}

/** `value` when it is one of `allowed` (a select's string narrowed to the API's union), else undefined. */
export function oneOf<T extends string>(
  value: string | null | undefined,
  allowed: readonly T[]
): T | undefined {
  return (allowed as readonly string[]).includes(value ?? '') ? (value as T) : undefined;
}
