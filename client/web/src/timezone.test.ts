import { describe, expect, it } from 'vitest'
import {
  autoTimeZone, browserTimeZone, groupZones, isUtcLike, supportedTimeZones, timeZoneChoices, UTC, zoneLabel, zoneText, zoneToSend,
} from './timezone'

const fakeIntl = (timeZone: unknown) =>
  ({ DateTimeFormat: () => ({ resolvedOptions: () => ({ timeZone }) }) }) as unknown as Pick<typeof Intl, 'DateTimeFormat'>

describe('time zones', () => {
  it('fills in only a zone the server says is unset, never a chosen one', () => {
    expect(autoTimeZone({ time_zone: null }, 'Pacific/Auckland')).toBe('Pacific/Auckland')
    expect(autoTimeZone({ time_zone: 'Europe/Berlin' }, 'Pacific/Auckland')).toBeNull()
    expect(autoTimeZone({ time_zone: 'UTC' }, 'Pacific/Auckland')).toBeNull() // UTC chosen on purpose
    expect(autoTimeZone({}, 'Pacific/Auckland')).toBeNull() // an older server without the field
    expect(autoTimeZone(null, 'Pacific/Auckland')).toBeNull()
    expect(autoTimeZone(undefined, 'Pacific/Auckland')).toBeNull()
  })

  it('does not set UTC (what unset means already), nothing, or a zone refused before', () => {
    for (const z of ['UTC', 'Etc/UTC', 'Etc/GMT', 'GMT', 'Etc/Unknown']) expect(autoTimeZone({ time_zone: null }, z)).toBeNull()
    expect(autoTimeZone({ time_zone: null }, null)).toBeNull()
    expect(autoTimeZone({ time_zone: null }, 'Mars/Olympus', 'Mars/Olympus')).toBeNull()
    expect(autoTimeZone({ time_zone: null }, 'Europe/Berlin', 'Mars/Olympus')).toBe('Europe/Berlin')
    expect(isUtcLike(' Etc/UTC ')).toBe(true)
    expect(isUtcLike('Europe/London')).toBe(false)
    expect(isUtcLike('Etc/GMT+5')).toBe(false)
  })

  it("reads the browser's zone, or null when it reports none", () => {
    expect(browserTimeZone(fakeIntl('Asia/Tokyo'))).toBe('Asia/Tokyo')
    expect(browserTimeZone(fakeIntl(''))).toBeNull()
    expect(browserTimeZone(fakeIntl(undefined))).toBeNull()
    const broken = { DateTimeFormat: () => { throw new RangeError('no ICU') } } as unknown as Pick<typeof Intl, 'DateTimeFormat'>
    expect(browserTimeZone(broken)).toBeNull()
    expect(typeof browserTimeZone()).toMatch(/string|object/)
  })

  it('lists the supported zones, or null without Intl.supportedValuesOf', () => {
    expect(supportedTimeZones({ supportedValuesOf: () => ['Europe/Berlin'] })).toEqual(['Europe/Berlin'])
    expect(supportedTimeZones({})).toBeNull()
    expect(supportedTimeZones({ supportedValuesOf: () => [] })).toBeNull()
    expect(supportedTimeZones({ supportedValuesOf: () => { throw new RangeError('no') } })).toBeNull()
  })

  it('offers UTC first, then sorted zones with the current and browser ones added once', () => {
    const got = timeZoneChoices(['Europe/Berlin', 'America/New_York', 'UTC'], 'Asia/Kolkata', 'Europe/Berlin')
    expect(got).toEqual(['UTC', 'America/New_York', 'Asia/Kolkata', 'Europe/Berlin'])
    expect(timeZoneChoices([], null, null)).toEqual([UTC])
    expect(timeZoneChoices(['Europe/Berlin'], 'UTC', ' ')).toEqual(['UTC', 'Europe/Berlin'])
  })

  it('groups zones by region, single names and Etc/ last', () => {
    const g = groupZones(['Europe/Berlin', 'America/Argentina/Salta', 'Etc/GMT+5', 'America/Lima', 'EST', 'Europe/Paris'])
    expect(g).toEqual([
      { region: 'America', zones: ['America/Argentina/Salta', 'America/Lima'] },
      { region: 'Europe', zones: ['Europe/Berlin', 'Europe/Paris'] },
      { region: 'Other', zones: ['Etc/GMT+5', 'EST'] },
    ])
  })

  it('labels, option texts and what is sent', () => {
    expect(zoneLabel(null)).toBe('UTC')
    expect(zoneLabel(undefined)).toBe('UTC')
    expect(zoneLabel('Europe/Berlin')).toBe('Europe/Berlin')
    expect(zoneText('America/Port_of_Spain')).toBe('America/Port of Spain')
    expect(zoneToSend(' Europe/Berlin ')).toBe('Europe/Berlin')
    expect(zoneToSend('utc')).toBe('UTC')
    expect(zoneToSend('')).toBe('UTC')
  })

  it("this runtime's list works with the helpers", () => {
    const zones = supportedTimeZones()
    if (!zones) return // a runtime without Intl.supportedValuesOf: the picker is a text field
    const choices = timeZoneChoices(zones, 'Pacific/Auckland', browserTimeZone())
    expect(choices[0]).toBe(UTC)
    expect(choices).toContain('Pacific/Auckland')
    expect(new Set(choices).size).toBe(choices.length)
  })
})
