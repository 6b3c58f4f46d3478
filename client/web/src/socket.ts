// One resuming WebSocket for the server's live streams (/ws/workspaces/{id}, /ws/me):
// a fresh access token on every (re)connect, the caller's ?since= so nothing is missed,
// and backoff from 500 ms doubling to 16 s while the server is away.
import type { Api } from './api/client'

export type StreamStatus = 'connecting' | 'live' | 'offline'

export interface ResumingSocket {
  /** The path and query to open, given a fresh token (called on every connect). */
  path: (token: string) => string
  /** One parsed JSON message; frames that are not JSON text are dropped. */
  onMessage: (msg: unknown) => void
  onStatus: (s: StreamStatus) => void
}

/** Opens the stream and keeps it open until the returned function is called. */
export function openResumingSocket(api: Api, s: ResumingSocket): () => void {
  let socket: WebSocket | null = null
  let closed = false
  let retry = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  const connect = async () => {
    const token = await api.accessToken()
    if (closed || !token) return
    socket = new WebSocket(api.wsUrl(s.path(token)))
    s.onStatus('connecting')
    socket.onopen = () => {
      retry = 0
      s.onStatus('live')
    }
    socket.onmessage = (m) => {
      if (typeof m.data !== 'string') return
      let msg: unknown
      try {
        msg = JSON.parse(m.data)
      } catch {
        return
      }
      s.onMessage(msg)
    }
    socket.onclose = () => {
      // Closed on purpose (unmounted, another workspace, React's development double
      // mount): not news, and the next socket may already be live.
      if (closed) return
      s.onStatus('offline')
      retry = Math.min(retry + 1, 6)
      timer = setTimeout(connect, 250 * 2 ** retry)
    }
  }
  void connect()
  return () => {
    closed = true
    if (timer) clearTimeout(timer)
    socket?.close()
  }
}
