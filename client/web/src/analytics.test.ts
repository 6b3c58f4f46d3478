import { describe, expect, it } from 'vitest'
import {
  RANGES, autoBucket, barSummary, bucketAllowed, bucketCount, bucketLabel, csvFilename, formatDuration, formatPercent,
  labelStep, niceMax, rangeFor, rangeMs, stackSeries,
} from './analytics'
import type { AnalyticsSeriesPoint } from './api/types'

const point = (start: string, c: Partial<AnalyticsSeriesPoint> = {}): AnalyticsSeriesPoint => {
  const p = { start, queued: 0, running: 0, completed: 0, failed: 0, cancelled: 0, success_rate: null, shots: 0, ...c }
  return { ...p, total: c.total ?? p.queued + p.running + p.completed + p.failed + p.cancelled }
}

describe('formatDuration', () => {
  it('reads ms, s, min and h', () => {
    expect(formatDuration(0)).toBe('0 ms')
    expect(formatDuration(12.4)).toBe('12 ms')
    expect(formatDuration(999.4)).toBe('999 ms')
    expect(formatDuration(999.6)).toBe('1 s')
    expect(formatDuration(1250)).toBe('1.25 s')
    expect(formatDuration(1500)).toBe('1.5 s')
    expect(formatDuration(42_540)).toBe('42.5 s')
    expect(formatDuration(59_990)).toBe('1 min')
    expect(formatDuration(192_000)).toBe('3.2 min')
    expect(formatDuration(5_400_000)).toBe('1.5 h')
  })

  it('says — when unknown', () => {
    expect(formatDuration(null)).toBe('—')
    expect(formatDuration(undefined)).toBe('—')
    expect(formatDuration(Number.NaN)).toBe('—')
  })
})

describe('formatPercent', () => {
  it('shows at most one decimal', () => {
    expect(formatPercent(1)).toBe('100%')
    expect(formatPercent(0.75)).toBe('75%')
    expect(formatPercent(2 / 3)).toBe('66.7%')
    expect(formatPercent(0)).toBe('0%')
    expect(formatPercent(null)).toBe('—')
  })
})

describe('buckets', () => {
  it('chooses one per preset: 24h by hour, 7 and 30 days by day, 90 days by week', () => {
    expect(RANGES.map((r) => [r.key, autoBucket(r.ms)])).toEqual([['24h', 'hour'], ['7d', 'day'], ['30d', 'day'], ['90d', 'week']])
  })

  it('refuses what the server would (more than 1000 buckets)', () => {
    expect(bucketCount(rangeMs('24h'), 'hour')).toBe(25)
    expect(bucketAllowed(rangeMs('30d'), 'hour')).toBe(true) // 721
    expect(bucketAllowed(rangeMs('90d'), 'hour')).toBe(false) // 2161
    expect(bucketAllowed(rangeMs('90d'), 'day')).toBe(true)
  })

  it('labels bucket starts in UTC', () => {
    expect(bucketLabel('2026-12-07T13:00:00Z', 'hour')).toBe('Dec 7 13:00')
    expect(bucketLabel('2026-12-07T00:00:00Z', 'day')).toBe('Dec 7')
    expect(bucketLabel('2026-11-30T00:00:00Z', 'week')).toBe('week of Nov 30')
    expect(bucketLabel('not a time', 'day')).toBe('not a time')
  })
})

describe('rangeFor', () => {
  it('ends at the next whole minute and spans the preset', () => {
    const now = Date.parse('2026-12-07T13:05:09.123Z')
    expect(rangeFor('24h', now)).toEqual({ from: '2026-12-06T13:06:00Z', to: '2026-12-07T13:06:00Z' })
    expect(rangeFor('7d', now).from).toBe('2026-11-30T13:06:00Z')
    // Stable within the minute: the same query key.
    expect(rangeFor('30d', now + 20_000)).toEqual(rangeFor('30d', now))
  })

  it('names the CSV after the start of the range', () => {
    expect(csvFilename('2026-12-06T13:06:00Z')).toBe('qollab-analytics-2026-12-06.csv')
  })
})

describe('stackSeries', () => {
  it('stacks completed, failed, cancelled, then queued and running, leaving empty parts out', () => {
    const { bars, max } = stackSeries([
      point('2026-12-01T00:00:00Z', { completed: 3, failed: 1, cancelled: 2, queued: 1, running: 1 }),
      point('2026-12-02T00:00:00Z'),
      point('2026-12-03T00:00:00Z', { failed: 2 }),
    ])
    expect(max).toBe(8)
    expect(bars.map((b) => b.total)).toEqual([8, 0, 2])
    expect(bars[0]!.parts).toEqual([
      { kind: 'completed', value: 3, y0: 0, y1: 3 },
      { kind: 'failed', value: 1, y0: 3, y1: 4 },
      { kind: 'cancelled', value: 2, y0: 4, y1: 6 },
      { kind: 'other', value: 2, y0: 6, y1: 8 },
    ])
    expect(bars[1]!.parts).toEqual([])
    expect(bars[2]!.parts).toEqual([{ kind: 'failed', value: 2, y0: 0, y1: 2 }])
    expect(bars.map((b) => b.start)).toEqual(['2026-12-01T00:00:00Z', '2026-12-02T00:00:00Z', '2026-12-03T00:00:00Z'])
  })

  it('has no height for an empty series', () => {
    expect(stackSeries([])).toEqual({ bars: [], max: 0 })
  })

  it('describes a bar', () => {
    const { bars } = stackSeries([point('2026-12-03T00:00:00Z', { completed: 1, failed: 1 }), point('2026-12-04T00:00:00Z', { completed: 1 }), point('2026-12-05T00:00:00Z')])
    expect(barSummary(bars[0]!, 'day')).toBe('Dec 3: 2 jobs (1 completed, 1 failed)')
    expect(barSummary(bars[1]!, 'day')).toBe('Dec 4: 1 job (1 completed)')
    expect(barSummary(bars[2]!, 'day')).toBe('Dec 5: no jobs')
  })
})

describe('axis', () => {
  it('rounds the top up to 1, 2 or 5 × 10^k', () => {
    expect([0, 1, 2, 3, 7, 10, 11, 26, 60, 101].map(niceMax)).toEqual([1, 1, 2, 5, 10, 10, 20, 50, 100, 200])
  })

  it('labels about every n-th bar', () => {
    expect(labelStep(8, 8)).toBe(1)
    expect(labelStep(25, 6)).toBe(5)
    expect(labelStep(721, 8)).toBe(91)
    expect(labelStep(0)).toBe(1)
  })
})
