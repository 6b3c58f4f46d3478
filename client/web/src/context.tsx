// App-wide context: the API client, the signed-in session, the theme and the features
// the server advertises in its OpenAPI document.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, useSyncExternalStore, type ReactNode } from 'react'
import { useQuery, useQueryClient } from '@tanstack/react-query'
import { ApiError, type Api, type Session } from './api/client'
import { autoTimeZone, browserTimeZone } from './timezone'

export interface Features { ai: boolean; quests: boolean; leaderboard: boolean; notifications: boolean; paths: string[] }

export function discoverFeatures(paths: string[]): Features {
  const has = (re: RegExp) => paths.some((p) => re.test(p))
  return {
    ai: has(/^\/api\/(ai|assistant)(\/|$)|\/ai(\/|$)/),
    quests: has(/quest/),
    leaderboard: has(/leaderboard/),
    notifications: has(/notification/),
    paths,
  }
}

type Theme = 'dark' | 'light'

interface Ctx { api: Api; session: Session | null; theme: Theme; setTheme: (t: Theme) => void; signOut: () => Promise<void> }

const AppCtx = createContext<Ctx | null>(null)

export function AppProvider({ api, children }: { api: Api; children: ReactNode }) {
  const session = useSyncExternalStore(
    useCallback((cb: () => void) => api.subscribe(cb), [api]),
    () => api.session,
  )
  const [theme, setThemeState] = useState<Theme>(() => {
    const t = localStorage.getItem('qollab.theme')
    if (t === 'dark' || t === 'light') return t
    return window.matchMedia?.('(prefers-color-scheme: light)').matches ? 'light' : 'dark'
  })
  useEffect(() => {
    document.documentElement.dataset.theme = theme
  }, [theme])
  const qc = useQueryClient()
  useAutoTimeZone(api, session)
  const signOut = useCallback(async () => {
    await api.logout()
    qc.clear()
  }, [api, qc])
  const value = useMemo<Ctx>(
    () => ({
      api, session, theme, signOut,
      setTheme: (t: Theme) => {
        localStorage.setItem('qollab.theme', t)
        setThemeState(t)
      },
    }),
    [api, session, theme, signOut],
  )
  return <AppCtx.Provider value={value}>{children}</AppCtx.Provider>
}

export function useApp(): Ctx {
  const c = useContext(AppCtx)
  if (!c) throw new Error('useApp outside AppProvider')
  return c
}

export function useFeatures(): Features {
  const { api } = useApp()
  const { data } = useQuery({
    queryKey: ['openapi'],
    queryFn: () => api.openapi(),
    staleTime: Infinity,
  })
  return useMemo(() => discoverFeatures(Object.keys(data?.paths ?? {})), [data])
}

/** localStorage key remembering the zone the server refused to set automatically for a person. */
const refusedKey = (userId: string) => `qollab.tz-refused.${userId}`

/**
 * A signed-in person without a time zone gets the browser's, once and quietly: `GET
 * /api/me` says whether they have one (the session's copy may be old), and only a null
 * zone is filled in, so a zone they chose is never replaced. One attempt per person and
 * page load; a zone the server refuses is remembered and not sent again.
 */
function useAutoTimeZone(api: Api, session: Session | null) {
  const qc = useQueryClient()
  const userId = session?.user.id ?? null
  // The session's copy is refreshed with every answer from /api/me: a zone in it is set.
  const known = typeof session?.user.time_zone === 'string'
  const me = useQuery({ queryKey: ['me'], queryFn: () => api.me(), enabled: userId !== null && !known, staleTime: 60_000 })
  const tried = useRef(new Set<string>())
  const user = me.data?.user
  useEffect(() => {
    if (!userId || !user) return
    if (user.id !== userId) {
      // Another person's answer from before a sign-in: ask again.
      void qc.invalidateQueries({ queryKey: ['me'] })
      return
    }
    if (tried.current.has(userId)) return
    let refused: string | null = null
    try {
      refused = localStorage.getItem(refusedKey(userId))
    } catch {
      /* no storage: one try per page load */
    }
    const zone = autoTimeZone(user, browserTimeZone(), refused)
    if (!zone) return
    tried.current.add(userId)
    api.updateMe({ time_zone: zone }).then(
      (updated) => {
        qc.setQueryData(['me'], updated)
        void qc.invalidateQueries({ queryKey: ['progress', 'me'] })
      },
      (e: unknown) => {
        // Quietly: the person can still choose a zone on the leaderboard screen.
        if (e instanceof ApiError && (e.status === 422 || e.status === 400)) {
          try {
            localStorage.setItem(refusedKey(userId), zone)
          } catch {
            /* ignore */
          }
        }
      },
    )
  }, [api, qc, userId, user])
}
