// Each person's time zone (an IANA name such as `Europe/Berlin`; unset means UTC): the
// server counts streaks and active days in it. Pure helpers, tested in timezone.test.ts.

/** The zone a person without one is counted in (and the first choice offered). */
export const UTC = 'UTC'

/** Names that mean UTC itself (or no zone at all): never worth setting automatically. */
const UTC_LIKE = new Set([
  'UTC', 'Etc/UTC', 'Etc/UCT', 'UCT', 'Etc/Universal', 'Universal', 'Etc/Zulu', 'Zulu',
  'GMT', 'Etc/GMT', 'Etc/GMT0', 'Etc/GMT+0', 'Etc/GMT-0', 'GMT0', 'GMT+0', 'GMT-0', 'Etc/Greenwich', 'Greenwich',
  'Etc/Unknown',
])

export function isUtcLike(zone: string): boolean {
  return UTC_LIKE.has(zone.trim())
}

/** How a stored zone reads: `null` (unset) counts in UTC. */
export function zoneLabel(zone: string | null | undefined): string {
  return zone && zone.trim() ? zone : UTC
}

/** The browser's own zone (`Intl…resolvedOptions().timeZone`), or null when it reports none. */
export function browserTimeZone(intl: Pick<typeof Intl, 'DateTimeFormat'> = Intl): string | null {
  try {
    const z = intl.DateTimeFormat().resolvedOptions().timeZone
    return typeof z === 'string' && z.trim() ? z.trim() : null
  } catch {
    return null
  }
}

/** The zones this browser knows (`Intl.supportedValuesOf('timeZone')`), or null when it cannot list them. */
export function supportedTimeZones(intl: { supportedValuesOf?: (key: 'timeZone') => string[] } = Intl): string[] | null {
  try {
    if (typeof intl.supportedValuesOf !== 'function') return null
    const zones = intl.supportedValuesOf('timeZone')
    return Array.isArray(zones) && zones.length ? zones : null
  } catch {
    return null
  }
}

/**
 * The zone to set automatically for a signed-in person, or null to leave things alone:
 * only when the server says they have none (`time_zone === null`; a missing field is an
 * older server), only to a real, non-UTC browser zone (UTC is what null means already,
 * and an explicit UTC would stop a later browser elsewhere from filling it in), and never
 * a zone the server refused before (`refused`).
 */
export function autoTimeZone(
  user: { time_zone?: string | null } | null | undefined,
  browser: string | null,
  refused?: string | null,
): string | null {
  if (!user || user.time_zone !== null) return null
  if (!browser || isUtcLike(browser)) return null
  if (refused && refused === browser) return null
  return browser
}

/** The choices of the picker: UTC first, then the browser's list plus the current and
 *  browser zones when the list lacks them (aliases), sorted and without duplicates. */
export function timeZoneChoices(supported: readonly string[], current?: string | null, browser?: string | null): string[] {
  const rest = new Set<string>()
  for (const z of [...supported, current, browser]) {
    const t = z?.trim()
    if (t && t !== UTC) rest.add(t)
  }
  return [UTC, ...[...rest].sort((a, b) => a.localeCompare(b, 'en'))]
}

export interface ZoneGroup { region: string; zones: string[] }

/** Zones grouped by their first part (`Europe/Berlin` → Europe), UTC-like and single names under "Other". */
export function groupZones(zones: readonly string[]): ZoneGroup[] {
  const groups = new Map<string, string[]>()
  for (const z of zones) {
    const i = z.indexOf('/')
    const region = i > 0 && !z.startsWith('Etc/') ? z.slice(0, i) : 'Other'
    const g = groups.get(region)
    if (g) g.push(z)
    else groups.set(region, [z])
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a === 'Other' ? 1 : b === 'Other' ? -1 : a.localeCompare(b, 'en')))
    .map(([region, zs]) => ({ region, zones: zs }))
}

/** An option's text: the name with spaces for underscores (`America/New York`). */
export function zoneText(zone: string): string {
  return zone.replace(/_/g, ' ')
}

/** What to send in `PATCH /api/me`: a trimmed name; choosing UTC is stored as `UTC`, an
 *  explicit choice the automatic default never replaces. */
export function zoneToSend(input: string): string {
  const t = input.trim()
  return t && t.toUpperCase() !== UTC ? t : UTC
}
