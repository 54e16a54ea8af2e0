import { FST_JWT_AUTH_INVALID_DURATION } from './errors.js'

/** A number of seconds, or a string with a unit: '500ms', '10s', '15m', '12h', '7d', '2w'. */
export type Duration = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd' | 'w'}`

const unitMs: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000
}
const durationPattern = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/

/** Converts a duration option to milliseconds; `name` is the option path for the error. */
export function parseDuration (value: unknown, name: string, { allowZero = false } = {}): number {
  let ms = Number.NaN
  if (typeof value === 'number') {
    ms = value * 1000
  } else if (typeof value === 'string') {
    const match = durationPattern.exec(value)
    if (match !== null) ms = Number(match[1]) * (unitMs[match[2] as string] as number)
  }
  if (!Number.isFinite(ms) || ms < 0 || (ms === 0 && !allowZero)) {
    throw new FST_JWT_AUTH_INVALID_DURATION(name)
  }
  return Math.round(ms)
}
