// App-wide context: the API client, the signed-in session, the theme and the features
// the server advertises in its OpenAPI document.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, useSyncExternalStore, type ReactNode } from 'react'
import { useQuery, useQueryClient } from '@tanstack/react-query'
import type { Api, Session } from './api/client'

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
