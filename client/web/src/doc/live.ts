// A live circuit document: Y.Doc + y-websocket provider + awareness, as React state.
import { useEffect, useMemo, useState } from 'react'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import type { Api } from '../api/client'
import type { User } from '../api/types'
import { CircuitModel, keepEditsAcrossMoves, undoManager, type CircuitView } from './binding'

export interface PeerState {
  clientId: number
  self: boolean
  user: { id: string; name: string; color: string }
  cursor: { q: number; col: number } | null
  selection: string | null
}

const PALETTE = ['#e5484d', '#f76b15', '#ffc53d', '#46a758', '#12a594', '#0090ff', '#8e4ec6', '#d6409f', '#3e63dd', '#29a383']

export function colorOf(id: string): string {
  let h = 0
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) >>> 0
  return PALETTE[h % PALETTE.length] ?? '#0090ff'
}

export type LinkStatus = 'connecting' | 'connected' | 'disconnected' | 'denied'

export interface LiveDoc {
  ydoc: Y.Doc
  provider: WebsocketProvider | null
  view: CircuitView
  /** The view as of now, even before React has rendered the last change. */
  readView: () => CircuitView
  status: LinkStatus
  synced: boolean
  peers: PeerState[]
  undo: Y.UndoManager
  canUndo: boolean
  canRedo: boolean
  setLocal: (patch: Partial<Pick<PeerState, 'cursor' | 'selection'>>) => void
}

export function useLiveDoc(api: Api, docId: string, me: User): LiveDoc {
  const ydoc = useMemo(() => {
    void docId
    return new Y.Doc()
  }, [docId])
  const undo = useMemo(() => undoManager(ydoc), [ydoc])
  const model = useMemo(() => new CircuitModel(ydoc), [ydoc])
  const [provider, setProvider] = useState<WebsocketProvider | null>(null)
  const [view, setView] = useState<CircuitView>(() => model.view())
  const [status, setStatus] = useState<LinkStatus>('connecting')
  const [synced, setSynced] = useState(false)
  const [peers, setPeers] = useState<PeerState[]>([])
  const [stacks, setStacks] = useState({ canUndo: false, canRedo: false })

  useEffect(() => {
    // The model is told of each transaction (observeDeep) and publishes one new view per
    // burst, a microtask later: no frame of delay before React renders.
    const off = model.subscribe(setView)
    const unrepair = keepEditsAcrossMoves(ydoc)
    // The view of a new document (docId changed), or of changes made before subscribing:
    // a one-off sync with the external store, then only its notifications.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    setView(model.view())
    const onStack = () => setStacks({ canUndo: undo.canUndo(), canRedo: undo.canRedo() })
    undo.on('stack-item-added', onStack)
    undo.on('stack-item-popped', onStack)
    undo.on('stack-cleared', onStack)
    return () => {
      off()
      unrepair()
      undo.off('stack-item-added', onStack)
      undo.off('stack-item-popped', onStack)
      undo.off('stack-cleared', onStack)
    }
  }, [ydoc, undo, model])

  useEffect(() => {
    let p: WebsocketProvider | null = null
    let cancelled = false
    let refresher: ReturnType<typeof setInterval> | undefined
    void (async () => {
      const token = await api.docConnectToken(docId)
      if (cancelled || !token) return
      p = new WebsocketProvider(api.wsUrl('/ws/docs'), docId, ydoc, { params: { token }, disableBc: true })
      // Reconnects read `params` again: keep a fresh connection token (valid five
      // minutes) there, and fetch one at once when the socket closes.
      const renew = async () => {
        const t = await api.docConnectToken(docId)
        if (p && t) p.params = { token: t }
      }
      refresher = setInterval(() => void renew(), 120_000)
      p.on('status', (e: { status: string }) => setStatus(e.status as LinkStatus))
      p.on('sync', (s: boolean) => setSynced(s))
      p.on('connection-close', () => void renew())
      const aw = p.awareness
      aw.setLocalStateField('user', { id: me.id, name: me.name, color: colorOf(me.id) })
      const readPeers = () => {
        const out: PeerState[] = []
        aw.getStates().forEach((s, clientId) => {
          const st = s as Partial<PeerState>
          if (!st.user) return
          out.push({ clientId, self: clientId === aw.clientID, user: st.user, cursor: st.cursor ?? null, selection: st.selection ?? null })
        })
        out.sort((a, b) => (a.self === b.self ? a.user.name.localeCompare(b.user.name) : a.self ? -1 : 1))
        setPeers(out)
      }
      aw.on('change', readPeers)
      readPeers()
      setProvider(p)
    })()
    return () => {
      cancelled = true
      if (refresher) clearInterval(refresher)
      if (p) {
        p.awareness.setLocalState(null)
        p.destroy()
      }
      setProvider(null)
      setSynced(false)
    }
  }, [api, docId, ydoc, me.id, me.name])

  // The Y.Doc and UndoManager are left to the garbage collector once the provider is
  // gone (destroying them in a cleanup would break StrictMode's double mount).

  const setLocal = useMemo(
    () => (patch: Partial<Pick<PeerState, 'cursor' | 'selection'>>) => {
      if (!provider) return
      for (const [k, v] of Object.entries(patch)) provider.awareness.setLocalStateField(k, v)
    },
    [provider],
  )

  const readView = useMemo(() => () => model.view(), [model])

  return { ydoc, provider, view, readView, status, synced, peers, undo, setLocal, ...stacks }
}
