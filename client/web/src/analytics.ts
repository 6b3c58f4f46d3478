// Pure helpers of the Analytics screen: time ranges and their buckets, durations and
// rates as people read them, and the job series stacked into bars for the SVG chart.
import type { AnalyticsBucket, AnalyticsSeriesPoint } from './api/types'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

export type RangeKey = '24h' | '7d' | '30d' | '90d'

export const RANGES: readonly { key: RangeKey; label: string; ms: number }[] = [
  { key: '24h', label: 'Last 24 hours', ms: DAY },
  { key: '7d', label: 'Last 7 days', ms: 7 * DAY },
  { key: '30d', label: 'Last 30 days', ms: 30 * DAY },
  { key: '90d', label: 'Last 90 days', ms: 90 * DAY },
]

export const BUCKETS: readonly AnalyticsBucket[] = ['hour', 'day', 'week']

export const BUCKET_MS: Record<AnalyticsBucket, number> = { hour: HOUR, day: DAY, week: 7 * DAY }

/** The server answers at most this many buckets (shared/src/analytics.rs). */
export const MAX_BUCKETS = 1000

export function rangeMs(key: RangeKey): number {
  return RANGES.find((r) => r.key === key)?.ms ?? 30 * DAY
}

/** The bucket a range reads best in: hours up to two days, days up to a month, then weeks
 *  (24 hours → hour, 7 and 30 days → day, 90 days → week). */
export function autoBucket(ms: number): AnalyticsBucket {
  if (ms <= 2 * DAY) return 'hour'
  if (ms <= 31 * DAY) return 'day'
  return 'week'
}

/** At most how many buckets a range of `ms` spans (its first bucket starts before it). */
export function bucketCount(ms: number, bucket: AnalyticsBucket): number {
  return Math.ceil(Math.max(0, ms) / BUCKET_MS[bucket]) + 1
}

/** Whether the server accepts this bucket for a range this long. */
export function bucketAllowed(ms: number, bucket: AnalyticsBucket): boolean {
  return bucketCount(ms, bucket) <= MAX_BUCKETS
}

/** RFC 3339 without milliseconds: `2026-12-01T13:05:00Z`. */
export function rfc3339(t: number): string {
  return new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/**
 * The `from`/`to` of a preset ending now. `to` is rounded up to the next whole minute, so
 * the range (and the query cached under it) stays the same for a minute and includes
 * whatever was submitted a moment ago.
 */
export function rangeFor(key: RangeKey, now: number): { from: string; to: string } {
  const to = Math.ceil((now + 1) / MINUTE) * MINUTE
  return { from: rfc3339(to - rangeMs(key)), to: rfc3339(to) }
}

/** The file name to save the CSV as when the server names none. */
export function csvFilename(from: string): string {
  return `qollab-analytics-${from.slice(0, 10)}.csv`
}

const round = (x: number, digits: number) => Number(x.toFixed(digits))

/** A duration in milliseconds as `850 ms`, `1.25 s`, `42.5 s`, `3.2 min` or `1.5 h`; `—` when unknown. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—'
  const v = Math.max(0, ms)
  if (Math.round(v) < 1000) return `${Math.round(v)} ms`
  const s = v / 1000
  const sr = s < 10 ? round(s, 2) : round(s, 1)
  if (sr < 60) return `${sr} s`
  const m = round(v / MINUTE, 1)
  if (m < 60) return `${m} min`
  return `${round(v / HOUR, 1)} h`
}

/** A fraction 0..1 as a percentage with at most one decimal (`66.7%`); `—` when unknown. */
export function formatPercent(frac: number | null | undefined): string {
  if (frac === null || frac === undefined || !Number.isFinite(frac)) return '—'
  return `${round(frac * 100, 1)}%`
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const pad = (n: number) => String(n).padStart(2, '0')

/** A bucket's start as a short label; buckets are UTC, and so are the labels. */
export function bucketLabel(start: string, bucket: AnalyticsBucket): string {
  const d = new Date(start)
  if (Number.isNaN(d.getTime())) return start
  const day = `${MONTHS[d.getUTCMonth()] ?? ''} ${d.getUTCDate()}`
  if (bucket === 'hour') return `${day} ${pad(d.getUTCHours())}:00`
  if (bucket === 'week') return `week of ${day}`
  return day
}

/** Every `labelStep(n)`-th bar gets an axis label, about `most` of them in all. */
export function labelStep(n: number, most = 8): number {
  return Math.max(1, Math.ceil(n / Math.max(1, most)))
}

/** The smallest 1, 2 or 5 × 10^k at or above `n` (at least 1): the top of the value axis. */
export function niceMax(n: number): number {
  if (!(n > 1)) return 1
  const p = 10 ** Math.floor(Math.log10(n))
  for (const m of [1, 2, 5, 10]) if (m * p >= n) return m * p
  return 10 * p
}

export type Segment = 'completed' | 'failed' | 'cancelled' | 'other'

/** Bottom to top. `other` is what has not ended yet (queued or running). */
export const SEGMENTS: readonly { kind: Segment; label: string }[] = [
  { kind: 'completed', label: 'Completed' },
  { kind: 'failed', label: 'Failed' },
  { kind: 'cancelled', label: 'Cancelled' },
  { kind: 'other', label: 'Queued or running' },
]

/** One stacked part of a bar, from `y0` to `y1` in jobs. */
export interface BarPart { kind: Segment; value: number; y0: number; y1: number }
export interface Bar { start: string; total: number; parts: BarPart[] }

/** The series as stacked bars (completed, failed, cancelled, other; empty parts left out)
 *  and the largest bar's height, in jobs. */
export function stackSeries(series: readonly AnalyticsSeriesPoint[]): { bars: Bar[]; max: number } {
  let max = 0
  const bars = series.map((p) => {
    const values: Record<Segment, number> = {
      completed: p.completed,
      failed: p.failed,
      cancelled: p.cancelled,
      other: p.queued + p.running,
    }
    const parts: BarPart[] = []
    let y = 0
    for (const { kind } of SEGMENTS) {
      const value = Math.max(0, values[kind])
      if (value > 0) {
        parts.push({ kind, value, y0: y, y1: y + value })
        y += value
      }
    }
    max = Math.max(max, y)
    return { start: p.start, total: y, parts }
  })
  return { bars, max }
}

/** A bar's text for its tooltip and the chart's table: `Dec 3: 5 jobs (3 completed, 2 failed)`. */
export function barSummary(bar: Bar, bucket: AnalyticsBucket): string {
  const when = bucketLabel(bar.start, bucket)
  if (bar.total === 0) return `${when}: no jobs`
  const parts = bar.parts.map((p) => `${p.value} ${SEGMENTS.find((s) => s.kind === p.kind)?.label.toLowerCase() ?? p.kind}`)
  return `${when}: ${bar.total} job${bar.total === 1 ? '' : 's'} (${parts.join(', ')})`
}
